"""The refund ledger: what was paid, what was refunded (by us and by the shop), what is left, from which payment.

Reads only: every function here looks at rows and computes; nothing is written.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.models import Order, Payment, Refund, Return, ShopRefund
from integration.money import Money, prorate
from integration.policy import ReturnPolicy, ShippingRefund
from integration.refunds import (
    LIVE, SELLER_FAULT, Fees, LineToRefund, RefundPlan, RefundStatus, ShippingToRefund, plan_refund,
)  # fmt: skip
from integration.returns import ReturnStatus
from integration.services.routes import ShopRoutes

__all__ = [
    "refunded_units", "shop_refunded_for", "shipping_owed", "same_payment", "unseen_refunds",
    "money_without_items", "order_left", "incomplete_shop_refunds", "lines_to_refund", "refundable", "choose_payment",
    "refund_step", "plan_for", "unpaid_reason", "split_sources",
]  # fmt: skip

_LIVE = tuple(s.value for s in LIVE)
# Returns that can still be owed something: a refused or withdrawn return is owed nothing.
_NOT_OWED = (ReturnStatus.REJECTED.value, ReturnStatus.CANCELLED.value)


def _our_refunds(session: Session, order: Order, exclude: Refund | None) -> list[Refund]:
    """Our live refunds of the order's returns (but `exclude`)."""
    query = select(Refund).join(Return).where(Return.order_id == order.id, Refund.status.in_(_LIVE))
    return [r for r in session.scalars(query) if r is not exclude]


def _external(order: Order) -> list[ShopRefund]:
    """Refunds made in the shop outside Palautus (our own, echoed back, carry our refund's id)."""
    return [r for r in order.shop_refunds if r.refund_id is None]


_SENT = (RefundStatus.SUBMITTED.value, RefundStatus.SUCCEEDED.value)


def _units(refunds, statuses, exclude: Refund | None, key: str) -> Counter:
    """Units per `key` (order_line_id or return_item_id) that these refunds in `statuses` (but `exclude`) cover."""
    units: Counter = Counter()
    for refund in refunds:
        if refund.status in statuses and refund is not exclude:
            for line in refund.lines:
                units[line.get(key)] += line["quantity"]
    return units


def refunded_units(session: Session, order: Order, exclude: Refund | None = None) -> Counter:
    """Units per order line refunded so far: by us (but `exclude`), and by the shop outside Palautus, each once.

    A pending refund of a return that a shop refund has settled covers the same units
    as that shop refund (the pending one will be stopped): per return, the larger of the
    two counts, not their sum. Units the shop refunded for no return count in full.
    """
    given, unallocated = _shop_allocation(session, order)
    units = Counter(unallocated)
    returns = session.scalars(select(Return).where(Return.order_id == order.id)).all()
    for ret in returns:
        sent = _units(ret.refunds, _SENT, exclude, "order_line_id")
        pending = _units(ret.refunds, (RefundStatus.PENDING.value,), exclude, "order_line_id")
        shop = given.get(ret.id, Counter())
        for line_id in set(sent) | set(pending) | set(shop):
            units[line_id] += sent[line_id] + max(pending[line_id], shop[line_id])
    return units


def _needed(ret: Return) -> Counter:
    """Units per order line the return still waits for, after our refunds of it that may have moved money.

    Pending refunds do not count: which return a shop refund settles must not change
    with which of two pending refunds is planned first (nor when one of them fails).
    """
    paid = _units(ret.refunds, _SENT, None, "return_item_id")
    needed: Counter = Counter()
    for item in ret.items:
        needed[item.order_line_id] += max(0, item.quantity - paid[item.id])
    return needed


