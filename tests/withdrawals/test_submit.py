"""Submitting a statement: stored, acknowledged, matched to its order by number and e-mail, never twice."""
from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from integration.errors import InvalidInput
from integration.models import Withdrawal, utcnow
from integration.withdrawal import DUPLICATE_WINDOW
from tests.jobs.helpers import SWEATER
from tests.fakes import stripe_sale
from tests.withdrawals.conftest import EMAIL, withdrawal


def count(db) -> int:
    return db.scalar(select(func.count()).select_from(Withdrawal))


def queued(redis) -> list[str]:
    return [job.func_name for job in Queue("palautus-test", connection=redis).jobs]


def test_a_statement_naming_the_order_and_its_e_mail_is_stored_acknowledged_and_queued(
        order_arrives, submit, db, acknowledgements, redis):  # fmt: skip
    order = order_arrives([stripe_sale()], delivered_days_ago=2)
    found = withdrawal(db, submit(order_reference="1106", email=EMAIL.upper(), language="fi"))
    assert (found.order_id, found.status, found.kind, found.language) == (order.id, "received", "withdrawal", "fi")
    assert found.code[4] == "-" and len(found.code) == 9 and found.lines == []
    assert acknowledgements == [found.id]
    assert "jobs.withdrawals.carry_out_withdrawal" in queued(redis)


def test_an_order_not_delivered_yet_is_taken_as_a_cancellation(order_arrives, submit, db):
    order_arrives([stripe_sale()])
    assert withdrawal(db, submit()).kind == "cancellation"


@pytest.mark.parametrize("fields", [{"email": "someone.else@example.com"}, {"order_reference": "#9999"}])
def test_a_statement_that_matches_no_order_is_kept_for_the_merchant_and_still_acknowledged(
        order_arrives, submit, db, acknowledgements, redis, fields):  # fmt: skip
    order_arrives([stripe_sale()])
    found = withdrawal(db, submit(**fields))
    # The law requires acknowledging every statement received (Art. 11a(4)), matched or not.
    assert (found.order_id, found.status) == (None, "unmatched") and acknowledgements == [found.id]
    assert "jobs.withdrawals.carry_out_withdrawal" not in queued(redis)


def test_the_same_statement_again_within_minutes_is_the_first_one_and_is_not_acknowledged_twice(
        order_arrives, submit, db, acknowledgements):  # fmt: skip
    order_arrives([stripe_sale()])
    first = submit()
    assert submit(order_reference="1106 ") == first  # a double click, a reload, the number typed without its #
    assert count(db) == 1 and acknowledgements == [first]


def test_a_statement_of_other_lines_or_after_the_window_is_a_new_one(order_arrives, submit, db):
    order_arrives([stripe_sale()])
    first = submit()
    some = submit(lines=[{"platform_line_id": SWEATER, "quantity": 1}])
    later = submit(now=utcnow() + DUPLICATE_WINDOW + timedelta(seconds=1))
    assert len({first, some, later}) == 3 and count(db) == 3


@pytest.mark.parametrize("fields, problem", [
    ({"customer_name": " "}, "name"), ({"email": "not-an-address"}, "e-mail"), ({"order_reference": "#"}, "number"),
    ({"lines": [{"platform_line_id": SWEATER, "quantity": 0}]}, "quantity"),
])  # fmt: skip
def test_a_statement_missing_what_the_law_asks_for_is_refused_before_anything_is_stored(
        order_arrives, submit, db, acknowledgements, fields, problem):  # fmt: skip
    order_arrives([stripe_sale()])
    with pytest.raises(InvalidInput, match=problem):
        submit(**fields)
    assert count(db) == 0 and acknowledgements == []


def test_a_statement_whose_job_was_never_queued_is_carried_out_after_the_sweeper_queues_it(
        order_arrives, submit, db, redis, redis_down, work, stripe):  # fmt: skip
    from sqlalchemy import update

    from jobs.sweep import sweep

    order_arrives([stripe_sale()], delivered_days_ago=2)
    with redis_down():  # the customer confirmed while Redis was away: the statement is stored, its job is not queued
        withdrawal_id = submit()
    assert "jobs.withdrawals.carry_out_withdrawal" not in queued(redis)
    assert sweep()["withdrawals"] == 0  # a moment old: its job may still be on its way
    db.execute(update(Withdrawal).values(submitted_at=utcnow() - timedelta(hours=1)))
    db.commit()
    assert sweep()["withdrawals"] == 1
    assert sweep()["withdrawals"] == 0  # queued a moment ago: not again until it had time to run
    work()
    found = withdrawal(db, withdrawal_id)
    assert found.status == "carried_out" and found.return_id is not None
    assert sweep()["withdrawals"] == 0
