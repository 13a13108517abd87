"""The policy's named checks, one rule at a time: what refuses a return, what only holds it for the merchant."""
from datetime import datetime, timedelta, timezone

import pytest

from integration.policy import ProductFacts, RequestedItem, ReturnPolicy, ReturnRequest, decide

ORDERED = datetime(2026, 10, 1, 12, tzinfo=timezone.utc)
MUG = ProductFacts("Kitchen", ("ceramics", "Final-Sale"))
SCARF = ProductFacts("Clothing", ("wool",))


def item(title="Scarf", quantity=1, product=SCARF, **fields):
    return RequestedItem(fields.pop("sku", None), title, quantity, fields.pop("left", 5), product=product, **fields)


def request(*items, days=10, **fields):
    values = dict(method="postal", requested_at=ORDERED + timedelta(days=days), order_processed_at=ORDERED,
                  order_cancelled=False, financial_status="paid", items=items or (item(),), order_total=10000,
                  order_currency="EUR")  # fmt: skip
    return ReturnRequest(**{**values, **fields})


def reasons(req, policy=ReturnPolicy()):
    return decide(req, policy).reasons


# The window: from delivery, else dispatch, else the order date.


def test_the_window_counts_from_delivery_when_the_delivery_date_is_known():
    delivered = ORDERED + timedelta(days=20)
    assert reasons(request(days=45, order_delivered_at=delivered, order_fulfilled_at=ORDERED)) == ()
    assert reasons(request(days=51, order_delivered_at=delivered)) == (
        "the 30-day return window ended on 2026-11-20 (counted from delivery on 2026-10-21)",)


def test_the_window_counts_from_dispatch_when_only_the_dispatch_date_is_known():
    shipped = ORDERED + timedelta(days=3)
    assert reasons(request(days=32, order_fulfilled_at=shipped)) == ()
    assert reasons(request(days=34, order_fulfilled_at=shipped)) == (
        "the 30-day return window ended on 2026-11-03 (counted from dispatch on 2026-10-04)",)


def test_the_window_counts_from_the_order_date_when_nothing_else_is_known():
    assert reasons(request(days=31)) == ("the 30-day return window ended on 2026-10-31",)


# Items the shop does not take back: each named, with why.


def test_a_non_returnable_tag_blocks_the_product_whatever_its_case():
    policy = ReturnPolicy(non_returnable_tags=("WOOL",))
    cotton = ProductFacts("Clothing", ("cotton",))
    assert reasons(request(item("Scarf"), item("Hat", product=cotton)), policy) == ("not returnable: Scarf (tagged wool)",)


def test_a_non_returnable_product_type_blocks_the_product():
    policy = ReturnPolicy(non_returnable_product_types=("kitchen",), final_sale_tags=())
    assert reasons(request(item("Mug", product=MUG)), policy) == ("not returnable: Mug (product type Kitchen)",)


def test_a_line_whose_product_is_unknown_is_not_blocked_by_tag_or_type_rules():
    policy = ReturnPolicy(non_returnable_tags=("wool",), non_returnable_product_types=("Clothing",))
    assert reasons(request(item("Scarf", product=None)), policy) == ()


def test_gift_cards_are_not_returnable_by_default_and_may_be_allowed():
    card = item("Gift card 50 EUR", gift_card=True, product=None)
    assert reasons(request(card)) == ("not returnable: Gift card 50 EUR (a gift card)",)
    assert reasons(request(card), ReturnPolicy(non_returnable_gift_cards=False)) == ()


def test_final_sale_items_are_not_returnable_by_their_tag_final_sale_by_default():
    assert reasons(request(item("Mug", product=MUG))) == ("not returnable: Mug (final sale)",)
    assert reasons(request(item("Scarf")), ReturnPolicy(final_sale_tags=("wool",))) == ("not returnable: Scarf (final sale)",)


def test_a_non_returnable_sku_names_the_item_and_its_sku():
    assert reasons(request(item("Scarf", sku="SC-1")), ReturnPolicy(non_returnable_skus=("SC-1",))) == (
        "not returnable: Scarf (SKU SC-1 is excluded)",)


def test_every_blocked_item_is_named_in_one_reason_per_rule():
    policy = ReturnPolicy(non_returnable_tags=("wool", "ceramics"))
    assert reasons(request(item("Scarf"), item("Mug", product=MUG)), policy) == (
        "not returnable: Scarf (tagged wool), Mug (tagged ceramics)", "not returnable: Mug (final sale)")


# How much one return may hold, and how it may come back.


def test_a_return_over_the_unit_limit_is_refused_saying_both_numbers():
    policy = ReturnPolicy(max_units_per_return=3)
    assert reasons(request(item(quantity=2), item("Hat", quantity=2)), policy) == (
        "a return may hold at most 3 units; this one holds 4",)
    assert reasons(request(item(quantity=3)), policy) == ()


def test_a_method_the_shop_does_not_offer_is_refused():
    policy = ReturnPolicy(methods=("drop_off", {"method": "postal", "carrier": "Posti"}))
    assert reasons(request(method="postal"), policy) == ()
    assert reasons(request(method="pickup"), policy) == ("the shop does not offer pickup returns",)


# Auto-approval: its conditions hold a return for the merchant, never refuse it.


def auto(**settings):
    return ReturnPolicy(auto_approve=True, **settings)


def test_a_return_for_a_reason_outside_the_auto_approved_ones_waits_for_the_merchant():
    policy = auto(auto_approve_reasons=("defective",))
    held = decide(request(item(reasons=("defective", "size_too_small"))), policy)
    assert (held.eligible, held.auto_approve) == (True, False)
    assert held.notes == ("needs the merchant: returns for size_too_small are approved by the merchant",)
    assert decide(request(item(reasons=("defective",))), policy).auto_approve is True


