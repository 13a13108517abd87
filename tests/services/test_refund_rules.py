"""The refund rules, straight against the services with in-memory ports: no worker, no HTTP, milliseconds each."""
from __future__ import annotations

import pytest

from integration.errors import Conflict, InvalidInput
from integration.models import Refund
from integration.policy import ReturnPolicy
from integration.refunds import RefundStatus
from integration.returns import Actor
from integration.services.routes import ShopRoutes
from integration.services import ledger
from integration.services import refunds as book
from tests.services.conftest import Route, admin_refund, after, make_order, make_return

POLICY = ReturnPolicy()


def refund_for(ctx, shop, ret) -> Refund:
    refund = book.start_refund(ctx.session, ret, POLICY, ctx.routes_for(shop))
    ctx.session.flush()
    return refund


# --- starting -------------------------------------------------------------------------------------


def test_begin_writes_the_refund_owed_and_queues_its_job_only_after_commit(ctx, shop):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1), (2, 1)])
    refund = book.begin(ctx, shop, ret, Actor.MERCHANT, asked=True)
    assert (refund.status, refund.amount, refund.vat) == ("pending", 8490 + 1990, {"0.24": 1643 + 385})
    assert ctx.tasks.calls == []
    ctx.commit()
    assert ctx.tasks.calls == [("push_refund", refund.id)]


def test_a_second_refund_while_one_is_in_flight_is_a_conflict_when_asked_and_nothing_when_automatic(ctx, shop):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)])
    book.begin(ctx, shop, ret, Actor.MERCHANT, asked=True)
    with pytest.raises(Conflict, match="still under way"):
        book.begin(ctx, shop, ret, Actor.MERCHANT, asked=True)
    assert book.begin(ctx, shop, ret, Actor.SYSTEM, asked=False) is None


def test_a_policy_without_a_fee_in_the_order_s_currency_starts_no_refund_and_says_why(ctx, shop):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)])
    shop.policy = {"return_shipping_fees": {"SEK": 4900}}
    with pytest.raises(Conflict, match="none in EUR"):
        book.begin(ctx, shop, ret, Actor.MERCHANT, asked=True)
    assert book.begin(ctx, shop, ret, Actor.SYSTEM, asked=False) is None
    assert ret.events[-1].kind == "refund_not_started" and "none in EUR" in ret.events[-1].data["reason"]


# --- the refund's own status: compare-and-set against REFUND_TRANSITIONS ---------------------------


def test_a_cancel_fails_a_pending_refund_even_while_a_job_holds_it(ctx, shop):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)], status="approved")
    refund = refund_for(ctx, shop, ret)
    assert book.claim_refund(ctx.session, refund.id, 180) is not None
    book.withdraw(ctx, ret)
    assert refund.status == "failed"
    assert book.mark_submitted(ctx.session, refund) is False  # the job's last step before the provider


def test_a_refund_that_may_be_with_the_provider_forbids_the_cancel(ctx, shop):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)], status="approved")
    refund = refund_for(ctx, shop, ret)
    assert book.mark_submitted(ctx.session, refund)
    with pytest.raises(Conflict, match="already with the provider"):
        book.withdraw(ctx, ret)
    assert refund.status == "submitted"


def test_the_step_to_submitted_sees_a_cancelled_return_whatever_its_refund_row_says(ctx, shop):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)], status="approved")
    refund = refund_for(ctx, shop, ret)
    ret.status = "cancelled"  # a cancel that reached the return but not (yet) this refund row
    ctx.session.flush()
    assert book.mark_submitted(ctx.session, refund) is False and refund.status == "pending"


@pytest.mark.parametrize("final", [RefundStatus.SUCCEEDED, RefundStatus.FAILED])
def test_a_finished_refund_never_moves_again(ctx, shop, final):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)])
    refund = refund_for(ctx, shop, ret)
    book.mark_submitted(ctx.session, refund)
    assert book.set_status(ctx.session, refund, final)
    for target in RefundStatus:
        assert book.set_status(ctx.session, refund, target) is False
    assert refund.status == final.value


# --- what the shop refunded itself -----------------------------------------------------------------


