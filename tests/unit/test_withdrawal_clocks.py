"""The law's clocks for a withdrawal (integration/withdrawal.py): pure, no database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from integration.withdrawal import (
    Kind, last_delivery, normalize_reference, owed, period_end, refund_due, same_lines, timing,
)  # fmt: skip

UTC = timezone.utc


def at(day: int, hour: int = 12, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_goods_delivered_on_1_december_may_be_withdrawn_from_until_the_end_of_15_december():
    ends = period_end(at(1, 9))
    assert ends == datetime(2026, 12, 15, 23, 59, 59, 999999, tzinfo=UTC)
    assert not timing(at(15, 23, 59), at(1, 9), at(1, 8)).late
    assert timing(at(16, 0, 0), at(1, 9), at(1, 8)).late


def test_the_day_of_delivery_does_not_count_however_late_in_the_day_it_came():
    assert period_end(at(1, 23, 58)) == period_end(at(1, 0, 1))


def test_a_period_ending_on_a_weekend_runs_to_the_end_of_the_monday():
    # Delivered Saturday 5 Dec: the 14th day is Saturday 19 Dec, so the period ends with Monday 21 Dec.
    assert period_end(at(5)).date().isoformat() == "2026-12-21"
    assert period_end(at(6)).date().isoformat() == "2026-12-21"  # the 14th day a Sunday
    assert not timing(at(21, 22), at(5), at(4)).late


def test_the_end_of_the_day_is_the_shops_own_when_its_time_zone_is_given():
    helsinki = ZoneInfo("Europe/Helsinki")
    ends = period_end(at(1, 9), helsinki)
    assert ends.astimezone(UTC) == datetime(2026, 12, 15, 21, 59, 59, 999999, tzinfo=UTC)


def test_with_goods_delivered_separately_the_period_counts_from_the_last_delivery():
    assert last_delivery([at(1), at(4), at(2)]) == at(4)
    assert period_end(last_delivery([at(1), at(4)])).date().isoformat() == "2026-12-18"


def test_while_any_of_the_goods_is_still_on_its_way_the_period_has_not_begun():
    assert last_delivery([at(1), None]) is None
    assert last_delivery([]) is None


def test_before_anything_was_shipped_a_statement_is_a_cancellation_and_never_late():
    when = timing(at(30, month=11), None, None)
    assert when == type(when)(Kind.CANCELLATION, None, False, "not_shipped")


def test_shipped_with_no_delivery_date_known_is_a_withdrawal_whose_period_has_not_provably_ended():
    when = timing(at(1, month=12) + timedelta(days=90), None, at(1))
    assert (when.kind, when.period_ends, when.late, when.basis) == (Kind.WITHDRAWAL, None, False, "shipped")


def test_a_late_statement_is_flagged_late_not_refused():
    when = timing(at(20), at(1), at(1))
    assert when.kind == Kind.WITHDRAWAL and when.late and when.period_ends.date().isoformat() == "2026-12-15"


def test_the_refund_is_due_14_days_after_the_statement_was_sent():
    assert refund_due(at(3, 10, 30)) == at(17, 10, 30)


def test_a_whole_order_withdrawal_is_owed_the_outbound_shipping_a_partial_one_is_not():
    assert owed(18970, whole_order=True, shipping_paid=590).total == 18970 + 590
    assert owed(8490, whole_order=False, shipping_paid=590).total == 8490


def test_express_delivery_is_refunded_only_up_to_the_cheapest_standard_delivery_where_that_is_known():
    assert owed(10000, whole_order=True, shipping_paid=1490, standard_shipping=590).shipping == 590
    assert owed(10000, whole_order=True, shipping_paid=1490).shipping == 1490  # unknown: all of it


def test_only_disclosed_return_shipping_and_recorded_diminished_value_are_deducted():
    assert owed(10000, whole_order=False, shipping_paid=0).total == 10000  # nothing disclosed, nothing recorded
    money = owed(10000, whole_order=False, shipping_paid=0, return_shipping_disclosed=500, deductions=[1200, 0])
    assert (money.return_shipping, money.diminished_value, money.total) == (500, 1200, 8300)
    assert owed(300, whole_order=False, shipping_paid=0, return_shipping_disclosed=500).total == 0  # never below 0


def test_an_order_number_is_the_same_with_or_without_its_hash_and_spaces():
    assert normalize_reference("#1106") == normalize_reference(" 1106 ") == normalize_reference("# 1106") == "1106"


def test_two_statements_name_the_same_lines_in_any_order_and_none_means_the_whole_order():
    a = [{"platform_line_id": "1", "quantity": 2}, {"platform_line_id": "2", "quantity": 1}]
    assert same_lines(a, list(reversed(a))) and same_lines(None, [])
    assert not same_lines(a, a[:1])
