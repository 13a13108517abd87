"""push_refund: pay a Refund back through the route that took the money, exactly once.

The Refund row was committed before this job was enqueued. The job claims it
(a lease, so two runs never call the provider at once). While the refund is
still pending it reads the order's payments afresh and plans again: a return
cancelled, items the shop refunded meanwhile, or a payment that cannot pay
everything owed stop it before anything is sent. Then it marks the refund
submitted (compare-and-set, which also sees a cancel that committed first) and
calls the route with the row's own idempotency key: a retry after a timeout, a
crash or a lost queue sends the same request, and the provider answers with the
refund it already made.

Once a refund may be with the provider, only the provider's own final status
fails it. A refusal on a read (polling, the lookup by key), missing credentials
or an answer that leaves the outcome unknown keep it as it is, with the error
shown, for the sweeper to try again after a pause.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.payments import PaymentRef, ProviderRefund, RefundLine, RefundRequest
from integration.errors import InvalidInput, MissingCredentials
from integration.models import OrderLine, Payment, Refund, Shop, utcnow
from integration.money import Money
from integration.policy import ReturnPolicy
from integration.refunds import RefundStatus
from integration.returns import Actor, ReturnStatus
from integration.services import ledger
from integration.services import refunds as book
from integration.services.timeline import record
from jobs.backoff import respect_retry_after
from jobs.context import JobContext, job_context
from jobs.events import read_payments

__all__ = ["push_refund", "LEASE_SECONDS"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 180  # longer than any provider call can take
R = RefundStatus


class _Held(Exception):
    """The refund stays as it is (the provider may hold it, or we could not look): tried again after a pause."""

    def __init__(self, error: Exception, lookup: bool = False):
        super().__init__(str(error))
        self.lookup = lookup


class _Stop(Exception):
    """The refund must not be paid as it stands: it fails with this reason (nothing was, or will be, sent)."""


def push_refund(refund_id: int) -> None:
    """Send one refund to its route and record the answer; safe to run any number of times."""
    with job_context() as jc:
        refund = book.claim_refund(jc.session, refund_id, LEASE_SECONDS)
        if refund is None:
            logger.info("refund finished or held by another run", extra={"refund_id": refund_id})
            return
        ids = {"refund_id": refund_id}
        try:
            _perform(jc, refund)
        except ProviderUnavailable as e:
            _keep(jc, refund_id, e, lookup=getattr(e, "lookup", False))
            logger.warning("refund will be retried: %s", e, extra=ids)
            respect_retry_after(e)
            raise
        except _Held as e:
            _keep(jc, refund_id, e, lookup=e.lookup)
            logger.error("refund held: %s", e, extra=ids)
        except _Stop as e:
            jc.session.rollback()
            book.refund_failed(jc.ctx, jc.session.get(Refund, refund_id), str(e))
            logger.error("refund failed: %s", e, extra=ids)


def _keep(jc: JobContext, refund_id: int, error: Exception, lookup: bool) -> None:
    """Leave the refund where it is, with the error shown; the sweeper picks it up after a growing pause."""
    jc.session.rollback()
    refund = jc.session.get(Refund, refund_id)
    refund.last_error = str(error)[:2000]
    if lookup and refund.status == R.SUBMITTED.value:
        refund.needs_lookup = True
    book.release_refund(jc.session, refund, _pause(refund))


def _pause(refund: Refund) -> timedelta:
    """How long the sweeper leaves a refund to rq's retries after a failed attempt: growing, at most an hour."""
    return min(timedelta(seconds=30 * 2 ** min(refund.attempts, 10)), timedelta(hours=1))


def _perform(jc: JobContext, refund: Refund) -> None:
    shop = jc.session.get(Shop, refund.ret.shop_id)
    payment = _prepare(jc, shop, refund) if refund.status == R.PENDING.value else refund.payment
    route = _route(jc, shop, refund, payment)
    request = _request(jc, shop, refund, payment)
    try:
        _send(jc, refund, route, request)
    except ProviderUnavailable as e:
        # E.g. Stripe saves a 5xx once it began executing and replays it for the key: once sent,
        # such a refund is looked up by its key before anything is sent again.
        e.lookup = route.outcome_unknown(e)
        raise


def _route(jc: JobContext, shop: Shop, refund: Refund, payment: Payment):
    try:
        return jc.route(shop, payment.provider)
    except MissingCredentials as e:
        if refund.first_submitted_at is None:
            raise _Stop(e.message) from None
        raise _Held(e) from None  # it may be with the provider: never failed for want of a key to ask


def _send(jc: JobContext, refund: Refund, route, request: RefundRequest) -> None:
    if refund.provider_refund_id:  # the provider took it earlier; ask how it went
        return _record(jc, refund, _read(route.get_refund, refund.provider_refund_id))
    sent_before = refund.first_submitted_at is not None
    expired = sent_before and route.key_lifetime is not None and utcnow() - refund.first_submitted_at > route.key_lifetime
    if refund.needs_lookup or expired:
        found = _read(route.find_refund, request)
        if found:
            return _record(jc, refund, found)
    if not book.mark_submitted(jc.session, refund):  # from here on the provider may have it
        logger.info("refund withdrawn or its return cancelled before it was sent", extra={"refund_id": refund.id})
        return None
    try:
        result = route.refund(request)
    except ProviderRejected as e:
        if route.outcome_unknown(e):
            raise _Held(e, lookup=True) from e
        # A refusal now says nothing of an earlier attempt that may have gone through.
        found = _read(route.find_refund, request) if sent_before else None
        if found is None:
            raise _Stop(str(e)) from e
        result = found
    return _record(jc, refund, result)


