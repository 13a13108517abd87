"""carry_out_withdrawal: carry a customer's statement of withdrawal out, in the background, safe to run twice.

The statement was stored and acknowledged in the web request (integration/services/withdrawals.py); this job does
everything that calls out. It decides on the order as it is when it runs, not as it was when the statement came:

- delivered, or shipped with no delivery date known: a return on the withdrawal track (`carry_out_return`; the
  shop's returns already holding the statement's items move onto that track too);
- not shipped: a cancellation, in this order, each step finding what an earlier run did:
  1. read the order's payments afresh: what was captured is what must be paid back (what was only authorized is
     released, so a refund capped by what was captured pays in full: jobs/refunds.py);
  2. the cancellation return of what is left, approved, its refund written and queued, under the shop's lock:
     the refund job pays it exactly once, and reads the shop's own refunds again before it sends;
  3. void what a direct payment route only authorized (each route reads the payment first: a void repeated
     after a crash finds it released and sends nothing); a route that answers the money was captured, while
     the shop lists no new capture, stops the job before the cancel: Palautus cannot see that money to refund it;
  4. read the payments again: money captured meanwhile (Shopify's own gateway, captured in the admin) is
     refunded through the return too, opened now if nothing was taken before;
  5. cancel the order on the platform, refunding nothing and restocking (the platform releases what its own
     gateways only authorized; an order cancelled already, by the shop or an earlier run, counts as done), and
     read the payments once more, as in step 4 (a capture just before the cancel);
  6. the statement CARRIED_OUT once the refund paid (sent now unless its own job has it), or at once when nothing
     was taken; while the refund is on its way the statement waits and the sweeper runs the job again. Money
     still kept (a refund failed, money taken after the refund was sent): ATTENTION, saying how much.

Meanwhile: an order delivered or shipped while the job waited takes the withdrawal track (before step 2), or,
once its money is on its way back, is left for the merchant (ATTENTION); a return cancelled (before step 3 or
before the cancel) stops the job with the order left as it is; a transient failure at any step raises for rq's
retries; a refusal is recorded (ATTENTION) with what the merchant must do.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from adapters.payments import PaymentRef, VoidOutcome
from integration.errors import PalautusError
from integration.models import Order, Shop, Withdrawal
from integration.money import Money
from integration.returns import ReturnStatus
from integration.refunds import IN_FLIGHT, RefundStatus
from integration.services import withdrawals
from integration.withdrawal import DUPLICATE_WINDOW, Kind, WithdrawalStatus, same_lines
from jobs.context import JobContext, job_context
from jobs.events import read_payments
from jobs.outcomes import calling_out
from jobs.refunds import push_refund, record_shop_refund

__all__ = ["carry_out_withdrawal"]

logger = logging.getLogger(__name__)

W = WithdrawalStatus
_IN_FLIGHT = tuple(s.value for s in IN_FLIGHT)


class _Stop(Exception):
    """The statement cannot be carried out further by itself: ATTENTION, with what the merchant must do."""


def carry_out_withdrawal(withdrawal_id: int) -> None:
    """Carry the statement out; safe to run any number of times, and after a run killed at any step."""
    with job_context() as jc:
        withdrawal = jc.session.get(Withdrawal, withdrawal_id)
        if withdrawal is None or withdrawal.status != W.RECEIVED.value:
            logger.info("withdrawal carried out already, or not to be", extra={"withdrawal_id": withdrawal_id})
            return
        on_refusal = lambda e: _attention(jc, withdrawal_id, f"refused: {e}")  # noqa: E731
        try:
            with calling_out(jc.session, "withdrawal", on_refusal=on_refusal, withdrawal_id=withdrawal_id):
                _carry_out(jc, withdrawal)
        except (_Stop, PalautusError) as e:
            jc.session.rollback()
            _attention(jc, withdrawal_id, getattr(e, "message", None) or str(e))


def _carry_out(jc: JobContext, withdrawal: Withdrawal) -> None:
    shop, order = jc.session.get(Shop, withdrawal.shop_id), jc.session.get(Order, withdrawal.order_id)
    if order is None or shop is None or shop.uninstalled_at is not None:
        raise _Stop("the order or the shop is no longer in Palautus: carry the withdrawal out in the shop's admin")
    twin = _twin(jc, withdrawal)
    if twin is not None:
        withdrawals.set_status(jc.ctx, withdrawal, W.DUPLICATE, f"the same statement as {twin.code}")
        jc.session.commit()
        return
    _read(jc, shop, order)  # commits: every row is read afresh from here on
    when = withdrawals.timing_of(withdrawal, order, withdrawals.shop_zone(shop))
    kind = Kind(withdrawal.kind) if withdrawal.return_id is not None else when.kind
    if kind == Kind.WITHDRAWAL:
        if withdrawals.carry_out_return(jc.ctx, shop, withdrawal, order, when) is None:
            raise _Stop("nothing of the order is left to send back: every item was refunded or is in another return")
        return
    _cancel(jc, shop, withdrawal, order)


def _read_shop_refunds(jc: JobContext, shop: Shop, order: Order) -> None:
    """The refunds the shop made itself (its admin, its own cancellation), recorded before anything is planned, so
    the items they paid for are left out of the withdrawal's return, not found paid only by its refund job."""
    for data in jc.platform(shop).order_refunds(order.platform_order_id):
        record_shop_refund(jc, shop, data)
    jc.session.expire(order, ["shop_refunds"])


