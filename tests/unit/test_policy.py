"""The return policy: named checks that give reasons, and settings validated on the way in."""
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from integration.errors import InvalidInput
from integration.policy import RequestedItem, ReturnPolicy, ReturnRequest, decide
from integration.refunds import Fees

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
    (request(), ReturnPolicy(non_returnable_skus=("JKT-1",)), "not returnable: Jacket (SKU JKT-1 is excluded)"),
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


# The newer settings: methods with their settings, the withdrawal policy.

DROP_OFF = {"method": "drop_off", "carrier": "Posti", "drop_off_code": "12345",
            "instructions": {"fi": "Vie paketti Postiin.", "sv": "Lämna paketet hos Posti.", "en": "Take it to Posti."},
            "fee": {"EUR": 590}}  # fmt: skip
FULL = {
    "window_days": 14, "refund_on": "approved", "auto_approve": True, "auto_approve_reasons": ["defective"],
    "auto_approve_max_order_values": {"EUR": 20000}, "abuse_limit_returns": 3, "abuse_limit_days": 60,
    "restocking_fee_percent": "10", "return_shipping_fees": {"EUR": 495}, "non_returnable_skus": ["GIFT"],
    "non_returnable_tags": ["clearance"], "non_returnable_product_types": ["Food"], "non_returnable_gift_cards": False,
    "final_sale_tags": ["outlet"], "max_units_per_return": 5, "methods": ["postal", DROP_OFF, "in_store"],
    "refund_shipping": "never", "withdrawal_return_cost_disclosed": True,
    "withdrawal_exceptions": {"custom_made": ["engraved"], "sealed_media": ["dvd"]},
}  # fmt: skip


def test_every_setting_round_trips_through_the_stored_form_methods_in_the_shape_they_were_given():
    policy = ReturnPolicy.from_dict(FULL)
    assert ReturnPolicy.from_dict(policy.to_dict()) == policy
    assert policy.to_dict()["methods"] == ["postal", DROP_OFF, "in_store"]
    assert policy.methods == ("postal", "drop_off", "in_store")  # names, as before


def test_a_method_s_settings_are_found_by_its_name():
    policy = ReturnPolicy.from_dict(FULL)
    drop_off = policy.method("drop_off")
    assert (drop_off.carrier, drop_off.drop_off_code, drop_off.instructions["sv"]) == ("Posti", "12345", "Lämna paketet hos Posti.")
    assert policy.method("postal").carrier is None  # offered, nothing more said
    assert policy.method("pickup") is None  # not offered


def test_a_method_s_own_fee_replaces_the_flat_return_shipping_fee_for_that_method():
    policy = ReturnPolicy.from_dict(FULL)
    assert policy.fees_for("EUR", "drop_off").return_shipping == 590
    assert policy.fees_for("EUR", "postal").return_shipping == 495
    with pytest.raises(InvalidInput, match="none in SEK: set methods.drop_off.fee.SEK"):
        policy.fees_for("SEK", "drop_off")


def test_a_plain_method_object_is_stored_as_its_name():
    assert ReturnPolicy(methods=({"method": "postal"},)).to_dict()["methods"] == ["postal"]


def test_the_same_method_listed_twice_is_one_method_but_two_different_settings_are_refused():
    assert ReturnPolicy(methods=("postal", "postal", {"method": "postal", "carrier": "Posti"})).methods == ("postal",)
    with pytest.raises(InvalidInput, match="methods lists postal twice, with different settings"):
        ReturnPolicy(methods=({"method": "postal", "carrier": "Posti"}, {"method": "postal", "carrier": "DHL"}))


