"""Refunded money the platform shows that no refunds/create webhook explained: read it, wait for it, or give up.

The refund job compares, per payment, what Shopify's transactions say was refunded
with the shop refunds Palautus knows. Money left unexplained is a shop refund whose
webhook is on its way (held until it comes), or one whose webhook came while its
transaction was pending, came before Palautus knew the order, or was lost: the
order's refunds are then read from the Admin API. Found by the second audit.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from integration.models import Refund, utcnow
from tests.conftest import payload
from tests.fakes import refund_node, stripe_sale
from tests.jobs.helpers import (
    ORDER, SOCKS, SWEATER, approve_and_receive, capture, let_the_sweeper_retry, open_one_sweater, refund_transaction, returns_of, shop_refund,
)  # fmt: skip


def test_a_shop_refund_whose_transaction_was_pending_when_its_webhook_came_does_not_hold_the_order_s_refunds_forever(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    # The merchant refunds the socks in the admin; the refund's transaction is pending when
    # refunds/create is sent (PayPal, Klarna, bank refunds...), and succeeds a little later.
    long_ago = "2026-03-20T10:12:03+02:00"
    body = shop_refund(1040236167400, SOCKS, [("pending", "19.90", 1001)], long_ago)
    assert post_webhook("refunds/create", body, webhook_id="refund-socks").status_code == 200
    work()
    shopify.transactions = [stripe_sale(), refund_transaction(1099, "19.90", 1001)]  # the same refund, now settled
    shopify.refund_nodes = [refund_node(1040236167400, {SOCKS: 1}, {1001: "19.90"}, long_ago)]

    # A customer returns one sweater: nothing of it was refunded anywhere.
    return_id = open_one_sweater(client, shop[1])
    approve_and_receive(client, shop[1], return_id)
    work()
    for _ in range(3):  # the sweeper tries again, and again: the shop's refund has long arrived
        let_the_sweeper_retry(db)
        work()

    [ret] = returns_of(db)
    [refund] = ret.refunds
    assert (refund.status, refund.last_error) == ("succeeded", None)
    assert stripe.money_moved == 8490


def test_an_admin_refund_split_over_two_captures_cannot_hide_a_later_one_so_the_same_sweater_is_not_paid_twice(
    client, shop, post_webhook, work, shopify, stripe, db
):
    # One PaymentIntent captured in two parts (two shipments).
    shopify.transactions = [capture(1001, "100.00"), capture(1002, "95.60")]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    # Admin refund 1, long before any return: one sweater, 84.90, taken 50.00 + 34.90 from the captures. Seen.
    first = shop_refund(1040236167401, SWEATER, [("success", "50.00", 1001), ("success", "34.90", 1002)],
                        "2026-03-20T10:12:03+02:00")  # fmt: skip
    assert post_webhook("refunds/create", first, webhook_id="refund-1").status_code == 200
    work()
    shopify.transactions += [refund_transaction(1101, "50.00", 1001), refund_transaction(1102, "34.90", 1002)]

    # The customer returns the other sweater; the refund is written and queued.
    return_id = open_one_sweater(client, shop[1])
    approve_and_receive(client, shop[1], return_id)
    # Meanwhile the merchant refunds that sweater in the admin too (34.90 + 50.00); its webhook is queued behind our job.
    shopify.transactions += [refund_transaction(1103, "34.90", 1001), refund_transaction(1104, "50.00", 1002)]
    now = datetime.now(timezone.utc).isoformat()
    shopify.refund_nodes = [refund_node(1040236167401, {SWEATER: 1}, {1001: "50.00", 1002: "34.90"}, "2026-03-20T08:12:03Z"),
                            refund_node(1040236167402, {SWEATER: 1}, {1001: "34.90", 1002: "50.00"}, now)]  # fmt: skip
    second = shop_refund(1040236167402, SWEATER, [("success", "34.90", 1001), ("success", "50.00", 1002)], now)
    assert post_webhook("refunds/create", second, webhook_id="refund-2").status_code == 200
    work()  # in order: our refund job first, then the admin refund's delivery

    [ret] = returns_of(db)
    assert stripe.posts == [], [(r.status, r.amount, r.last_error) for r in ret.refunds]  # held, never sent
    assert stripe.money_moved == 0  # the sweater was paid back once, in the admin


def test_a_refund_the_shop_made_before_palautus_knew_the_order_does_not_hold_the_order_s_refunds_forever(
    client, shop, post_webhook, work, shopify, stripe, db
):
    # An order placed, and its socks refunded in the admin, before Palautus was installed: no
    # orders/create and no refunds/create ever reach Palautus for it; the return request brings it in.
    shopify.orders["gid://shopify/Order/5196695273621"] = payload(ORDER)
    shopify.transactions = [stripe_sale(), refund_transaction(1099, "19.90", 1001)]
    shopify.refund_nodes = [refund_node(1040236167400, {SOCKS: 1}, {1001: "19.90"}, "2026-03-20T08:12:03Z")]
    request = payload("returns__request.two_items.json")
    request["return_line_items"] = [row for row in request["return_line_items"]
                                    if row["fulfillment_line_item"]["line_item"]["id"] == int(SWEATER)]  # fmt: skip
    assert post_webhook("returns/request", request, webhook_id="return-1").status_code == 200
    work()
    [ret] = returns_of(db)
    approve_and_receive(client, shop[1], ret.id)
    work()
    for _ in range(3):
        let_the_sweeper_retry(db)
        work()

    [ret] = returns_of(db)
    [refund] = ret.refunds
    # The sweater was never refunded anywhere: it is paid; the socks' old refund cannot hold it forever.
    assert (refund.status, refund.last_error) == ("succeeded", None)
    assert stripe.money_moved == 8490


def test_money_that_stays_unexplained_fails_the_refund_after_twelve_hours_of_waiting_naming_the_amount(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shopify.transactions = [stripe_sale(), refund_transaction(1099, "19.90", 1001)]  # Shopify lists no refund for it
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    return_id = open_one_sweater(client, shop[1])
    approve_and_receive(client, shop[1], return_id)
    work()
    [refund] = returns_of(db)[0].refunds
    assert refund.status == "pending" and "19.90 EUR" in refund.last_error
    db.execute(update(Refund).values(waiting_since=utcnow() - timedelta(hours=13)))
    db.commit()
    let_the_sweeper_retry(db)
    work()
    [refund] = returns_of(db)[0].refunds
    assert refund.status == "failed" and refund.last_error.endswith("refund it in the shop's admin. Nothing was sent.")
    assert stripe.posts == []


def test_an_order_whose_refunds_cannot_all_be_read_holds_its_refund_and_then_fails_it_with_the_reason(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    shopify.faults_for["OrderRefunds"] = [403] * 10  # the app may not read the order's refunds
    return_id = open_one_sweater(client, shop[1])
    approve_and_receive(client, shop[1], return_id)
    work()
    [refund] = returns_of(db)[0].refunds
    assert refund.status == "pending" and "cannot be read" in refund.last_error
    db.execute(update(Refund).values(waiting_since=utcnow() - timedelta(hours=13)))
    db.commit()
    let_the_sweeper_retry(db)
    work()
    [refund] = returns_of(db)[0].refunds
    assert refund.status == "failed" and "cannot be read" in refund.last_error and stripe.posts == []
