"""Refunds: what is left to refund, writing the Refund row, claiming it, and the use cases around it."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.errors import Conflict
from integration.models import Order, Payment, Refund, Return, Shop, utcnow
from integration.policy import ReturnPolicy
from integration.refunds import LineToRefund, RefundPlan, RefundStatus, plan_refund
from integration.returns import Actor, ReturnStatus
from integration.services.context import Ctx
from integration.services.timeline import record

__all__ = [
    "lines_to_refund",
    "refunded_units",
    "refundable",
    "choose_payment",
    "plan_for",
    "start_refund",
    "claim_refund",
    "release_refund",
    "mark_submitted",
    "any_succeeded",
    "begin",
    "withdraw",
    "refund_succeeded",
    "refund_failed",
]

LIVE = (RefundStatus.PENDING.value, RefundStatus.SUBMITTED.value, RefundStatus.SUCCEEDED.value)
IN_FLIGHT = (RefundStatus.PENDING.value, RefundStatus.SUBMITTED.value)


def _our_refunds(session: Session, order: Order, exclude: Refund | None) -> list[Refund]:
    query = select(Refund).join(Return).where(Return.order_id == order.id, Refund.status.in_(LIVE))
    return [r for r in session.scalars(query) if r is not exclude]


def refunded_units(session: Session, order: Order, exclude: Refund | None = None) -> Counter:
    """Units per order line refunded so far: by us (but `exclude`), and by the shop outside Palautus."""
    units: Counter = Counter()
    for refund in _our_refunds(session, order, exclude):
        for line in refund.lines:
            units[line["order_line_id"]] += line["quantity"]
    by_platform_id = {line.platform_line_id: line.id for line in order.lines}
    for shop_refund in order.shop_refunds:
        if shop_refund.refund_id is None:
            for line in shop_refund.lines:
                units[by_platform_id.get(line["platform_line_id"])] += line["quantity"]
    return units


def _for_this_return(shop_refund, ret: Return) -> bool:
    """Was this refund, made in the shop outside Palautus, made for `ret`?

    When the shop names the return, that settles it. When it names none, a
    refund made after the customer asked is taken to be for this return: the
    safe reading, since the other one could pay the same items twice.
    """
    if shop_refund.platform_return_id is not None:
        return shop_refund.platform_return_id == ret.platform_return_id
    return shop_refund.created_at >= ret.requested_at


def _external_for(order: Order, ret: Return) -> Counter:
    """Units the shop refunded outside Palautus for this very return."""
    by_platform_id = {line.platform_line_id: line.id for line in order.lines}
    units: Counter = Counter()
    for shop_refund in order.shop_refunds:
        if shop_refund.refund_id is None and _for_this_return(shop_refund, ret):
            for line in shop_refund.lines:
                units[by_platform_id.get(line["platform_line_id"])] += line["quantity"]
    return units


def lines_to_refund(session: Session, ret: Return, exclude: Refund | None = None) -> list[LineToRefund]:
    """The units of each returned item still to be paid back.

    An item is owed its quantity, less what our earlier refunds of this return
    paid and less what the shop refunded outside Palautus for this return (a
    merchant refunding the returned item in the admin); and never more units
    than the order line has left unrefunded.
    """
    order = ret.order
    refunded, later = refunded_units(session, order, exclude), _external_for(order, ret)
    paid_here = Counter()
    for refund in ret.refunds:
        if refund.status in LIVE and refund is not exclude:
            for line in refund.lines:
                paid_here[line.get("return_item_id")] += line["quantity"]
    lines = []
    for item in ret.items:
        line = item.order_line
        owed = item.quantity - paid_here[item.id] - later[line.id]
        quantity = max(0, min(owed, line.quantity - refunded[line.id]))
        later[line.id] = max(0, later[line.id] - item.quantity)  # spent on this item, not the next on the line
        lines.append(LineToRefund(
            order_line_id=line.id, return_item_id=item.id, quantity=quantity,
            line_quantity=line.quantity, already_refunded=refunded[line.id],
            unit_price=line.unit_price, discount_total=line.discount_total,
            tax_total=line.tax_total, tax_rate=line.tax_rate, taxes_included=order.taxes_included,
        ))  # fmt: skip
        refunded[line.id] += quantity  # two items on one line share its units, in order
    return lines


def refundable(session: Session, payment: Payment, exclude: Refund | None = None) -> int:
    """What is left of a payment after our refunds (but `exclude`) and the shop's own refunds of it."""
    query = select(Refund).where(Refund.payment_id == payment.id, Refund.status.in_(LIVE))
    ours = [r.amount for r in session.scalars(query) if r is not exclude]
    theirs = [
        r.amount for r in payment.order.shop_refunds
        if r.refund_id is None and payment.platform_transaction_id in (r.parent_transaction_ids or [])
    ]  # fmt: skip
    return payment.amount - sum(ours) - sum(theirs)


