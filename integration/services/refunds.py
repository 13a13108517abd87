"""Refund use cases: write the Refund row, claim it for a job, move its status, withdraw it, finish it.

Every status change of a refund is a compare-and-set against REFUND_TRANSITIONS
(`set_status`), so two writers (a job and a cancel, two jobs) can never both win,
and a stale session can never move a refund back.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.errors import Conflict, InvalidInput
from integration.models import Refund, Return, Shop, utcnow
from integration.policy import ReturnPolicy
from integration.refunds import IN_FLIGHT, RefundStatus, refund_sources
from integration.returns import Actor, ReturnStatus
from integration.services import credit_notes, ledger, messages
from integration.services.context import Ctx
from integration.services.status import move
from integration.services.timeline import record

__all__ = [
    "start_refund", "claim_refund", "release_refund", "set_status", "mark_submitted", "any_succeeded", "begin",
    "withdraw", "refund_succeeded", "refund_failed", "line_json", "parts_json", "held_by", "update_held", "refund_for_provider",
]  # fmt: skip

logger = logging.getLogger(__name__)

R = RefundStatus
_IN_FLIGHT = tuple(s.value for s in IN_FLIGHT)
REFUNDABLE_FROM = (ReturnStatus.APPROVED.value, ReturnStatus.IN_TRANSIT.value, ReturnStatus.RECEIVED.value)


def start_refund(session: Session, ret: Return, policy: ReturnPolicy, routes) -> Refund | None:
    """Write the Refund row the job will perform; None when nothing is left to pay back.

    The row carries what the customer is owed in full. Whether the payment can
    cover it is decided by the job, on the order's payments read afresh just
    before sending: a plan the payment cannot pay in full is never sent.
    """
    busy = [r for r in ret.refunds if r.status in _IN_FLIGHT]
    if busy:
        raise Conflict(f"refund {busy[0].id} of this return is still under way", refund_id=busy[0].id)
    try:
        plan, payment = ledger.plan_for(session, ret, policy, routes)
    except InvalidInput as e:  # the policy cannot price this order (no fee in its currency)
        raise Conflict(e.message) from None
    if plan.owed <= 0:
        return None
    sequence = len(ret.refunds) + 1
    refund = Refund(
        return_id=ret.id, payment=payment, sequence=sequence, policy=policy.to_dict(),
        idempotency_key=f"palautus-{ret.shop_id}-{ret.code}-{sequence}",
        amount=plan.amount if not plan.capped else plan.owed, currency=plan.currency, tax=plan.tax, vat=plan.vat,
        fees=plan.fees, shipping=plan.shipping, lines=[line_json(line) for line in plan.lines if line.quantity],
        shipping_tax=plan.shipping_tax, shipping_tax_rate=plan.shipping_rate,
        provider=payment.provider if payment else None, route=routes.route_of(payment) if payment else None,
        parts=parts_json(plan.parts), status=R.PENDING.value,
    )  # fmt: skip
    ret.refunds.append(refund)
    try:
        session.flush()
    except IntegrityError:  # another request wrote refund number `sequence` a moment ago
        session.rollback()
        raise Conflict("another refund of this return was started at the same moment") from None
    return refund


def parts_json(parts) -> list:
    """A plan's payment parts as stored on the Refund row."""
    return [{"payment_id": payment_id, "amount": amount} for payment_id, amount in parts]


def line_json(line) -> dict:
    """A planned line as stored on the Refund row."""
    return {
        "order_line_id": line.order_line_id, "return_item_id": line.return_item_id,
        "quantity": line.quantity, "amount": line.amount, "tax": line.tax, "tax_rate": str(line.tax_rate),
    }  # fmt: skip