def test_an_order_worth_more_than_the_limit_in_its_currency_waits_for_the_merchant():
    policy = auto(auto_approve_max_order_values={"EUR": 10000})
    assert decide(request(order_total=10000), policy).auto_approve is True
    held = decide(request(order_total=10001), policy)
    assert (held.eligible, held.auto_approve) == (True, False)
    assert held.notes == ("needs the merchant: the order's value, 100.01 EUR, is over the 100.00 EUR automatic "
                          "approval limit",)  # fmt: skip


def test_an_order_in_a_currency_without_a_limit_waits_for_the_merchant():
    held = decide(request(order_currency="SEK"), auto(auto_approve_max_order_values={"EUR": 10000}))
    assert (held.auto_approve, held.notes) == (False, ("needs the merchant: no automatic approval limit is set in SEK",))


def test_a_customer_at_the_abuse_limit_waits_for_the_merchant_and_is_never_refused():
    policy = auto(abuse_limit_returns=2, abuse_limit_days=30)
    now = ORDERED + timedelta(days=10)
    two_recent = (now - timedelta(days=3), now - timedelta(days=29))
    held = decide(request(customer_returns=two_recent), policy)
    assert (held.eligible, held.reasons, held.auto_approve) == (True, (), False)
    assert held.notes == ("needs the merchant: the customer made 2 returns in the last 30 days",)


def test_returns_older_than_the_abuse_window_do_not_count():
    now = ORDERED + timedelta(days=10)
    old_and_recent = (now - timedelta(days=3), now - timedelta(days=31))
    assert decide(request(customer_returns=old_and_recent), auto(abuse_limit_returns=2)).auto_approve is True


def test_the_auto_approval_conditions_say_nothing_when_the_shop_does_not_auto_approve():
    decision = decide(request(customer_returns=(ORDERED,) * 5), ReturnPolicy(abuse_limit_returns=1))
    assert (decision.auto_approve, decision.notes) == (False, ())


def test_the_stored_decision_keeps_its_old_shape_when_there_is_nothing_to_note():
    assert decide(request(), auto()).to_dict() == {"eligible": True, "reasons": [], "auto_approve": True}
    held = decide(request(order_total=None), auto(auto_approve_max_order_values={"EUR": 1}))
    assert held.to_dict()["notes"] == ["needs the merchant: the order's value is not known (automatic approval up to 0.01 EUR)"]


# The withdrawal track: what the law leaves of the policy.

EXCEPTIONS = {"custom_made": ("engraved",), "perishable": ("fresh",), "sealed_hygiene": ("earrings",)}


def withdrawal(**settings):
    return ReturnPolicy(**settings).for_withdrawal()


def test_a_withdrawal_is_not_judged_by_the_shop_s_window_the_law_s_period_is_checked_elsewhere():
    assert reasons(request(days=400), withdrawal(window_days=14)) == ()


def test_a_withdrawal_ignores_sku_tag_type_gift_card_final_sale_unit_and_method_rules():
    policy = withdrawal(non_returnable_skus=("SC-1",), non_returnable_tags=("wool",), max_units_per_return=1,
                        non_returnable_product_types=("Kitchen",), methods=("in_store",))  # fmt: skip
    items = (item("Scarf", sku="SC-1", quantity=2), item("Mug", product=MUG), item("Card", gift_card=True))
    decision = decide(request(*items, method="postal"), policy)
    assert (decision.eligible, decision.auto_approve) == (True, True)


def test_a_withdrawal_of_custom_made_or_perishable_goods_is_refused_naming_the_law_s_exception():
    policy = withdrawal(withdrawal_exceptions=EXCEPTIONS)
    ring, bread = item("Ring", product=ProductFacts(None, ("Engraved",))), item("Bread", product=ProductFacts(None, ("fresh",)))
    assert reasons(request(ring, bread, item()), policy) == (
        "not returnable: Ring (no right of withdrawal: made to the customer's specifications), "
        "Bread (no right of withdrawal: liable to deteriorate or expire rapidly)",)


def test_sealed_goods_are_noted_not_refused_since_only_unsealing_ends_the_right():
    decision = decide(request(item("Earrings", product=ProductFacts(None, ("earrings",)))), withdrawal(withdrawal_exceptions=EXCEPTIONS))
    assert (decision.eligible, decision.auto_approve) == (True, True)
    assert decision.notes == ("no right of withdrawal if unsealed after delivery: Earrings (sealed for health "
                              "protection or hygiene reasons)",)  # fmt: skip


def test_the_law_s_exceptions_do_not_refuse_an_ordinary_return():
    ring = item("Ring", product=ProductFacts(None, ("engraved",)))
    assert reasons(request(ring), ReturnPolicy(withdrawal_exceptions=EXCEPTIONS)) == ()


def test_a_withdrawal_is_approved_by_itself_whatever_the_auto_approval_conditions():
    policy = withdrawal(auto_approve=False, auto_approve_reasons=("defective",), abuse_limit_returns=1,
                        auto_approve_max_order_values={"EUR": 1})  # fmt: skip
    decision = decide(request(item(reasons=("changed_mind",)), customer_returns=(ORDERED,) * 3), policy)
    assert (decision.auto_approve, decision.notes) == (True, ())


@pytest.mark.parametrize("financial_status", ["pending", "voided"])
def test_an_unpaid_order_is_refused_on_either_track(financial_status):
    for policy in (ReturnPolicy(), withdrawal()):
        assert reasons(request(financial_status=financial_status), policy) == (
            f"the order is not paid (it is {financial_status})",)
