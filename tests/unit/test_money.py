"""Money in minor units and the one pro-rating rule."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.errors import InvalidInput
from integration.money import Money, exponent, prorate, to_decimal, to_minor


@pytest.mark.parametrize("amount, currency, minor", [
    ("89.99", "EUR", 8999), ("89.9", "eur", 8990), ("0", "USD", 0), (12, "EUR", 1200),
    ("1500", "JPY", 1500), ("1.234", "KWD", 1234), ("10.0", "ISK", 10), (Decimal("0.01"), "SEK", 1),
])  # fmt: skip
def test_decimal_amounts_become_exact_minor_units(amount, currency, minor):
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize("amount, currency", [("1.999", "EUR"), ("1.5", "JPY"), ("abc", "EUR"), ("NaN", "EUR"), ("Infinity", "EUR")])
def test_amounts_that_are_not_exact_in_the_currency_are_refused(amount, currency):
    with pytest.raises(InvalidInput):
        to_minor(amount, currency)


@pytest.mark.parametrize("currency", ["EURO", "E1R", "", None, 978])
def test_a_currency_must_be_a_three_letter_code(currency):
    with pytest.raises(InvalidInput):
        exponent(currency)


def test_minor_units_go_back_to_decimals_with_the_currency_s_places():
    assert to_decimal(8999, "EUR") == Decimal("89.99")
    assert str(to_decimal(1500, "JPY")) == "1500"
    assert str(to_decimal(1234, "BHD")) == "1.234"


def test_money_adds_within_one_currency_and_refuses_to_mix():
    assert Money(100, "eur") + Money(250, "EUR") == Money(350, "EUR")
    assert str(Money.parse("12.5", "EUR")) == "12.50 EUR"
    with pytest.raises(InvalidInput):
        Money(100, "EUR") + Money(100, "USD")
    with pytest.raises(InvalidInput):
        Money(1.5, "EUR")


def test_prorating_rounds_each_share_down_and_the_last_unit_takes_the_remainder():
    # 100.00 over 3 units: 33.33, 33.33, 33.34
    assert [prorate(10000, 3, 1, before) for before in range(3)] == [3333, 3333, 3334]
    assert prorate(10000, 3, 3) == 10000
    assert prorate(10000, 3, 2, 1) == 6667


@pytest.mark.parametrize("whole, part, before", [(0, 0, 0), (3, 4, 0), (3, 2, 2), (3, -1, 0)])
def test_prorating_more_units_than_the_line_has_is_refused(whole, part, before):
    with pytest.raises(InvalidInput):
        prorate(100, whole, part, before)


@given(total=st.integers(0, 10**9), whole=st.integers(1, 50), data=st.data())
def test_partial_refunds_of_a_line_never_exceed_it_and_add_up_to_it_exactly(total, whole, data):
    splits = data.draw(st.lists(st.integers(1, whole), min_size=1).filter(lambda s: sum(s) <= whole))
    before, shares = 0, []
    for part in splits:
        share = prorate(total, whole, part, before)
        assert 0 <= share <= total * part // whole + 1
        assert share <= -(-total * part // whole)  # never more than the exact share rounded up
        shares.append(share)
        before += part
    assert sum(shares) == prorate(total, whole, before)
    if before == whole:
        assert sum(shares) == total
