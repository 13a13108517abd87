"""Return use cases: open, approve, reject, cancel, ship, receive, refund, close."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from integration.errors import Conflict, InvalidInput, NotFound
from integration.models import EarlyReturnStatus, Order, Return, ReturnItem, Shop, utcnow
from integration.money import prorate
from integration.policy import Decision, RefundOn, RequestedItem, ReturnPolicy, ReturnRequest, decide
from integration.refunds import RefundPlan
from integration.returns import SHOP_STATUS, Actor, Reason, ReturnMethod, ReturnSource, ReturnStatus, transition
from integration.services import ledger, messages, refunds
from integration.services.request_facts import customer_returns, product_facts
from integration.services.context import Ctx
from integration.services.products import unknown_products
from integration.services.status import move
from integration.services.timeline import record

__all__ = [
    "ItemRequest", "get_return", "new_code", "open_return", "approve_return", "reject_return", "cancel_return",
    "mark_in_transit", "receive_return", "refund_return", "close_return", "return_by_platform_id",
    "apply_platform_status", "preview_return", "returnable",
]  # fmt: skip

S = ReturnStatus
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud at a counter


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


def new_code(ctx: Ctx, shop_id: int, model=Return) -> str:
    """A code for a customer to read aloud (ABCD-2345, no 0/O, 1/I/L), free among the shop's returns (or `model`'s
    rows: withdrawal statements take the same shape)."""
    for _ in range(10):
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        code = f"{raw[:4]}-{raw[4:]}"
        if not ctx.session.scalar(select(model.id).where(model.shop_id == shop_id, model.code == code)):
            return code
    raise Conflict("could not find a free code")  # 31^8 codes: practically unreachable


def returnable(ctx: Ctx, order: Order) -> dict[int, int]:
    """Units per order line that are neither refunded nor in another live return."""
    refunded = ledger.refunded_units(ctx.session, order)
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
    now: datetime | None = None, customer_email: str | None = None, language: str | None = None,
    track: str = "return", policy: ReturnPolicy | None = None, auto_approve: bool = True,
) -> Return:  # fmt: skip
    """Open a return, judge it against the shop's policy (or `policy`), and approve it if the policy says so."""
    if not requests:
        raise InvalidInput("a return needs at least one item")
    policy = (policy or ReturnPolicy.from_dict(shop.policy)).for_track(track)
    items = _items(order, requests)
    stamp = utcnow()
    requested_at = min(now or stamp, stamp)
    decision = decide(_request(ctx, order, items, method, requested_at, customer_email, policy), policy)
    ret = Return(
        shop_id=shop.id, order=order, code=new_code(ctx, shop.id), status=S.REQUESTED.value,
        requested_at=requested_at, created_at=stamp, updated_at=stamp,
        method=ReturnMethod(method).value, source=ReturnSource(source).value,
        platform_return_id=platform_return_id, customer_note=customer_note, decision=decision.to_dict(), items=items,
        track=track, customer_email=customer_email, language=language,
        shop_status=SHOP_STATUS[S.REQUESTED].value if platform_return_id else None,
    )  # fmt: skip
    ctx.session.add(ret)
    record(ctx, ret, actor, "requested", items=[{"line": r.platform_line_id, "quantity": r.quantity} for r in requests])
    ctx.session.flush()
    if platform_return_id:
        _apply_early_statuses(ctx, shop, ret)
    if auto_approve and decision.auto_approve and ret.status == S.REQUESTED.value:
        _move(ctx, shop, ret, Actor.SYSTEM, S.APPROVED, auto=True)
    if ret.status == S.REQUESTED.value:
        messages.for_status(ctx, ret, S.REQUESTED)  # the customer hears it arrived (approvals say so themselves)
    if order.payments_synced_at is None:
        # Order events do not read payments (most orders are never returned): the first return does, so its
        # refund plan can name its route. The refund job reads them again before it sends anything.
        ctx.later(ctx.tasks.read_payments, order.id)
    if unknown_products(ctx.session, order):
        # The policy's product rules read the type and tags product webhooks keep: products never seen (older than
        # the install, or never changed since) are read for the first return that touches them.
        ctx.later(ctx.tasks.read_products, order.id)
    if ret.source == ReturnSource.PORTAL.value:
        ctx.later(ctx.tasks.open_shop_return, ret.id)  # the shop's platform shows it too: its own return, or a note
    ctx.commit()
    return ret


def preview_return(
    ctx: Ctx, shop: Shop, order: Order, requests: list[ItemRequest], method: str, *, track: str = "return",
    customer_email: str | None = None, now: datetime | None = None,
) -> tuple[Decision, RefundPlan | None]:  # fmt: skip
    """The decision and the refund plan (None: not eligible) a return of these items would get; nothing is written."""
    # The same checks as open_return and the same planning as the refund job (ledger.plan_for), on a Return and
    # items never added to the session. A policy that cannot price the order is a Conflict, as in the API's plan.
    if not requests:
        raise InvalidInput("a return needs at least one item")
    policy = ReturnPolicy.from_dict(shop.policy).for_track(track)
    items, stamp = _items(order, requests), utcnow()
    decision = decide(_request(ctx, order, items, method, min(now or stamp, stamp), customer_email, policy), policy)
    if not decision.eligible:
        return decision, None
    ret = Return(shop_id=shop.id, order=order, method=ReturnMethod(method).value, track=track, items=items)
    try:
        plan, _payment = ledger.plan_for(ctx.session, ret, policy, ctx.routes_for(shop))
    except InvalidInput as e:
        raise Conflict(e.message) from None
    return decision, plan


