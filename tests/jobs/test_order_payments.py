"""Order webhooks carry no transactions: the first return reads them from the Admin API (never an order event),
and the read is retried when it must."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Order, Payment, WebhookEvent
from tests.conftest import payload
from tests.fakes import stripe_sale


def test_an_order_event_reads_no_payments_and_its_first_return_reads_them_once(post_webhook, work, shopify, shop, db):
    from tests.jobs.helpers import RETURN_REQUEST

    shopify.transactions = [stripe_sale(), {**stripe_sale(1002), "status": "FAILURE"}]
    for n, topic in enumerate(("orders/create", "orders/paid", "orders/updated")):
        assert post_webhook(topic, payload("orders__create.eur_presentment.json"), webhook_id=f"o-{n}").status_code == 200
    work()
    assert shopify.operations("OrderTransactions") == [] and db.scalars(select(Payment)).all() == []

    assert post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="r-1").status_code == 200
    work()
    [payment] = db.scalars(select(Payment)).all()
    assert (payment.provider, payment.payment_id, payment.amount, payment.currency) == (
        "stripe", "pi_3PalautusTest0001", 18970, "EUR")
    assert shopify.operations("OrderTransactions") == [{"id": "gid://shopify/Order/5196695273621"}]


def test_a_shopify_outage_while_reading_payments_opens_the_return_and_the_read_is_retried(
    post_webhook, work, shopify, shop, db, slept
):
    from integration.models import Return
    from tests.jobs.helpers import RETURN_REQUEST

    shopify.transactions = [stripe_sale()]
    assert post_webhook("orders/create", payload("orders__create.eur_presentment.json")).status_code == 200
    work()
    shopify.faults = [503, 429]  # the return request's read, then the read job's first attempt
    assert post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="r-1").status_code == 200
    work()
    assert db.scalar(select(Return)).status == "requested"  # not held up by the outage
    assert slept == [1.0]  # the 429's Retry-After, honoured before the next attempt
    assert len(shopify.operations("OrderTransactions")) == 3
    assert db.scalar(select(Order)).payments_synced_at is not None
    assert len(db.scalars(select(Payment)).all()) == 1
    assert {e.status for e in db.scalars(select(WebhookEvent))} == {"processed"}


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
