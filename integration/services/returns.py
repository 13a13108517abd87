"""Return use cases: open, approve, reject, cancel, ship, receive, refund, close."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from integration.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from integration.models import Order, Refund, Return, ReturnEvent, ReturnItem, Shop, utcnow
from integration.policy import RequestedItem, ReturnPolicy, ReturnRequest, decide
from integration.refunds import RefundStatus
from integration.returns import Actor, Reason, ReturnMethod, ReturnSource, ReturnStatus, transition
from integration.services import refunds as refund_book
from integration.services.context import Ctx

__all__ = [
    "ItemRequest", "get_return", "open_return", "approve_return", "reject_return", "cancel_return",
    "mark_in_transit", "receive_return", "refund_return", "close_return",
    "record", "refund_succeeded", "refund_failed", "return_by_platform_id", "apply_platform_status",
    "wanted_shop_status",
]  # fmt: skip

S = ReturnStatus
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud at a counter
REFUNDABLE_FROM = (S.APPROVED, S.IN_TRANSIT, S.RECEIVED)


@dataclass(frozen=True)
class ItemRequest:
    platform_line_id: str
    quantity: int
    reason: str = Reason.OTHER.value
    note: str | None = None
    platform_item_id: str | None = None


def get_return(ctx: Ctx, shop: Shop, return_id: int) -> Return:
    """The shop's return; NotFound for an unknown id or another shop's return."""
    ret = ctx.session.get(Return, return_id)
    if ret is None or ret.shop_id != shop.id:
        raise NotFound(f"return {return_id} not found")
    return ret


def record(ctx: Ctx, ret: Return, actor: Actor, kind: str, to=None, **data) -> None:
    """Append to the audit trail; with `to`, move the state first (or raise IllegalTransition)."""
    before = ret.status
    if to is not None:
        transition(ret.status, to, actor)
        ret.status = ReturnStatus(to).value
    ret.updated_at = utcnow()
    ctx.session.add(ReturnEvent(
        ret=ret, actor=Actor(actor).value, kind=kind, data=data,
        from_status=before if to is not None else None, to_status=ret.status if to is not None else None,
    ))  # fmt: skip


# What the platform's return should show for each of our statuses (Shopify's ReturnStatus words).
SHOP_STATUS = {
    S.REQUESTED: "REQUESTED", S.APPROVED: "OPEN", S.IN_TRANSIT: "OPEN", S.RECEIVED: "OPEN",
    S.REFUNDED: "OPEN", S.REJECTED: "DECLINED", S.CANCELLED: "CANCELED", S.CLOSED: "CLOSED",
}  # fmt: skip


def wanted_shop_status(ret: Return) -> str:
    return SHOP_STATUS[ReturnStatus(ret.status)]


def _sync(ctx: Ctx, ret: Return, actor: Actor) -> None:
    """Bring the platform's return in line with ours, after commit; a platform's own change needs nothing."""
    if not ret.platform_return_id:
        return
    if actor == Actor.PLATFORM:
        ret.shop_status = wanted_shop_status(ret)
    elif wanted_shop_status(ret) != ret.shop_status:
        ret.shop_sync_error = None
        ctx.later(ctx.tasks.sync_return, ret.id)


def _new_code(ctx: Ctx, shop_id: int) -> str:
    for _ in range(10):
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        code = f"{raw[:4]}-{raw[4:]}"
        if not ctx.session.scalar(select(Return.id).where(Return.shop_id == shop_id, Return.code == code)):
            return code
    raise Conflict("could not find a free return code")  # 31^8 codes: practically unreachable


def _returnable(ctx: Ctx, order: Order) -> dict[int, int]:
    """Units per order line that are neither refunded nor in another live return."""
    refunded = refund_book.refunded_units(ctx.session, order)
    taken: dict[int, int] = {}
    live = (S.REQUESTED, S.APPROVED, S.IN_TRANSIT, S.RECEIVED)
    for item in ctx.session.scalars(
        select(ReturnItem).join(Return).where(Return.order_id == order.id, Return.status.in_(live))
    ):
        taken[item.order_line_id] = taken.get(item.order_line_id, 0) + item.quantity
    return {line.id: line.quantity - refunded[line.id] - taken.get(line.id, 0) for line in order.lines}


def _items(order: Order, requests: list[ItemRequest]) -> list[ReturnItem]:
    lines = {line.platform_line_id: line for line in order.lines}
    items = []
    for req in requests:
        line = lines.get(req.platform_line_id)
        if line is None:
            raise InvalidInput(f"order {order.name} has no line {req.platform_line_id}")
        if req.quantity < 1:
            raise InvalidInput(f"quantity for line {req.platform_line_id} must be at least 1")
        items.append(ReturnItem(
            order_line=line, quantity=req.quantity, reason=Reason(req.reason).value,
            reason_note=req.note, platform_item_id=req.platform_item_id,
        ))  # fmt: skip
    return items


def open_return(
    ctx: Ctx, shop: Shop, order: Order, requests: list[ItemRequest], *, method: str, source: str,
    actor: Actor, platform_return_id: str | None = None, customer_note: str | None = None,
    now: datetime | None = None,
) -> Return:  # fmt: skip
    """Open a return, judge it against the shop's policy, and approve it if the policy says so."""
    if not requests:
        raise InvalidInput("a return needs at least one item")
    policy = ReturnPolicy.from_dict(shop.policy)
    items = _items(order, requests)
    decision = decide(_request(ctx, order, items, method, now or utcnow()), policy)
    stamp = utcnow()
    ret = Return(
        shop_id=shop.id, order=order, code=_new_code(ctx, shop.id), status=S.REQUESTED.value,
        created_at=stamp, updated_at=stamp,
        method=ReturnMethod(method).value, source=ReturnSource(source).value,
        platform_return_id=platform_return_id, customer_note=customer_note, decision=decision.to_dict(), items=items,
        shop_status=SHOP_STATUS[S.REQUESTED] if platform_return_id else None,
    )  # fmt: skip
    ctx.session.add(ret)
    record(ctx, ret, actor, "requested", items=[{"line": r.platform_line_id, "quantity": r.quantity} for r in requests])
    if decision.auto_approve:
        record(ctx, ret, Actor.SYSTEM, "approved", to=S.APPROVED, auto=True)
        _sync(ctx, ret, Actor.SYSTEM)
    ctx.commit()
    return ret


