"""A merchant's own admin refund whose note carries a copied `[palautus:...]` reference is not taken for ours.

Merchants copy notes: the note of Palautus' own record of an earlier refund pasted into their
next refund of the same order, or a note copied from another order's record. Such a refund is
linked to ours only while ours is known under no other Shopify refund and linked to no other
row, and a read cut short never shrinks its lines. Found by the fifth audit.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from integration.models import Return, ShopRefund
from tests.conftest import payload
from tests.fakes import refund_node, stripe_sale
from tests.jobs.helpers import (
    EXTRA_LINES, ORDER, SWEATER, big_order, received_return, shopify_pages_refund_lines,
)  # fmt: skip

MERCHANT_REFUND = 1040236167777


def test_a_merchant_refund_of_the_second_sweater_with_our_earlier_note_pasted_in_is_not_taken_for_our_echo(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shopify.transactions = [stripe_sale(1001, "189.70")]
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()
    # Return 1: one of the two sweaters, paid by Palautus at Stripe and recorded in Shopify with our note.
    received_return(client, shop[1], {SWEATER: 1})
    work()
    assert len(stripe.posts) == 1
    [(_, given)] = shopify.recorded.values()
    # The merchant then refunds the OTHER sweater in the admin (to store credit / cash: no gateway
    # transaction), pasting the note of the earlier refund of this order.
    now = datetime.now(timezone.utc).isoformat()
    shopify.refund_nodes = [refund_node(MERCHANT_REFUND, {SWEATER: 1}, {}, now, note=given["note"])]
    # The customer then sends the second sweater back too.
    received_return(client, shop[1], {SWEATER: 1})
    work()

    db.expire_all()
    merchant = db.scalar(select(ShopRefund).where(ShopRefund.platform_refund_id == str(MERCHANT_REFUND)))
    second = db.scalars(select(Return).order_by(Return.id)).all()[1].refunds
    # The second sweater was already refunded by the merchant: paying it again at Stripe pays it twice.
    assert len(stripe.posts) == 1, (merchant.refund_id, [(r.status, r.amount, r.last_error) for r in second])


def test_a_merchant_refund_of_26_lines_with_a_pasted_palautus_reference_does_not_lose_its_26th_line(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shopify_pages_refund_lines(shopify)
    shopify.transactions = [stripe_sale(1001, "999.00")]
    assert post_webhook("orders/create", big_order(), webhook_id="order-1").status_code == 200
    work()
    # The merchant refunds 26 pairs of socks in the admin (store credit, no transaction); the note was
    # copied from a Palautus record on another order and names a key no refund of this order has.
    now = datetime.now(timezone.utc).isoformat()
    shopify.refund_nodes = [refund_node(MERCHANT_REFUND, {line: 1 for line in EXTRA_LINES[:26]}, {}, now,
                                        note="Same as before: see [palautus:ret_9f2c1e_1]")]  # fmt: skip
    # The customer then asks for the 26th pair (already refunded) through the portal.
    received_return(client, shop[1], {EXTRA_LINES[25]: 1})
    work()

    db.expire_all()
    [refund] = db.scalar(select(Return)).refunds
    merchant = db.scalar(select(ShopRefund).where(ShopRefund.platform_refund_id == str(MERCHANT_REFUND)))
    # The 26th pair was refunded by the merchant: Palautus must not pay it again (nor count 25 of 26 lines).
    assert stripe.posts == [], (refund.status, refund.amount, refund.last_error, len(merchant.lines))