def choose_payment(session: Session, order: Order, providers: set[str]) -> Payment | None:
    """The payment Palautus can refund itself with the most left on it."""
    candidates = [p for p in order.payments if p.provider in providers and not p.platform_managed]
    return max(candidates, key=lambda p: refundable(session, p), default=None)


def plan_for(session: Session, ret: Return, policy: ReturnPolicy, providers: set[str]) -> tuple[RefundPlan, Payment | None]:
    """The refund this return is owed now, capped by the payment when it is known."""
    payment = choose_payment(session, ret.order, providers)
    lines = lines_to_refund(session, ret)
    cap = refundable(session, payment) if payment else sum(line.line_paid for line in lines)
    return plan_refund(lines, ret.order.currency, policy.fees, cap), payment


def start_refund(session: Session, ret: Return, policy: ReturnPolicy, providers: set[str]) -> Refund | None:
    """Write the Refund row the job will perform; None when nothing is left to pay back."""
    busy = [r for r in ret.refunds if r.status in IN_FLIGHT]
    if busy:
        raise Conflict(f"refund {busy[0].id} of this return is still under way", refund_id=busy[0].id)
    plan, payment = plan_for(session, ret, policy, providers)
    if plan.amount <= 0:
        return None
    others = [p for p in ret.order.payments if p is not payment and p.provider in providers and refundable(session, p) > 0]
    if plan.capped and others:
        # One refund goes to one payment; splitting a return over several is not done yet.
        raise Conflict(
            f"the order was paid in parts and this return needs more than the {payment.gateway} payment has left; "
            "refund it in the shop's admin", payment_id=payment.id,
        )  # fmt: skip
    sequence = len(ret.refunds) + 1
    refund = Refund(
        return_id=ret.id, payment=payment, sequence=sequence,
        idempotency_key=f"palautus-{ret.shop_id}-{ret.code}-{sequence}",
        amount=plan.amount, currency=plan.currency, tax=plan.tax, vat=plan.vat, fees=plan.fees,
        lines=[_line_json(line) for line in plan.lines if line.quantity],
        provider=payment.provider if payment else None, status=RefundStatus.PENDING.value,
    )  # fmt: skip
    ret.refunds.append(refund)
    try:
        session.flush()
    except IntegrityError:  # another request wrote refund number `sequence` a moment ago
        session.rollback()
        raise Conflict("another refund of this return was started at the same moment") from None
    return refund


def _line_json(line) -> dict:
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
        .where(Refund.id == refund_id, Refund.status.in_(IN_FLIGHT))
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


def mark_submitted(session: Session, refund: Refund) -> bool:
    """Pending -> submitted, compare-and-set: False when the refund was withdrawn meanwhile."""
    result = session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status.in_(IN_FLIGHT))
        .values(status=RefundStatus.SUBMITTED.value, first_submitted_at=func.coalesce(Refund.first_submitted_at, utcnow()))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(refund)
    return result.rowcount == 1


# --- use cases: starting, withdrawing and finishing refunds -----------------------------------