def _request(ctx: Ctx, order: Order, items: list[ReturnItem], method: str, now: datetime,
             customer_email: str | None = None, policy: ReturnPolicy | None = None) -> ReturnRequest:  # fmt: skip
    """What the policy judges: the order's facts, the items per line with their products, the customer's history."""
    left = returnable(ctx, order)
    wanted: dict[int, list[ReturnItem]] = {}  # per order line: two items on one line (two fulfillments) add up
    for item in items:
        wanted.setdefault(item.order_line.id, []).append(item)
    products = product_facts(ctx.session, order, [item.order_line for item in items])
    days = policy.abuse_limit_days if policy is not None and policy.abuse_limit_returns is not None else None
    return ReturnRequest(
        method=method, requested_at=now, order_processed_at=order.processed_at,
        order_cancelled=order.cancelled_at is not None, financial_status=order.financial_status,
        order_removed=order.removed_at is not None, order_fulfilled_at=order.fulfilled_at,
        order_delivered_at=order.delivered_at, order_total=order.total, order_currency=order.currency,
        customer_returns=customer_returns(ctx.session, order, customer_email, days, now),
        items=tuple(_requested(same, left, products) for same in wanted.values()),
    )  # fmt: skip


def _requested(items: list[ReturnItem], left: dict[int, int], products: dict) -> RequestedItem:
    """One order line's requested units, with its reasons and its product's facts."""
    line = items[0].order_line
    return RequestedItem(
        line.sku, line.title, sum(item.quantity for item in items), left.get(line.id, 0),
        reasons=tuple(dict.fromkeys(item.reason for item in items)), gift_card=bool(line.gift_card),
        product=products.get(line.product_id),
    )  # fmt: skip


def _move(ctx: Ctx, shop: Shop, ret: Return, actor: Actor, target: ReturnStatus, **data) -> None:
    """A decision on a return: withdraw its refunds on a cancel, move it, and start the refund the policy names."""
    transition(ret.status, target, actor)  # an illegal move changes nothing, not even the refunds below
    _ensure_not_refusing_a_withdrawal(ret, actor, target)
    if target == S.CANCELLED:
        refunds.withdraw(ctx, ret)
    move(ctx, ret, actor, target, **data)
    # A withdrawal is refunded as the law's policy says (on receipt at the latest), whatever the shop's timing.
    refund_on = RefundOn(ReturnPolicy.from_dict(shop.policy).for_track(ret.track).refund_on)
    if (target == S.APPROVED and refund_on == RefundOn.APPROVED) or (
        target == S.RECEIVED and (refund_on == RefundOn.RECEIVED or refunds.any_succeeded(ret))
    ):
        refunds.begin(ctx, shop, ret, actor, asked=False)


def _ensure_not_refusing_a_withdrawal(ret: Return, actor: Actor, target: ReturnStatus) -> None:
    """A withdrawal made in time is the customer's right: nobody but the customer ends it without its refund.

    Only a statement the law may not cover (sent late, or an excepted product: the decision says why) is the
    merchant's to reject or cancel. A platform's own cancel of its return is noted, not followed (_follow)."""
    refused = target in (S.CANCELLED, S.REJECTED) and actor != Actor.CUSTOMER
    if refused and ret.track == "withdrawal" and ret.decision.get("eligible", True):
        raise Conflict(f"return {ret.code} is a withdrawal the customer made in time: it cannot be rejected or "
                       "cancelled; receive the goods (with a deduction for diminished value, if any) and refund it")


def _decide(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, target: ReturnStatus, **data) -> Return:
    """Load, move, commit: the shape of every plain decision."""
    ret = get_return(ctx, shop, return_id)
    _move(ctx, shop, ret, actor, target, **data)
    ctx.commit()
    return ret


def approve_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, note: str | None = None) -> Return:
    """Accept a requested return; with refund_on=approved the refund starts now."""
    return _decide(ctx, shop, return_id, actor, S.APPROVED, note=note)


def reject_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, reason: str | None = None, note: str | None = None) -> Return:
    """Decline a requested return, saying why."""
    return _decide(ctx, shop, return_id, actor, S.REJECTED, reason=reason, note=note)


def cancel_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, note: str | None = None) -> Return:
    """Withdraw a return before anything was received."""
    return _decide(ctx, shop, return_id, actor, S.CANCELLED, note=note)


def mark_in_transit(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, tracking: str | None = None) -> Return:
    """The parcel is on its way back."""
    return _decide(ctx, shop, return_id, actor, S.IN_TRANSIT, tracking=tracking)


