"""The acknowledgement of a statement of withdrawal: at once, once, with the statement's content, date and time."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from integration.models import Withdrawal
from integration.services import messages as book
from tests.messages.conftest import EMAIL, deliver, html_of, make_order, messages, text_of

SUBMITTED = datetime(2026, 12, 2, 12, 5, 30, tzinfo=timezone.utc)  # 14.05.30 in Helsinki


def statement(ctx, shop, order, lines=(), language="fi", kind="withdrawal") -> Withdrawal:
    """A statement as the withdrawal function stores it when the customer confirms it."""
    withdrawal = Withdrawal(shop_id=shop.id, order_id=order.id if order else None, code="PERU-7K3M", kind=kind,
                            customer_name="Aino Virtanen", email=EMAIL, order_reference="#1001",
                            lines=[{"platform_line_id": line, "quantity": n} for line, n in lines],
                            language=language, submitted_at=SUBMITTED)  # fmt: skip
    ctx.session.add(withdrawal)
    book.withdrawal_received(ctx, withdrawal)  # in the same transaction as the statement
    ctx.commit()
    return withdrawal


def test_the_acknowledgement_repeats_the_statement_and_when_it_was_received(ctx, shop_row, db, smtp):
    withdrawal = statement(ctx, shop_row, make_order(db, shop_row), lines=[("101", 2), ("102", 1)], language="en")
    deliver(ctx)

    [email] = smtp.received
    text, html = text_of(email), html_of(email)
    for shown in ("Aino Virtanen", EMAIL, "#1001", "PERU-7K3M", "Talvisaappaat, 2 pcs", "Villasukat, 1 pcs"):
        assert shown in text and shown in html
    assert "December 2, 2026" in text and "2:05:30" in text and "Eastern European" in text  # date, time, zone
    assert "#1001" in email["Subject"] and email["To"] == EMAIL
    assert "whole order" not in text
    assert messages(db)[0].dedupe_key == f"withdrawal:{withdrawal.id}:received"


def test_a_withdrawal_from_the_whole_order_says_so(ctx, shop_row, db, smtp):
    statement(ctx, shop_row, make_order(db, shop_row), language="en")
    deliver(ctx)
    assert "Withdrawn from: the whole order" in text_of(smtp.received[0])


def test_the_date_and_time_are_written_as_the_customer_s_language_writes_them(ctx, shop_row, db, smtp):
    statement(ctx, shop_row, make_order(db, shop_row), language="fi")
    deliver(ctx)
    assert "2. joulukuuta 2026" in text_of(smtp.received[0]) and "14.05.30" in text_of(smtp.received[0])
    assert smtp.received[0]["Content-Language"] == "fi"


def test_a_statement_for_an_order_palautus_does_not_know_is_acknowledged_too(ctx, shop_row, db, smtp):
    statement(ctx, shop_row, None, lines=[("777", 1)], language="sv")
    deliver(ctx)
    assert "777" in text_of(smtp.received[0]) and "#1001" in text_of(smtp.received[0])


@pytest.mark.parametrize("kind, says", [("cancellation", "will be cancelled"), ("withdrawal", "send the items back")])
def test_a_cancellation_before_dispatch_is_acknowledged_as_one(ctx, shop_row, db, smtp, kind, says):
    statement(ctx, shop_row, make_order(db, shop_row), language="en", kind=kind)
    deliver(ctx)
    assert says in text_of(smtp.received[0])


def test_the_acknowledgement_is_written_once_however_often_it_is_asked_for(ctx, shop_row, db, smtp):
    withdrawal = statement(ctx, shop_row, make_order(db, shop_row))
    assert book.withdrawal_received(ctx, withdrawal) is None
    ctx.commit()
    deliver(ctx)
    deliver(ctx)
    assert len(messages(db)) == 1 and len(smtp.received) == 1


def test_a_statement_made_through_the_withdrawal_function_is_acknowledged_at_once(ctx, shop_row, db, smtp):
    from integration.services.withdrawals import submit_withdrawal

    make_order(db, shop_row)
    submit_withdrawal(ctx, shop_row, customer_name="Aino Virtanen", email=EMAIL, order_reference="#1001",
                      lines=[{"platform_line_id": "102", "quantity": 1}], language="en")  # fmt: skip
    deliver(ctx)
    [email] = smtp.received
    assert "Aino Virtanen" in text_of(email) and "Villasukat, 1 pcs" in text_of(email)