def _twin(jc: JobContext, withdrawal: Withdrawal) -> Withdrawal | None:
    """An earlier statement of the same lines of the same order, sent within DUPLICATE_WINDOW (two tabs at once)."""
    earlier = jc.session.scalars(select(Withdrawal).where(
        Withdrawal.order_id == withdrawal.order_id, Withdrawal.id < withdrawal.id,
        Withdrawal.status != W.DUPLICATE.value, Withdrawal.submitted_at >= withdrawal.submitted_at - DUPLICATE_WINDOW,
    ).order_by(Withdrawal.id))  # fmt: skip
    return next((w for w in earlier if same_lines(w.lines, withdrawal.lines)), None)


def _cancel(jc: JobContext, shop: Shop, withdrawal: Withdrawal, order: Order) -> None:
    """Before delivery: the money back, what is only authorized released, the order cancelled on the platform."""
    ret = withdrawals.carry_out_cancellation(jc.ctx, shop, withdrawal, order)
    jc.session.expire_all()  # from here on as it is now: a return cancelled, the order shipped meanwhile
    if withdrawal.status != W.RECEIVED.value:  # the law's exceptions: the merchant decides (the reason is stored)
        return
    if withdrawal.lines:
        raise _Stop("the customer withdrew from some items before delivery: take them off the order before it ships "
                    "(the rest of the order stands)" + ("; their refund is on its way" if ret else ""))  # fmt: skip
    if order.delivered_at is not None or order.fulfilled_at is not None:
        raise _Stop("the order shipped after the customer withdrew: " + (
            "their refund is on its way; ask for the goods back" if ret else "ask for the goods back, then refund"))  # fmt: skip
    _ensure_return_stands(jc, withdrawal)
    taken = _taken(order)
    captured = _void_authorizations(jc, shop, order)
    if captured:  # money was taken while we looked: it goes back as a refund too, once the shop lists it
        _read(jc, shop, order)
        if _taken(order) <= taken:
            raise _Stop(f"{', '.join(captured)} answered that a payment the shop lists only as authorized was captured, "
                        "so Palautus cannot refund it: refund what was taken there (or in the shop's admin), then "
                        "cancel the order in the shop's admin")  # fmt: skip
    if not _refund_kept(jc, shop, withdrawal, order):  # captured meanwhile (in the shop's admin, say)
        return
    _ensure_return_stands(jc, withdrawal)
    jc.platform(shop).cancel_order(order.platform_order_id, f"Palautus: the customer withdrew before delivery "
                                   f"(statement {withdrawal.code}); what was paid is refunded by Palautus.")  # fmt: skip
    if _refund_kept(jc, shop, withdrawal, order):  # captured just before the cancel
        _finish(jc, withdrawal, order)


def _read(jc: JobContext, shop: Shop, order: Order) -> None:
    """The order's payments and the shop's own refunds of it, read afresh (committed)."""
    read_payments(jc, shop, order)
    _read_shop_refunds(jc, shop, order)
    jc.session.expire_all()