def claim_refund(session: Session, refund_id: int, lease_seconds: int) -> Refund | None:
    """Take the refund for one job run: an atomic compare-and-set, the same on SQLite and PostgreSQL.

    The claim is a lease: a worker killed mid-call leaves a claim that runs out,
    after which the sweeper's next run may take it again.
    """
    now = utcnow()
    result = session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status.in_(_IN_FLIGHT))
        .where(or_(Refund.claimed_until.is_(None), Refund.claimed_until < now))
        .values(claimed_until=now + timedelta(seconds=lease_seconds), attempts=Refund.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return session.get(Refund, refund_id, populate_existing=True) if result.rowcount == 1 else None


def release_refund(session: Session, refund: Refund, sweep_after: timedelta | None = None) -> None:
    """Give the claim back; with `sweep_after`, the sweeper leaves the refund to rq's own retries that long."""
    refund.claimed_until = None
    refund.next_attempt_at = utcnow() + sweep_after if sweep_after else None
    session.commit()


def held_by(fence: int | None):
    """The SQL condition "the run that claimed the refund as its `fence`-th attempt still holds it".

    A run whose lease ran out while it waited (a slow answer, a stalled worker) may
    have been overtaken by another run; every write it makes afterwards must fail.
    """
    return Refund.attempts == fence if fence is not None else Refund.id.is_not(None)


def set_status(session: Session, refund: Refund, target: RefundStatus, *conditions, fence: int | None = None,
               **values) -> bool:  # fmt: skip
    """Move the refund to `target` if REFUND_TRANSITIONS allows it from where the row is now: compare-and-set.

    `conditions` are further SQL conditions the move needs; `fence` is the claim of
    the run that moves it (see `held_by`). Not committed; the refund object is
    refreshed from the row either way.
    """
    result = session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status.in_(refund_sources(target)), held_by(fence), *conditions)
        .values(status=RefundStatus(target).value, **values)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.expire(refund)
    return result.rowcount == 1


def mark_submitted(session: Session, refund: Refund, fence: int | None = None) -> bool:
    """To submitted, compare-and-set, committed: False when the refund was withdrawn, its return cancelled,
    or the run lost its claim.

    This is the last step before the provider is called. The return's status is
    read in the same statement, so a cancel that committed before it is seen
    whatever this job's session last loaded.
    """
    cancelled = exists().where(Return.id == Refund.return_id, Return.status == ReturnStatus.CANCELLED.value)
    moved = set_status(
        session, refund, R.SUBMITTED, ~cancelled, fence=fence,
        first_submitted_at=func.coalesce(Refund.first_submitted_at, utcnow()),
    )  # fmt: skip
    session.commit()
    return moved


# --- use cases: starting, withdrawing and finishing refunds -----------------------------------


def any_succeeded(ret: Return) -> bool:
    return any(r.status == R.SUCCEEDED.value for r in ret.refunds)


def begin(ctx: Ctx, shop: Shop, ret: Return, actor: Actor, asked: bool) -> Refund | None:
    """Write the refund the return is owed and queue it; None when nothing is left to pay back.

    `asked` is a merchant's explicit request: a refund still under way is then a
    Conflict. A refund the policy starts by itself leaves one already under way alone.
    """
    if ret.status not in REFUNDABLE_FROM:
        raise Conflict(f"a return that is {ret.status} cannot be refunded", current=ret.status)
    if not asked and any(r.status in _IN_FLIGHT for r in ret.refunds):
        return None
    try:
        refund = start_refund(ctx.session, ret, ReturnPolicy.from_dict(shop.policy), ctx.routes_for(shop))
    except Conflict as e:
        if asked:
            raise
        # Started by the policy, not by a person: the status change stands and the timeline says why no refund.
        record(ctx, ret, Actor.SYSTEM, "refund_not_started", reason=e.message)
        return None
    if refund is None:
        # Everything was already paid back (by us, or in the shop's own admin).
        if ret.status == ReturnStatus.RECEIVED.value:
            move(ctx, ret, Actor.SYSTEM, ReturnStatus.REFUNDED, "nothing_left_to_refund")
        return None
    record(ctx, ret, actor, "refund_started", refund_id=refund.id, amount=refund.amount, currency=refund.currency)
    ctx.later(ctx.tasks.push_refund, refund.id)
    return refund


def withdraw(ctx: Ctx, ret: Return) -> None:
    """The return is being cancelled: refunds not yet sent are failed; one that may be with the provider, or has
    paid, forbids it.

    Failing a refund is a compare-and-set on "still pending", the same row the
    job's last step before the provider (`mark_submitted`) moves on: of the two,
    exactly one wins, even while a job holds the refund's claim.
    """
    reason = "the return was cancelled before the refund was sent"
    paid = next((r for r in ret.refunds if r.status == R.SUCCEEDED.value), None)
    if paid is not None:
        raise Conflict(f"refund {paid.id} has paid the customer; the return cannot be cancelled now", refund_id=paid.id)
    for refund in [r for r in ret.refunds if r.status in _IN_FLIGHT]:
        sent = refund.status == R.SUBMITTED.value or not set_status(
            ctx.session, refund, R.FAILED, Refund.status == R.PENDING.value, completed_at=utcnow(), last_error=reason,
        )  # fmt: skip
        if sent:
            raise Conflict(f"refund {refund.id} is already with the provider; the return cannot be cancelled now",
                           refund_id=refund.id)  # fmt: skip
        record(ctx, ret, Actor.SYSTEM, "refund_failed", refund_id=refund.id, reason=reason)


