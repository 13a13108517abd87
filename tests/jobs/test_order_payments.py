"""Order webhooks carry no transactions: the worker reads them from the Admin API, and retries when it must."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Order, Payment, WebhookEvent
from tests.conftest import payload
from tests.fakes import stripe_sale


def test_a_paid_order_gets_its_stripe_payment_intent_from_the_admin_api(post_webhook, work, shopify, shop, db):
    shopify.transactions = [stripe_sale(), {**stripe_sale(1002), "status": "FAILURE"}]
    assert post_webhook("orders/paid", payload("orders__create.eur_presentment.json")).status_code == 200
    work()
    [payment] = db.scalars(select(Payment)).all()
    assert (payment.provider, payment.payment_id, payment.amount, payment.currency) == (
        "stripe", "pi_3PalautusTest0001", 18970, "EUR")
    assert shopify.operations("OrderTransactions") == [{"id": "gid://shopify/Order/5196695273621"}]


def test_a_shopify_outage_while_reading_payments_is_retried_and_keeps_the_snapshot(
    post_webhook, work, shopify, shop, db, slept
):
    shopify.transactions = [stripe_sale()]
    shopify.faults = [503, 429]
    assert post_webhook("orders/create", payload("orders__create.eur_presentment.json")).status_code == 200
    work()
    assert slept == [1.0]  # the 429's Retry-After, honoured before the next attempt
    assert len(shopify.operations("OrderTransactions")) == 3
    assert db.scalar(select(Order)).payments_synced_at is not None
    assert len(db.scalars(select(Payment)).all()) == 1
    assert db.scalar(select(WebhookEvent)).status == "processed"


def test_an_unpaid_order_is_kept_without_asking_for_payments(post_webhook, work, shopify, shop, db):
    order = {**payload("orders__create.eur_presentment.json"), "financial_status": "pending"}
    assert post_webhook("orders/create", order).status_code == 200
    work()
    assert db.scalar(select(Order)).financial_status == "pending"
    assert shopify.operations("OrderTransactions") == []


def test_a_stripe_payment_shopify_s_checkout_took_goes_back_through_shopify_never_at_stripe(
    client, shop, post_webhook, work, shopify, stripe, db
):
    from integration.models import Refund, Return
    from tests.jobs.helpers import approve_and_receive, shopify_return

    shopify.checkout_token = "2f5e0a8cd1b5e9e7c1f4a9d3b0c6e8a1"  # Shopify's checkout made the order: Stripe Card Payments
    ret = shopify_return(post_webhook, work, shopify, db)
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert stripe.posts == []
    db.expire_all()
    refund = db.scalar(select(Refund))
    assert (refund.status, refund.route) == ("succeeded", "shopify")
    [sent] = shopify.operations("GatewayRefundCreate")
    assert sent["input"]["transactions"][0]["gateway"] == "stripe"
    assert db.get(Return, ret.id).status == "closed"
