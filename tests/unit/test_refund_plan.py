"""Refund planning: line prices after discounts, tax pro-rated per line, fees, never more than the payment has."""
from decimal import Decimal

from integration.refunds import Fees, LineToRefund, plan_refund

VAT = Decimal("0.24")


def jacket(quantity=1, already=0, taxes_included=True, **overrides):
    # Two jackets at 89.90, 10.00 discount on the line, VAT 24 % included (32.86).
    fields = dict(order_line_id=1, return_item_id=11, quantity=quantity, line_quantity=2, already_refunded=already,
                  unit_price=8990, discount_total=1000, tax_total=3286, tax_rate=VAT, taxes_included=taxes_included)
    return LineToRefund(**{**fields, **overrides})


def socks():
    return LineToRefund(order_line_id=2, return_item_id=12, quantity=1, line_quantity=1, already_refunded=0,
                        unit_price=1990, discount_total=0, tax_total=385, tax_rate=VAT, taxes_included=True)


def test_a_returned_unit_is_worth_its_share_of_the_line_after_the_discount():
    plan = plan_refund([jacket()], "EUR", Fees(), refundable=10**6)
    assert (plan.amount, plan.tax, plan.vat) == (8490, 1643, {"0.24": 1643})


def test_the_second_unit_of_a_line_takes_the_leftover_cent():
    first = plan_refund([jacket()], "EUR", Fees(), 10**6)
    second = plan_refund([jacket(already=1)], "EUR", Fees(), 10**6)
    assert first.amount + second.amount == 2 * 8990 - 1000
    assert first.tax + second.tax == 3286


def test_tax_is_added_when_prices_exclude_it():
    plan = plan_refund([jacket(taxes_included=False)], "EUR", Fees(), 10**6)
    assert plan.amount == (2 * 8990 - 1000 + 3286) // 2
    assert plan.tax == 1643


def test_vat_is_reported_per_rate():
    reduced = LineToRefund(order_line_id=3, quantity=1, line_quantity=1, already_refunded=0, unit_price=1000,
                           discount_total=0, tax_total=128, tax_rate=Decimal("0.14"), taxes_included=True)
    plan = plan_refund([jacket(), socks(), reduced], "EUR", Fees(), 10**6)
    assert plan.vat == {"0.24": 1643 + 385, "0.14": 128}
    assert plan.tax == sum(plan.vat.values())
    assert plan.subtotal == plan.amount == 8490 + 1990 + 1000


def test_the_policy_s_fees_are_deducted_and_named():
    plan = plan_refund([jacket(), socks()], "EUR", Fees(restocking_percent=Decimal("10"), return_shipping=495), 10**6)
    assert plan.fees == {"restocking": 1048, "return_shipping": 495}
    assert plan.amount == 10480 - 1048 - 495
    assert plan.vat == {"0.24": 2028 * plan.amount // 10480}  # the kept fees take their share of the VAT


def test_fees_larger_than_the_goods_leave_nothing_rather_than_a_negative_refund():
    plan = plan_refund([socks()], "EUR", Fees(return_shipping=5000), 10**6)
    assert (plan.amount, plan.tax) == (0, 0)


def test_the_vat_reported_never_exceeds_the_vat_the_amount_can_contain():
    plan = plan_refund([jacket()], "EUR", Fees(return_shipping=500), refundable=6000)
    assert plan.amount == 6000
    assert plan.tax <= 6000 * 24 // 124


def test_a_refund_never_exceeds_what_is_left_on_the_payment():
    plan = plan_refund([jacket(), socks()], "EUR", Fees(), refundable=5000)
    assert (plan.amount, plan.capped) == (5000, True)
    assert plan_refund([jacket()], "EUR", Fees(), refundable=-10).amount == 0


def test_lines_with_nothing_left_to_refund_are_left_out():
    plan = plan_refund([jacket(quantity=0), socks()], "EUR", Fees(), 10**6)
    assert [line.order_line_id for line in plan.lines] == [2]


def test_a_capped_refund_corrects_only_the_vat_of_what_goes_back():
    plan = plan_refund([jacket(), socks()], "EUR", Fees(), refundable=5240)  # half of 104.80
    assert (plan.amount, plan.capped) == (5240, True)
    assert plan.vat == {"0.24": 2028 * 5240 // 10480} and plan.tax == 1014


def test_a_refund_reference_in_a_note_is_found_exactly():
    from integration.refunds import note_reference, referenced_key

    note = f"Palautus return ABCD-2345: 104.80 EUR refunded. {note_reference('palautus-1-ABCD-2345-1')}\\nRefunded at stripe"
    assert referenced_key(note) == "palautus-1-ABCD-2345-1"
    assert referenced_key("Ref palautus-1-ABCD-2345-10") is None and referenced_key(None) is None


def test_a_route_s_smallest_step_rounds_the_refund_down_toward_the_merchant():
    kwd = LineToRefund(order_line_id=1, quantity=1, line_quantity=1, already_refunded=0, unit_price=5125,
                       discount_total=0, tax_total=0, tax_rate=Decimal(0), taxes_included=True)  # 5.125 KWD
    plan = plan_refund([kwd], "KWD", Fees(), 10**6, step=10)
    assert (plan.amount, plan.owed, plan.capped) == (5120, 5125, False)  # less than a step short is not "capped"


def test_a_plan_the_payment_cannot_cover_says_so_and_keeps_what_is_owed():
    plan = plan_refund([jacket(), socks()], "EUR", Fees(), 6000)
    assert (plan.amount, plan.owed, plan.capped) == (6000, 10480, True)
