"""The twelve-hour wait is counted from the first hold, and no pending refund waits for ever.

A refund whose job first runs long after it was written (Redis down for a night, a
backlog) is not failed by one refusal to read the order's refunds: the wait is timed
from `Refund.waiting_since`. A refusal to read the order's payments is timed the same
way, so a pending refund never waits for ever while the merchant can start no other.
Found by the fourth audit, which proved both with these tests.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from integration.models import Refund
from jobs.sweep import sweep
from tests.jobs.helpers import AMOUNT, approve_and_receive, refund_of, shopify_return


def time_passes(db, hours: float) -> None:
    """Every timestamp of the refund moves `hours` into the past: pauses, claims and queue stamps run out."""
    by = timedelta(hours=hours)
    for refund in db.scalars(select(Refund)):
        refund.created_at -= by
        refund.waiting_since = refund.waiting_since and refund.waiting_since - by
        refund.next_attempt_at = refund.enqueued_at = refund.claimed_until = None
    db.commit()


def test_a_refund_whose_job_first_runs_thirteen_hours_after_it_was_written_is_not_failed_by_one_refusal_to_read_the_order_s_refunds(
    client, shop, post_webhook, work, shopify, stripe, db, redis_down
):
    ret = shopify_return(post_webhook, work, shopify, db)
    with redis_down():  # the refund is written; its job is never queued (Redis down for the night)
        approve_and_receive(client, shop[1], ret.id)
    time_passes(db, 13)
    shopify.faults_for["OrderRefunds"] = [423]  # one refusal: the shop is locked for a moment
    assert sweep()["refunds"] == 1
    work()
    refund = refund_of(db)
    # It waited on nothing yet: it is held and tried again, not failed.
    assert refund.status == "pending", (refund.status, refund.last_error)

    time_passes(db, 0.1)
    sweep()
    work()
    assert refund_of(db).status == "succeeded" and stripe.money_moved == AMOUNT


def test_a_pending_refund_whose_order_s_payments_cannot_be_read_does_not_wait_for_ever(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    # The order is older than Shopify shows an app without read_all_orders (60 days), or the scope was
    # removed: ORDER_TRANSACTIONS is refused, every time.
    shopify.faults_for["OrderTransactions"] = [403] * 100
    approve_and_receive(client, shop[1], ret.id)
    work()
    for _ in range(5):  # days pass
        time_passes(db, 24)
        sweep()
        work()
    refund = refund_of(db)
    assert stripe.posts == []
    # Five days on, the refund is still "pending": like the order's refunds, it should fail with the reason.
    assert refund.status == "failed" and "403" in (refund.last_error or ""), (refund.status, refund.last_error)


def test_an_outage_between_two_waits_starts_the_wait_s_clock_again(
    app, client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    shopify.faults_for["OrderRefunds"] = [403]  # the refunds cannot be read: the refund starts waiting
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert refund_of(db).waiting_since is not None
    time_passes(db, 13)  # ... and then Shopify is away for half a day: the job meets 503s only
    shopify.faults_for["OrderTransactions"] = [503] * (1 + len(app.config["RETRY_INTERVALS"]))
    sweep()
    work()
    assert refund_of(db).waiting_since is None
    shopify.faults_for["OrderRefunds"] = [403]  # back, and one more refusal: a new wait, not a twelve-hour-old one
    time_passes(db, 1)
    sweep()
    work()
    refund = refund_of(db)
    assert refund.status == "pending" and refund.waiting_since is not None and stripe.posts == []