def _taken(order: Order) -> int:
    """What the order's payments took, as last read."""
    return sum(payment.amount for payment in order.payments)


def _ensure_return_stands(jc: JobContext, withdrawal: Withdrawal) -> None:
    ret = withdrawals.return_of(jc.ctx, withdrawal)
    if ret is not None and ret.status == ReturnStatus.CANCELLED.value:
        raise _Stop("the withdrawal's return was cancelled in Palautus: the order is left as it is")


def _refund_kept(jc: JobContext, shop: Shop, withdrawal: Withdrawal, order: Order) -> bool:
    """Read the payments again: money they hold that no refund of ours pays back (captured meanwhile: by the
    merchant in the shop's admin, say) goes back through the cancellation's return too, opened now if nothing was
    taken before. False when the statement stops here (the return's decision left it to the merchant)."""
    _read(jc, shop, order)
    if withdrawals.money_kept(jc.ctx, withdrawal, order) > 0:
        withdrawals.carry_out_cancellation(jc.ctx, shop, withdrawal, order)
    jc.session.expire_all()
    return withdrawal.status == W.RECEIVED.value


def _finish(jc: JobContext, withdrawal: Withdrawal, order: Order) -> None:
    """CARRIED_OUT once what was taken went back, or when nothing was. The refund is sent now unless its own job
    has it (the refund's claim lets one run send it); while it is still on its way the statement stays RECEIVED and
    the sweeper runs this job again. Money still kept, a failed refund among the reasons: ATTENTION."""
    refund = withdrawals.last_refund(jc.ctx, withdrawal)
    if refund is not None and refund.status in _IN_FLIGHT:
        refund_id = refund.id
        jc.session.commit()  # nothing of this run is held while the refund job writes
        push_refund(refund_id)
        jc.session.expire_all()
        if refund.status in _IN_FLIGHT:
            logger.info("withdrawal waits for its refund", extra={"withdrawal_id": withdrawal.id, "refund_id": refund_id})
            return
    kept = withdrawals.money_kept(jc.ctx, withdrawal, order)
    if kept > 0:
        raise _Stop(f"the order is cancelled, but {Money(kept, order.currency)} of what was paid is not refunded: "
                    f"{_why_kept(withdrawal, refund)}; refund it in the shop's admin")  # fmt: skip
    withdrawals.set_status(jc.ctx, withdrawal, W.CARRIED_OUT)
    jc.session.commit()
    logger.info("withdrawal carried out: order cancelled", extra={"withdrawal_id": withdrawal.id})


def _why_kept(withdrawal: Withdrawal, refund) -> str:
    if refund is not None and refund.status == RefundStatus.FAILED.value:
        return f"its refund failed ({refund.last_error})"
    if withdrawal.return_id is None:
        return "no items are left to refund it by (its shipping, say)"
    return "it was taken after the refund was sent, or is more than the items are owed"


def _void_authorizations(jc: JobContext, shop: Shop, order: Order) -> list[str]:
    """Release what a direct route only authorized (the platform's cancellation releases its own gateways');
    the routes that answered it was captured after all."""
    routes, captured = jc.ctx.routes_for(shop), []
    for held in jc.platform(shop).order_authorizations(order.platform_order_id):
        name = routes.route_of(held)
        if name is None or name == routes.platform:
            continue
        ref = PaymentRef(held.provider, held.payment_id, held.platform_transaction_id, order.name, held.gateway,
                         order.platform_order_id, held.kind)  # fmt: skip
        outcome = jc.route(shop, name).void(ref)
        logger.info("authorization %s", outcome.value, extra={"order_id": order.id, "route": name})
        if outcome == VoidOutcome.CAPTURED and name not in captured:
            captured.append(name)
    return captured


def _attention(jc: JobContext, withdrawal_id: int, reason: str) -> None:
    """The statement could not be carried out by itself: kept with the reason, for the merchant."""
    withdrawal = jc.session.get(Withdrawal, withdrawal_id)
    if withdrawal is not None and withdrawal.status == W.RECEIVED.value:
        withdrawals.set_status(jc.ctx, withdrawal, W.ATTENTION, reason)
        jc.session.commit()
    logger.error("withdrawal needs the merchant: %s", reason, extra={"withdrawal_id": withdrawal_id})
