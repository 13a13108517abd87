"""push_refund: pay a Refund back through the provider that took the money, exactly once.

The Refund row was committed before this job was enqueued. The job claims it
(a lease, so two runs never call the provider at once), checks it is still
owed, marks it submitted, then calls the provider with the row's own
idempotency key: a retry after a timeout, a crash or a lost queue sends the
same key, and the provider answers with the refund it already made.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.payments import ProviderRefund
from integration.models import Refund, Shop, utcnow
from integration.money import Money
from integration.refunds import RefundStatus
from integration.returns import ReturnStatus
from integration.services import refunds as book
from integration.services.refunds import refund_failed, refund_succeeded
from jobs.backoff import respect_retry_after
from jobs.context import JobContext, job_context
from jobs.platforms import fetch_payments

__all__ = ["push_refund", "LEASE_SECONDS"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 180  # longer than any provider call can take
# Stripe keeps an idempotency key for 24 hours; after that a retry could make a
# second refund, so an old attempt is looked up before anything is sent again.
KEY_LIFETIME = timedelta(hours=23)


def push_refund(refund_id: int) -> None:
    """Send one refund to its provider and record the answer; safe to run any number of times."""
    with job_context() as jc:
        refund = book.claim_refund(jc.session, refund_id, LEASE_SECONDS)
        if refund is None:
            logger.info("refund finished or held by another run", extra={"refund_id": refund_id})
            return
        try:
            _perform(jc, refund)
        except ProviderUnavailable as e:
            jc.session.rollback()
            refund = jc.session.get(Refund, refund_id)
            refund.last_error = str(e)[:2000]
            if refund.status == RefundStatus.SUBMITTED.value and (e.status or 0) >= 500:
                # Stripe saves a 5xx once it began executing and replays it for this key:
                # the outcome is unknown until the refund is looked up.
                refund.needs_lookup = True
            book.release_refund(jc.session, refund, _pause(refund))
            logger.warning("refund will be retried: %s", e, extra={"refund_id": refund_id})
            respect_retry_after(e)
            raise
        except ProviderRejected as e:
            jc.session.rollback()
            refund_failed(jc.ctx, jc.session.get(Refund, refund_id), str(e))
            logger.error("refund rejected: %s", e, extra={"refund_id": refund_id})


def _perform(jc: JobContext, refund: Refund) -> None:
    shop = jc.session.get(Shop, refund.ret.shop_id)
    payment = refund.payment or _resolve_payment(jc, shop, refund)
    if payment is None:
        return refund_failed(jc.ctx, refund, _no_payment_reason(refund))
    try:
        provider = jc.payments(shop, payment.provider)
    except KeyError:
        return refund_failed(jc.ctx, refund, f"the shop has no {payment.provider} credentials in Palautus")
    if refund.provider_refund_id:  # the provider took it earlier; ask how it went
        return _record(jc, refund, provider.get_refund(refund.provider_refund_id))
    problem = _still_owed(jc, refund, payment)
    if problem:
        return refund_failed(jc.ctx, refund, problem)
    sent_before = refund.first_submitted_at is not None
    if refund.needs_lookup or (sent_before and utcnow() - refund.first_submitted_at > KEY_LIFETIME):
        found = provider.find_refund(payment.payment_id, refund.idempotency_key)
        if found:
            return _record(jc, refund, found)
    if not book.mark_submitted(jc.session, refund):  # from here on the provider may have it
        logger.info("refund withdrawn before it was sent", extra={"refund_id": refund.id})
        return
    try:
        result = provider.refund(
            payment.payment_id, Money(refund.amount, refund.currency), refund.idempotency_key, _metadata(shop, refund)
        )
    except ProviderRejected:
        # A refusal now says nothing of an earlier attempt that may have gone through.
        found = provider.find_refund(payment.payment_id, refund.idempotency_key) if sent_before else None
        if found is None:
            raise
        result = found
    _record(jc, refund, result)


def _pause(refund: Refund) -> timedelta:
    """How long the sweeper leaves a refund to rq's retries after a failed attempt: growing, at most an hour."""
    return min(timedelta(seconds=30 * 2 ** min(refund.attempts, 10)), timedelta(hours=1))


def _resolve_payment(jc: JobContext, shop: Shop, refund: Refund):
    order = refund.ret.order
    if not book.choose_payment(jc.session, order, jc.ctx.providers):
        fetch_payments(jc, shop, order)
    payment = book.choose_payment(jc.session, order, jc.ctx.providers)
    if payment is not None:
        refund.payment, refund.provider = payment, payment.provider
    jc.session.commit()
    return payment


def _no_payment_reason(refund: Refund) -> str:
    gateways = sorted({p.gateway for p in refund.ret.order.payments})
    if gateways:
        return f"no payment Palautus can refund itself: the order was paid through {', '.join(gateways)}"
    return "the order has no captured payment to refund"


def _still_owed(jc: JobContext, refund: Refund, payment) -> str | None:
    """Why this refund must not be sent now, if anything changed since it was planned."""
    if refund.status == RefundStatus.SUBMITTED.value:
        return None  # already sent once: only the same request may follow
    if refund.ret.status == ReturnStatus.CANCELLED.value:
        return f"the return was {refund.ret.status} before the refund was sent"
    if payment.currency != refund.currency:
        return f"the payment is in {payment.currency}, the refund in {refund.currency}"
    if not payment.payment_id:
        return f"the {payment.provider} payment has no payment id to refund"
    left = book.refundable(jc.session, payment, exclude=refund)
    if refund.amount > left:
        return f"{Money(refund.amount, refund.currency)} is more than the {Money(max(left, 0), refund.currency)} left on the payment"
    owed = {line.return_item_id: line.quantity for line in book.lines_to_refund(jc.session, refund.ret, exclude=refund)}
    if any(line["quantity"] > owed.get(line["return_item_id"], 0) for line in refund.lines):
        return "the shop has refunded some of these items since this refund was planned; nothing was sent"
    return None


def _metadata(shop: Shop, refund: Refund) -> dict[str, str]:
    ret = refund.ret
    return {"return_code": ret.code, "refund_id": str(refund.id), "order": ret.order.name, "shop": shop.domain}


def _record(jc: JobContext, refund: Refund, result: ProviderRefund) -> None:
    refund.provider_refund_id, refund.provider_status = result.provider_refund_id, result.provider_status
    refund.needs_lookup = False
    if result.amount != Money(refund.amount, refund.currency):
        logger.error("provider refunded a different amount", extra={"refund_id": refund.id, "provider_amount": str(result.amount)})
    if result.status == RefundStatus.SUCCEEDED:
        refund_succeeded(jc.ctx, refund)
    elif result.status == RefundStatus.FAILED:
        refund_failed(jc.ctx, refund, result.failure_reason or f"{result.provider_status} at the provider")
    else:  # accepted, still in progress at the provider: the sweeper asks again
        refund.status, refund.claimed_until, refund.last_error = RefundStatus.SUBMITTED.value, None, None
        jc.session.commit()
    logger.info("refund %s", refund.status, extra={"refund_id": refund.id, "provider_refund_id": refund.provider_refund_id})
