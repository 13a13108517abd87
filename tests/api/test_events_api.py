"""GET /events and POST /events/{id}/retry: a merchant sees which deliveries could not be applied, and why."""
from __future__ import annotations

from tests.conftest import payload


def test_failed_deliveries_are_listed_with_their_reason_and_only_the_shop_s_own(api, post_webhook, work, register):
    broken = {**payload("orders__create.sample.json"), "line_items": "not a list"}
    assert post_webhook("orders/create", broken, webhook_id="broken-1").status_code == 200
    assert post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id="fine-1").status_code == 200
    work()
    failed = api.get("/events?status=failed")
    assert failed.status_code == 200
    [event] = failed.get_json()
    assert (event["topic"], event["status"], event["attempts"]) == ("orders/create", "failed", 1)
    assert event["error"] == "line_items: expected a list, got a string"
    assert len(api.get("/events").get_json()) == 2

    _, other_key = register("other-shop.myshopify.com")
    other = api.client.get("/api/v1/events", headers={"Authorization": f"Bearer {other_key}"})
    assert other.get_json() == []


def test_a_failed_delivery_can_be_run_again_and_only_a_failed_one(api, post_webhook, work):
    broken = {**payload("orders__create.sample.json"), "line_items": "not a list"}
    post_webhook("orders/create", broken, webhook_id="broken-1")
    work()
    [event] = api.get("/events?status=failed").get_json()
    again = api.post(f"/events/{event['id']}/retry")
    assert again.status_code == 202 and again.get_json()["status"] == "retrying"
    assert again.get_json()["attempts"] == 0
    assert api.post(f"/events/{event['id']}/retry").status_code == 409
    assert api.post("/events/999999/retry").status_code == 404