def shop_refunded_for(session: Session, order: Order) -> dict[int, Counter]:
    """Units per order line the shop refunded outside Palautus for each return on the order, each unit once.

    A shop refund that names a return counts against that return. One that names
    none is taken to be for the returns the customer had asked for before it was
    made (the safe reading: otherwise the same items could be paid twice), and its
    units are given out oldest return first, each return taking no more than it
    still waits for: one admin refund of one unit settles one one-unit return, not two.
    What a return waits for counts only our refunds that may have moved money, so the
    answer is the same whichever refund asks.
    """
    return _shop_allocation(session, order)[0]


def _shop_allocation(session: Session, order: Order) -> tuple[dict[int, Counter], Counter]:
    """`shop_refunded_for`, and the units per line no return took (refunded before any return, or beyond them)."""
    returns = session.scalars(
        select(Return).where(Return.order_id == order.id, Return.status.not_in(_NOT_OWED))
        .order_by(Return.requested_at, Return.id)
    ).all()  # fmt: skip
    line_ids = {line.platform_line_id: line.id for line in order.lines}
    named = {ret.platform_return_id: ret for ret in returns if ret.platform_return_id}
    given, unallocated = {ret.id: Counter() for ret in returns}, Counter()
    room = {ret.id: _needed(ret) for ret in returns}
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
            unallocated[line_id] += max(units, 0)
    return given, unallocated


def lines_to_refund(session: Session, ret: Return, exclude: Refund | None = None) -> list[LineToRefund]:
    """The units of each returned item still to be paid back.

    An item is owed its quantity, less what our earlier refunds of this return
    paid and less what the shop refunded outside Palautus for this return (a
    merchant refunding the returned item in the admin); and never more units
    than the order line has left unrefunded. Its reason says whether it is the
    shop's fault (no fees), and its diminished value goes with its units pro rata.
    """
    order = ret.order
    refunded = refunded_units(session, order, exclude)
    later = shop_refunded_for(session, order).get(ret.id, Counter())
    paid_here = _units(ret.refunds, _LIVE, exclude, "return_item_id")
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
            seller_fault=item.reason in SELLER_FAULT,
            deduction=_deduction(item, quantity, item.quantity - max(owed, 0)),
        ))  # fmt: skip
        refunded[line.id] += quantity  # two items on one line share its units, in order
    return lines


def _deduction(item, units: int, settled: int) -> int:
    """The item's diminished value carried by `units` of it after `settled` went earlier: by the rule of
    money.prorate, so the parts of an item refunded in pieces add up to its whole deduction."""
    return prorate(max(item.deduction or 0, 0), item.quantity, units, settled) if units else 0


def money_without_items(ret: Return) -> int:
    """Money the shop refunded on the order by amount alone (no items, no shipping), at any time, not for another return.

    Nothing says which items it paid for: it may be this return's money (a faulty item
    paid back before it was sent back, say). Counting it against no return could pay
    the customer twice, so planning stops on it and a person decides in the shop's admin.
    """
    return sum(
        r.amount + (r.pending or 0) for r in _external(ret.order)
        if not r.lines and not r.shipping_refunded and r.amount + (r.pending or 0) > 0
        and r.platform_return_id in (None, ret.platform_return_id)
    )  # fmt: skip


def incomplete_shop_refunds(order: Order) -> list[ShopRefund]:
    """Shop refunds (not ours) whose lines could not all be read: which items they settled is not known."""
    return [r for r in _external(order) if r.complete is False]


def order_left(session: Session, order: Order, exclude: Refund | None = None) -> int:
    """What the order's payments together have left after every refund that has or may have moved money, ours
    (sent: a pending one plans again under the order's lock before it sends) and the shop's, money still on its
    way included: no refund may pay more, whichever payment it comes from."""
    ours = sum(r.amount for r in _our_refunds(session, order, exclude) if r.status in _SENT)
    theirs = sum(r.amount + (r.pending or 0) for r in _external(order))
    return sum(p.amount for p in order.payments) - ours - theirs


def same_payment(payment: Payment) -> list[Payment]:
    """The rows of one payment at its provider: a PaymentIntent captured in two parts is one payment to refund."""
    if not payment.payment_id:
        return [payment]
    return [p for p in payment.order.payments if (p.provider, p.payment_id) == (payment.provider, payment.payment_id)]