def test_an_admin_refund_naming_no_return_goes_to_the_oldest_return_that_still_waits_for_those_units(ctx, shop):
    order = make_order(ctx, shop)
    older = make_return(ctx, shop, order, [(1, 1)], requested=after(1), code="OLD")
    newer = make_return(ctx, shop, order, [(1, 1)], requested=after(2), code="NEW")
    admin_refund(ctx, order, [(1, 1)], at=after(3))
    given = ledger.shop_refunded_for(ctx.session, order)
    sweater = order.lines[0].id
    assert (given[older.id][sweater], given[newer.id][sweater]) == (1, 0)
    assert [line.quantity for line in ledger.lines_to_refund(ctx.session, older)] == [0]
    assert [line.quantity for line in ledger.lines_to_refund(ctx.session, newer)] == [1]


def test_an_admin_refund_naming_a_return_settles_that_return_and_leaves_the_other_alone(ctx, shop):
    order = make_order(ctx, shop)
    older = make_return(ctx, shop, order, [(1, 1)], requested=after(1), code="OLD")
    newer = make_return(ctx, shop, order, [(1, 1)], requested=after(2), code="NEW")
    newer.platform_return_id = "R-2"
    admin_refund(ctx, order, [(1, 1)], at=after(3), return_id="R-2")
    assert [line.quantity for line in ledger.lines_to_refund(ctx.session, older)] == [1]
    assert [line.quantity for line in ledger.lines_to_refund(ctx.session, newer)] == [0]


def test_an_admin_refund_from_before_the_return_counts_against_the_line_not_the_return(ctx, shop):
    order = make_order(ctx, shop)
    admin_refund(ctx, order, [(1, 1)], at=after(0))
    ret = make_return(ctx, shop, order, [(1, 2)], requested=after(5))
    assert [line.quantity for line in ledger.lines_to_refund(ctx.session, ret)] == [1]  # one unit left on the line


# --- shipping, steps and payments -----------------------------------------------------------------


def test_shipping_goes_back_only_with_the_return_that_completes_the_whole_order(ctx, shop):
    order = make_order(ctx, shop, paid=(("1001", "stripe", 19560),))
    part = make_return(ctx, shop, order, [(1, 1)], code="PART")
    assert ledger.plan_for(ctx.session, part, POLICY, ctx.routes_for(shop))[0].shipping == 0
    whole = make_return(ctx, shop, order, [(1, 2), (2, 1)], code="WHOLE")
    plan, _ = ledger.plan_for(ctx.session, whole, POLICY, ctx.routes_for(shop))
    assert (plan.shipping, plan.amount, plan.vat) == (590, 2 * 8490 + 1990 + 590, {"0.24": 2 * 1643 + 385 + 114})
    assert ledger.plan_for(ctx.session, whole, ReturnPolicy(refund_shipping="never"), ctx.routes_for(shop))[0].shipping == 0


@pytest.mark.parametrize("refunded_before", ["by the shop", "by us"])
def test_shipping_refunded_before_is_never_given_back_again(ctx, shop, refunded_before):
    order = make_order(ctx, shop, paid=(("1001", "stripe", 19560),))
    if refunded_before == "by the shop":
        admin_refund(ctx, order, [], at=after(1), shipping=True)
    else:
        earlier = make_return(ctx, shop, order, [(2, 1)], code="EARLY")
        refund = refund_for(ctx, shop, earlier)
        refund.shipping = 590
    whole = make_return(ctx, shop, order, [(1, 2), (2, 1)], code="WHOLE")
    assert ledger.plan_for(ctx.session, whole, POLICY, ctx.routes_for(shop))[0].shipping == 0


def test_a_route_s_step_rounds_the_plan_down_to_what_it_can_refund(ctx, shop):
    order = make_order(ctx, shop, lines=((1, 5125, 0),), paid=(("1001", "stripe", 5125),), currency="KWD", shipping=(0, 0))
    ret = make_return(ctx, shop, order, [(1, 1)])
    plan, _ = ledger.plan_for(ctx.session, ret, POLICY, ShopRoutes("shopify", direct={"stripe": Route(step=10)}))
    assert (plan.amount, plan.owed, plan.capped) == (5120, 5125, False)


def test_only_a_payment_palautus_can_refund_itself_is_chosen_and_the_one_with_most_left(ctx, shop):
    order = make_order(ctx, shop, paid=(("1", "stripe", 5000), ("2", "stripe", 9000), ("3", "gift_card", 90000)))
    assert ledger.choose_payment(ctx.session, order, ctx.routes_for(shop)).platform_transaction_id == "2"
    assert ledger.choose_payment(ctx.session, order, ShopRoutes("shopify")) is None