def _request(ctx: Ctx, order: Order, items: list[ReturnItem], method: str, now: datetime) -> ReturnRequest:
    returnable = _returnable(ctx, order)
    wanted: dict[int, int] = {}  # per order line: two items on one line (two fulfillments) add up
    for item in items:
        wanted[item.order_line.id] = wanted.get(item.order_line.id, 0) + item.quantity
    lines = {item.order_line.id: item.order_line for item in items}
    return ReturnRequest(
        method=method, requested_at=now, order_processed_at=order.processed_at,
        order_cancelled=order.cancelled_at is not None, financial_status=order.financial_status,
        items=tuple(
            RequestedItem(lines[line_id].sku, lines[line_id].title, quantity, returnable.get(line_id, 0))
            for line_id, quantity in wanted.items()
        ),
    )  # fmt: skip


def _decide(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, target: ReturnStatus, **data) -> Return:
    """Load, move, record, tell the platform, commit: the shape of every plain decision."""
    ret = get_return(ctx, shop, return_id)
    record(ctx, ret, actor, target.value, to=target, **data)
    _sync(ctx, ret, actor)
    ctx.commit()
    return ret


def approve_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, note: str | None = None) -> Return:
    """Accept a requested return; with refund_on=approved the refund starts now."""
    ret = get_return(ctx, shop, return_id)
    record(ctx, ret, actor, "approved", to=S.APPROVED, note=note)
    _sync(ctx, ret, actor)
    if ReturnPolicy.from_dict(shop.policy).refund_on == "approved":
        _start_refund(ctx, shop, ret, actor)
    ctx.commit()
    return ret


def reject_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, reason: str | None = None, note: str | None = None) -> Return:
    """Decline a requested return, saying why."""
    return _decide(ctx, shop, return_id, actor, S.REJECTED, reason=reason, note=note)


def cancel_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, note: str | None = None) -> Return:
    """Withdraw a return before anything was received."""
    return _decide(ctx, shop, return_id, actor, S.CANCELLED, note=note)


def mark_in_transit(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, tracking: str | None = None) -> Return:
    """The parcel is on its way back."""
    ret = get_return(ctx, shop, return_id)
    record(ctx, ret, actor, "in_transit", to=S.IN_TRANSIT, tracking=tracking)
    ctx.commit()
    return ret


def receive_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, conditions: dict | None = None) -> Return:
    """The goods are back; note their condition, and refund if the policy refunds on receipt."""
    ret = get_return(ctx, shop, return_id)
    record(ctx, ret, actor, "received", to=S.RECEIVED, conditions=_set_conditions(ret, conditions or {}))
    if ReturnPolicy.from_dict(shop.policy).refund_on == "received" or _fully_refunded(ctx, ret):
        _start_refund(ctx, shop, ret, actor)
    ctx.commit()
    return ret


