"""Withdrawal use cases: take a customer's statement of withdrawal, acknowledge it, and carry it out.

Its own track beside returns (integration/withdrawal.py has the law's clocks). The web request only stores and
acknowledges; `jobs/withdrawals.py` carries the statement out, calling these for the database steps:
after delivery a return on the withdrawal track (`carry_out_return`), before it a cancellation
(`carry_out_cancellation`: a return of what is left, refunded at once through the ordinary refund path).

What can happen meanwhile, and what each step does about it:
- the same statement twice (a double click, a reload): within DUPLICATE_WINDOW the first is returned, nothing
  new is stored or acknowledged; two at the very same moment both store, and the job marks the later a DUPLICATE;
- a statement naming an order the e-mail does not match: stored UNMATCHED and acknowledged all the same (the
  law requires the acknowledgement of every statement received), for the merchant to match by hand;
- two runs of the job at once, or a run killed half-way: each database step runs under the shop's row lock
  and finds what an earlier run made (the return by its withdrawal), so nothing is opened or approved twice;
- money already refunded in the shop's admin, or by the platform cancelling the order itself: the refund path's
  ledger counts every shop refund, and the refund job reads them again before it sends: never paid twice;
- money captured while a cancellation runs: `carry_out_cancellation` again opens the return, or refunds the
  rest on it (`_refund_rest`) while no refund of it is on its way; `money_kept` says what nothing pays back;
- the statement's items already in a return the customer opened (the portal): the statement makes that return
  a withdrawal (`_adopt`): on the withdrawal track, due by law, priced without the shop's fees from then on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from integration.db import lock_row
from integration.eligibility import order_is_paid
from integration.errors import InvalidInput
from integration.models import Order, Refund, Return, Shop, Withdrawal, utcnow
from integration.money import Money
from integration.policy import RefundOn, ReturnPolicy, ReturnRequest
from integration.refunds import IN_FLIGHT, RefundStatus
from integration.returns import Actor, Reason, ReturnMethod, ReturnSource, ReturnStatus
from integration.services import ledger, messages, refunds
from integration.services.context import Ctx
from integration.services.returns import ItemRequest, new_code, open_return, returnable
from integration.services.status import move
from integration.services.timeline import record
from integration.withdrawal import (
    DUPLICATE_WINDOW,
    Kind,
    Timing,
    WithdrawalStatus,
    normalize_reference,
    refund_due,
    same_lines,
    timing,
)  # fmt: skip

__all__ = ["submit_withdrawal", "match_order", "withdrawal_policy", "shop_zone", "timing_of", "carry_out_return",
           "carry_out_cancellation", "return_of", "set_status", "money_kept", "last_refund",
           "refunds_what_was_taken"]  # fmt: skip

W = WithdrawalStatus
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PREFERRED_METHODS = (ReturnMethod.POSTAL.value, ReturnMethod.DROP_OFF.value)
DEFAULT_ZONE = "Europe/Helsinki"  # as integration/portal/common.py's local_time
_IN_FLIGHT = tuple(s.value for s in IN_FLIGHT)
_SENT = (RefundStatus.SUBMITTED.value, RefundStatus.SUCCEEDED.value)
_LIVE = tuple(s.value for s in (ReturnStatus.REQUESTED, ReturnStatus.APPROVED, ReturnStatus.IN_TRANSIT,
                                ReturnStatus.RECEIVED))  # fmt: skip


@dataclass(frozen=True)
class _Statement:
    customer_name: str
    email: str
    order_reference: str
    lines: list


def submit_withdrawal(ctx: Ctx, shop: Shop, *, customer_name: str, email: str, order_reference: str,
                      lines: list | None = None, language: str | None = None, now: datetime | None = None) -> Withdrawal:  # fmt: skip
    """Store the statement, acknowledge it, and queue carrying it out; the same statement again within minutes is
    the first one, unchanged."""
    statement = _statement(customer_name, email, order_reference, lines)
    now = now or utcnow()
    earlier = _repeat(ctx, shop, statement, now)
    if earlier is not None:
        return earlier
    order = match_order(ctx, shop, statement.order_reference, statement.email)
    kind = _timing(order, now, shop_zone(shop)).kind if order is not None else Kind.WITHDRAWAL
    withdrawal = Withdrawal(
        shop_id=shop.id, order_id=order.id if order is not None else None, code=new_code(ctx, shop.id, Withdrawal),
        kind=kind.value, status=(W.RECEIVED if order is not None else W.UNMATCHED).value,
        customer_name=statement.customer_name, email=statement.email, order_reference=statement.order_reference,
        lines=statement.lines, language=language, submitted_at=now,
    )  # fmt: skip
    ctx.session.add(withdrawal)
    ctx.session.flush()
    messages.withdrawal_received(ctx, withdrawal)  # the law: receipt acknowledged, matched or not (Art. 11a(4))
    if order is not None:
        ctx.later(ctx.tasks.carry_out_withdrawal, withdrawal.id)
    ctx.commit()
    return withdrawal


def _statement(customer_name, email, order_reference, lines) -> _Statement:
    name, address, reference = (" ".join(str(v or "").split()) for v in (customer_name, email, order_reference))
    if not name:
        raise InvalidInput("the statement needs the customer's name")
    if not _EMAIL.match(address) or len(address) > 320:
        raise InvalidInput("the statement needs an e-mail address for its acknowledgement")
    if not normalize_reference(reference) or len(reference) > 64:
        raise InvalidInput("the statement needs the order's number")
    return _Statement(name, address, reference, _lines(lines))


def _lines(lines) -> list:
    checked = []
    for line in lines or []:
        line_id, quantity = (line or {}).get("platform_line_id"), (line or {}).get("quantity")
        if not str(line_id or "").strip() or isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidInput("each line of the statement needs its platform_line_id and a quantity of 1 or more")
        checked.append({"platform_line_id": str(line_id).strip(), "quantity": quantity})
    return checked


def _repeat(ctx: Ctx, shop: Shop, statement: _Statement, now: datetime) -> Withdrawal | None:
    """The same statement made within DUPLICATE_WINDOW before `now`, if there is one."""
    recent = ctx.session.scalars(select(Withdrawal).where(
        Withdrawal.shop_id == shop.id, func.lower(Withdrawal.email) == statement.email.lower(),
        Withdrawal.submitted_at >= now - DUPLICATE_WINDOW, Withdrawal.submitted_at <= now,
    ).order_by(Withdrawal.id))  # fmt: skip
    return next((w for w in recent if normalize_reference(w.order_reference) == normalize_reference(statement.order_reference)
                 and same_lines(w.lines, statement.lines)), None)  # fmt: skip


def match_order(ctx: Ctx, shop: Shop, order_reference: str, email: str) -> Order | None:
    """The shop's order with this number ("1001" or "#1001") and this e-mail (in any case); None if none has both."""
    number = normalize_reference(order_reference)
    candidates = ctx.session.scalars(select(Order).where(
        Order.shop_id == shop.id, func.upper(Order.name).in_([number, f"#{number}"]),
        func.lower(Order.email) == email.strip().lower(),
    ).order_by(Order.id))  # fmt: skip
    return next(iter(candidates), None)


