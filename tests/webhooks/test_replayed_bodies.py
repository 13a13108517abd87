"""A body captured from one delivery and sent again, signed, under another topic: Shopify signs only the body,
so the receiver stores it and answers 200 (never refusing a signed delivery), and its processing declines it
because its shape does not fit the topic, changing nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from integration.models import Order, Refund, Return, WebhookEvent
from tests.conftest import payload

BODIES = {
    "orders/create": "orders__create.sample.json",
    "refunds/create": "refunds__create.sample.json",
    "returns/request": "returns__request.sample.json",
    "customers/redact": "customers__redact.sample.json",
}


@pytest.mark.parametrize(("sent_as", "body_of"), [
    ("refunds/create", "orders/create"), ("returns/request", "orders/create"), ("orders/create", "refunds/create"),
    ("returns/request", "customers/redact"), ("customers/redact", "returns/request"),
    ("orders/updated", "returns/request"),
])  # fmt: skip
def test_a_body_sent_again_under_another_topic_is_stored_and_declined_by_its_processing(
    shop, post_webhook, work, db, sent_as, body_of
):
    answer = post_webhook(sent_as, payload(BODIES[body_of]), webhook_id=f"replayed-{sent_as}")
    assert answer.status_code == 200  # signed: stored, never refused at the door
    work()
    event = db.scalar(select(WebhookEvent))
    assert event.status == "failed" and event.error
    for model in (Order, Return, Refund):
        assert db.scalar(select(func.count()).select_from(model)) == 0
