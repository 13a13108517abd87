"""The operators' pages: /ops and rq-dashboard at /ops/rq, behind the operator login, and safe from other sites."""
from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from integration.models import Shop
from tests.conftest import payload

PASSWORD = "a-long-operator-password"


@pytest.fixture
def config(config):
    return {**config, "OPS_USERNAME": "ops", "OPS_PASSWORD": PASSWORD, "FAILED_AUTH_LIMIT": "3 per minute"}


def login(user="ops", password=PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_the_pages_need_the_operator_login_and_guessing_it_is_slowed_down(client):
    assert client.get("/ops").status_code == 401
    assert client.get("/ops").headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/ops/rq/", headers=login(password="wrong")).status_code == 401
    assert client.get("/ops", headers=login(user="admin")).status_code == 401
    assert client.get("/ops", headers=login(password="wrong")).status_code == 401
    assert client.get("/ops", headers=login(password="wrong")).status_code == 429  # the fourth wrong login
    # Past the limit even the right password is refused from that address (a guess that is right gains nothing).
    assert client.get("/ops", headers=login()).status_code == 429
    assert client.get("/ops", headers=login(), environ_base={"REMOTE_ADDR": "192.0.2.50"}).status_code == 200


def test_without_a_password_the_pages_are_off(app, client):
    app.config["OPS_PASSWORD"] = ""
    assert client.get("/ops", headers=login()).status_code == 404
    assert client.get("/ops/rq/", headers=login()).status_code == 404


def test_the_overview_shows_the_backlog_failed_deliveries_refunds_and_alerts(client, db, shop, post_webhook, work):
    broken = {**payload("orders__create.sample.json"), "line_items": "not a list"}
    post_webhook("orders/create", broken, webhook_id="broken-1")
    work()
    post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id="waiting-1")  # not yet processed
    row = db.scalar(select(Shop))
    row.alerts = {"tokens": {"message": "the platform refused to renew the shop's access <script>", "at": "2026-12-01"}}
    db.commit()
    page = client.get("/ops", headers=login())
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "line_items: expected a list, got a string" in text  # the failed delivery, with its reason
    assert "Inbox backlog" in text and ">received<" in text
    assert "refused to renew the shop&#x27;s access &lt;script&gt;" in text and "<script>" not in text


def test_rq_dashboard_is_served_and_its_changes_must_come_from_this_site(app, client):
    app.extensions["tasks"]._enqueue("integration.models.utcnow", "an argument it does not take", retry=False)
    assert client.get("/ops/rq/", headers=login()).status_code == 200
    queues = client.get("/ops/rq/0/data/queues.json", headers=login())
    assert queues.status_code == 200 and {"palautus-test"} <= {q["name"] for q in queues.get_json()["queues"]}
    [job_id] = app.extensions["tasks"].queue().job_ids
    forged = client.post(f"/ops/rq/job/{job_id}/delete", headers={**login(), "Origin": "https://evil.example"})
    assert forged.status_code == 403 and app.extensions["tasks"].queue().count == 1
    assert client.post(f"/ops/rq/job/{job_id}/delete", headers=login()).status_code == 403  # no origin at all
    same_site = client.post(f"/ops/rq/job/{job_id}/delete", headers={**login(), "Origin": "http://localhost"})
    assert same_site.status_code == 200 and app.extensions["tasks"].queue().count == 0


def test_the_overview_counts_rejected_deliveries_per_shop_over_the_last_hour(client, shop):
    import json as json_

    from tests.conftest import shopify_headers

    body = json_.dumps({"id": 1}).encode()
    for _ in range(2):
        client.post("/webhooks/shopify", data=body, headers=shopify_headers(body, "orders/create", secret="not-ours"))
    made_up = shopify_headers(body, "orders/create", domain="nobody-here.myshopify.com")
    assert client.post("/webhooks/shopify", data=body, headers=made_up).status_code == 404
    text = client.get("/ops", headers=login()).get_data(as_text=True)
    # The header's shop is the caller's word: shown as such.
    assert "<td>shopify</td><td>palautus-test.myshopify.com (unverified header)</td><td>rejected_signature</td><td>2</td>" in text
    assert "<td>shopify</td><td>(unknown shop)</td><td>unknown_shop</td><td>1</td>" in text
    assert "nobody-here" not in text


def test_requeue_all_changes_things_on_a_get_and_so_needs_this_site_and_no_page_may_frame_the_pages(app, client):
    app.extensions["tasks"]._enqueue("integration.models.utcnow", "an argument it does not take", retry=False)
    worker_run = __import__("rq").SimpleWorker([app.extensions["tasks"].queue()], connection=app.extensions["tasks"].connect())
    worker_run.work(burst=True)
    queue = app.extensions["tasks"].queue()
    assert queue.failed_job_registry.count == 1
    forged = client.get(f"/ops/rq/requeue/{queue.name}", headers={**login(), "Referer": "https://evil.example/"})
    assert forged.status_code == 403 and queue.failed_job_registry.count == 1
    cross = client.get("/ops", headers={**login(), "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    same = client.get(f"/ops/rq/requeue/{queue.name}", headers={**login(), "Referer": "http://localhost/ops/rq/"})
    assert same.status_code == 200 and queue.failed_job_registry.count == 0 and queue.count == 1
    page = client.get("/ops/rq/", headers=login())
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_a_short_operator_password_is_refused_in_production():
    from integration.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="OPS_PASSWORD"):
        load_config({"ENV": "production", "OPS_PASSWORD": "short"}, environ={})
