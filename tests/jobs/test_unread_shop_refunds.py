"""Refunds the job cannot read, or that name no items, never let a return be paid twice.

A refund Shopify lists but answers `null` for (one the app may not read) holds our
refund rather than being skipped. An admin refund made by amount alone after the
customer asked may be this return's money: nothing is sent, and the reason says so.
Found by the fourth audit.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from integration.models import Return
from tests.conftest import auth, payload
from tests.fakes import refund_node, stripe_sale
from tests.jobs.helpers import SWEATER, approve_and_receive, klarna_sale, the_order_arrives

ADMIN_REFUND = 1040236167500


def a_return_of_one_sweater_is_received(client, key) -> int:
    body = {"order_id": "5196695273621", "items": [{"line_id": SWEATER, "quantity": 1, "reason": "size_too_small"}]}
    answer = client.post("/api/v1/returns", json=body, headers=auth(key))
    assert answer.status_code == 201, answer.get_json()
    approve_and_receive(client, key, answer.get_json()["id"])
    return answer.get_json()["id"]


def admin_refund_body(refund_id: int, lines: list[str], transactions: list[tuple[str, str, int]], created_at: str) -> dict:
    body = payload("refunds__create.two_lines.json")
    body["id"], body["admin_graphql_api_id"] = refund_id, f"gid://shopify/Refund/{refund_id}"
    body["refund_line_items"] = [row for row in body["refund_line_items"] if str(row["line_item_id"]) in lines]
    template = next(t for t in body["transactions"] if t["status"] == "success")
    body["transactions"] = [
        {**template, "id": refund_id * 10 + n, "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{refund_id * 10 + n}",
         "status": status, "amount": amount, "parent_id": parent}
        for n, (status, amount, parent) in enumerate(transactions)
    ]  # fmt: skip
    body["return"] = None
    body["created_at"] = body["processed_at"] = created_at
    return body


def test_a_refund_shopify_lists_but_answers_null_for_holds_our_refund_instead_of_being_skipped(
    client, shop, post_webhook, work, shopify, stripe, db
):
    the_order_arrives(post_webhook, work, shopify, [stripe_sale()])
    a_return_of_one_sweater_is_received(client, shop[1])
    # The merchant paid the sweater back in Stripe's dashboard and refunded the item in the admin with no
    # transaction; its webhook is queued behind our job. ORDER_REFUNDS lists it; REFUNDS_BY_ID answers null.
    now = datetime.now(timezone.utc).isoformat()
    shopify.refund_nodes = [refund_node(ADMIN_REFUND, {SWEATER: 1}, {}, now)]
    answer = shopify._RefundsById
    shopify._RefundsById = lambda v: {"nodes": [None if node and node["id"].endswith(str(ADMIN_REFUND)) else node
                                                for node in answer(v)["nodes"]]}  # fmt: skip
    assert post_webhook("refunds/create", admin_refund_body(ADMIN_REFUND, [SWEATER], [], now),
                        webhook_id="refund-1").status_code == 200  # fmt: skip
    work()  # our refund job first, then the admin refund's delivery

    db.expire_all()
    [refund] = db.scalar(select(Return)).refunds
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)


def test_an_admin_refund_of_the_returned_item_s_money_made_without_picking_the_item_does_not_let_the_return_be_paid_again(
    client, shop, post_webhook, work, shopify, stripe, db
):
    # 100.00 by card (Stripe, headless checkout), 89.70 by Klarna (Shopify refunds it).
    paid = [stripe_sale(1001, "100.00"), klarna_sale(1002, "89.70")]
    the_order_arrives(post_webhook, work, shopify, paid)
    a_return_of_one_sweater_is_received(client, shop[1])
    # The parcel is back; the merchant refunds the sweater's 84.90 to Klarna in the admin, typing the
    # amount without picking the line. Its webhook arrives before our job runs.
    now = datetime.now(timezone.utc).isoformat()
    shopify.transactions = paid + [{**stripe_sale(1099, amount="84.90"), "kind": "REFUND", "gateway": "klarna",
                                    "parentTransaction": {"id": "gid://shopify/OrderTransaction/1002"}}]  # fmt: skip
    shopify.refund_nodes = [refund_node(ADMIN_REFUND, {}, {1002: "84.90"}, now)]
    body = admin_refund_body(ADMIN_REFUND, [], [("success", "84.90", 1002)], now)
    assert post_webhook("refunds/create", body, webhook_id="refund-1").status_code == 200
    work()

    db.expire_all()
    [refund] = db.scalar(select(Return)).refunds
    # 84.90 went back to Klarna for this very parcel: paying 84.90 at Stripe as well pays the sweater twice.
    # A money-only shop refund made after the return was asked for must be looked at by a person first.
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)
