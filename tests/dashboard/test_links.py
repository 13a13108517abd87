"""The ways in: a link from the CLI or the API, the Shopify app opened from the admin, and a finished install."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.platforms.shopify.oauth import SCOPES
from tests.conftest import SHOP_DOMAIN, SHOPIFY_SECRET, auth
from tests.install.test_shopify_install import CLIENT_ID, PUBLIC_URL, install, signed


@pytest.fixture
def config(config):
    return {**config, "SHOPIFY_CLIENT_ID": CLIENT_ID, "PUBLIC_URL": PUBLIC_URL}


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC_URL)
    return urlsplit(url).path


def test_the_cli_prints_a_one_time_link_valid_fifteen_minutes(app, browser, shop):
    result = app.test_cli_runner().invoke(args=["dashboard-link", SHOP_DOMAIN, "--email", "staff@example.com"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert "valid until" in result.stderr
    assert browser.post(path_of(url)).status_code == 303
    assert browser.post(path_of(url)).status_code == 401
    unknown = app.test_cli_runner().invoke(args=["dashboard-link", "nobody.myshopify.com"])
    assert unknown.exit_code != 0 and "no installed shop" in unknown.output


def test_the_api_makes_a_link_with_the_shop_s_key(client, browser, shop, other_shop, build, db):
    answer = client.post("/api/v1/dashboard-links", headers=auth(shop[1]), json={"email": "staff@example.com"})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert set(body) == {"url", "expires_at"}
    assert browser.post(path_of(body["url"])).status_code == 303
    assert client.post("/api/v1/dashboard-links", headers=auth(shop[1])).status_code == 201  # the body is optional
    assert client.post("/api/v1/dashboard-links").status_code == 401
    document = client.get("/api/v1/openapi.json").get_json()
    assert "201" in document["paths"]["/api/v1/dashboard-links"]["post"]["responses"]


def launch_url(shop: str = SHOP_DOMAIN, secret: str = SHOPIFY_SECRET, at: float | None = None) -> str:
    params = {"shop": shop, "timestamp": str(int(at or time.time())), "host": "YWRtaW4"}
    return "/install/shopify/launch?" + signed(params, secret)


@pytest.fixture
def installed(register):
    """The test shop as a public-app install leaves it: a token with every scope the app asks for."""
    return register(scope=",".join(SCOPES))


def test_opening_the_app_from_the_shopify_admin_signs_in_once_per_signed_request(client, browser, installed):
    url = launch_url()
    answer = client.get(url)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard/returns")
    assert client.get("/dashboard/returns").status_code == 200
    stranger = browser.client.application.test_client()
    replayed = stranger.get(url)  # the same signed query again (history, a log): no sign-in
    assert replayed.status_code == 302 and stranger.get("/dashboard/returns").status_code == 401


@pytest.mark.parametrize("case", ["forged", "stale"])
def test_an_app_url_shopify_did_not_sign_now_signs_nobody_in(client, installed, case):
    url = launch_url(secret="not-the-secret") if case == "forged" else launch_url(at=time.time() - 120)
    assert client.get(url).status_code == 401
    assert client.get("/dashboard/returns").status_code == 401


def test_a_shop_not_installed_or_owing_scopes_goes_on_to_the_install_with_the_same_query(client, register):
    url = launch_url()
    answer = client.get(url)
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    assert target.path == "/install/shopify" and parse_qs(target.query) == parse_qs(urlsplit(url).query)
    register(scope="read_orders")  # a custom app's or an older grant: fewer scopes than the app asks for now
    assert urlsplit(client.get(launch_url()).headers["Location"]).path == "/install/shopify"
    assert client.get("/dashboard/returns").status_code == 401


def test_a_finished_install_lands_the_merchant_signed_in(client, shopify):
    shopify.client_id, shopify.client_secret = CLIENT_ID, SHOPIFY_SECRET
    page = install(client, shopify)
    assert page.status_code == 200 and 'href="/dashboard/returns"' in page.get_data(as_text=True)
    assert client.get("/dashboard/returns").status_code == 200
