"""One parcel comes back: its return shipping fee is kept once, however many refunds the return takes."""
from __future__ import annotations

from integration.policy import ReturnPolicy
from integration.services import ledger
from integration.services import refunds as book
from tests.services.conftest import admin_refund, after, make_order, make_return

POLICY = ReturnPolicy(return_shipping_fees={"EUR": 500}, refund_on="approved")


def test_a_second_refund_of_the_same_return_does_not_keep_the_return_shipping_fee_again(ctx, shop):
    order = make_order(ctx, shop, paid=(("1001", "stripe", 19560),))
    ret = make_return(ctx, shop, order, [(1, 2)], status="approved")
    ret.items[0].reason = "changed_mind"
    first = book.start_refund(ctx.session, ret, POLICY, ctx.routes_for(shop))
    first.status = "succeeded"
    ctx.session.flush()
    assert first.fees == {"return_shipping": 500}
    admin_refund(ctx, order, [(2, 1)], at=after(30))  # the socks refunded in the admin: the order is all back now
    ctx.session.expire_all()
    plan, _ = ledger.plan_for(ctx.session, ret, POLICY, ctx.routes_for(shop))
    assert plan.fees == {} and plan.amount == plan.shipping == 590  # the outbound shipping, nothing kept again


def test_a_failed_refund_s_fee_was_never_kept_so_the_next_one_keeps_it(ctx, shop):
    order = make_order(ctx, shop, paid=(("1001", "stripe", 19560),))
    ret = make_return(ctx, shop, order, [(1, 1)], status="approved")
    ret.items[0].reason = "changed_mind"
    failed = book.start_refund(ctx.session, ret, POLICY, ctx.routes_for(shop))
    failed.status = "failed"
    ctx.session.flush()
    plan, _ = ledger.plan_for(ctx.session, ret, POLICY, ctx.routes_for(shop))
    assert plan.fees == {"return_shipping": 500}