def test_a_plan_the_payment_cannot_cover_is_capped_and_its_reason_names_the_gap_and_the_other_payments(ctx, shop):
    order = make_order(ctx, shop, paid=(("1", "stripe", 5000), ("3", "gift_card", 15000)))
    ret = make_return(ctx, shop, order, [(1, 1), (2, 1)])
    plan, payment = ledger.plan_for(ctx.session, ret, POLICY, ctx.routes_for(shop))
    assert plan.capped and (plan.amount, plan.owed) == (5000, 10480)
    reason = ledger.unpaid_reason(ctx.session, plan, payment, ctx.routes_for(shop))
    assert reason.startswith("54.80 EUR of the 104.80 EUR owed cannot be paid back through stripe")
    assert "gift_card (150.00 EUR, which Palautus cannot refund)" in reason


def test_a_fee_missing_in_the_order_s_currency_is_refused_in_planning(ctx, shop):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)])
    with pytest.raises(InvalidInput, match="none in EUR"):
        ledger.plan_for(ctx.session, ret, ReturnPolicy(return_shipping_fees={"SEK": 4900}), ctx.routes_for(shop))


# --- claims, paid refunds, pooled payments, refunds not seen yet ------------------------------------


def test_a_run_that_lost_its_claim_can_neither_send_nor_fail_the_refund(ctx, shop):
    from datetime import timedelta

    from integration.models import utcnow

    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)])
    refund = refund_for(ctx, shop, ret)
    stale = book.claim_refund(ctx.session, refund.id, 180).attempts
    refund.claimed_until = utcnow() - timedelta(seconds=1)  # its lease ran out while it waited
    ctx.session.commit()
    fresh = book.claim_refund(ctx.session, refund.id, 180).attempts
    assert book.mark_submitted(ctx.session, refund, stale) is False
    book.refund_failed(ctx, refund, "a stale run's verdict", stale)
    assert refund.status == "pending"
    assert book.mark_submitted(ctx.session, refund, fresh) is True


def test_a_return_whose_refund_has_paid_cannot_be_cancelled(ctx, shop):
    ret = make_return(ctx, shop, make_order(ctx, shop), [(1, 1)], status="approved")
    refund = refund_for(ctx, shop, ret)
    book.mark_submitted(ctx.session, refund)
    book.refund_succeeded(ctx, refund, provider_refund_id="re_1", provider_status="succeeded")
    with pytest.raises(Conflict, match="has paid the customer"):
        book.withdraw(ctx, ret)


def test_a_pending_refund_and_the_admin_refund_that_settles_its_return_count_the_units_once(ctx, shop):
    order = make_order(ctx, shop)
    older = make_return(ctx, shop, order, [(1, 1)], requested=after(1), code="OLD")
    refund_for(ctx, shop, older)  # pending: the admin refund below settles it, it will be stopped
    admin_refund(ctx, order, [(1, 1)], at=after(3))
    newer = make_return(ctx, shop, order, [(1, 1)], requested=after(2), code="NEW")
    assert ledger.refunded_units(ctx.session, order)[order.lines[0].id] == 1
    assert [line.quantity for line in ledger.lines_to_refund(ctx.session, newer)] == [1]


def test_one_payment_captured_in_two_parts_is_one_payment_to_refund_from(ctx, shop):
    order = make_order(ctx, shop, paid=(("1", "stripe", 10000), ("2", "stripe", 8970)))
    order.payments[1].payment_id = order.payments[0].payment_id  # both captures of one PaymentIntent
    ret = make_return(ctx, shop, order, [(1, 1), (2, 1)])
    plan, payment = ledger.plan_for(ctx.session, ret, POLICY, ctx.routes_for(shop))
    assert not plan.capped and ledger.refundable(ctx.session, payment) == 18970


def test_money_the_platform_refunded_that_no_shop_refund_explains_is_noticed(ctx, shop):
    order = make_order(ctx, shop)
    order.payments[0].refunded = 10480
    assert ledger.unseen_refunds(order) == 10480
    admin_refund(ctx, order, [(1, 1), (2, 1)], at=after(1)).amount = 10480
    assert ledger.unseen_refunds(order) == 0