def receive_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, conditions: dict | None = None) -> Return:
    """The goods are back; note their condition, and refund if the policy refunds on receipt."""
    ret = get_return(ctx, shop, return_id)
    _move(ctx, shop, ret, actor, S.RECEIVED, conditions=_set_conditions(ret, conditions or {}))
    ctx.commit()
    return ret


def _set_conditions(ret: Return, conditions: dict) -> dict:
    items = {item.id: item for item in ret.items}
    unknown = set(conditions) - set(items)
    if unknown:
        raise InvalidInput(f"return {ret.code} has no item {sorted(unknown)[0]}")
    for item_id, given in conditions.items():  # every deduction checked before anything is set
        if "deduction" in given:
            _check_deduction(items[item_id], given.get("deduction"), given.get("deduction_reason"))
    for item_id, given in conditions.items():
        items[item_id].condition = given.get("condition")
        items[item_id].restock = given.get("restock")
        if "deduction" in given:
            items[item_id].deduction = given.get("deduction") or 0
            items[item_id].deduction_reason = (given.get("deduction_reason") or None) if given.get("deduction") else None
    return {str(k): v for k, v in conditions.items()}


def _check_deduction(item: ReturnItem, deduction, reason) -> None:
    """A deduction for diminished value: whole minor units, at most what the item was paid, and with its reason."""
    if deduction is None or deduction == 0:
        return
    if isinstance(deduction, bool) or not isinstance(deduction, int) or deduction < 0:
        raise InvalidInput(f"the deduction for item {item.id} must be a whole amount in minor units, 0 or more")
    if deduction > _item_value(item):
        raise InvalidInput(f"the deduction for item {item.id} is more than the item was paid")
    if not str(reason or "").strip():
        raise InvalidInput(f"the deduction for item {item.id} needs its reason (the customer is told it)")


def _item_value(item: ReturnItem) -> int:
    """What the customer paid for the item's units, tax included (as LineToRefund.line_paid, pro-rated)."""
    line = item.order_line
    gross = line.unit_price * line.quantity - line.discount_total
    paid = gross if item.ret.order.taxes_included else gross + line.tax_total
    return prorate(paid, line.quantity, min(item.quantity, line.quantity))


def refund_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor):
    """Start the refund the return is owed; None when nothing is left to pay back."""
    ret = get_return(ctx, shop, return_id)
    refund = refunds.begin(ctx, shop, ret, actor, asked=True)
    ctx.commit()
    return refund


def close_return(ctx: Ctx, shop: Shop, return_id: int, actor: Actor, note: str | None = None) -> Return:
    """Finish a return: nothing more will happen to it."""
    return _decide(ctx, shop, return_id, actor, S.CLOSED, note=note)


def return_by_platform_id(ctx: Ctx, shop: Shop, platform_return_id: str) -> Return | None:
    return ctx.session.scalar(
        select(Return).where(Return.shop_id == shop.id, Return.platform_return_id == platform_return_id)
    )


def apply_platform_status(
    ctx: Ctx, shop: Shop, platform_return_id: str, target: ReturnStatus, happened_at: datetime | None = None, **data
) -> Return | None:  # fmt: skip
    """The platform changed a return it owns; follow it when our machine allows, note it when not.

    For a return not opened yet (its request is waiting for its order), the change
    is kept and applied the moment the return opens; None is returned then.
    """
    target = ReturnStatus(target)
    ret = return_by_platform_id(ctx, shop, platform_return_id)
    if ret is None:
        ctx.session.add(EarlyReturnStatus(
            shop_id=shop.id, platform_return_id=platform_return_id, status=target.value, data=data,
            happened_at=happened_at or utcnow(),
        ))  # fmt: skip
        ctx.commit()
        return None
    _follow(ctx, shop, ret, target, data)
    ctx.commit()
    return ret


def _follow(ctx: Ctx, shop: Shop, ret: Return, target: ReturnStatus, data: dict) -> None:
    if ret.status == target.value:
        return  # a replay, or the echo of our own sync
    try:
        _move(ctx, shop, ret, Actor.PLATFORM, target, **data)
    except Conflict as e:  # an illegal move, or a cancel while the refund is already with the provider
        record(ctx, ret, Actor.PLATFORM, "platform_status_ignored", platform_status=target.value, reason=e.message, **data)


def _apply_early_statuses(ctx: Ctx, shop: Shop, ret: Return) -> None:
    """Apply, in the order the platform made them, the changes that came before the return itself."""
    early = ctx.session.scalars(
        select(EarlyReturnStatus).where(
            EarlyReturnStatus.shop_id == shop.id, EarlyReturnStatus.platform_return_id == ret.platform_return_id,
            EarlyReturnStatus.applied_at.is_(None),
        ).order_by(EarlyReturnStatus.happened_at, EarlyReturnStatus.id)
    ).all()  # fmt: skip
    for change in early:
        _follow(ctx, shop, ret, ReturnStatus(change.status), {**change.data, "early": True})
        change.applied_at = utcnow()
