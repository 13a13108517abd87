"""The sandbox server: labelled, local, refused by production, and its control API says what is wrong."""
from __future__ import annotations

import pytest
import requests
from cryptography.fernet import Fernet

from integration.config import ConfigError, load_config
from sandbox import server
from tests.sandbox.conftest import SHOP


def test_every_reply_says_it_is_a_sandbox_and_the_page_says_so_in_words(world):
    page = requests.get(f"{world.url}/")
    assert page.headers["X-Palautus-Sandbox"] == "1" and "No real shop, no real money" in page.text
    state = requests.get(f"{world.url}/sandbox/state")
    assert state.headers["X-Palautus-Sandbox"] == "1" and state.json()["sandbox"] is True
    assert [shop["domain"] for shop in state.json()["shops"]] == [SHOP]
    assert world.url.startswith("http://127.0.0.1:")


def test_the_control_api_opens_shops_and_takes_orders_and_returns(world):
    opened = requests.post(f"{world.url}/sandbox/shopify/shops",
                           json={"domain": "another.myshopify.com", "webhook_url": "http://127.0.0.1:9/webhooks/shopify"})  # fmt: skip
    assert opened.status_code == 201 and opened.json()["access_token"].startswith("shpat_sandbox_")
    assert opened.json()["stripe_secret_key"].startswith("sk_test_sandbox_")
    made = requests.post(f"{world.url}/sandbox/shopify/shops/{SHOP}/orders", json={"items": [{"sku": "BEANIE-RED", "quantity": 2}]})
    assert made.status_code == 201 and made.json()["total_price"] == "63.90"
    line = made.json()["line_items"][0]["admin_graphql_api_id"]
    ret = requests.post(f"{world.url}/sandbox/shopify/shops/{SHOP}/returns", json={
        "order_id": made.json()["admin_graphql_api_id"], "items": [{"line_item_id": line, "quantity": 1, "reason": "color"}]})
    assert ret.status_code == 201 and ret.json()["status"] == "requested"
    shop = requests.get(f"{world.url}/sandbox/shopify/shops/{SHOP}").json()
    assert [r["status"] for r in shop["returns"]] == ["REQUESTED"]
    payment = shop["orders"][0]["transactions"][0]["authorizationCode"]
    assert requests.get(f"{world.url}/sandbox/stripe/payments/{payment}").json()["charge"]["amount"] == 6390


def test_bad_control_requests_get_a_clear_400_or_404(world):
    bad_domain = requests.post(f"{world.url}/sandbox/shopify/shops", json={"domain": "shop.example.com", "webhook_url": "http://x"})
    assert bad_domain.status_code == 400 and "myshopify.com" in bad_domain.json()["message"]
    unknown_sku = requests.post(f"{world.url}/sandbox/shopify/shops/{SHOP}/orders", json={"items": [{"sku": "NOPE"}]})
    assert unknown_sku.status_code == 400 and "NOPE" in unknown_sku.json()["message"]
    too_many = requests.post(f"{world.url}/sandbox/shopify/shops/{SHOP}/returns", json={"order_id": "gid://shopify/Order/1", "items": []})
    assert too_many.status_code == 400
    assert requests.get(f"{world.url}/sandbox/shopify/shops/nobody.myshopify.com").status_code == 404
    assert requests.post(f"{world.url}/shopify/nobody.myshopify.com/admin/api/2026-10/graphql.json", json={}).status_code == 404


def test_a_request_addressed_to_another_host_or_a_form_post_is_refused(world):
    rebound = requests.get(f"{world.url}/sandbox/state", headers={"Host": "attacker.example:80"})
    assert rebound.status_code == 403
    form = requests.post(f"{world.url}/sandbox/shopify/shops", data={"domain": SHOP, "webhook_url": "http://x"})
    assert form.status_code == 415
    assert world.sandbox.shops[SHOP].access_token == world.opened["access_token"]  # not replaced


def test_sandbox_url_must_be_this_machine(tmp_path):
    with pytest.raises(ConfigError, match="SANDBOX_URL must be an http://127.0.0.1"):
        load_config(environ={"SANDBOX": "1", "SANDBOX_URL": "http://sandbox.example.com:8010", "VAR_DIR": str(tmp_path)})
    assert load_config(environ={"SANDBOX_URL": "http://sandbox.example.com", "VAR_DIR": str(tmp_path)})  # off: unused


def test_sandbox_on_points_the_api_bases_at_it_unless_they_are_set(tmp_path):
    config = load_config(environ={"SANDBOX": "1", "SANDBOX_URL": "http://127.0.0.1:8123/", "VAR_DIR": str(tmp_path)})
    assert config["SHOPIFY_API_BASE"] == "http://127.0.0.1:8123/shopify/{shop}"
    assert config["STRIPE_API_BASE"] == "http://127.0.0.1:8123/stripe"
    chosen = load_config(environ={"SANDBOX": "1", "STRIPE_API_BASE": "https://api.stripe.com", "VAR_DIR": str(tmp_path)})
    assert chosen["STRIPE_API_BASE"] == "https://api.stripe.com"
    off = load_config(environ={"VAR_DIR": str(tmp_path)})
    assert (off["SHOPIFY_API_BASE"], off["STRIPE_API_BASE"]) == ("https://{shop}", "https://api.stripe.com")


def test_the_sandbox_server_will_not_start_under_production(monkeypatch, capsys):
    production = {"PALAUTUS_ENV": "production", "ENCRYPTION_KEY": Fernet.generate_key().decode(), "SANDBOX": "0",
                  "DATABASE_URL": "postgresql+psycopg://u@db/palautus", "REDIS_URL": "redis://cache:6379/0",
                  "SECRET_KEY": "s" * 48, "SMTP_HOST": "smtp.example.com", "MAIL_FROM": "returns@example.com"}  # fmt: skip
    for name, value in production.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(server, "HTTPSandbox", lambda *a, **k: (_ for _ in ()).throw(AssertionError("it started")))
    assert server.main() == 2
    assert "refusing to start under PALAUTUS_ENV=production" in capsys.readouterr().out


def test_make_run_starts_the_sandbox_beside_web_worker_and_clock_when_sandbox_is_on(tmp_path):
    from integration.devserver import _procfile

    on = _procfile(load_config(environ={"SANDBOX": "1", "VAR_DIR": str(tmp_path)})).read_text()
    assert [line.split(":", 1)[0] for line in on.splitlines()] == ["web", "worker", "clock", "sandbox"]
    assert "sandbox: python -m sandbox" in on
    off = _procfile(load_config(environ={"VAR_DIR": str(tmp_path)})).read_text()
    assert "sandbox" not in off