def update_held(session: Session, refund: Refund, fence: int | None, *conditions, **values) -> bool:
    """Write to the refund row if the run's claim still holds (see `held_by`) and `conditions` hold; committed.
    False if not."""
    result = session.execute(update(Refund).where(Refund.id == refund.id, held_by(fence), *conditions).values(**values)
                             .execution_options(synchronize_session=False))  # fmt: skip
    session.commit()
    session.expire(refund)
    return result.rowcount == 1


def refund_succeeded(ctx: Ctx, refund: Refund, fence: int | None = None, **provider) -> None:
    """The provider paid the customer back: book it, move the return on, tell the shop.

    `provider` holds what the provider said (provider_refund_id, provider_status).
    """
    values = {"completed_at": utcnow(), "claimed_until": None, "last_error": None, "needs_lookup": False, **provider}
    if not set_status(ctx.session, refund, R.SUCCEEDED, fence=fence, **values):
        ctx.session.rollback()
        _paid_but_not_ours_to_book(ctx, refund, provider.get("provider_refund_id"))
        return
    ret = refund.ret
    record(ctx, ret, Actor.SYSTEM, "refund_succeeded", refund_id=refund.id, amount=refund.amount,
           provider_refund_id=refund.provider_refund_id)  # fmt: skip
    if ret.status == ReturnStatus.RECEIVED.value:
        move(ctx, ret, Actor.SYSTEM, ReturnStatus.REFUNDED, "refunded")
    messages.refund_sent(ctx, refund)  # once per refund, however many times its success is reported
    ctx.later(ctx.tasks.sync_refund, refund.id)
    credit_notes.queue_credit_note(ctx, refund)  # where the shop has Palautus issue its credit notes
    ctx.commit()


def _paid_but_not_ours_to_book(ctx: Ctx, refund: Refund, provider_refund_id: str | None) -> None:
    """The provider says it paid, but this run may not book it: another run did, or the row is failed."""
    ctx.session.refresh(refund)
    if refund.status == R.FAILED.value:  # money out on a refund the books call failed: a person must look
        logger.error("provider paid a refund Palautus has as failed",
                     extra={"refund_id": refund.id, "provider_refund_id": provider_refund_id})  # fmt: skip
        record(ctx, refund.ret, Actor.SYSTEM, "provider_paid_failed_refund", refund_id=refund.id,
               provider_refund_id=provider_refund_id)  # fmt: skip
        ctx.commit()


def refund_failed(ctx: Ctx, refund: Refund, reason: str, fence: int | None = None,
                  only_from: RefundStatus | None = None, **provider) -> None:  # fmt: skip
    """The refund cannot succeed as it is: keep the reason where the merchant sees it.

    `only_from` names the one status it may fail from (PENDING for a stop before
    anything was sent: a refund another run has sent since is not this run's to fail).
    """
    reason = reason[:2000]
    conditions = [Refund.status == only_from.value] if only_from else []
    if set_status(ctx.session, refund, R.FAILED, *conditions, fence=fence, completed_at=utcnow(), claimed_until=None,
                  last_error=reason, **provider):  # fmt: skip
        record(ctx, refund.ret, Actor.SYSTEM, "refund_failed", refund_id=refund.id, reason=reason)
        if refund.first_submitted_at is not None:  # it reached the provider: the shop is told it failed there
            ctx.later(ctx.tasks.sync_refund, refund.id)
    ctx.commit()


def refund_for_provider(session: Session, shop: Shop, provider: str, provider_refund_id: str | None,
                        idempotency_key: str | None) -> Refund | None:  # fmt: skip
    """The shop's refund a provider speaks of: by our key where it echoes it, else by its own refund id."""
    query = select(Refund).join(Return).where(Return.shop_id == shop.id)
    if idempotency_key:
        found = session.scalar(query.where(Refund.idempotency_key == idempotency_key, Refund.route == provider))
        if found is not None:
            return found
    if provider_refund_id:
        return session.scalar(query.where(Refund.route == provider, Refund.provider_refund_id == provider_refund_id)
                              .order_by(Refund.id).limit(1))  # fmt: skip
    return None
