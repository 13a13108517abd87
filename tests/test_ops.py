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


# --- the operators' API: the recovery tools as JSON --------------------------------------------------------------


def _failed_event(post_webhook, work, webhook_id: str) -> int:
    broken = {**payload("orders__create.sample.json"), "line_items": "not a list"}
    event_id = post_webhook("orders/create", broken, webhook_id=webhook_id).get_json()["event_id"]
    work()
    return event_id


def test_the_api_lists_failed_events_runs_them_again_and_ignores_one_with_its_reason(client, db, shop, post_webhook,
                                                                                    work):  # fmt: skip
    from integration.models import WebhookEvent

    first, second = (_failed_event(post_webhook, work, f"broken-{n}") for n in (1, 2))
    listed = client.get("/ops/api/events?status=failed", headers=login()).get_json()["events"]
    assert [e["id"] for e in listed] == [second, first] and "expected a list" in listed[0]["error"]

    answer = client.post("/ops/api/events/retry", json={"event_ids": [first]}, headers=login())
    assert answer.status_code == 200 and answer.get_json() == {"retried": [first]}
    assert db.get(WebhookEvent, first).status == "retrying"

    answer = client.post(f"/ops/api/events/{second}/ignore", json={"reason": "a test order"}, headers=login())
    assert answer.status_code == 200
    db.expire_all()
    assert (db.get(WebhookEvent, second).status, db.get(WebhookEvent, second).error) == (
        "ignored", "ignored by an operator: a test order")
    again = client.post(f"/ops/api/events/{second}/ignore", json={"reason": "twice"}, headers=login())
    assert again.status_code == 409 and "not a failed or retrying event" in again.get_json()["message"]


def test_the_api_retries_failed_events_by_time_range_and_error(client, db, shop, post_webhook, work):
    event_id = _failed_event(post_webhook, work, "broken-1")
    none = client.post("/ops/api/events/retry", json={"since": "2000-01-01T00:00:00Z", "error": "no such error"},
                       headers=login())  # fmt: skip
    assert none.get_json() == {"retried": []}
    some = client.post("/ops/api/events/retry", json={"since": "2000-01-01T00:00:00", "error": "expected a list"},
                       headers=login())  # fmt: skip
    assert some.get_json() == {"retried": [event_id]}


@pytest.mark.parametrize("path, body, message", [
    ("/ops/api/events/retry", {}, "name the events, or a time range"),
    ("/ops/api/events/retry", {"event_ids": ["1"]}, "event_ids must be a list of positive integer ids"),
    ("/ops/api/events/retry", {"since": "yesterday"}, "since must be an ISO 8601 date and time"),
    ("/ops/api/events/1/ignore", {}, "say why the event is ignored"),
    ("/ops/api/refunds/push", {"refund_ids": []}, "refund_ids must name at least one id"),
    ("/ops/api/jobs/requeue", {"dry_run": "yes"}, "dry_run must be true or false"),
    ("/ops/api/jobs/requeue", [], "the body must be a JSON object"),
])  # fmt: skip
def test_a_wrong_api_call_is_400_saying_what_is_wrong_and_changes_nothing(client, path, body, message):
    answer = client.post(path, json=body, headers=login())
    assert answer.status_code == 400 and message in answer.get_json()["message"]


@pytest.mark.parametrize("method, path, body", [
    ("get", "/ops/api/events?limit=\u00b2", None),  # a digit to str.isdigit, not to int()
    ("get", "/ops/api/events?limit=0", None),
    ("get", "/ops/api/refunds/stuck?older_than=1000000000000", None),
    ("post", "/ops/api/events/retry", b'{"since": "0001-01-01T00:00:00+01:00"}'),
    ("post", "/ops/api/events/retry", b'{"until": "9999-12-31T23:59:59-01:00"}'),
    ("post", "/ops/api/events/retry", b"[" * 200_000),
    ("post", "/ops/api/events/retry", b'{"event_ids": [1180591620717411303424]}'),
    ("post", "/ops/api/events/1180591620717411303424/ignore", b'{"reason": "big"}'),
    ("post", "/ops/api/refunds/push", b'{"refund_ids": [9223372036854775808]}'),
    ("post", "/ops/api/events/retry", b"\xff\xfe"),
])  # fmt: skip
def test_absurd_api_input_is_a_400_never_a_500(client, method, path, body):
    headers = {**login(), "Content-Type": "application/json"}
    answer = getattr(client, method)(path, data=body, headers=headers) if body is not None else client.get(path, headers=login())
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["message"]


