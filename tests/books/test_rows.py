"""The ledger's rows of a refund: exact to the cent whatever the lines, rates, fees and caps (integration/books.py)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from integration.books import Component, Head, Taxed, external_rows, percent, refund_rows, vat_summary
from integration.refunds import Fees, LineToRefund, ShippingToRefund, plan_refund

RATES = [Decimal("0.255"), Decimal("0.14"), Decimal("0.135"), Decimal("0.10"), Decimal("0.24"), Decimal("0")]
HEAD = Head(shop_id=1, source="palautus", refund_ref="r-1", refund_id=1, shop_refund_id=None, order_ref="#1001",
            platform_order_id="1001", sale_date=date(2025, 12, 30), refund_date=date(2026, 1, 5), return_code="K7Q2",
            provider="stripe", route="stripe", provider_refund_id="re_1", country="FI", currency="EUR")  # fmt: skip


def _tax(gross: int, rate: Decimal, included: bool) -> int:
    return int(gross * rate / (1 + rate)) if included else int(gross * rate)


@st.composite
def refunds(draw):
    included = draw(st.booleans())
    lines = []
    for n in range(draw(st.integers(1, 5))):
        quantity = draw(st.integers(1, 5))
        unit = draw(st.integers(1, 50_000))
        discount = draw(st.integers(0, unit * quantity // 3))
        rate = draw(st.sampled_from(RATES))
        tax = _tax(unit * quantity - discount, rate, included)
        already = draw(st.integers(0, quantity - 1))
        lines.append(LineToRefund(
            order_line_id=n, quantity=draw(st.integers(1, quantity - already)), line_quantity=quantity,
            already_refunded=already, unit_price=unit, discount_total=discount, tax_total=tax, tax_rate=rate,
            taxes_included=included, seller_fault=draw(st.booleans()), deduction=draw(st.integers(0, 3000))))
    shipping = None
    if draw(st.booleans()):
        rate = draw(st.sampled_from(RATES))
        gross = draw(st.integers(1, 2000))
        shipping = ShippingToRefund(gross, _tax(gross, rate, True), rate)
    fees = Fees(Decimal(draw(st.sampled_from(["0", "10", "15", "12.5"]))), draw(st.sampled_from([0, 495, 990])))
    refundable = draw(st.one_of(st.just(10**9), st.integers(0, 200_000)))
    plan = plan_refund(lines, "EUR", fees, refundable, shipping=shipping)
    return plan, shipping


def _rows(plan, shipping):
    goods = [Taxed(line.amount, line.tax, line.tax_rate) for line in plan.lines]
    taxed = Taxed(shipping.amount, shipping.tax, shipping.tax_rate) if shipping else None
    return refund_rows(HEAD, goods, taxed, plan.fees, plan.amount, plan.vat)


@settings(max_examples=400, deadline=None)
@given(refunds())
def test_a_refund_s_rows_add_up_to_what_went_back_and_to_its_vat_per_rate_exactly(case):
    plan, shipping = case
    rows = _rows(plan, shipping)
    assert all(row.net + row.vat == row.gross for row in rows)
    assert sum(row.gross for row in rows) == plan.amount
    vat = {}
    for row in rows:
        vat[row.rate] = vat.get(row.rate, 0) + row.vat
    assert {rate: tax for rate, tax in vat.items() if tax} == {percent(Decimal(r)): t for r, t in plan.vat.items() if t}
    credited = [row for row in rows if row.component in Component.CREDITED]
    assert all(row.gross >= 0 for row in credited) and all(row.gross <= 0 for row in rows if row.component in Component.KEPT)
    assert sum(row.gross for row in credited) == plan.subtotal
    assert sum(row.gross for row in rows if row.component == Component.GOODS) == sum(line.amount for line in plan.lines)


@settings(max_examples=200, deadline=None)
@given(refunds())
def test_each_fee_kept_appears_whole_as_its_own_component(case):
    plan, shipping = case
    if plan.capped or sum(plan.fees.values()) > plan.subtotal:
        return  # what was kept is then less than the fees named: covered by the test above
    rows = _rows(plan, shipping)
    names = {"restocking": Component.RESTOCKING_FEE, "return_shipping": Component.RETURN_SHIPPING_FEE,
             "diminished_value": Component.DIMINISHED_VALUE}  # fmt: skip
    for name, component in names.items():
        assert -sum(row.gross for row in rows if row.component == component) == plan.fees.get(name, 0)
    assert not [row for row in rows if row.component == Component.UNCREDITED]


def test_a_2025_sale_is_credited_at_14_percent_and_a_2026_sale_at_13_5():
    # Finland's reduced rate for food went from 14 % to 13.5 % on 1 January 2026: the rate is the sale's own.
    old = refund_rows(HEAD, [Taxed(1140, 140, Decimal("0.14"))], None, {}, 1140, {"0.14": 140})
    new = refund_rows(HEAD, [Taxed(1135, 135, Decimal("0.135"))], None, {}, 1135, {"0.135": 135})
    assert [(r.rate, r.net, r.vat, r.gross) for r in old] == [(Decimal("14"), 1000, 140, 1140)]
    assert [(r.rate, r.net, r.vat, r.gross) for r in new] == [(Decimal("13.5"), 1000, 135, 1135)]
    assert str(old[0].rate) == "14" and str(new[0].rate) == "13.5" and str(percent(Decimal("0.255"))) == "25.5"


def test_a_restocking_fee_on_two_rates_is_kept_from_both_in_proportion():
    goods = [Taxed(12550, 2550, Decimal("0.255")), Taxed(11350, 1350, Decimal("0.135"))]
    plan_vat = {"0.255": 2550 * 21510 // 23900, "0.135": 1350 * 21510 // 23900}
    rows = refund_rows(HEAD, goods, None, {"restocking": 2390}, 21510, plan_vat)
    kept = {row.rate: (row.gross, row.vat) for row in rows if row.component == Component.RESTOCKING_FEE}
    assert kept == {Decimal("25.5"): (-1255, -255), Decimal("13.5"): (-1135, -135)}
    assert sum(row.gross for row in rows) == 21510


def test_an_external_refund_of_one_line_and_an_amount_on_top():
    line = Taxed(2490, 496, Decimal("0.249"))
    sale = [Taxed(4980, 992, Decimal("0.249")), Taxed(1000, 120, Decimal("0.135"))]
    exact = external_rows(HEAD, [line], None, 2490, sale)
    assert [(r.component, r.gross, r.vat) for r in exact] == [(Component.GOODS, 2490, 496)]
    short = external_rows(HEAD, [line], None, 2000, sale)
    assert sum(r.gross for r in short) == 2000 and {r.component for r in short} == {Component.GOODS, Component.UNALLOCATED}
    more = external_rows(HEAD, [line], None, 2490 + 598, sale)  # 598 more: spread over the sale's rates
    extra = [(r.rate, r.gross, r.vat) for r in more if r.component == Component.UNALLOCATED]
    assert extra == [(Decimal("24.9"), 498, 99), (Decimal("13.5"), 100, 12)]
    assert all(r.net + r.vat == r.gross for r in more) and sum(r.gross for r in more) == 3088


def test_an_amount_only_external_refund_of_an_order_with_no_lines_known_has_no_vat():
    rows = external_rows(HEAD, [], None, 500, [])
    assert [(r.component, r.rate, r.gross, r.vat) for r in rows] == [(Component.UNALLOCATED, Decimal(0), 500, 0)]


def test_the_monthly_vat_summary_sums_per_country_and_rate():
    jan = refund_rows(HEAD, [Taxed(1140, 140, Decimal("0.14"))], None, {}, 1140, {"0.14": 140})
    feb_head = Head(**{**HEAD.__dict__, "refund_ref": "r-2", "refund_date": date(2026, 2, 1), "country": "SE"})
    feb = refund_rows(feb_head, [Taxed(12500, 2500, Decimal("0.25"))], None, {"restocking": 1250}, 11250, {"0.25": 2250})
    lines = vat_summary(jan + feb)
    assert [(l.month, l.country, str(l.rate), l.gross, l.net, l.vat, l.refunds) for l in lines] == [
        ("2026-01", "FI", "14", 1140, 1000, 140, 1), ("2026-02", "SE", "25", 11250, 9000, 2250, 1)]