# --- the law's view of an order, and the policy it narrows ------------------------------------------------


def withdrawal_policy(shop: Shop) -> ReturnPolicy:
    """The shop's policy less what the law forbids on the withdrawal track (ReturnPolicy.for_withdrawal)."""
    return ReturnPolicy.from_dict(shop.policy).for_withdrawal()


def cancellation_policy(shop: Shop) -> ReturnPolicy:
    """A withdrawal before delivery: nothing travels back, so not even a disclosed return shipping cost is kept
    (Art. 14(1) names only the direct cost of returning the goods). Stored with the refund, which re-plans by it."""
    return replace(ReturnPolicy.from_dict(shop.policy), withdrawal_return_cost_disclosed=False).for_withdrawal()


def shop_zone(shop: Shop) -> tzinfo:
    """The shop's time zone, whose days the period counts (its profile's, else Finland's, as its pages show them)."""
    try:
        return ZoneInfo((shop.profile or {}).get("timezone") or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _timing(order: Order, submitted_at: datetime, zone: tzinfo) -> Timing:
    return timing(submitted_at, order.delivered_at, order.fulfilled_at, zone)


def timing_of(withdrawal: Withdrawal, order: Order, zone: tzinfo) -> Timing:
    """Where the statement stands against the law's clock, on the order as it is now: kind, period end, late."""
    return _timing(order, withdrawal.submitted_at, zone)


def set_status(ctx: Ctx, withdrawal: Withdrawal, status: WithdrawalStatus, error: str | None = None) -> None:
    """Record how far the statement was carried out, and what the merchant must do when it could not be."""
    withdrawal.status = WithdrawalStatus(status).value
    withdrawal.error = error[:2000] if error else None


# --- carrying it out: the database steps the job takes, each safe to repeat ---------------------------------


def return_of(ctx: Ctx, withdrawal: Withdrawal) -> Return | None:
    """The return carrying the statement out: linked, or opened by a run that died before it could link it."""
    if withdrawal.return_id is not None:
        return ctx.session.get(Return, withdrawal.return_id)
    return ctx.session.scalar(select(Return).where(
        Return.order_id == withdrawal.order_id, Return.source == ReturnSource.WITHDRAWAL.value,
        Return.requested_at == withdrawal.submitted_at,
    ).order_by(Return.id).limit(1))  # fmt: skip


def carry_out_return(ctx: Ctx, shop: Shop, withdrawal: Withdrawal, order: Order, when: Timing) -> Return | None:
    """After delivery: the return on the withdrawal track, approved unless late or excepted by law, due in 14 days,
    and the shop's returns already holding the statement's items moved onto that track (`_adopt`); the statement
    then CARRIED_OUT, or ATTENTION with the reasons. None when nothing is left to send back."""
    policy = withdrawal_policy(shop)
    ret = _opened(ctx, shop, withdrawal, order, policy)
    if _linked(ctx, withdrawal):
        return ret
    held = _holding(ctx, withdrawal, order, ret)  # under the shop's lock, which _linked holds
    if ret is None and not held:
        ctx.session.rollback()
        return None
    reasons = []
    if ret is not None:
        decision = _decide(ret, when)
        _link(ctx, withdrawal, ret, Kind.WITHDRAWAL)
        if decision["eligible"]:
            _approve(ctx, shop, ret, policy, refund_now=RefundOn(policy.refund_on) == RefundOn.APPROVED)
        reasons += decision["reasons"]
    reasons += _adopt(ctx, shop, withdrawal, held, policy, when, own=ret)
    set_status(ctx, withdrawal, W.ATTENTION if reasons else W.CARRIED_OUT, "; ".join(reasons) or None)
    ctx.commit()
    return ret or held[0]


def carry_out_cancellation(ctx: Ctx, shop: Shop, withdrawal: Withdrawal, order: Order) -> Return | None:
    """Before delivery: a return of what is left of the order (or the statement's lines), approved and refunded at
    once with the order's shipping, no fees. None when no money was taken (or all of it went back already)."""
    policy = cancellation_policy(shop)
    ret = _opened(ctx, shop, withdrawal, order, policy, only_if_paid=True)
    if ret is None:
        return None
    if _linked(ctx, withdrawal):
        _refund_rest(ctx, shop, withdrawal, ret, policy)
        return ret
    # Whether the order counts as paid, or was cancelled by the shop meanwhile, does not matter here: there is
    # money to give back (only_if_paid), and the ledger counts whatever the shop refunded when it cancelled.
    decision = _decide(ret, timing_of(withdrawal, order, shop_zone(shop)), ignore=order_is_paid(_as_request(order), policy))
    _link(ctx, withdrawal, ret, Kind.CANCELLATION)
    if decision["eligible"]:  # nothing to wait for: the goods never left
        _approve(ctx, shop, ret, policy, refund_now=True)
    else:
        set_status(ctx, withdrawal, W.ATTENTION, "; ".join(decision["reasons"]))
    ctx.commit()
    return ret


def _opened(ctx: Ctx, shop: Shop, withdrawal: Withdrawal, order: Order, policy: ReturnPolicy,
            only_if_paid: bool = False) -> Return | None:  # fmt: skip
    """The statement's return, opened (and committed) under the shop's lock unless a run made it before; with
    `only_if_paid`, only while the order's payments have money left to give back."""
    lock_row(ctx.session, Shop, shop.id)
    ctx.session.expire_all()
    ret = return_of(ctx, withdrawal)
    if ret is not None:
        return ret
    if only_if_paid and ledger.order_left(ctx.session, order) <= 0:
        ctx.session.rollback()
        return None
    requests = _requests(ctx, order, withdrawal.lines)
    if not requests:
        ctx.session.rollback()
        return None
    # Judged by the withdrawal policy (the law's checks) but not approved by open_return: the clock here decides
    # (`_decide`), and `_approve` approves it in the commit that links it to the statement.
    return open_return(
        ctx, shop, order, requests, method=_method(policy), source=ReturnSource.WITHDRAWAL.value,
        actor=Actor.CUSTOMER, now=withdrawal.submitted_at, customer_email=withdrawal.email,
        language=withdrawal.language, track=Kind.WITHDRAWAL.value, policy=policy, auto_approve=False,
    )  # fmt: skip


def _linked(ctx: Ctx, withdrawal: Withdrawal) -> bool:
    """Whether another run linked the return already: looked at under the shop's lock, on fresh rows."""
    lock_row(ctx.session, Shop, withdrawal.shop_id)
    ctx.session.expire_all()
    if withdrawal.return_id is None:
        return False
    ctx.session.rollback()
    return True


def _requests(ctx: Ctx, order: Order, lines: list) -> list[ItemRequest]:
    """The statement's lines (every line of the order when it names none), each cut to the units still returnable."""
    left = returnable(ctx, order)
    by_id = {line.platform_line_id: line for line in order.lines}
    wanted = lines or [{"platform_line_id": line.platform_line_id, "quantity": line.quantity} for line in order.lines]
    requests = []
    for row in wanted:
        line = by_id.get(str(row["platform_line_id"]))
        if line is None:
            raise InvalidInput(f"order {order.name} has no line {row['platform_line_id']}")
        units = min(int(row["quantity"]), left.get(line.id, 0))
        if units > 0:  # no reason is asked: the law needs none (Art. 9(1))
            requests.append(ItemRequest(line.platform_line_id, units, Reason.UNKNOWN.value))
    return requests


def _method(policy: ReturnPolicy) -> str:
    """How the goods come back until the customer chooses: the first postal or drop-off method the shop offers."""
    return next((m for m in policy.methods if m in _PREFERRED_METHODS), policy.methods[0] if policy.methods else "postal")


def _decide(ret: Return, when: Timing, ignore: str | None = None) -> dict:
    """The withdrawal policy's decision (the law's exceptions) with the clock's: a late statement waits for the
    merchant. Stored with the return; `ignore` is a reason that does not count here."""
    reasons = [reason for reason in ret.decision.get("reasons", []) if reason != ignore]
    if when.late:
        reasons.insert(0, f"sent after the withdrawal period ended on {when.period_ends.date().isoformat()}: decide "
                          "it (the period runs 12 months longer where the withdrawal information was not given)")  # fmt: skip
    ret.decision = {**ret.decision, "eligible": not reasons, "reasons": reasons, "auto_approve": not reasons,
                    "late": when.late, "basis": when.basis,
                    "period_ends": when.period_ends.isoformat() if when.period_ends else None}  # fmt: skip
    return ret.decision


def _as_request(order: Order) -> ReturnRequest:
    """The order's own facts as the checks read them (no items): to ask whether it counts as paid."""
    return ReturnRequest(method="", requested_at=utcnow(), order_processed_at=order.processed_at,
                         order_cancelled=order.cancelled_at is not None, financial_status=order.financial_status,
                         order_removed=order.removed_at is not None)  # fmt: skip


def _approve(ctx: Ctx, shop: Shop, ret: Return, policy: ReturnPolicy, refund_now: bool) -> None:
    """Approve on the withdrawal track (unless the merchant did, between a killed run and this one) and, when due
    now, start the refund under the withdrawal's policy unless one was started."""
    if ret.status == ReturnStatus.REQUESTED.value:
        move(ctx, ret, Actor.SYSTEM, ReturnStatus.APPROVED, auto=True, track=Kind.WITHDRAWAL.value)
    if refund_now and not ret.refunds:
        _start_refund(ctx, shop, ret, policy)


def _start_refund(ctx: Ctx, shop: Shop, ret: Return, policy: ReturnPolicy) -> None:
    """Write the refund the return is owed under `policy` and queue it; nothing when nothing is owed."""
    refund = refunds.start_refund(ctx.session, ret, policy, ctx.routes_for(shop))
    if refund is not None:
        record(ctx, ret, Actor.SYSTEM, "refund_started", refund_id=refund.id, amount=refund.amount,
               currency=refund.currency)  # fmt: skip
        ctx.later(ctx.tasks.push_refund, refund.id)


def _link(ctx: Ctx, withdrawal: Withdrawal, ret: Return, kind: Kind) -> None:
    """The return on the withdrawal track, due by law, and the statement pointing at it (one commit with the rest)."""
    ret.track, ret.refund_due_at = Kind.WITHDRAWAL.value, refund_due(withdrawal.submitted_at)
    withdrawal.return_id, withdrawal.kind = ret.id, kind.value


# --- what the statement's money and the shop's own returns need ---------------------------------------------


def money_kept(ctx: Ctx, withdrawal: Withdrawal, order: Order) -> int:
    """What the order's payments hold that Palautus is not paying back, in minor units (0 or less: nothing): what
    is left after every refund sent, ours and the shop's, less what the refunds of the statement's return not yet
    sent will pay (each plans again on the payments as they are when it sends, money taken meanwhile included)."""
    ret = return_of(ctx, withdrawal)
    waiting = sum(r.amount for r in ret.refunds if r.status == RefundStatus.PENDING.value) if ret is not None else 0
    return ledger.order_left(ctx.session, order) - waiting


def last_refund(ctx: Ctx, withdrawal: Withdrawal) -> Refund | None:
    """The latest refund of the statement's return, if it has one."""
    ret = return_of(ctx, withdrawal)
    return max(ret.refunds, key=lambda refund: refund.sequence, default=None) if ret is not None else None


def refunds_what_was_taken(session, ret: Return) -> bool:
    """Whether `ret` carries out a cancellation (a statement before delivery). It is owed what the order's payments
    took, whatever its items are worth: what they only authorized is released, never taken. The refund job pays its
    plan capped by the payments when it takes everything they have left (jobs/refunds.py); an ordinary return's,
    never."""
    query = select(Withdrawal.id).where(Withdrawal.return_id == ret.id, Withdrawal.kind == Kind.CANCELLATION.value)
    return session.scalar(query.limit(1)) is not None


def _refund_rest(ctx: Ctx, shop: Shop, withdrawal: Withdrawal, ret: Return, policy: ReturnPolicy) -> None:
    """Money taken after the return's refund was sent (captured while the cancellation ran) goes back by a further
    refund of the return, under the shop's lock: none while one is on its way (it plans again before it sends, and
    takes that money too), nor once the return is not approved. A further refund is owed only what its items still
    are: money beyond that is left for the job to report (ATTENTION), never guessed."""
    lock_row(ctx.session, Shop, shop.id)
    ctx.session.expire_all()
    busy = any(refund.status in _IN_FLIGHT for refund in ret.refunds)
    if ret.status != ReturnStatus.APPROVED.value or busy or money_kept(ctx, withdrawal, ret.order) <= 0:
        ctx.session.rollback()
        return
    _start_refund(ctx, shop, ret, policy)
    ctx.commit()


def _holding(ctx: Ctx, withdrawal: Withdrawal, order: Order, own: Return | None) -> list[Return]:
    """The order's live returns on the shop's own track that hold items the statement names (any, when it names
    none), oldest first."""
    named = {str(row["platform_line_id"]) for row in withdrawal.lines or []}
    live = ctx.session.scalars(select(Return).where(
        Return.order_id == order.id, Return.status.in_(_LIVE), Return.track != Kind.WITHDRAWAL.value,
    ).order_by(Return.requested_at, Return.id))  # fmt: skip
    return [ret for ret in live if ret is not own
            and (not named or any(item.order_line.platform_line_id in named for item in ret.items))]  # fmt: skip


def _adopt(ctx: Ctx, shop: Shop, withdrawal: Withdrawal, held: list[Return], policy: ReturnPolicy, when: Timing,
           own: Return | None) -> list[str]:  # fmt: skip
    """The customer's statement makes the returns already holding its items a withdrawal: each moves onto the
    withdrawal track, due by law, and is priced from then on without the shop's fees (the refund job and the ledger
    price a return by its track: a refund not yet sent plans again when it sends; one sent stays as it was). The
    statement links its own return, else the first of these; the others are named in that one's timeline. A late
    statement moves nothing: the merchant decides first whether the law still applies. What the merchant must
    still do, as reasons."""
    if not held:
        return []
    if when.late:
        return [f"the items are in return {', '.join(ret.code for ret in held)} already, on the shop's return "
                "track: if the withdrawal stands, refund that return without fees"]  # fmt: skip
    due, reasons = refund_due(withdrawal.submitted_at), []
    for ret in held:
        ret.track, ret.refund_due_at = Kind.WITHDRAWAL.value, due
        record(ctx, ret, Actor.CUSTOMER, "withdrawal_adopted", withdrawal=withdrawal.code, refund_due_at=due.isoformat(),
               refunds_on_their_way=[refund.id for refund in ret.refunds if refund.status in _IN_FLIGHT])  # fmt: skip
        reasons += _still_to_do(ctx, shop, ret, policy)
    first = own or held[0]
    if withdrawal.return_id is None:
        _link(ctx, withdrawal, first, Kind.WITHDRAWAL)
    others = [ret.code for ret in held if ret is not first]
    if others:
        record(ctx, first, Actor.SYSTEM, "withdrawal_returns", withdrawal=withdrawal.code, returns=others)
    return reasons


def _still_to_do(ctx: Ctx, shop: Shop, ret: Return, policy: ReturnPolicy) -> list[str]:
    """An adopted return's refund started where the law's policy makes it due now and none was, and what the
    merchant must still do for it: decide one still requested, refund fees a refund already sent kept."""
    if ret.status == ReturnStatus.REQUESTED.value:
        return [f"return {ret.code} holds items the customer withdrew from and waits for your decision: it is a "
                "withdrawal now (no fees), to refuse only for the law's exceptions"]  # fmt: skip
    due_now = ret.status == ReturnStatus.RECEIVED.value or RefundOn(policy.refund_on) == RefundOn.APPROVED
    _approve(ctx, shop, ret, policy, refund_now=due_now)
    allowed = policy.fees_for(ret.order.currency, ret.method).return_shipping
    kept = sum((refund.fees or {}).get("restocking", 0) + max((refund.fees or {}).get("return_shipping", 0) - allowed, 0)
               for refund in ret.refunds if refund.status in _SENT)  # fmt: skip
    if kept <= 0:
        return []
    return [f"return {ret.code} was refunded before the customer withdrew, less {Money(kept, ret.order.currency)} in "
            "fees a withdrawal does not allow: refund that in the shop's admin"]  # fmt: skip