def _set_conditions(ret: Return, conditions: dict) -> dict:
    items = {item.id: item for item in ret.items}
    unknown = set(conditions) - set(items)
    if unknown:
        raise InvalidInput(f"return {ret.code} has no item {sorted(unknown)[0]}")
    for item_id, given in conditions.items():
        items[item_id].condition = given.get("condition")
        items[item_id].restock = given.get("restock")
    return {str(k): v for k, v in conditions.items()}


def _fully_refunded(ctx: Ctx, ret: Return) -> bool:
    return any(r.status == RefundStatus.SUCCEEDED.value for r in ret.refunds)


def refund_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor) -> Refund | None:
    """Start the refund the return is owed; None when nothing is left to pay back."""
    ret = get_return(ctx, shop, return_id)
    if ReturnStatus(ret.status) not in REFUNDABLE_FROM:
        raise Conflict(f"a return that is {ret.status} cannot be refunded", current=ret.status)
    refund = _start_refund(ctx, shop, ret, actor)
    ctx.commit()
    return refund


def _start_refund(ctx: Ctx, shop: Shop, ret: Return, actor: Actor) -> Refund | None:
    policy = ReturnPolicy.from_dict(shop.policy)
    refund = refund_book.start_refund(ctx.session, ret, policy, ctx.providers)
    if refund is None:
        # Everything was already paid back (by us, or in the shop's own admin).
        if ret.status == S.RECEIVED.value:
            record(ctx, ret, Actor.SYSTEM, "nothing_left_to_refund", to=S.REFUNDED)
        return None
    record(ctx, ret, actor, "refund_started", refund_id=refund.id, amount=refund.amount, currency=refund.currency)
    ctx.later(ctx.tasks.push_refund, refund.id)
    return refund


def close_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, note: str | None = None) -> Return:
    """Finish a return: nothing more will happen to it."""
    return _decide(ctx, shop, return_id, actor, S.CLOSED, note=note)


def refund_succeeded(ctx: Ctx, refund: Refund) -> None:
    """The provider paid the customer back: book it, move the return on, tell the shop."""
    ret = refund.ret
    refund.status, refund.completed_at, refund.claimed_until = RefundStatus.SUCCEEDED.value, utcnow(), None
    record(ctx, ret, Actor.SYSTEM, "refund_succeeded", refund_id=refund.id, amount=refund.amount,
           provider_refund_id=refund.provider_refund_id)  # fmt: skip
    if ret.status == S.RECEIVED.value:
        record(ctx, ret, Actor.SYSTEM, "refunded", to=S.REFUNDED)
    ctx.later(ctx.tasks.sync_refund, refund.id)
    ctx.commit()


def refund_failed(ctx: Ctx, refund: Refund, reason: str) -> None:
    """The refund cannot succeed as it is: keep the reason where the merchant sees it."""
    refund.status, refund.completed_at, refund.claimed_until = RefundStatus.FAILED.value, utcnow(), None
    refund.last_error = reason
    record(ctx, refund.ret, Actor.SYSTEM, "refund_failed", refund_id=refund.id, reason=reason)
    ctx.commit()


PLATFORM_TARGETS = {
    "approve": S.APPROVED,
    "decline": S.REJECTED,
    "cancel": S.CANCELLED,
    "close": S.CLOSED,
}


def return_by_platform_id(ctx: Ctx, shop: Shop, platform_return_id: str) -> Return | None:
    return ctx.session.scalar(
        select(Return).where(Return.shop_id == shop.id, Return.platform_return_id == platform_return_id)
    )


def apply_platform_status(ctx: Ctx, shop: Shop, platform_return_id: str, action: str, **data) -> Return | None:
    """The platform changed a return it owns; follow it when our machine allows, note it when not."""
    ret = return_by_platform_id(ctx, shop, platform_return_id)
    if ret is None:
        return None
    target = PLATFORM_TARGETS[action]
    if ret.status == target.value:
        return ret  # a replay, or the echo of our own sync
    try:
        record(ctx, ret, Actor.PLATFORM, target.value, to=target, **data)
        _sync(ctx, ret, Actor.PLATFORM)
    except IllegalTransition:
        record(ctx, ret, Actor.PLATFORM, "platform_status_ignored", platform_action=action, **data)
    ctx.commit()
    return ret
