"""Our own refund's Shopify record, read back before every plan, never stops a later refund.

Palautus records every refund it paid on the Shopify order (refundCreate with the refund
lines and a note naming our key). The job reads the order's refunds before each plan; a
record of ours with more lines than one read returns needs no lines (they are in our own
rows) and is not taken for a refund that cannot be read. Found by the fourth audit.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from integration.models import Refund, utcnow
from jobs.sweep import sweep
from tests.fakes import stripe_sale
from tests.jobs.helpers import (
    EXTRA_LINES, approve_and_receive, big_order, open_return, returns_of, shopify_pages_refund_lines,
)  # fmt: skip


def test_our_own_refund_of_a_return_of_more_than_25_lines_read_back_from_shopify_does_not_stop_the_order_s_next_refund(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shopify_pages_refund_lines(shopify)
    shopify.transactions = [stripe_sale(1001, "999.00")]
    assert post_webhook("orders/create", big_order(), webhook_id="order-1").status_code == 200
    work()
    # A return of 26 lines is paid, and recorded in Shopify with 26 refund lines.
    first = open_return(client, shop[1], dict.fromkeys(EXTRA_LINES[:26], 1))
    approve_and_receive(client, shop[1], first)
    work()
    [paid] = returns_of(db)[0].refunds
    assert paid.status == "succeeded" and paid.shop_refund_gid, (paid.status, paid.last_error, paid.sync_error)
    assert len(shopify.recorded) == 1

    # A second return on the same order: one other pair of socks.
    second = open_return(client, shop[1], {EXTRA_LINES[26]: 1})
    approve_and_receive(client, shop[1], second)
    work()
    db.execute(update(Refund).values(created_at=utcnow() - timedelta(hours=13), next_attempt_at=None,
                                     enqueued_at=None, claimed_until=None))  # fmt: skip
    db.commit()
    sweep()
    work()

    [refund] = returns_of(db)[1].refunds
    # Our own record explains itself: the second customer is paid their socks.
    assert (refund.status, refund.last_error) == ("succeeded", None)
