"""preview_return: the decision and refund a return would get, planned exactly as the refund is, writing nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from integration.models import Product, Refund, Return, ReturnEvent, ReturnItem
from integration.policy import ReturnPolicy
from integration.returns import Actor
from integration.services import ledger
from integration.services.returns import (
    ItemRequest, cancel_return, open_return, preview_return, receive_return,
)  # fmt: skip
from tests.services.conftest import admin_refund, after, make_order

JACKET, SOCKS = "101", "102"  # two jackets at 84.90, one pair of socks at 19.90; 5.90 shipping; VAT 24 % included
FEES = {"window_days": 3650, "restocking_fee_percent": "10", "return_shipping_fees": {"EUR": 495},
        "methods": ["postal", {"method": "drop_off", "carrier": "Posti", "drop_off_code": "12345", "fee": {"EUR": 390}}]}


def rows(ctx) -> tuple[int, ...]:
    return tuple(ctx.session.scalar(select(func.count()).select_from(m)) for m in (Return, ReturnItem, ReturnEvent, Refund))


def same(plan, refund: Refund) -> None:
    """The preview is the refund: amount, fees, VAT, shipping and every line's units and money."""
    assert (plan.amount, plan.fees, plan.vat, plan.tax, plan.shipping) == (
        refund.amount, refund.fees, refund.vat, refund.tax, refund.shipping)
    assert [(p.order_line_id, p.quantity, p.amount, p.tax) for p in plan.lines] == [
        (line["order_line_id"], line["quantity"], line["amount"], line["tax"]) for line in refund.lines]


def open_as(ctx, shop, order, requests, method, **kwargs) -> Return:
    return open_return(ctx, shop, order, requests, method=method, source="portal", actor=Actor.CUSTOMER, **kwargs)


def test_a_preview_writes_nothing_and_leaves_the_session_clean(ctx, shop):
    shop.policy = {**FEES, "auto_approve": True, "refund_on": "approved"}
    order = make_order(ctx, shop)
    ctx.session.commit()
    before = rows(ctx)
    decision, plan = preview_return(ctx, shop, order, [ItemRequest(JACKET, 1)], "postal")
    assert (decision.eligible, decision.auto_approve, plan.amount) == (True, True, 8490 - 849 - 495)
    assert not (ctx.session.new or ctx.session.dirty or ctx.session.deleted)
    ctx.session.commit()
    assert rows(ctx) == before
    assert ctx.tasks.calls == []


def test_the_preview_equals_the_refund_then_made_for_the_same_return_fees_and_vat_included(ctx, shop):
    shop.policy = {**FEES, "auto_approve": True, "refund_on": "approved"}
    order = make_order(ctx, shop)
    requests = [ItemRequest(JACKET, 1, "size_too_small"), ItemRequest(SOCKS, 1, "defective")]
    decision, plan = preview_return(ctx, shop, order, requests, "drop_off")
    assert plan.fees == {"restocking": 849}  # the socks are the shop's fault: no shipping fee, no restocking on them

    ret = open_as(ctx, shop, order, requests, "drop_off")
    assert ret.decision == decision.to_dict() and ret.status == "approved"
    [refund] = ret.refunds
    same(plan, refund)
    replanned, _ = ledger.plan_for(ctx.session, ret, ReturnPolicy.from_dict(refund.policy), ctx.routes_for(shop), refund)
    same(replanned, refund)  # what the refund job plans again before it sends


def test_a_method_s_own_fee_is_what_the_preview_and_the_refund_keep(ctx, shop):
    shop.policy = {**FEES, "auto_approve": True, "refund_on": "approved"}
    order = make_order(ctx, shop)
    _, plan = preview_return(ctx, shop, order, [ItemRequest(SOCKS, 1, "changed_mind")], "drop_off")
    assert plan.fees == {"restocking": 199, "return_shipping": 390}
    same(plan, open_as(ctx, shop, order, [ItemRequest(SOCKS, 1, "changed_mind")], "drop_off").refunds[0])


