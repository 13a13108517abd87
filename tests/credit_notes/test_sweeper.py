"""The sweeper: a note whose job was lost is queued again; refunds paid before notes were turned on, and refunds of
shops that issue none, are left alone."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from integration.models import CreditNote, Refund, Shop, utcnow
from jobs.credit_notes import issue_credit_note
from jobs.sweep import sweep


def a_while_ago(db, refund_id: int, by=timedelta(minutes=10)) -> None:
    """The refund succeeded `by` ago: longer than the sweeper's stuck threshold."""
    db.execute(update(Refund).where(Refund.id == refund_id).values(completed_at=utcnow() - by))
    db.commit()


def queued_notes(redis) -> list[int]:
    from rq import Queue

    jobs = Queue("palautus-test", connection=redis).jobs
    return [job.args[0] for job in jobs if job.func_name == "jobs.credit_notes.issue_credit_note"]


def test_a_note_whose_job_was_lost_is_queued_again_once_then_issued(issuing_shop, refunded, db, redis, work):
    shop_id, _ = issuing_shop
    first = refunded(shop_id).refund_id
    a_while_ago(db, first, timedelta(minutes=20))
    issue_credit_note(first)  # notes are issued from here on
    lost = refunded(shop_id).refund_id  # its job was never queued (Redis was down)
    a_while_ago(db, lost)
    assert sweep()["credit_notes"] == 1
    assert sweep()["credit_notes"] == 0  # queued a moment ago: not again while the queue may still hold it
    assert queued_notes(redis) == [lost]
    work()
    db.rollback()
    assert db.scalar(select(CreditNote.number).where(CreditNote.refund_id == lost)) == 2


def test_refunds_paid_before_notes_were_turned_on_get_none_unless_asked(issuing_shop, refunded, db, redis):
    shop_id, _ = issuing_shop
    before = refunded(shop_id).refund_id
    a_while_ago(db, before, timedelta(days=2))
    since = utcnow() - timedelta(days=1)
    db.execute(update(Shop).where(Shop.id == shop_id).values(books={"credit_notes": True,
                                                                    "credit_notes_since": since.isoformat()}))  # fmt: skip
    db.commit()
    after = refunded(shop_id).refund_id
    a_while_ago(db, after)
    assert sweep()["credit_notes"] == 1 and queued_notes(redis) == [after]
    issue_credit_note(before)  # asked for
    db.rollback()
    assert db.scalar(select(CreditNote.number).where(CreditNote.refund_id == before)) == 1


def test_without_a_record_of_when_they_were_turned_on_the_first_note_marks_it(issuing_shop, refunded, db, redis):
    shop_id, _ = issuing_shop
    earlier = refunded(shop_id).refund_id
    a_while_ago(db, earlier, timedelta(hours=2))
    assert sweep()["credit_notes"] == 0  # no note yet: nothing is known to be owed
    first = refunded(shop_id).refund_id
    a_while_ago(db, first, timedelta(hours=1))
    issue_credit_note(first)
    lost = refunded(shop_id).refund_id
    a_while_ago(db, lost)
    assert sweep()["credit_notes"] == 1 and queued_notes(redis) == [lost]


def test_refunds_older_than_the_window_and_shops_that_issue_none_are_not_swept(issuing_shop, erp_shop, refunded, db):
    shop_id, _ = issuing_shop
    issue_credit_note(refunded(shop_id).refund_id)
    old = refunded(shop_id).refund_id
    a_while_ago(db, old, timedelta(days=31))
    elsewhere = refunded(erp_shop[0]).refund_id
    a_while_ago(db, elsewhere)
    db.execute(update(CreditNote).values(issued_at=utcnow() - timedelta(days=40)))
    db.execute(update(Refund).where(Refund.id == db.scalar(select(CreditNote.refund_id)))
               .values(completed_at=utcnow() - timedelta(days=40)))  # fmt: skip
    db.commit()
    assert sweep()["credit_notes"] == 0
