"""Shop refunds that show no money on the payments are still seen before our refund is paid.

The refund job reads the order's refunds from Shopify before every plan, not only
when refunded money looks unexplained: a refund made in the admin a moment ago whose
webhook is still on its way may have its transaction still pending (a Klarna part
refunded later), may have moved no money through Shopify (paid back in the Stripe
dashboard or to store credit, items refunded in the admin), or may name the
authorization as its transaction's parent. Its lines still say which items it
settled, and the same sweater is never paid twice. Found by the third audit.
"""
from __future__ import annotations

from datetime import datetime, timezone


from tests.fakes import refund_node, stripe_sale
from tests.jobs.helpers import (
    SWEATER, approve_and_receive, capture, klarna_sale, let_the_sweeper_retry, open_one_sweater, refund_transaction, returns_of, shop_refund, the_order_arrives,
)  # fmt: skip

ADMIN_REFUND = 1040236167500


# --- the same helpers as tests/jobs/test_unexplained_refunds.py, kept here so that file may change ---------


# --- the scenarios ---------------------------------------------------------------------------------------


def a_return_of_one_sweater_is_received(client, shop) -> int:
    return_id = open_one_sweater(client, shop[1])
    approve_and_receive(client, shop[1], return_id)  # our refund of 84.90 is written and queued
    return return_id


def test_an_admin_refund_whose_transaction_is_still_pending_and_whose_webhook_is_queued_behind_our_job_is_not_paid_twice(
    client, shop, post_webhook, work, shopify, stripe, db
):
    # The customer paid 100.00 by card (Stripe, through a headless checkout) and 89.70 with Klarna.
    paid = [stripe_sale(1001, "100.00"), klarna_sale(1002, "89.70")]
    the_order_arrives(post_webhook, work, shopify, paid)
    a_return_of_one_sweater_is_received(client, shop)
    # Meanwhile the merchant refunds that sweater in the admin, back to Klarna: the REFUND transaction
    # is pending (Klarna settles it later) and its refunds/create webhook is queued behind our job.
    now = datetime.now(timezone.utc).isoformat()
    shopify.transactions = paid + [{**refund_transaction(1099, "84.90", 1002), "gateway": "klarna", "status": "PENDING"}]
    shopify.refund_nodes = [refund_node(ADMIN_REFUND, {SWEATER: 1}, {1002: "84.90"}, now, status="PENDING")]
    body = shop_refund(ADMIN_REFUND, SWEATER, [("pending", "84.90", 1002)], now)
    assert post_webhook("refunds/create", body, webhook_id="refund-1").status_code == 200
    work()  # in order: our refund job first, then the admin refund's delivery

    [refund] = returns_of(db)[0].refunds
    # Shopify already had a refund of this sweater (to Klarna): paying it at Stripe too pays it twice.
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)


def test_an_admin_refund_that_moved_no_money_through_shopify_and_whose_webhook_is_queued_behind_our_job_is_not_paid_twice(
    client, shop, post_webhook, work, shopify, stripe, db
):
    the_order_arrives(post_webhook, work, shopify, [stripe_sale()])
    a_return_of_one_sweater_is_received(client, shop)
    # The merchant paid the customer back for the sweater in Stripe's dashboard (or to store credit)
    # and refunded the item in Shopify's admin with no transaction. Its webhook is queued behind our job.
    now = datetime.now(timezone.utc).isoformat()
    shopify.refund_nodes = [refund_node(ADMIN_REFUND, {SWEATER: 1}, {}, now)]
    body = shop_refund(ADMIN_REFUND, SWEATER, [], now)
    assert post_webhook("refunds/create", body, webhook_id="refund-1").status_code == 200
    work()

    [refund] = returns_of(db)[0].refunds
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)


def test_an_admin_refund_that_moved_no_money_through_shopify_and_whose_webhook_was_lost_is_not_paid_twice(
    client, shop, post_webhook, work, shopify, stripe, db
):
    # Both sweaters were paid back outside Shopify's transactions (Stripe dashboard, store credit) and
    # refunded in the admin; that refunds/create never reached Palautus (app down past Shopify's retries).
    the_order_arrives(post_webhook, work, shopify, [stripe_sale()])
    shopify.refund_nodes = [refund_node(ADMIN_REFUND, {SWEATER: 2}, {}, "2026-03-20T08:12:03Z")]
    a_return_of_one_sweater_is_received(client, shop)  # the customer sends one of them back
    work()
    for _ in range(3):
        let_the_sweeper_retry(db)
        work()

    [refund] = returns_of(db)[0].refunds
    # Shopify lists both sweaters as refunded: nothing is owed for this one.
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)


def test_an_admin_refund_whose_transaction_names_the_authorization_as_parent_holds_our_refund_until_its_webhook_arrives(
    client, shop, post_webhook, work, shopify, stripe, db
):
    authorization = {**stripe_sale(1000), "kind": "AUTHORIZATION"}  # capture() names 1000 as its parent
    the_order_arrives(post_webhook, work, shopify, [authorization, capture(1001, "189.70")])
    a_return_of_one_sweater_is_received(client, shop)
    # The merchant refunds that sweater in the admin; Shopify's REFUND transaction points at the
    # authorization (1000), not at the capture (1001). Its webhook is queued behind our job.
    now = datetime.now(timezone.utc).isoformat()
    shopify.transactions = [authorization, capture(1001, "189.70"), refund_transaction(1099, "84.90", 1000)]
    shopify.refund_nodes = [refund_node(ADMIN_REFUND, {SWEATER: 1}, {1000: "84.90"}, now)]
    body = shop_refund(ADMIN_REFUND, SWEATER, [("success", "84.90", 1000)], now)
    assert post_webhook("refunds/create", body, webhook_id="refund-1").status_code == 200
    work()

    [refund] = returns_of(db)[0].refunds
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error)