def test_a_withdrawal_preview_keeps_no_fees_gives_the_shipping_back_and_equals_its_refund_on_receipt(ctx, shop):
    shop.policy = {**FEES, "window_days": 0, "refund_on": "received"}
    order = make_order(ctx, shop, paid=(("1001", "stripe", 19560),))
    everything = [ItemRequest(JACKET, 2, "changed_mind"), ItemRequest(SOCKS, 1, "changed_mind")]
    assert preview_return(ctx, shop, order, everything, "postal")[0].eligible is False  # the shop's window is over
    decision, plan = preview_return(ctx, shop, order, everything, "postal", track="withdrawal")
    assert (decision.eligible, decision.auto_approve, plan.fees, plan.shipping) == (True, True, {}, 590)
    assert plan.amount == 2 * 8490 + 1990 + 590

    ret = open_as(ctx, shop, order, everything, "postal", track="withdrawal")
    assert (ret.status, ret.refunds) == ("approved", [])  # the trader may wait for the goods
    receive_return(ctx, shop, ret.id, Actor.MERCHANT)
    same(plan, ret.refunds[0])


def test_the_preview_of_an_ineligible_return_has_no_plan(ctx, shop):
    shop.policy = {**FEES, "max_units_per_return": 1}
    order = make_order(ctx, shop)
    decision, plan = preview_return(ctx, shop, order, [ItemRequest(JACKET, 2)], "postal")
    assert (decision.reasons, plan) == (("a return may hold at most 1 unit; this one holds 2",), None)


def test_the_preview_reads_the_products_tags_and_the_gift_card_flag_from_the_order_s_lines(ctx, shop):
    shop.policy = {"window_days": 3650}
    order = make_order(ctx, shop)
    order.lines[0].product_id, order.lines[1].gift_card = "p1", True
    ctx.session.add(Product(shop_id=shop.id, platform_product_id="p1", product_type="Coats", tags=["Final-Sale"]))
    ctx.session.flush()
    decision, _ = preview_return(ctx, shop, order, [ItemRequest(JACKET, 1), ItemRequest(SOCKS, 1)], "postal")
    assert decision.reasons == ("not returnable: line 2 (a gift card)", "not returnable: line 1 (final sale)")


def test_a_customer_s_recent_returns_by_e_mail_in_any_case_hold_auto_approval_and_cancelled_ones_do_not_count(ctx, shop):
    shop.policy = {"window_days": 3650, "auto_approve": True, "abuse_limit_returns": 2, "abuse_limit_days": 30}
    order = make_order(ctx, shop)
    first = open_as(ctx, shop, order, [ItemRequest(JACKET, 1)], "postal", customer_email="Anna@Example.com")
    assert first.status == "approved"
    second = open_as(ctx, shop, order, [ItemRequest(SOCKS, 1)], "postal", customer_email="ANNA@example.com")
    assert second.status == "approved"  # one earlier return: under the limit of two
    held = open_as(ctx, shop, order, [ItemRequest(JACKET, 1)], "postal", customer_email="anna@example.com")
    assert (held.status, held.decision["eligible"]) == ("requested", True)
    assert held.decision["notes"] == ["needs the merchant: the customer made 2 returns in the last 30 days"]
    cancel_return(ctx, shop, held.id, Actor.CUSTOMER)
    cancel_return(ctx, shop, second.id, Actor.CUSTOMER)
    decision, _ = preview_return(ctx, shop, order, [ItemRequest(SOCKS, 1)], "postal", customer_email="anna@EXAMPLE.com")
    assert decision.auto_approve is True


def test_an_item_s_diminished_value_goes_with_its_units_when_the_shop_refunded_some_of_them(ctx, shop):
    order = make_order(ctx, shop)
    ret = open_as(ctx, shop, order, [ItemRequest(JACKET, 2, "changed_mind")], "postal", now=after(1))
    ret.items[0].deduction = 1001
    admin_refund(ctx, order, [(1, 1)], after(60))  # made after the return was asked for: it settles one of its units
    plan, _ = ledger.plan_for(ctx.session, ret, ReturnPolicy(refund_shipping="never"), ctx.routes_for(shop))
    assert [line.quantity for line in plan.lines] == [1]
    assert plan.fees == {"diminished_value": 1001 * 2 // 2 - 1001 * 1 // 2}  # the second unit's share: 501


@pytest.mark.parametrize("reason, fees", [("wrong_item", {}), ("style", {"restocking": 849, "return_shipping": 495})])
def test_the_refund_job_waives_the_fees_by_the_items_reasons_as_the_preview_does(ctx, shop, reason, fees):
    shop.policy = FEES
    order = make_order(ctx, shop)
    ret = open_as(ctx, shop, order, [ItemRequest(JACKET, 1, reason)], "postal")
    plan, _ = ledger.plan_for(ctx.session, ret, ReturnPolicy.from_dict(shop.policy), ctx.routes_for(shop))
    assert plan.fees == fees
