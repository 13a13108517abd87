"""Fees in the refund plan: waived for the shop's faults, and the diminished value recorded at receipt."""
from decimal import Decimal

import pytest

from integration.refunds import SELLER_FAULT, Fees, LineToRefund, ShippingToRefund, plan_refund

VAT = Decimal("0.24")
FEES = Fees(restocking_percent=Decimal("10"), return_shipping=500)


def line(order_line_id=1, paid=10000, tax=1935, quantity=1, **fields):
    """One unit bought and returned at `paid`, VAT 24 % included."""
    return LineToRefund(order_line_id=order_line_id, return_item_id=order_line_id * 10, quantity=quantity,
                        line_quantity=1, already_refunded=0, unit_price=paid, discount_total=0, tax_total=tax,
                        tax_rate=VAT, taxes_included=True, **fields)  # fmt: skip


def test_the_shop_s_faults_are_exactly_the_four_reasons_that_are_not_the_customer_s_choice():
    assert SELLER_FAULT == {"defective", "damaged_in_transit", "wrong_item", "not_as_described"}


def test_a_return_with_no_fault_pays_the_restocking_and_the_return_shipping_fee():
    plan = plan_refund([line(), line(2, 5000, 968)], "EUR", FEES, 10**6)
    assert plan.fees == {"restocking": 1500, "return_shipping": 500}
    assert plan.amount == 15000 - 1500 - 500


def test_a_return_that_is_all_the_shop_s_fault_pays_no_fee():
    plan = plan_refund([line(seller_fault=True)], "EUR", FEES, 10**6)
    assert (plan.fees, plan.amount, plan.vat) == ({}, 10000, {"0.24": 1935})


def test_a_mixed_return_pays_restocking_on_the_other_items_only_and_no_return_shipping():
    plan = plan_refund([line(seller_fault=True), line(2, 5000, 968)], "EUR", FEES, 10**6)
    assert plan.fees == {"restocking": 500}  # 10 % of the 50.00 item only; the parcel comes back anyway
    assert plan.amount == 15000 - 500


def test_a_fault_on_an_item_already_refunded_still_waives_the_return_shipping_of_the_rest():
    plan = plan_refund([line(seller_fault=True, quantity=0), line(2, 5000, 968)], "EUR", FEES, 10**6)
    assert plan.fees == {"restocking": 500}


def test_diminished_value_is_its_own_deduction_and_the_vat_shrinks_with_it_like_the_other_fees():
    plan = plan_refund([line(deduction=2500)], "EUR", Fees(), 10**6)
    assert (plan.fees, plan.owed, plan.amount) == ({"diminished_value": 2500}, 7500, 7500)
    assert plan.vat == {"0.24": 1935 * 7500 // 10000}


def test_a_deduction_larger_than_the_item_takes_no_more_than_the_item_is_refunded():
    plan = plan_refund([line(deduction=99999), line(2, 5000, 968)], "EUR", Fees(), 10**6)
    assert (plan.fees, plan.amount) == ({"diminished_value": 10000}, 5000)


def test_restocking_is_a_share_of_what_is_left_of_an_item_after_its_diminished_value():
    plan = plan_refund([line(deduction=2000)], "EUR", FEES, 10**6)
    assert plan.fees == {"restocking": 800, "return_shipping": 500, "diminished_value": 2000}
    assert plan.amount == 10000 - 800 - 500 - 2000


@pytest.mark.parametrize("fault", [True, False])
def test_the_order_s_shipping_given_back_carries_no_fee_either_way(fault):
    shipping = ShippingToRefund(590, 114, VAT)
    plan = plan_refund([line(seller_fault=fault)], "EUR", Fees(restocking_percent=Decimal("10")), 10**6, shipping=shipping)
    assert plan.fees == ({} if fault else {"restocking": 1000})
    assert plan.subtotal == 10590
