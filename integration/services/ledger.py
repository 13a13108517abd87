"""The refund ledger: what was paid, what was refunded (by us and by the shop), what is left, from which payment.

Reads only: every function here looks at rows and computes; nothing is written.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.models import Order, Payment, Refund, Return, ShopRefund
from integration.money import Money
from integration.policy import ReturnPolicy, ShippingRefund
from integration.refunds import LIVE, LineToRefund, RefundPlan, ShippingToRefund, plan_refund
from integration.returns import ReturnStatus

__all__ = [
    "RouteTraits", "refunded_units", "shop_refunded_for", "shipping_owed", "lines_to_refund", "refundable", "choose_payment",
    "refund_step", "plan_for", "unpaid_reason",
]  # fmt: skip

_LIVE = tuple(s.value for s in LIVE)
# Returns that can still be owed something: a refused or withdrawn return is owed nothing.
_NOT_OWED = (ReturnStatus.REJECTED.value, ReturnStatus.CANCELLED.value)


class RouteTraits(Protocol):
    """What planning needs to know of a payment route, without naming it: its smallest refundable step."""

    def refund_step(self, currency: str) -> int: ...


def _our_refunds(session: Session, order: Order, exclude: Refund | None) -> list[Refund]:
    query = select(Refund).join(Return).where(Return.order_id == order.id, Refund.status.in_(_LIVE))
    return [r for r in session.scalars(query) if r is not exclude]


def _external(order: Order) -> list[ShopRefund]:
    """Refunds made in the shop outside Palautus (our own, echoed back, carry our refund's id)."""
    return [r for r in order.shop_refunds if r.refund_id is None]


def refunded_units(session: Session, order: Order, exclude: Refund | None = None) -> Counter:
    """Units per order line refunded so far: by us (but `exclude`), and by the shop outside Palautus."""
    units: Counter = Counter()
    for refund in _our_refunds(session, order, exclude):
        for line in refund.lines:
            units[line["order_line_id"]] += line["quantity"]
    by_platform_id = {line.platform_line_id: line.id for line in order.lines}
    for shop_refund in _external(order):
        for line in shop_refund.lines:
            units[by_platform_id.get(line["platform_line_id"])] += line["quantity"]
    return units


def _paid_by_us(ret: Return, exclude: Refund | None) -> Counter:
    """Units per return item our live refunds of this return cover."""
    paid: Counter = Counter()
    for refund in ret.refunds:
        if refund.status in _LIVE and refund is not exclude:
            for line in refund.lines:
                paid[line.get("return_item_id")] += line["quantity"]
    return paid


def _needed(ret: Return, exclude: Refund | None) -> Counter:
    """Units per order line the return still waits for, after our own refunds of it."""
    paid, needed = _paid_by_us(ret, exclude), Counter()
    for item in ret.items:
        needed[item.order_line_id] += max(0, item.quantity - paid[item.id])
    return needed


def shop_refunded_for(session: Session, order: Order, exclude: Refund | None = None) -> dict[int, Counter]:
    """Units per order line the shop refunded outside Palautus for each return on the order, each unit once.

    A shop refund that names a return counts against that return. One that names
    none is taken to be for the returns the customer had asked for before it was
    made (the safe reading: otherwise the same items could be paid twice), and its
    units are given out oldest return first, each return taking no more than it
    still waits for: one admin refund of one unit settles one one-unit return, not two.
    """
    returns = session.scalars(
        select(Return).where(Return.order_id == order.id, Return.status.not_in(_NOT_OWED))
        .order_by(Return.requested_at, Return.id)
    ).all()  # fmt: skip
    line_ids = {line.platform_line_id: line.id for line in order.lines}
    named = {ret.platform_return_id: ret for ret in returns if ret.platform_return_id}
    given = {ret.id: Counter() for ret in returns}
    room = {ret.id: _needed(ret, exclude) for ret in returns}
    # Refunds that name their return first: what they settle is not there for the others to take.
    for shop_refund in sorted(_external(order), key=lambda r: (r.platform_return_id is None, r.created_at, r.id)):
        for line in shop_refund.lines:
            line_id, units = line_ids.get(line["platform_line_id"]), line["quantity"]
            if shop_refund.platform_return_id is not None:
                ret = named.get(shop_refund.platform_return_id)
                targets = [ret] if ret is not None else []
            else:
                targets = [ret for ret in returns if shop_refund.created_at >= ret.requested_at]
            for ret in targets:
                take = units if shop_refund.platform_return_id else min(units, room[ret.id][line_id])
                given[ret.id][line_id] += take
                room[ret.id][line_id] = max(0, room[ret.id][line_id] - take)
                units -= take
                if units <= 0:
                    break
    return given


def lines_to_refund(session: Session, ret: Return, exclude: Refund | None = None) -> list[LineToRefund]:
    """The units of each returned item still to be paid back.

    An item is owed its quantity, less what our earlier refunds of this return
    paid and less what the shop refunded outside Palautus for this return (a
    merchant refunding the returned item in the admin); and never more units
    than the order line has left unrefunded.
    """
    order = ret.order
    refunded = refunded_units(session, order, exclude)
    later = shop_refunded_for(session, order, exclude).get(ret.id, Counter())
    paid_here = _paid_by_us(ret, exclude)
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
    query = select(Refund).where(Refund.payment_id == payment.id, Refund.status.in_(_LIVE))
    ours = [r.amount for r in session.scalars(query) if r is not exclude]
    theirs = [r.amount for r in _external(payment.order) if payment.platform_transaction_id in (r.parent_transaction_ids or [])]
    return payment.amount - sum(ours) - sum(theirs)


def _ours(payment: Payment, routes: Mapping[str, RouteTraits]) -> bool:
    return payment.provider in routes and not payment.platform_managed


def choose_payment(session: Session, order: Order, routes: Mapping[str, RouteTraits],
                   exclude: Refund | None = None) -> Payment | None:  # fmt: skip
    """The payment Palautus can refund itself with the most left on it."""
    candidates = [p for p in order.payments if _ours(p, routes)]
    return max(candidates, key=lambda p: refundable(session, p, exclude), default=None)


def refund_step(payment: Payment | None, routes: Mapping[str, RouteTraits], currency: str) -> int:
    """The smallest amount, in minor units, the payment's route can refund: 1 unless the route says otherwise."""
    route = routes.get(payment.provider) if payment is not None else None
    return route.refund_step(currency) if route is not None else 1


def shipping_owed(session: Session, ret: Return, policy: ReturnPolicy, lines: list[LineToRefund],
                  exclude: Refund | None = None) -> ShippingToRefund | None:  # fmt: skip
    """The order's shipping, when this refund completes the return of the whole order and the policy gives it back.

    Never twice: not when one of our refunds already gave it back, nor when the
    shop refunded any shipping itself (in whole or in part).
    """
    order = ret.order
    if policy.refund_shipping != ShippingRefund.WHOLE_ORDER.value or order.shipping_total <= 0:
        return None
    if any(r.shipping_refunded for r in _external(order)) or any(r.shipping for r in _our_refunds(session, order, exclude)):
        return None
    refunded = refunded_units(session, order, exclude)
    for line in lines:
        refunded[line.order_line_id] += line.quantity
    if any(refunded[line.id] < line.quantity for line in order.lines):
        return None
    return ShippingToRefund(order.shipping_total, order.shipping_tax, order.shipping_tax_rate)


def plan_for(session: Session, ret: Return, policy: ReturnPolicy, routes: Mapping[str, RouteTraits],
             exclude: Refund | None = None) -> tuple[RefundPlan, Payment | None]:  # fmt: skip
    """The refund this return is owed now, against the payment Palautus would refund it from (capped by it)."""
    order = ret.order
    payment = choose_payment(session, order, routes, exclude)
    lines = lines_to_refund(session, ret, exclude)
    shipping = shipping_owed(session, ret, policy, lines, exclude)
    cap = refundable(session, payment, exclude) if payment else sum(line.line_paid for line in lines) + order.shipping_total
    step = refund_step(payment, routes, order.currency)
    return plan_refund(lines, order.currency, policy.fees_for(order.currency), cap, step, shipping), payment


def unpaid_reason(session: Session, plan: RefundPlan, payment: Payment, routes: Mapping[str, RouteTraits],
                  exclude: Refund | None = None) -> str:  # fmt: skip
    """Why a plan the payment cannot cover is not sent: the unpaid amount, and what else paid for the order."""
    owed, short = Money(plan.owed, plan.currency), Money(plan.owed - plan.amount, plan.currency)
    left = Money(max(refundable(session, payment, exclude), 0), plan.currency)
    reason = f"{short} of the {owed} owed cannot be paid back through {payment.gateway}, which has only {left} left"
    others = [p for p in payment.order.payments if p is not payment]
    if not others:
        return f"{reason}; nothing else paid for the order. Nothing was sent."
    paid_by = ", ".join(
        f"{p.gateway} ({Money(p.amount, p.currency)}{'' if _ours(p, routes) else ', which Palautus cannot refund'})"
        for p in others
    )  # fmt: skip
    return f"{reason}. The order was also paid by {paid_by}: refund the rest there or in the shop's admin. Nothing was sent."
