"""Before delivery the money taken goes back, whatever happens while the cancellation runs: a capture in the shop's
admin, a void that finds the money taken at the provider, payments taken only in part. A statement is CARRIED_OUT
only once what was taken went back (or nothing was); otherwise it is left to the merchant (ATTENTION), saying why."""
from __future__ import annotations

from sqlalchemy import func, select

from adapters.payments import VoidOutcome
from integration.models import Order, Refund, Shop
from integration.returns import Actor
from tests.fakes import ShopifyGatewayFake, shopify_payments_sale, stripe_sale
from tests.jobs.helpers import SOCKS, SWEATER
from tests.withdrawals.conftest import WHOLE, set_policy, withdrawal
from tests.withdrawals.test_cancellation import HeldIntent, authorization, order_cancels, returns

GIFT_CARD = 5000


def shopify_held() -> dict:
    """The order's goods and shipping, authorized by Shopify's own gateway (Shopify Payments), not captured."""
    return {**authorization(), "gateway": "shopify_payments", "paymentId": "shopify-pay-1000", "authorizationCode": None}


def capture_of(held: dict, number: int = 1001) -> dict:
    """The capture of `held` (all of it), as Shopify lists it once the merchant captured it."""
    parent = {"id": held["id"], "paymentId": held["paymentId"], "authorizationCode": held["authorizationCode"]}
    return {**held, "id": f"gid://shopify/OrderTransaction/{number}", "kind": "CAPTURE", "parentTransaction": parent}


def refunds(db) -> list[Refund]:
    db.expire_all()
    return db.scalars(select(Refund).order_by(Refund.id)).all()


# --- 1. money Shopify's own gateway held, captured while the job ran ----------------------------------------------


def test_a_capture_in_the_admin_while_the_job_runs_is_refunded_and_written_before_the_order_is_cancelled(
        order_arrives, submit, work, db, shopify, monkeypatch):  # fmt: skip
    import jobs.withdrawals as job
    from adapters.platforms.shopify.platform import ShopifyPlatform

    held = shopify_held()
    order_arrives([held])
    real_void, real_cancel, written_at_cancel = job._void_authorizations, ShopifyPlatform.cancel_order, []

    def and_the_merchant_captures(jc, shop, order):
        found = real_void(jc, shop, order)  # nothing to void: Shopify's own gateway is released by its cancel
        shopify.transactions = [held, capture_of(held)]
        return found

    def cancel(self, *args):
        written_at_cancel.append(db.scalar(select(func.count(Refund.id))))
        return real_cancel(self, *args)

    monkeypatch.setattr(job, "_void_authorizations", and_the_merchant_captures)
    monkeypatch.setattr(ShopifyPlatform, "cancel_order", cancel)
    found = submit()
    work()
    [refund] = refunds(db)
    assert written_at_cancel == [1]  # the refund was written (and queued) before the order was cancelled
    assert (refund.amount, refund.status, refund.route) == (WHOLE, "succeeded", "shopify")
    assert ShopifyGatewayFake(shopify).money_moved == WHOLE and len(order_cancels(shopify)) == 1
    assert withdrawal(db, found).status == "carried_out" and withdrawal(db, found).return_id == returns(db)[0].id


def test_a_capture_just_before_the_cancel_is_found_by_the_read_after_it_and_refunded(
        order_arrives, submit, work, db, shopify, monkeypatch):  # fmt: skip
    from adapters.platforms.shopify.platform import ShopifyPlatform

    held = shopify_held()
    order_arrives([held])
    real_cancel = ShopifyPlatform.cancel_order

    def captured_a_moment_before(self, *args):
        shopify.transactions = [held, capture_of(held)]
        return real_cancel(self, *args)

    monkeypatch.setattr(ShopifyPlatform, "cancel_order", captured_a_moment_before)
    found = submit()
    work()
    assert [(r.amount, r.status) for r in refunds(db)] == [(WHOLE, "succeeded")]
    assert ShopifyGatewayFake(shopify).money_moved == WHOLE and len(order_cancels(shopify)) == 1
    assert withdrawal(db, found).status == "carried_out"


# --- 2. a void that answers "captured" ------------------------------------------------------------------------


def test_a_void_that_finds_the_money_taken_at_stripe_while_the_shop_lists_an_authorization_stops_before_the_cancel(
        order_arrives, submit, work, db, shopify, http):  # fmt: skip
    intent = HeldIntent(http, status="succeeded")
    order_arrives([authorization()])
    found = submit()
    work()
    stopped = withdrawal(db, found)
    assert stopped.status == "attention" and "captured" in stopped.error and "stripe" in stopped.error
    assert "cancel the order in the shop's admin" in stopped.error
    assert order_cancels(shopify) == [] and refunds(db) == [] and intent.refunds == []


