"""The return policy: named checks that give reasons, and settings validated on the way in."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from integration.errors import InvalidInput
from integration.policy import RequestedItem, ReturnPolicy, ReturnRequest, decide

BOUGHT = datetime(2026, 10, 1, 12, tzinfo=timezone.utc)


def request(days_after=10, items=None, **overrides):
    fields = dict(method="postal", requested_at=BOUGHT + timedelta(days=days_after), order_processed_at=BOUGHT,
                  order_cancelled=False, financial_status="paid",
                  items=items or (RequestedItem("JKT-1", "Jacket", 1, 2),))
    return ReturnRequest(**{**fields, **overrides})


def test_a_request_inside_the_window_for_a_paid_order_is_eligible():
    decision = decide(request(), ReturnPolicy())
    assert (decision.eligible, decision.reasons, decision.auto_approve) == (True, (), False)


def test_auto_approval_applies_only_to_eligible_requests():
    assert decide(request(), ReturnPolicy(auto_approve=True)).auto_approve is True
    assert decide(request(days_after=40), ReturnPolicy(auto_approve=True)).auto_approve is False


@pytest.mark.parametrize("req, policy, reason", [
    (request(days_after=31), ReturnPolicy(), "the 30-day return window ended on 2026-10-31"),
    (request(financial_status="pending"), ReturnPolicy(), "the order is not paid (it is pending)"),
    (request(order_cancelled=True), ReturnPolicy(), "the order was cancelled"),
    (request(), ReturnPolicy(non_returnable_skus=("JKT-1",)), "not returnable: Jacket"),
    (request(items=(RequestedItem("JKT-1", "Jacket", 3, 2),)), ReturnPolicy(), "more units than can still be returned: Jacket"),
    (request(method="pickup"), ReturnPolicy(methods=("postal",)), "the shop does not offer pickup returns"),
])  # fmt: skip
def test_each_failed_check_gives_a_reason_a_person_can_read(req, policy, reason):
    decision = decide(req, policy)
    assert decision.eligible is False
    assert decision.reasons == (reason,)


def test_the_policy_round_trips_through_its_stored_form():
    policy = ReturnPolicy(window_days=14, refund_on="approved", restocking_fee_percent=Decimal("7.5"),
                          return_shipping_fees={"EUR": 495, "sek": 4900}, non_returnable_skus=("GIFT",),
                          methods=("postal", "drop_off"))  # fmt: skip
    assert ReturnPolicy.from_dict(policy.to_dict()) == policy
    assert policy.fees_for("EUR").restocking_percent == Decimal("7.5")


def test_the_return_shipping_fee_is_charged_in_the_order_s_own_currency():
    policy = ReturnPolicy(return_shipping_fees={"EUR": 495, "JPY": 800})
    assert policy.fees_for("EUR").return_shipping == 495
    assert policy.fees_for("jpy").return_shipping == 800  # 800 yen, not 8.00 of anything


def test_a_currency_without_a_return_shipping_fee_is_refused_not_charged_some_other_currency_s_fee():
    with pytest.raises(InvalidInput, match="none in SEK: set return_shipping_fees.SEK"):
        ReturnPolicy(return_shipping_fees={"EUR": 495}).fees_for("SEK")
    assert ReturnPolicy().fees_for("SEK").return_shipping == 0  # a shop that charges none charges none anywhere


@pytest.mark.parametrize("data", [
    {"refund_on": "whenever"}, {"window_days": -1}, {"restocking_fee_percent": "150"},
    {"methods": ["teleport"]}, {"colour": "blue"}, {"restocking_fee_percent": "x"},
    {"return_shipping_fee": 500}, {"return_shipping_fees": {"EURO": 5}}, {"return_shipping_fees": {"EUR": -1}},
    {"return_shipping_fees": {"EUR": 4.5}}, {"return_shipping_fees": [500]},
])  # fmt: skip
def test_invalid_settings_are_refused_with_a_message(data):
    with pytest.raises(InvalidInput) as refused:
        ReturnPolicy.from_dict(data)
    assert refused.value.message
