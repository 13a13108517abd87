"""A WooCommerce store's order, only authorized through the Stripe plugin, withdrawn from before delivery: the
authorization is voided at Stripe (the shop gave Palautus its Stripe key) and the order cancelled in the store."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Order, Refund, Shop
from tests.conftest import STRIPE_KEY
from tests.fakes import FakeWooCommerce
from tests.withdrawals.conftest import EMAIL, withdrawal
from tests.withdrawals.test_cancellation import PI, HeldIntent

STORE = "https://withdrawal-store.example"
KEY, SECRET = "ck_withdraw0123456789abcdef0123456789abcdef", "cs_withdraw0123456789abcdef0123456789abcdef"


def test_a_store_order_only_authorized_is_voided_at_stripe_and_cancelled_in_the_store(app, client, http, work, db):
    from integration.services.shops import register_shop
    from integration.services.withdrawals import submit_withdrawal
    from adapters.platforms import platform_adapter
    from jobs.context import new_ctx

    store = FakeWooCommerce(http, STORE, client=client, consumer_key=KEY, consumer_secret=SECRET)
    intent = HeldIntent(http)
    credentials = {"consumer_key": KEY, "consumer_secret": SECRET, "webhook_secret": "whsec_withdraw",
                   "payments": {"stripe": {"secret_key": STRIPE_KEY}}}  # fmt: skip
    with app.extensions["db"].session() as session:
        shop, _ = register_shop(session, app.extensions["vault"], platform="woocommerce", domain=STORE,
                                credentials=credentials, currency="EUR")  # fmt: skip
        platform_adapter("woocommerce").connect(STORE, credentials, app.config).ensure_webhooks(
            f"https://palautus.example/webhooks/woocommerce/{shop.webhook_key}", "whsec_withdraw")
        shop_id = shop.id
    placed = store.create_order([("MERINO-M-GREY", 1)], email=EMAIL, status="on-hold", payment_method="stripe",
                                transaction_id="ch_3PalautusHeld", meta={"_stripe_intent_id": PI, "_stripe_charge_captured": "no"})  # fmt: skip
    work()  # the store's order.created
    assert db.scalar(select(Order)).payments == []  # only authorized: nothing taken, nothing to refund
    with app.extensions["db"].session() as session:
        found = submit_withdrawal(new_ctx(app, session), session.get(Shop, shop_id), customer_name="Aino Virtanen",
                                  email=EMAIL, order_reference=placed["number"]).id  # fmt: skip
    work()
    assert withdrawal(db, found).status == "carried_out", withdrawal(db, found).error
    assert intent.status == "canceled" and len(intent.cancels) == 1 and intent.refunds == []
    assert store.orders[placed["id"]]["status"] == "cancelled" and db.scalar(select(Refund)) is None
    assert any("withdrew before delivery" in note["note"] for note in store.notes[placed["id"]])