REFUNDABLE_FROM = (ReturnStatus.APPROVED.value, ReturnStatus.IN_TRANSIT.value, ReturnStatus.RECEIVED.value)


def any_succeeded(ret: Return) -> bool:
    return any(r.status == RefundStatus.SUCCEEDED.value for r in ret.refunds)


def begin(ctx: Ctx, shop: Shop, ret: Return, actor: Actor, asked: bool) -> Refund | None:
    """Write the refund the return is owed and queue it; None when nothing is left to pay back.

    `asked` is a merchant's explicit request: a refund still under way is then a
    Conflict. A refund the policy starts by itself leaves one already under way alone.
    """
    if ret.status not in REFUNDABLE_FROM:
        raise Conflict(f"a return that is {ret.status} cannot be refunded", current=ret.status)
    if not asked and any(r.status in IN_FLIGHT for r in ret.refunds):
        return None
    try:
        refund = start_refund(ctx.session, ret, ReturnPolicy.from_dict(shop.policy), ctx.providers)
    except Conflict as e:
        if asked:
            raise
        # Started by the policy, not by a person: the status change stands and the timeline says why no refund.
        record(ctx, ret, Actor.SYSTEM, "refund_not_started", reason=e.message)
        return None
    if refund is None:
        # Everything was already paid back (by us, or in the shop's own admin).
        if ret.status == ReturnStatus.RECEIVED.value:
            record(ctx, ret, Actor.SYSTEM, "nothing_left_to_refund", to=ReturnStatus.REFUNDED)
        return None
    record(ctx, ret, actor, "refund_started", refund_id=refund.id, amount=refund.amount, currency=refund.currency)
    ctx.later(ctx.tasks.push_refund, refund.id)
    return refund


def withdraw(ctx: Ctx, ret: Return, actor: Actor) -> None:
    """The return is being cancelled: refunds not yet sent are failed; one being sent or sent forbids it.

    Failing a refund is a compare-and-set on "pending and held by no job", the
    same row a job claims atomically: of the two, exactly one wins.
    """
    reason = "the return was cancelled before the refund was sent"
    for refund in [r for r in ret.refunds if r.status in IN_FLIGHT]:
        now = utcnow()
        result = ctx.session.execute(
            update(Refund)
            .where(Refund.id == refund.id, Refund.status == RefundStatus.PENDING.value)
            .where(or_(Refund.claimed_until.is_(None), Refund.claimed_until < now))
            .values(status=RefundStatus.FAILED.value, completed_at=now, last_error=reason)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            ctx.session.expire(refund, ["status", "completed_at", "last_error"])
            record(ctx, ret, Actor.SYSTEM, "refund_failed", refund_id=refund.id, reason=reason)
        elif actor != Actor.PLATFORM:
            raise Conflict(f"refund {refund.id} is already with the provider; the return cannot be cancelled now")


def refund_succeeded(ctx: Ctx, refund: Refund) -> None:
    """The provider paid the customer back: book it, move the return on, tell the shop."""
    ret = refund.ret
    refund.status, refund.completed_at, refund.claimed_until = RefundStatus.SUCCEEDED.value, utcnow(), None
    record(ctx, ret, Actor.SYSTEM, "refund_succeeded", refund_id=refund.id, amount=refund.amount,
           provider_refund_id=refund.provider_refund_id)  # fmt: skip
    if ret.status == ReturnStatus.RECEIVED.value:
        record(ctx, ret, Actor.SYSTEM, "refunded", to=ReturnStatus.REFUNDED)
    ctx.later(ctx.tasks.sync_refund, refund.id)
    ctx.commit()


def refund_failed(ctx: Ctx, refund: Refund, reason: str) -> None:
    """The refund cannot succeed as it is: keep the reason where the merchant sees it."""
    refund.status, refund.completed_at, refund.claimed_until = RefundStatus.FAILED.value, utcnow(), None
    refund.last_error = reason
    record(ctx, refund.ret, Actor.SYSTEM, "refund_failed", refund_id=refund.id, reason=reason)
    ctx.commit()