def test_requeue_with_the_queue_down_is_a_503_saying_so(client, redis_down):
    with redis_down():
        answer = client.post("/ops/api/jobs/requeue", json={}, headers=login())
    assert answer.status_code == 503 and "job queue cannot be reached" in answer.get_json()["message"]


def test_api_changes_need_json_and_no_other_site_s_origin(client, shop, post_webhook, work, db):
    from integration.models import WebhookEvent

    event_id = _failed_event(post_webhook, work, "broken-1")
    form = client.post("/ops/api/events/retry", data={"event_ids": event_id}, headers=login())  # a cross-site form
    assert form.status_code == 403
    other = client.post("/ops/api/events/retry", json={"event_ids": [event_id]},
                        headers={**login(), "Origin": "https://evil.example"})  # fmt: skip
    assert other.status_code == 403
    assert client.post("/ops/api/events/retry", json={"event_ids": [event_id]}).status_code == 401  # no login
    db.expire_all()
    assert db.get(WebhookEvent, event_id).status == "failed"


def test_the_api_lists_stuck_refunds_pushes_one_and_requeues_failed_jobs(app, client, db, shop):
    stuck = client.get("/ops/api/refunds/stuck?older_than=0", headers=login())
    assert stuck.status_code == 200 and stuck.get_json() == {"refunds": []}
    missing = client.post("/ops/api/refunds/push", json={"refund_ids": [424242]}, headers=login())
    assert missing.status_code == 409 and "refund 424242 is not on its way" in missing.get_json()["message"]

    app.extensions["tasks"]._enqueue("integration.models.utcnow", "an argument it does not take", retry=False)
    from rq import SimpleWorker

    SimpleWorker([app.extensions["tasks"].queue()], connection=app.extensions["tasks"].connect()).work(burst=True)
    listed = client.post("/ops/api/jobs/requeue", json={"function": "integration.models.utcnow", "dry_run": True},
                         headers=login()).get_json()["found"]  # fmt: skip
    assert [job["function"] for job in listed] == ["integration.models.utcnow"] and "TypeError" in listed[0]["error"]
    requeued = client.post("/ops/api/jobs/requeue", json={}, headers=login()).get_json()["requeued"]
    assert [job["job_id"] for job in requeued] == [listed[0]["job_id"]]
    assert app.extensions["tasks"].queue().job_ids == [listed[0]["job_id"]]


def test_a_refund_whose_job_was_lost_is_listed_as_stuck_and_pushed_through_the_api_and_paid_once(
    app, db, client, shop, post_webhook, work, shopify, stripe, redis_down
):
    from integration.models import Refund
    from tests.jobs.helpers import stuck_refund

    refund = stuck_refund(client, shop[1], post_webhook, work, shopify, db, redis_down)
    [stuck] = client.get("/ops/api/refunds/stuck?older_than=60", headers=login()).get_json()["refunds"]
    assert (stuck["id"], stuck["status"], stuck["shop"]) == (refund.id, "pending", shop[0].domain)
    assert client.post("/ops/api/refunds/push", json={"refund_ids": [refund.id]}, headers=login()).get_json() == {
        "pushed": [refund.id]}
    work()
    db.expire_all()
    assert db.get(Refund, refund.id).status == "succeeded" and len(stripe.posts) == 1
    again = client.post("/ops/api/refunds/push", json={"refund_ids": [refund.id]}, headers=login())
    assert again.status_code == 409 and stripe.posts[1:] == []