def refundable(session: Session, payment: Payment, exclude: Refund | None = None) -> int:
    """What is left of a payment after our refunds (but `exclude`) and the shop's own refunds of it."""
    return _left(session, same_payment(payment), exclude)


def _left(session: Session, rows: list[Payment], exclude: Refund | None) -> int:
    """What these payment rows have left together, after our live refunds and the shop's."""
    ids, transactions = {p.id for p in rows}, {p.platform_transaction_id for p in rows}
    ours = [_taken_by(r, ids) for r in _our_refunds(session, rows[0].order, exclude)]
    theirs = [_taken_from(r, transactions) for r in _external(rows[0].order)]
    return sum(p.amount for p in rows) - sum(ours) - sum(theirs)


def _taken_by(refund: Refund, ids: set[int]) -> int:
    """What one of our refunds takes from these payment rows: its parts there, or all of it from its payment."""
    if refund.parts:
        return sum(part["amount"] for part in refund.parts if part["payment_id"] in ids)
    return refund.amount if refund.payment_id in ids else 0


def _taken_from(shop_refund: ShopRefund, transactions: set[str], at_most: bool = True) -> int:
    """What a shop refund took back from these payment transactions.

    Per transaction where the platform said so. A refund recorded before that was
    kept (one amount, its parents) is counted the safe way for the question asked:
    `at_most` (what is left to refund) counts it in full against each parent;
    otherwise (what is explained) it counts only when it has this one parent.
    """
    by_parent = shop_refund.refunded_by_parent or {}
    if by_parent:
        return sum(amount for parent, amount in by_parent.items() if parent in transactions)
    parents = set(shop_refund.parent_transaction_ids or [])
    if not transactions & parents or (not at_most and len(parents) > 1):
        return 0
    return shop_refund.amount


def unseen_refunds(order: Order) -> int:
    """Money the platform says was refunded from the order's payments that no shop refund Palautus knows explains.

    A refund made in the shop's admin a moment ago shows in the order's transactions
    before its webhook reaches Palautus: until it does, what it refunded is unknown.
    """
    explained = lambda p: sum(_taken_from(r, {p.platform_transaction_id}, at_most=False) for r in order.shop_refunds)  # noqa: E731
    return sum(max(0, p.refunded - explained(p)) for p in order.payments)


def _ours(payment: Payment, routes: ShopRoutes) -> bool:
    return routes.route_of(payment) is not None


def choose_payment(session: Session, order: Order, routes: ShopRoutes,
                   exclude: Refund | None = None) -> Payment | None:  # fmt: skip
    """The payment a route can refund: cards and wallets before gift cards and store credit, then the one with
    the most left on it."""
    candidates = {(p.provider, p.payment_id or p.id): p for p in reversed(order.payments) if _ours(p, routes)}
    return max(candidates.values(), key=lambda p: (not p.stored_value, refundable(session, p, exclude)), default=None)


def refund_step(payment: Payment | None, routes: ShopRoutes, currency: str) -> int:
    """The smallest amount, in minor units, the payment's route can refund: 1 unless the route says otherwise."""
    return routes.refund_step(routes.route_of(payment) if payment is not None else None, currency)


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