@pytest.mark.parametrize("data, message", [
    ({"methods": [{"method": "postal", "drop_off_code": "1"}]}, "only a drop_off method has a drop-off code"),
    ({"methods": [{"method": "drop_off", "drop_off_code": "12 345"}]}, "drop_off_code must be 1-32 letters"),
    ({"methods": [{"method": "drop_off", "instructions": {"de": "x"}}]}, "'de' is not one of fi, sv, en"),
    ({"methods": [{"method": "drop_off", "instructions": {"fi": "x" * 2001}}]}, "instructions.fi must be a string of at most 2000"),
    ({"methods": [{"method": "drop_off", "fee": {"EUR": -1}}]}, "methods.drop_off.fee.EUR cannot be negative"),
    ({"methods": [{"method": "drop_off", "colour": "red"}]}, "methods.drop_off: unknown settings: colour"),
    ({"methods": [{"carrier": "Posti"}]}, "each method is a name or an object with a method"),
    ({"methods": "postal"}, "methods must be a list"),
    ({"non_returnable_tags": "clearance"}, "non_returnable_tags must be a list of strings"),
    ({"auto_approve_reasons": ["bored"]}, "auto_approve_reasons must be one of"),
    ({"auto_approve_max_order_values": {"EUR": 1.5}}, "money amount must be an integer"),
    ({"abuse_limit_returns": 0}, "abuse_limit_returns must be a whole number of at least 1 or null"),
    ({"abuse_limit_days": None}, "abuse_limit_days must be a whole number of at least 1"),
    ({"max_units_per_return": True}, "max_units_per_return must be a whole number"),
    ({"non_returnable_gift_cards": "yes"}, "non_returnable_gift_cards must be true or false"),
    ({"withdrawal_exceptions": {"sale": ["x"]}}, "withdrawal_exceptions must map some of custom_made"),
    ({"withdrawal_exceptions": {"perishable": "fresh"}}, "withdrawal_exceptions.perishable must be a list"),
    ({"method_settings": []}, "unknown policy settings: method_settings"),
])  # fmt: skip
def test_invalid_newer_settings_are_refused_saying_what_is_wrong(data, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        ReturnPolicy.from_dict(data)


def test_a_policy_stored_before_the_newer_settings_still_loads_with_their_defaults():
    old = {"window_days": 30, "refund_on": "received", "auto_approve": False, "restocking_fee_percent": "0",
           "return_shipping_fees": {}, "non_returnable_skus": [], "methods": ["postal", "postal"],
           "refund_shipping": "whole_order"}  # fmt: skip
    policy = ReturnPolicy.from_dict(old)
    assert (policy.methods, policy.final_sale_tags, policy.non_returnable_gift_cards) == (("postal",), ("final-sale",), True)


def test_the_withdrawal_policy_keeps_only_what_the_law_allows():
    shop = ReturnPolicy.from_dict({**FULL, "withdrawal_return_cost_disclosed": False, "refund_on": "manual"})
    law = shop.for_withdrawal()
    assert law.track == "withdrawal" and shop.track == "return"
    assert (law.auto_approve, law.auto_approve_reasons, law.auto_approve_max_order_values, law.abuse_limit_returns) == (
        True, (), {}, None)
    assert (law.restocking_fee_percent, law.return_shipping_fees, law.method("drop_off").fee) == (0, {}, None)
    assert (law.non_returnable_skus, law.non_returnable_tags, law.non_returnable_product_types, law.final_sale_tags) == (
        (), (), (), ())
    assert (law.non_returnable_gift_cards, law.max_units_per_return) == (False, None)
    assert (law.refund_shipping, law.refund_on) == ("whole_order", "received")
    assert law.withdrawal_exceptions == shop.withdrawal_exceptions
    assert law.method("drop_off").drop_off_code == "12345"  # how to send it back stays
    assert law.fees_for("EUR", "drop_off") == law.fees_for("EUR") == Fees(Decimal(0), 0)


def test_a_withdrawal_keeps_the_return_shipping_cost_only_when_the_shop_disclosed_it_before_the_order():
    law = ReturnPolicy.from_dict(FULL).for_withdrawal()
    assert (law.fees_for("EUR", "drop_off").return_shipping, law.fees_for("EUR", "postal").return_shipping) == (590, 495)
    assert law.fees_for("EUR").restocking_percent == 0
    assert law.fees_for("SEK").return_shipping == 0  # no amount told in SEK: the shop bears it, no error


def test_a_shop_that_refunds_on_approval_refunds_withdrawals_on_approval_too():
    assert ReturnPolicy(refund_on="approved").for_withdrawal().refund_on == "approved"
    assert ReturnPolicy(refund_on="received").for_withdrawal().refund_on == "received"


def test_the_withdrawal_policy_is_its_own_withdrawal_policy_and_rebuilds_from_the_stored_form():
    law = ReturnPolicy.from_dict(FULL).for_withdrawal()
    assert law.for_withdrawal() == law
    assert ReturnPolicy.from_dict(law.to_dict()).for_track("withdrawal") == law
    assert ReturnPolicy().for_track("return") == ReturnPolicy()
