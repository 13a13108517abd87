"""Two workers at once on one shop or one order: what they decide is serialised, never both on stale reads.

Each test stops one job at the point where, without the lock, the other could act
unseen; starts the other job in a second thread (as a second worker would); gives
it time to get as far as it can; then lets the first go on. With the lock the
second waits for the first to commit; without it, it acts in between and the
assertion fails. The audit that found these holes proved each with the same shape.
"""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update

from integration.models import Refund, Return, WebhookEvent, utcnow
from integration.services import returns as returns_service
from jobs import refunds as refund_job
from jobs.events import process_webhook
from jobs.sweep import sweep
from tests.conftest import auth, payload
from tests.fakes import stripe_sale
from tests.jobs.helpers import (
    ORDER, RETURN_REQUEST, SOCKS, SWEATER, admin_refund_of_one_sweater_before_any_return, approve_and_receive, open_return,
)  # fmt: skip

RETURN_ID = 3547267221
HEAD_START = 1.0  # seconds the second worker gets to run ahead while the first is stopped


class SecondWorker:
    """Runs one job in another thread, in the test app's context, as a second worker process would."""

    def __init__(self, app, job, *args):
        self.error: BaseException | None = None

        def run():
            try:
                with app.app_context():
                    job(*args)
            except BaseException as e:  # noqa: BLE001 - reported to the test, not swallowed
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)

    def start_and_let_it_run_ahead(self) -> None:
        self.thread.start()
        self.thread.join(HEAD_START)

    def finish(self) -> None:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the second worker never finished"
        if self.error is not None and type(self.error).__name__ not in ("RetryLater", "ProviderUnavailable"):
            raise self.error


def test_a_platform_cancel_and_its_return_request_handled_at_once_never_open_and_pay_a_cancelled_return(
    app, client, shop, post_webhook, work, shopify, stripe, db, monkeypatch
):
    client.put("/api/v1/shop/policy", json={"auto_approve": True, "refund_on": "approved"}, headers=auth(shop[1]))
    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    cancel = {**payload("returns__cancel.sample.json"), "id": RETURN_ID,
              "admin_graphql_api_id": f"gid://shopify/Return/{RETURN_ID}", "order_id": 5196695273621}  # fmt: skip
    post_webhook("returns/cancel", cancel, webhook_id="cancel-1")
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1")
    request_event = db.scalar(select(WebhookEvent.id).where(WebhookEvent.topic == "returns/request"))
    original, second = returns_service.return_by_platform_id, SecondWorker(app, process_webhook, request_event)

    def cancel_job_reads_not_open_yet(ctx, shop_, platform_return_id):
        found = original(ctx, shop_, platform_return_id)
        if found is None and threading.current_thread() is threading.main_thread() and not second.thread.ident:
            second.start_and_let_it_run_ahead()  # the request's worker tries to open the return right now
        return found

    monkeypatch.setattr(returns_service, "return_by_platform_id", cancel_job_reads_not_open_yet)
    work()  # the cancel's job (queued first); the request's job runs in the second worker
    second.finish()
    monkeypatch.setattr(returns_service, "return_by_platform_id", original)
    work()

    db.expire_all()
    ret = db.scalar(select(Return))
    assert ret.status == "cancelled", [e.kind for e in ret.events]
    assert stripe.money_moved == 0 and db.scalars(select(Refund)).all() == []


def test_two_refunds_of_one_order_planned_by_two_workers_at_once_give_back_its_shipping_once(
    app, client, shop, post_webhook, work, shopify, stripe, db, redis_down, monkeypatch
):
    sale = stripe_sale(amount="195.60")
    sale_refunded = {**stripe_sale(1099, amount="84.50"), "kind": "REFUND",
                     "parentTransaction": {"id": "gid://shopify/OrderTransaction/1001"}}  # fmt: skip
    shopify.transactions = [sale]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    first, second_return = open_return(client, shop[1], {SWEATER: 1}), open_return(client, shop[1], {SOCKS: 1})
    with redis_down():  # both refunds written, neither takes the shipping: one sweater is still not back
        approve_and_receive(client, shop[1], first)
        approve_and_receive(client, shop[1], second_return)
    a, b = db.scalars(select(Refund.id).order_by(Refund.id)).all()
    # The shop's own refund of the other sweater arrives late: now each refund completes the whole order.
    shopify.transactions = [sale, sale_refunded]
    post_webhook("refunds/create", admin_refund_of_one_sweater_before_any_return(), webhook_id="refund-1")
    work()
    db.execute(update(Refund).values(created_at=utcnow() - timedelta(hours=1)))
    db.commit()

    real_replan, second = refund_job._replan, SecondWorker(app, refund_job.push_refund, b)

    def b_runs_while_a_plans(jc, refund, plan, payment, route, fence):
        if refund.id == a and not second.thread.ident:
            second.start_and_let_it_run_ahead()  # the other worker, on the order's other refund
        return real_replan(jc, refund, plan, payment, route, fence)

    monkeypatch.setattr(refund_job, "_replan", b_runs_while_a_plans)
    assert sweep()["refunds"] == 2
    app.extensions["tasks"].queue().remove(app.extensions["tasks"].queue().get_jobs()[1])  # b is the second worker's
    work()
    second.finish()
    work()

    db.expire_all()
    done = db.scalars(select(Refund).order_by(Refund.id)).all()
    assert [r.status for r in done] == ["succeeded", "succeeded"], [(r.status, r.last_error) for r in done]
    assert sum(r.shipping for r in done) == 590
    assert stripe.money_moved == 8490 + 1990 + 590  # one sweater, the socks, the shipping once
