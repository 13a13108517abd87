"""Before delivery a statement cancels the order: money taken is refunded once, money held is released, the
order is cancelled on the platform; and what happens meanwhile (a crash, a retry, a delivery, the shop's own
refund or cancellation, a merchant's cancel) never pays the customer twice."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from integration.models import Order, Refund, Return, Withdrawal, utcnow
from tests.conftest import auth
from tests.fakes import refund_node, stripe_sale
from tests.jobs.helpers import SOCKS, SWEATER
from tests.withdrawals.conftest import ORDER_GID, WHOLE, set_policy, withdrawal

PI = "pi_3PalautusHeld0001"
STRIPE = "https://api.stripe.com"
SALE = stripe_sale(amount="195.60")  # the order's goods and shipping, taken at once


class Killed(BaseException):
    """The worker dies (not an error any code catches)."""


def authorization(number: int = 1000) -> dict:
    """A Stripe card authorization a headless checkout made, not captured: Shopify lists it as AUTHORIZATION."""
    return {**stripe_sale(number, amount="195.60", payment_id=PI), "kind": "AUTHORIZATION"}


class HeldIntent:
    """Stripe's PaymentIntent for the authorization, on `responses`, in the documented shape (API 2023-08-16)."""

    def __init__(self, http, status: str = "requires_capture"):
        self.status, self.reads, self.cancels, self.refunds = status, 0, [], []
        base = f"{STRIPE}/v1/payment_intents/{PI}"
        http.add_callback("GET", base, callback=self._read)
        http.add_callback("POST", f"{base}/cancel", callback=self._cancel)
        http.add_callback("POST", f"{STRIPE}/v1/refunds", callback=lambda r: self.refunds.append(r) or (500, {}, "{}"))

    def _intent(self) -> tuple:
        return 200, {"Request-Id": "req_pi"}, json.dumps({
            "id": PI, "object": "payment_intent", "amount": 19560, "amount_capturable": 19560 if self.status == "requires_capture" else 0,
            "capture_method": "manual", "confirmation_method": "automatic", "created": 1764583200, "currency": "eur",
            "livemode": False, "payment_method_types": ["card"], "status": self.status,
            "cancellation_reason": "requested_by_customer" if self.status == "canceled" else None,
        })  # fmt: skip

    def _read(self, request):
        self.reads += 1
        return self._intent()

    def _cancel(self, request):
        self.cancels.append(request)
        if self.status != "requires_capture":
            return 400, {}, json.dumps({"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state",
                                                  "message": f"This PaymentIntent's status is {self.status}."}})  # fmt: skip
        self.status = "canceled"
        return self._intent()


def order_cancels(shopify) -> list[dict]:
    return [variables for op, variables in shopify.calls if op == "OrderCancel"]


def returns(db) -> list[Return]:
    db.expire_all()
    return db.scalars(select(Return)).all()


def run_again(withdrawal_id: int) -> None:
    from jobs.withdrawals import carry_out_withdrawal

    carry_out_withdrawal(withdrawal_id)


# --- what is held is released, what was taken is refunded, and the order is cancelled --------------------


def test_an_authorization_not_captured_is_voided_at_stripe_and_nothing_is_refunded(
        order_arrives, submit, work, db, shopify, http):  # fmt: skip
    intent = HeldIntent(http)
    order_arrives([authorization()])
    found = submit()
    work()
    assert withdrawal(db, found).status == "carried_out" and withdrawal(db, found).kind == "cancellation"
    assert (intent.status, len(intent.cancels), intent.refunds, returns(db)) == ("canceled", 1, [], [])
    assert "cancellation_reason=requested_by_customer" in intent.cancels[0].body
    assert intent.cancels[0].headers["Idempotency-Key"] == f"palautus-void-{PI}"
    assert order_cancels(shopify) == [{
        "orderId": ORDER_GID, "reason": "CUSTOMER", "restock": True, "notifyCustomer": False,
        "refundMethod": {"originalPaymentMethodsRefund": False}, "staffNote": order_cancels(shopify)[0]["staffNote"],
    }]  # fmt: skip


def test_a_payment_shopify_only_authorized_is_left_to_shopifys_own_cancellation(
        order_arrives, submit, work, db, shopify, http):  # fmt: skip
    held = {**authorization(), "gateway": "shopify_payments", "paymentId": "shopify-pay-1000", "authorizationCode": None}
    order_arrives([held])
    found = submit()
    work()  # no call to any provider is registered: one would fail the job
    assert withdrawal(db, found).status == "carried_out" and len(order_cancels(shopify)) == 1


