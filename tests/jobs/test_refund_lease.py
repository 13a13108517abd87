"""A run whose claim ran out may write nothing more to the refund: each write is fenced by its claim.

Interleaving (one refund, two runs of push_refund):
  A claims the pending refund and asks Shopify for the order's payments; Shopify is slow
  (or the worker stalls: GC, a paused VM, a lock wait) past LEASE_SECONDS.
  Meanwhile the rest of the order is captured; the sweeper (or an rq retry) starts B,
  which claims the lapsed lease, plans on the fresh payments, marks the refund submitted
  and sends it: Stripe makes the refund, B's answer is lost (a timeout after Stripe acted).
  A's late answer still shows the old partial capture, so A's re-plan is "capped".
Before the fence, A then failed the refund Stripe had paid, and the merchant's "refund
again" paid a second time under a new key. Now A's writes carry its claim (the attempt
number it claimed with) and find the row claimed since: A changes nothing.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from adapters.errors import ProviderUnavailable
from integration.models import Refund, Return, utcnow
from jobs.refunds import push_refund
from tests.conftest import auth, payload
from tests.fakes import stripe_sale
from tests.jobs.helpers import AMOUNT, ORDER, RETURN_REQUEST, approve_and_receive, refund_of


def test_a_run_whose_claim_ran_out_cannot_fail_a_refund_another_run_has_sent_so_it_is_never_paid_twice(
    client, shop, post_webhook, work, shopify, stripe, db, app
):
    shopify.transactions = [stripe_sale(1001, amount="50.00")]  # authorised in full, captured in part so far
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1")
    work()
    ret = db.scalar(select(Return))
    approve_and_receive(client, shop[1], ret.id)  # the refund is written and queued: run A
    refund_id = refund_of(db).id

    def while_a_waits_for_shopify():
        # A's lease runs out while it waits; the capture of the rest lands; run B goes through.
        with app.extensions["db"].session() as s:
            s.execute(update(Refund).where(Refund.id == refund_id)
                      .values(claimed_until=utcnow() - timedelta(seconds=1)))  # fmt: skip
            s.commit()
        shopify.transactions = [stripe_sale(1001, amount="189.70")]
        stripe.faults = ["timeout_after"]  # B's refund is made at Stripe; its answer is lost
        try:
            push_refund(refund_id)  # run B (the sweeper's, or rq's retry)
        except ProviderUnavailable:
            pass
        assert stripe.money_moved == AMOUNT and refund_of(db).status == "submitted"
        shopify.transactions = [stripe_sale(1001, amount="50.00")]  # what Shopify had answered A

    shopify.before["OrderTransactions"] = while_a_waits_for_shopify
    work()  # run A (and rq's retry of B's timeout, if any)

    shopify.transactions = [stripe_sale(1001, amount="189.70")]  # what Shopify says from now on
    first = refund_of(db)
    again = client.post(f"/api/v1/returns/{ret.id}/refund", headers=auth(shop[1]))  # the merchant sees "failed"
    work()
    assert stripe.money_moved == AMOUNT, (first.status, first.last_error, again.status_code)  # paid once
    assert first.status != "failed"  # Stripe has paid it: it may never read as failed
