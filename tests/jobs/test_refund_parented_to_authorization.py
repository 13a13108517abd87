"""A refund Shopify parents to the authorization counts against the capture that took the money.

An authorization is mapped to its successful capture only, never to a failed capture
attempt listed under it, so what is left on the payment is not overstated.
Found by the fourth audit.
"""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Return
from tests.conftest import auth, payload
from tests.fakes import refund_node, stripe_sale
from tests.jobs.helpers import ORDER, SWEATER, approve_and_receive, capture, refund_transaction

GOODWILL = 1040236167600


def test_a_refund_parented_to_the_authorization_counts_against_the_capture_that_succeeded_not_a_failed_capture_attempt(
    client, shop, post_webhook, work, shopify, stripe, db
):
    authorization = {**stripe_sale(1000), "kind": "AUTHORIZATION"}
    # The first capture failed; the retry took the customer's 189.70.
    paid = [authorization, capture(1001, "189.70", status="FAILURE"), capture(1002, "189.70")]
    # Long before any return, the merchant refunded the socks and a 130.10 price adjustment with them,
    # 150.00 in all; Shopify parents its REFUND transaction to the authorization.
    shopify.transactions = paid + [refund_transaction(1099, "150.00", 1000)]
    shopify.refund_nodes = [refund_node(GOODWILL, {"12695210033301": 1}, {1000: "150.00"}, "2026-03-20T08:12:03Z")]
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()

    # The customer returns a sweater: 84.90 owed, but only 39.70 of the payment is left.
    body = {"order_id": "5196695273621", "items": [{"line_id": SWEATER, "quantity": 1, "reason": "size_too_small"}]}
    answer = client.post("/api/v1/returns", json=body, headers=auth(shop[1]))
    assert answer.status_code == 201, answer.get_json()
    approve_and_receive(client, shop[1], answer.get_json()["id"])
    work()

    db.expire_all()
    [refund] = db.scalar(select(Return)).refunds
    # 150.00 + 84.90 would be more than the 189.70 the customer paid: nothing is sent.
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)
    assert refund.status == "failed" and "39.70 EUR left" in refund.last_error