def test_a_captured_payment_is_refunded_in_full_once_with_its_shipping_however_often_the_job_runs(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    order_arrives([SALE])
    found = submit()
    work()
    run_again(found)
    work()
    [ret] = returns(db)
    [refund] = db.scalars(select(Refund)).all()
    assert (ret.track, ret.source, ret.status, ret.refund_due_at is not None) == ("withdrawal", "withdrawal", "approved", True)
    assert sorted((i.order_line.platform_line_id, i.quantity) for i in ret.items) == [(SWEATER, 2), (SOCKS, 1)]
    assert (refund.amount, refund.shipping, refund.fees, refund.status) == (WHOLE, 590, {}, "succeeded")
    assert stripe.money_moved == WHOLE and len(stripe.posts) == 1
    assert len(order_cancels(shopify)) == 1 and withdrawal(db, found).status == "carried_out"


def test_a_job_killed_between_the_void_and_the_cancel_voids_once_and_cancels_on_its_next_run(
        order_arrives, submit, work, db, shopify, http, monkeypatch):  # fmt: skip
    from adapters.platforms.shopify.platform import ShopifyPlatform

    intent = HeldIntent(http)
    order_arrives([authorization()])
    found = submit()
    real = ShopifyPlatform.cancel_order
    monkeypatch.setattr(ShopifyPlatform, "cancel_order", lambda *a: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        run_again(found)
    assert intent.status == "canceled" and withdrawal(db, found).status == "received"
    monkeypatch.setattr(ShopifyPlatform, "cancel_order", real)
    work()  # the job queued when the statement came, run now: as the sweeper or rq would run it again
    assert (len(intent.cancels), intent.reads) == (1, 2)  # the second run read it released and sent nothing
    assert len(order_cancels(shopify)) == 1 and withdrawal(db, found).status == "carried_out"


def test_a_platform_cancel_that_fails_for_a_moment_is_retried_and_the_refund_is_not_repeated(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    order_arrives([SALE])
    shopify.faults_for["OrderCancel"] = [503]
    found = submit()
    work()
    assert len(order_cancels(shopify)) == 2 and list(shopify.cancelled) == [ORDER_GID]
    assert withdrawal(db, found).status == "carried_out"
    assert stripe.money_moved == WHOLE and len(db.scalars(select(Refund)).all()) == 1


# --- what happens meanwhile --------------------------------------------------------------------------------


def test_an_order_delivered_while_the_job_waited_takes_the_withdrawal_track_instead(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    order = order_arrives([SALE])
    found = submit()
    assert withdrawal(db, found).kind == "cancellation"
    row = db.get(Order, order.id)
    row.fulfilled_at = row.delivered_at = utcnow()
    db.commit()
    work()
    [ret] = returns(db)
    assert withdrawal(db, found).kind == "withdrawal" and ret.track == "withdrawal" and ret.status == "approved"
    assert order_cancels(shopify) == [] and stripe.money_moved == 0  # the goods come back first (refund_on received)


def test_what_the_merchant_refunded_in_the_shops_admin_is_not_paid_again(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    order_arrives([SALE])
    shopify.refund_nodes.append(refund_node(7001, {SWEATER: 1}, {1001: "84.90"}, "2026-12-01T09:00:00Z"))
    submit()
    work()
    [ret] = returns(db)
    assert sorted((i.order_line.platform_line_id, i.quantity) for i in ret.items) == [(SWEATER, 1), (SOCKS, 1)]
    assert stripe.money_moved == WHOLE - 8490  # one sweater, the socks and the shipping: 195.60 in all, once


def test_an_order_the_shop_cancelled_and_refunded_itself_is_paid_nothing_more(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    order = order_arrives([SALE])
    db.get(Order, order.id).cancelled_at = utcnow()
    db.commit()
    shopify.cancelled[ORDER_GID] = {}
    shopify.refund_nodes.append(refund_node(7002, {SWEATER: 2, SOCKS: 1}, {1001: "195.60"}, "2026-12-01T09:00:00Z",
                                            shipping=True))  # fmt: skip
    found = submit()
    work()
    assert returns(db) == [] and stripe.money_moved == 0 and order_cancels(shopify) == []
    assert withdrawal(db, found).status == "carried_out"


def test_an_order_the_shop_cancelled_without_refunding_is_refunded_by_palautus(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    order = order_arrives([SALE])
    db.get(Order, order.id).cancelled_at = utcnow()
    db.commit()
    shopify.cancelled[ORDER_GID] = {}
    found = submit()
    work()
    assert stripe.money_moved == WHOLE and order_cancels(shopify) == []
    assert withdrawal(db, found).status == "carried_out" and returns(db)[0].status == "approved"


def test_a_merchant_who_tries_to_cancel_the_withdrawals_return_while_the_job_runs_is_refused_and_it_is_paid_once(
        order_arrives, submit, work, db, shopify, stripe, client, shop, monkeypatch):  # fmt: skip
    from integration.services import withdrawals as service

    order_arrives([SALE])
    found = submit()
    real, answers = service.carry_out_cancellation, []

    def and_the_merchant_cancels(*args):
        ret = real(*args)
        answers.append(client.post(f"/api/v1/returns/{ret.id}/cancel", json={}, headers=auth(shop[1])).status_code)
        return ret

    monkeypatch.setattr(service, "carry_out_cancellation", and_the_merchant_cancels)
    work()
    assert answers == [409]  # a withdrawal made in time is the customer's right (services/returns.py)
    assert withdrawal(db, found).status == "carried_out" and stripe.money_moved == WHOLE
    assert len(order_cancels(shopify)) == 1 and db.scalar(select(Refund)).status == "succeeded"


def test_a_return_the_customer_cancels_while_the_job_runs_stops_it_and_nothing_is_paid(
        order_arrives, submit, work, db, shopify, stripe, app, monkeypatch):  # fmt: skip
    from integration.models import Shop
    from integration.returns import Actor
    from integration.services import withdrawals as service
    from integration.services.returns import cancel_return
    from jobs.context import new_ctx

    order_arrives([SALE])
    found = submit()
    real = service.carry_out_cancellation

    def and_the_customer_cancels(*args):
        ret = real(*args)
        if ret.status != "cancelled":
            with app.extensions["db"].session() as session:
                cancel_return(new_ctx(app, session), session.get(Shop, ret.shop_id), ret.id, Actor.CUSTOMER)
        return ret

    monkeypatch.setattr(service, "carry_out_cancellation", and_the_customer_cancels)
    work()
    assert withdrawal(db, found).status == "attention" and "cancelled in Palautus" in withdrawal(db, found).error
    assert stripe.money_moved == 0 and order_cancels(shopify) == []
    assert db.scalar(select(Refund)).status == "failed"


def test_two_statements_stored_at_the_same_moment_are_carried_out_once(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    order_arrives([SALE])
    first = withdrawal(db, submit())
    twin = Withdrawal(**{c: getattr(first, c) for c in ("shop_id", "order_id", "kind", "status", "customer_name",
                                                         "email", "order_reference", "lines", "submitted_at")},
                      code="TWIN-0001")  # fmt: skip
    db.add(twin)
    db.commit()
    run_again(twin.id)  # the later one's job happens to run first
    work()
    assert withdrawal(db, twin.id).status == "duplicate" and withdrawal(db, first.id).status == "carried_out"
    assert stripe.money_moved == WHOLE and len(order_cancels(shopify)) == 1


def test_a_withdrawal_from_some_items_before_delivery_refunds_them_and_leaves_the_order_to_the_merchant(
        order_arrives, submit, work, db, shopify, stripe):  # fmt: skip
    order_arrives([SALE])
    found = submit(lines=[{"platform_line_id": SOCKS, "quantity": 1}])
    work()
    assert stripe.money_moved == 1990 and order_cancels(shopify) == []
    assert withdrawal(db, found).status == "attention" and "take them off the order" in withdrawal(db, found).error


def test_a_delivery_reported_while_the_cancellation_runs_leaves_the_order_to_the_merchant_with_the_refund_sent(
        order_arrives, submit, work, db, shopify, stripe, monkeypatch):  # fmt: skip
    from integration.services import withdrawals as service

    order = order_arrives([SALE])
    found = submit()
    real = service.carry_out_cancellation

    def and_the_delivery_webhook_lands(*args):
        ret = real(*args)
        row = db.get(Order, order.id)
        row.fulfilled_at = row.delivered_at = utcnow()  # what the delivery's order webhook writes
        db.commit()
        return ret

    monkeypatch.setattr(service, "carry_out_cancellation", and_the_delivery_webhook_lands)
    work()
    assert withdrawal(db, found).status == "attention" and "ask for the goods back" in withdrawal(db, found).error
    assert order_cancels(shopify) == [] and stripe.money_moved == WHOLE  # paid once; a shipped order is not cancelled


def test_a_cancellation_keeps_no_return_shipping_even_where_the_shop_disclosed_it(
        order_arrives, submit, work, db, shopify, stripe, shop):  # fmt: skip
    set_policy(db, shop, return_shipping_fees={"EUR": 500}, withdrawal_return_cost_disclosed=True)
    order_arrives([SALE])  # nothing shipped: nothing comes back, so nothing costs the customer to send back
    submit()
    work()
    [refund] = db.scalars(select(Refund)).all()
    assert (refund.fees, refund.amount, refund.status) == ({}, WHOLE, "succeeded")
    assert stripe.money_moved == WHOLE