def plan_for(session: Session, ret: Return, policy: ReturnPolicy, routes: ShopRoutes,
             exclude: Refund | None = None) -> tuple[RefundPlan, Payment | None]:  # fmt: skip
    """The refund this return is owed now, against the payment Palautus would refund it from (capped by it)."""
    # Priced as the return's track has it (a withdrawal by what the law leaves of the policy), with the fee of
    # its method; the items' reasons waive fees (refunds._fees): the preview, the Refund row and the job agree.
    order, policy = ret.order, policy.for_track(ret.track)
    payment = choose_payment(session, order, routes, exclude)
    lines = lines_to_refund(session, ret, exclude)
    shipping = shipping_owed(session, ret, policy, lines, exclude)
    sources = split_sources(session, payment, routes, exclude) if payment else []
    if sources:
        cap = sum(left for _, left in sources)
    else:
        cap = refundable(session, payment, exclude) if payment else sum(line.line_paid for line in lines) + order.shipping_total
    step = refund_step(payment, routes, order.currency)
    plan = plan_refund(lines, order.currency, _fees_left(ret, policy, exclude), cap, step, shipping)
    if sources:
        parts = _take(plan.amount, sources)
        payment = next(row for row in order.payments if row.id == parts[0][0]) if parts else payment
        plan = replace(plan, parts=tuple(parts) if len(parts) > 1 else ())
    return plan, payment


def _fees_left(ret: Return, policy: ReturnPolicy, exclude: Refund | None) -> Fees:
    """The policy's fees for this return, less the return shipping its earlier refunds kept already: one parcel
    comes back, so its fee is kept once however many refunds the return takes."""
    fees = policy.fees_for(ret.order.currency, ret.method)
    kept = sum((refund.fees or {}).get("return_shipping", 0) for refund in ret.refunds
               if refund is not exclude and refund.status in {status.value for status in LIVE})  # fmt: skip
    return replace(fees, return_shipping=max(fees.return_shipping - kept, 0)) if kept else fees


def split_sources(session: Session, payment: Payment, routes: ShopRoutes, exclude: Refund | None = None) -> list:
    """For a route that refunds several payments in one request: each of the order's payments on that route (each
    its own transaction, so two captures are two), in the order they are taken from, with what it has left.

    The rule: cards and wallets first, gift cards and store credit last (the customer's own means of payment
    first, as the platforms' own refunds do); among them, the one with the most left first. [] for a route
    that refunds one payment only.
    """
    route = routes.route_of(payment)
    if not routes.splits(route):
        return []
    rows = [row for row in payment.order.payments if routes.route_of(row) == route]
    lefts = [(row, max(_left(session, [row], exclude), 0)) for row in rows]
    return sorted(lefts, key=lambda pair: (bool(pair[0].stored_value), -pair[1], pair[0].id))


def _take(amount: int, sources: list) -> list[tuple[int, int]]:
    """`amount` taken from the sources in order, each giving no more than it has left: (payment row id, amount)."""
    parts = []
    for row, left in sources:
        if amount <= 0:
            break
        take = min(amount, left)
        if take > 0:
            parts.append((row.id, take))
            amount -= take
    return parts


def unpaid_reason(session: Session, plan: RefundPlan, payment: Payment, routes: ShopRoutes,
                  exclude: Refund | None = None) -> str:  # fmt: skip
    """Why a plan the payment cannot cover is not sent: the unpaid amount, and what else paid for the order."""
    owed, short = Money(plan.owed, plan.currency), Money(plan.owed - plan.amount, plan.currency)
    sources = split_sources(session, payment, routes, exclude)
    if sources:
        left = Money(sum(left for _, left in sources), plan.currency)
        names = ", ".join(dict.fromkeys(row.gateway for row, _ in sources))
        reason = f"{short} of the {owed} owed cannot be paid back through {names}, which have only {left} left together"
        pooled = [row for row, _ in sources]
    else:
        left = Money(max(refundable(session, payment, exclude), 0), plan.currency)
        reason = f"{short} of the {owed} owed cannot be paid back through {payment.gateway}, which has only {left} left"
        pooled = same_payment(payment)
    others = [p for p in payment.order.payments if p not in pooled]
    if not others:
        return f"{reason}; nothing else paid for the order. Nothing was sent."
    paid_by = ", ".join(
        f"{p.gateway} ({Money(p.amount, p.currency)}{'' if _ours(p, routes) else ', which Palautus cannot refund'})"
        for p in others
    )  # fmt: skip
    return f"{reason}. The order was also paid by {paid_by}: refund the rest there or in the shop's admin. Nothing was sent."
