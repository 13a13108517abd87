"""Admin refunds by amount alone (no items), pending or settled, before or after the return: never paid twice.

Nothing says which items such a refund paid for, so any on the order (not for another
return) stops our refund before anything is sent. Found by the fifth audit.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from integration.models import Return
from tests.conftest import auth, payload
from tests.fakes import refund_node, stripe_sale
from tests.jobs.helpers import ORDER, SWEATER, approve_and_receive, klarna_sale

ADMIN_REFUND = 1040236167501


def order_paid_by_card_and_klarna(post_webhook, work, shopify):
    paid = [stripe_sale(1001, "100.00"), klarna_sale(1002, "89.70")]
    shopify.transactions = list(paid)
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()
    return paid


def return_one_sweater(client, key) -> None:
    body = {"order_id": "5196695273621", "items": [{"line_id": SWEATER, "quantity": 1, "reason": "size_too_small"}]}
    answer = client.post("/api/v1/returns", json=body, headers=auth(key))
    assert answer.status_code == 201, answer.get_json()
    approve_and_receive(client, key, answer.get_json()["id"])


def test_a_money_only_admin_refund_still_pending_at_klarna_does_not_let_the_return_be_paid_again(
    client, shop, post_webhook, work, shopify, stripe, db
):
    paid = order_paid_by_card_and_klarna(post_webhook, work, shopify)
    body = {"order_id": "5196695273621", "items": [{"line_id": SWEATER, "quantity": 1, "reason": "size_too_small"}]}
    answer = client.post("/api/v1/returns", json=body, headers=auth(shop[1]))
    assert answer.status_code == 201
    # The parcel is back; the merchant refunds the sweater's 84.90 to Klarna by amount. Klarna refunds
    # are PENDING first: the REFUND transaction is not SUCCESS yet when our job plans.
    later = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
    shopify.transactions = paid + [{**stripe_sale(1099, amount="84.90"), "kind": "REFUND", "gateway": "klarna",
                                    "status": "PENDING",
                                    "parentTransaction": {"id": "gid://shopify/OrderTransaction/1002"}}]  # fmt: skip
    shopify.refund_nodes = [refund_node(ADMIN_REFUND, {}, {1002: "84.90"}, later, status="PENDING")]
    approve_and_receive(client, shop[1], answer.get_json()["id"])
    work()

    db.expire_all()
    [refund] = db.scalar(select(Return)).refunds
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)


def test_a_money_only_admin_refund_made_just_before_the_return_was_asked_for_does_not_let_the_item_be_paid_again(
    client, shop, post_webhook, work, shopify, stripe, db
):
    paid = order_paid_by_card_and_klarna(post_webhook, work, shopify)
    # The customer wrote that the sweater was faulty; the merchant paid its 84.90 back to Klarna by
    # amount, and then the customer (as agreed) sent it back through the portal.
    earlier = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    shopify.transactions = paid + [{**stripe_sale(1099, amount="84.90"), "kind": "REFUND", "gateway": "klarna",
                                    "parentTransaction": {"id": "gid://shopify/OrderTransaction/1002"}}]  # fmt: skip
    shopify.refund_nodes = [refund_node(ADMIN_REFUND, {}, {1002: "84.90"}, earlier)]
    return_one_sweater(client, shop[1])
    work()

    db.expire_all()
    [refund] = db.scalar(select(Return)).refunds
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)
