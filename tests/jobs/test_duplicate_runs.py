"""Two runs of the same work at once: a return's payment read beside its refund job's, two jobs for one inbox event
(a relay's and a sweeper's after an outage). Each ends as if it had run once."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from integration.models import Order, Payment, WebhookEvent, utcnow
from integration.services import orders
from integration.services.inbox import EventStatus, mark_event
from jobs.context import job_context
from jobs.events import read_payments
from jobs.sweep import _events, _stamp
from tests.conftest import payload
from tests.jobs.helpers import the_order_arrives


def test_a_payment_read_that_meets_the_rows_another_read_wrote_a_moment_ago_updates_them(
    app, shop, post_webhook, work, shopify, db
):
    the_order_arrives(post_webhook, work, shopify)
    with job_context() as jc:
        order = jc.session.scalar(select(Order))
        assert order.payments == []  # this run has read the order's payments: none yet
        with app.extensions["db"].session() as other:  # meanwhile the refund job's read records them
            theirs = other.scalar(select(Order))
            orders.record_payments(other, theirs, jc.platform(jc.session.get(type(shop[0]), shop[0].id))
                                   .order_payments(theirs.platform_order_id))  # fmt: skip
            other.commit()
        read_payments(jc, jc.session.get(type(shop[0]), shop[0].id), order)  # would insert them again
    assert db.scalar(select(func.count()).select_from(Payment)) == 1
    assert db.scalar(select(Order)).payments_synced_at is not None


def test_a_run_that_lost_the_race_does_not_mark_a_processed_event_retrying(app, shop, post_webhook, work, db):
    event_id = post_webhook("orders/create", payload("orders__create.sample.json")).get_json()["event_id"]
    with app.extensions["db"].session() as loser:
        stale = loser.get(WebhookEvent, event_id)  # read while still received
        work()  # the winner processes it
        mark_event(loser, stale, EventStatus.RETRYING, "could not lock the shop", retry_at=utcnow())
        assert stale.status == "processed"
    db.expire_all()
    event = db.get(WebhookEvent, event_id)
    assert (event.status, event.error, event.next_attempt_at) == ("processed", None, None)


def test_the_sweeper_does_not_queue_again_what_the_relay_queued_after_it_looked(app, shop, post_webhook, db,
                                                                               redis_down):  # fmt: skip
    from webhooks.outbox import relay_all

    with redis_down():  # stored, not queued, for longer than the sweeper waits
        event_id = post_webhook("orders/create", payload("orders__create.sample.json")).get_json()["event_id"]
    row = db.get(WebhookEvent, event_id)
    row.received_at -= timedelta(hours=1)
    db.commit()
    now = utcnow()
    cutoff = now - timedelta(seconds=app.config["STUCK_AFTER_SECONDS"])
    with app.extensions["db"].session() as sweeper:
        assert _events(sweeper, now, cutoff) == [event_id]  # the sweeper looks ...
        assert relay_all(app, grace=0) == 1  # ... Redis is back, and the relay's scan queues it ...
        assert _stamp(sweeper, WebhookEvent.enqueued_at, [event_id], now, cutoff) == []  # ... so the sweeper won't
        sweeper.commit()
    assert app.extensions["tasks"].queue().count == 1