def _read(call, *args):
    """A call that only reads: a refusal means we could not look, never that the refund failed."""
    try:
        return call(*args)
    except (ProviderRejected, MissingCredentials) as e:
        raise _Held(e) from e


# --- before anything is sent: read the payments afresh and plan again ---------------------------


def _prepare(jc: JobContext, shop: Shop, refund: Refund) -> Payment:
    """Check the pending refund is still owed, on fresh payments, and bring its plan up to date."""
    ret = refund.ret
    if ret.status == ReturnStatus.CANCELLED.value:
        raise _Stop(f"the return was {ret.status} before the refund was sent")
    _read(read_payments, jc, shop, ret.order)  # captures and order edits change them
    jc.session.commit()
    try:
        plan, payment = ledger.plan_for(jc.session, ret, ReturnPolicy.from_dict(shop.policy), jc.ctx.providers, refund)
    except InvalidInput as e:
        raise _Stop(e.message) from None
    planned = {line.return_item_id: line.quantity for line in plan.lines}
    if any(line["quantity"] > planned.get(line["return_item_id"], 0) for line in refund.lines):
        raise _Stop("the shop has refunded some of these items since this refund was planned; nothing was sent")
    if payment is None:
        raise _Stop(_no_payment_reason(ret.order))
    if plan.capped:
        raise _Stop(ledger.unpaid_reason(jc.session, plan, payment, jc.ctx.providers, refund))
    problem = _unsendable(payment, refund)
    if problem:
        raise _Stop(problem)
    _replan(jc, refund, plan, payment)
    return payment


def _no_payment_reason(order) -> str:
    managed = sorted({p.gateway for p in order.payments if p.platform_managed})
    others = sorted({p.gateway for p in order.payments if not p.platform_managed})
    if not managed and not others:
        return "the order has no captured payment to refund"
    reasons = []
    if managed:
        reasons.append(f"{', '.join(managed)} (processed by the shop's platform, which must refund it: "
                       "refund it in the shop's admin)")  # fmt: skip
    if others:
        reasons.append(f"{', '.join(others)} (no payment route in Palautus)")
    return f"no payment Palautus can refund itself: the order was paid through {'; '.join(reasons)}. Nothing was sent."


def _unsendable(payment: Payment, refund: Refund) -> str | None:
    if payment.currency != refund.currency:
        return f"the payment is in {payment.currency}, the refund in {refund.currency}"
    if not payment.payment_id:
        return f"the {payment.provider} payment has no payment id to refund"
    return None


def _replan(jc: JobContext, refund: Refund, plan, payment: Payment) -> None:
    """Write the fresh plan on the row (it has not been sent, so it may still change)."""
    if plan.amount != refund.amount:
        record(jc.ctx, refund.ret, Actor.SYSTEM, "refund_replanned", refund_id=refund.id,
               amount_before=refund.amount, amount=plan.amount)  # fmt: skip
    refund.payment, refund.provider = payment, payment.provider
    refund.amount, refund.tax, refund.vat, refund.fees = plan.amount, plan.tax, plan.vat, plan.fees
    refund.shipping = plan.shipping
    refund.lines = [book.line_json(line) for line in plan.lines if line.quantity]
    jc.session.commit()


def _request(jc: JobContext, shop: Shop, refund: Refund, payment: Payment) -> RefundRequest:
    ret = refund.ret
    lines = []
    for line in refund.lines:
        order_line = jc.session.get(OrderLine, line["order_line_id"])
        lines.append(RefundLine(
            reference=order_line.platform_line_id, title=order_line.title, sku=order_line.sku,
            quantity=line["quantity"], amount=line["amount"], tax=line["tax"], tax_rate=line["tax_rate"],
        ))  # fmt: skip
    return RefundRequest(
        payment=PaymentRef(payment.provider, payment.payment_id, payment.platform_transaction_id, ret.order.name,
                           payment.gateway),  # fmt: skip
        amount=Money(refund.amount, refund.currency), idempotency_key=refund.idempotency_key, lines=tuple(lines),
        email=ret.order.email,
        metadata={"return_code": ret.code, "refund_id": str(refund.id), "order": ret.order.name, "shop": shop.domain},
    )  # fmt: skip


def _record(jc: JobContext, refund: Refund, result: ProviderRefund) -> None:
    refund.provider_refund_id, refund.provider_status = result.provider_refund_id, result.provider_status
    refund.needs_lookup = False
    if result.amount != Money(refund.amount, refund.currency):
        logger.error("provider refunded a different amount", extra={"refund_id": refund.id, "provider_amount": str(result.amount)})
    if result.status == R.SUCCEEDED:
        book.refund_succeeded(jc.ctx, refund)
    elif result.status == R.FAILED:
        book.refund_failed(jc.ctx, refund, result.failure_reason or f"{result.provider_status} at the provider")
    else:  # accepted, still in progress at the provider: the sweeper asks again
        refund.claimed_until, refund.last_error = None, None
        jc.session.commit()
    logger.info("refund %s", refund.status, extra={"refund_id": refund.id, "provider_refund_id": refund.provider_refund_id})