def test_a_void_that_finds_the_money_taken_is_refunded_when_the_shop_lists_the_capture_too(
        order_arrives, submit, work, db, shopify, stripe, monkeypatch):  # fmt: skip
    from adapters.payments.stripe import StripeProvider

    held = authorization()
    order_arrives([held])

    def captured(self, ref):
        shopify.transactions = [held, capture_of(held)]
        return VoidOutcome.CAPTURED

    monkeypatch.setattr(StripeProvider, "void", captured)
    found = submit()
    work()
    assert [(r.amount, r.status) for r in refunds(db)] == [(WHOLE, "succeeded")] and stripe.money_moved == WHOLE
    assert withdrawal(db, found).status == "carried_out" and len(order_cancels(shopify)) == 1


# --- 3. payments taken only in part ---------------------------------------------------------------------------------


def test_a_gift_card_taken_and_a_card_only_authorized_refunds_the_gift_card_and_is_carried_out(
        order_arrives, submit, work, db, shopify):  # fmt: skip
    card = {**shopify_held(), "amountSet": {"presentmentMoney": {"amount": "145.60", "currencyCode": "EUR"}}}
    order_arrives([shopify_payments_sale(1002, "50.00", gateway="gift_card"), card])
    found = submit()
    work()
    [refund] = refunds(db)
    assert (refund.amount, refund.status, refund.last_error) == (GIFT_CARD, "succeeded", None)
    assert ShopifyGatewayFake(shopify).money_moved == GIFT_CARD and len(order_cancels(shopify)) == 1
    assert withdrawal(db, found).status == "carried_out"


def test_a_cancellation_whose_refund_cannot_pay_everything_taken_is_left_to_the_merchant(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    # The card went through Stripe directly, the gift card through Shopify: one refund cannot pay both back.
    order_arrives([stripe_sale(1001, amount="145.60"), shopify_payments_sale(1002, "50.00", gateway="gift_card")])
    found = submit()
    work()
    [refund] = refunds(db)
    stopped = withdrawal(db, found)
    assert refund.status == "failed" and stripe.money_moved == 0
    assert stopped.status == "attention" and "its refund failed" in stopped.error and "195.60" in stopped.error


def test_an_ordinary_return_on_payments_taken_in_part_is_still_not_paid_short(
        order_arrives, work, db, shop, shopify, app):  # fmt: skip
    from integration.services.returns import ItemRequest, open_return
    from jobs.context import new_ctx

    set_policy(db, shop, auto_approve=True, refund_on="approved")
    card = {**shopify_held(), "amountSet": {"presentmentMoney": {"amount": "145.60", "currencyCode": "EUR"}}}
    order_arrives([shopify_payments_sale(1002, "50.00", gateway="gift_card"), card], delivered_days_ago=2)
    with app.extensions["db"].session() as session:
        order = session.scalar(select(Order))
        open_return(new_ctx(app, session), session.get(Shop, order.shop_id), order,
                    [ItemRequest(SWEATER, 2, "changed_mind"), ItemRequest(SOCKS, 1, "changed_mind")],
                    method="postal", source="portal", actor=Actor.CUSTOMER)  # fmt: skip
    work()
    [refund] = refunds(db)
    assert refund.status == "failed" and "cannot be paid back" in refund.last_error
    assert ShopifyGatewayFake(shopify).money_moved == 0


def test_a_return_cancelled_after_the_first_look_still_keeps_the_order_from_being_cancelled(
        order_arrives, submit, work, db, shopify, stripe, app, monkeypatch):  # fmt: skip
    import jobs.withdrawals as job
    from integration.services.returns import cancel_return
    from jobs.context import new_ctx

    order_arrives([stripe_sale(amount="195.60")])
    real = job._void_authorizations

    def the_customer_cancels_meanwhile(jc, shop, order):
        with app.extensions["db"].session() as session:
            ret = returns(db)[0]
            cancel_return(new_ctx(app, session), session.get(Shop, ret.shop_id), ret.id, Actor.CUSTOMER)
        return real(jc, shop, order)

    monkeypatch.setattr(job, "_void_authorizations", the_customer_cancels_meanwhile)
    found = submit()
    work()
    stopped = withdrawal(db, found)
    assert stopped.status == "attention" and "cancelled in Palautus" in stopped.error
    assert order_cancels(shopify) == [] and stripe.money_moved == 0


def test_a_statement_waits_while_its_refund_is_on_its_way_and_is_carried_out_once_it_paid(
        order_arrives, submit, work, db, shopify):  # fmt: skip
    from jobs.withdrawals import carry_out_withdrawal

    gateway = ShopifyGatewayFake(shopify)
    gateway.status = "pending"  # a payments app that settles later
    order_arrives([gateway.sale(1001, "195.60")])
    found = submit()
    work()
    assert withdrawal(db, found).status == "received" and [r.status for r in refunds(db)] == ["submitted"]
    assert len(order_cancels(shopify)) == 1
    gateway.settle()
    carry_out_withdrawal(found)  # as the sweeper runs it again
    assert withdrawal(db, found).status == "carried_out" and [r.status for r in refunds(db)] == ["succeeded"]
    assert len(gateway.posts) == 1 and len(order_cancels(shopify)) == 1
