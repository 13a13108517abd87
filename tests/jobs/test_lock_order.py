"""Lock order: the job's planning transaction and a cancel take refunds before returns, so neither deadlocks.

`jobs/refunds._prepare` holds the order's row and, when the amount changed, `_replan`
first calls `timeline.record` (which dirties the Return: `updated_at`, version
counter) and then `session.execute(update(Refund))`. The execute autoflushes, so the
planning transaction writes   returns -> refunds.
A cancel (`services/refunds.withdraw`, via the API or a returns/cancel webhook) runs
`set_status` on the refund first and writes the Return at commit:   refunds -> returns.
On PostgreSQL the two wait on each other and one is killed by the deadlock detector.
On SQLite the first write takes the database lock and the other waits: no deadlock.

The test widens the cancel's window (a pause between its two writes) so the
interleaving happens every time; in production it is a race of milliseconds.
"""
from __future__ import annotations

import threading
import time

from sqlalchemy import select

from integration.models import Refund, Return, Shop
from integration.returns import Actor
from integration.services import refunds as book
from integration.services import returns as returns_service
from jobs.context import new_ctx
from jobs.refunds import push_refund
from tests.conftest import auth, payload
from tests.fakes import stripe_sale
from tests.jobs.helpers import ORDER, RETURN_REQUEST, admin_refund_of_one_sweater_before_any_return


def test_a_cancel_at_the_moment_the_job_replans_the_refund_never_deadlocks_and_exactly_one_of_them_wins(
    app, client, shop, post_webhook, work, shopify, stripe, db, redis_down, monkeypatch
):
    client.put("/api/v1/shop/policy", json={"refund_on": "approved"}, headers=auth(shop[1]))
    sale = stripe_sale(amount="195.60")
    shopify.transactions = [sale]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1")  # a sweater and the socks
    work()
    ret = db.scalar(select(Return))
    with redis_down():  # the refund (104.80: one sweater is still with the customer) waits for its job
        assert client.post(f"/api/v1/returns/{ret.id}/approve", json={}, headers=auth(shop[1])).status_code == 200
    # The shop refunded the other sweater long ago; its webhook arrives now: the job's plan adds the shipping.
    shopify.transactions = [sale, {**stripe_sale(1099, amount="84.50"), "kind": "REFUND",
                                   "parentTransaction": {"id": "gid://shopify/OrderTransaction/1001"}}]  # fmt: skip
    post_webhook("refunds/create", admin_refund_of_one_sweater_before_any_return(), webhook_id="refund-1")
    work()
    refund_id = db.scalar(select(Refund.id))

    shop_id, errors, refund_row_taken = ret.shop_id, {}, threading.Event()
    real_set_status = book.set_status

    def cancel_pauses_between_its_writes(session, refund, target, *conditions, **values):
        moved = real_set_status(session, refund, target, *conditions, **values)
        if threading.current_thread().name == "cancel":
            refund_row_taken.set()
            time.sleep(2.5)  # the merchant's request, between its refund write and its commit
        return moved

    def merchant_cancels():
        with app.app_context(), app.extensions["db"].session() as session:
            ctx = new_ctx(app, session)
            try:
                returns_service.cancel_return(ctx, session.get(Shop, shop_id), ret.id, Actor.MERCHANT)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors["cancel"] = e

    cancel = threading.Thread(target=merchant_cancels, name="cancel", daemon=True)

    def while_the_job_reads_the_payments():
        cancel.start()
        assert refund_row_taken.wait(10)

    monkeypatch.setattr(book, "set_status", cancel_pauses_between_its_writes)
    shopify.before["OrderTransactions"] = while_the_job_reads_the_payments
    try:
        push_refund(refund_id)
    except BaseException as e:  # noqa: BLE001
        errors["job"] = e
    cancel.join(30)

    assert errors == {}, {k: f"{type(v).__name__}: {v}"[:300] for k, v in errors.items()}
    db.expire_all()
    ret, refund = db.get(Return, ret.id), db.get(Refund, refund_id)
    assert (ret.status, refund.status) == ("cancelled", "failed") and stripe.posts == []
