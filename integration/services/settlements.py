"""The providers' settlements, kept and reconciled with our refunds to the cent.

A settlement (a payout) is read from its provider through the shop's payment route (jobs/settlements.py) and
stored whole, replacing what an earlier read of it stored: a provider may add movements to a payout until it is
paid. Reconciling it matches each refund movement to our refund by what the provider echoes back of it: first
the provider's refund id (`Refund.provider_refund_id`, in the same form the route stores it), then the reference
we sent (our idempotency key). Never by amount and date: two refunds of the same amount on one day are common,
and a refund matched to the wrong one hides the one that is missing.

The report says, to the cent: matched refunds (and any difference between what we booked and what the provider
moved, which must be 0), refund movements no refund of ours explains (made outside Palautus: in the provider's
dashboard, or in the shop's admin), the provider's fees as rows of their own, the settlement's own arithmetic
(its movements and fees must add up to what was paid out), and our refunds of the route that succeeded but are
in no settlement read so far (in transit).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from integration.models import (
    Order, Payment, Refund, Return, ReturnEvent, SettlementLine, SettlementRecord, Shop, ShopRefund, utcnow,
)  # fmt: skip
from integration.records import MovementKind, Settlement
from integration.refunds import RefundStatus

__all__ = ["store_settlement", "reconcile", "Reconciliation", "external_movements", "settlement_routes"]

REFUND_KINDS = (MovementKind.REFUND, MovementKind.REFUND_FAILURE)


def store_settlement(session: Session, shop: Shop, route: str, settlement: Settlement) -> SettlementRecord:
    """Keep the settlement as read now, its movements replacing any read before. Not committed."""
    row = session.scalar(select(SettlementRecord).where(
        SettlementRecord.shop_id == shop.id, SettlementRecord.route == route,
        SettlementRecord.settlement_id == settlement.settlement_id))  # fmt: skip
    if row is None:
        row = SettlementRecord(shop_id=shop.id, route=route, settlement_id=settlement.settlement_id)
        session.add(row)
    else:
        session.execute(delete(SettlementLine).where(SettlementLine.settlement_row_id == row.id))
        session.expire(row, ["lines"])
    row.currency, row.net, row.status = settlement.currency, settlement.net, settlement.status
    row.paid_out_at, row.reference, row.fetched_at = settlement.paid_out_at, settlement.reference, utcnow()
    session.flush()
    seen = set()
    for m in settlement.movements:
        if m.movement_id in seen:  # a provider listing one movement on two pages: once is the truth
            continue
        seen.add(m.movement_id)
        session.add(SettlementLine(
            settlement_row_id=row.id, movement_id=m.movement_id, kind=m.kind, amount=m.amount, fee=m.fee,
            currency=m.currency, occurred_at=m.occurred_at, provider_refund_id=m.provider_refund_id,
            reference=m.reference, payment_id=m.payment_id, provider_type=m.provider_type, description=m.description,
        ))  # fmt: skip
    session.flush()
    return row


@dataclass
class Reconciliation:
    """One settlement against our refunds; every amount in minor units of the settlement's currency."""

    settlement: SettlementRecord
    matched: list[dict] = field(default_factory=list)
    external: list[dict] = field(default_factory=list)  # refund movements that are not ours
    fees: list[dict] = field(default_factory=list)
    other: list[dict] = field(default_factory=list)  # charges, disputes, adjustments: counted, not ours to match
    in_transit: list[dict] = field(default_factory=list)  # ours, succeeded, in no settlement read yet
    # What the movements (but the payout's own row) and their fees add up to, against what was paid out.
    movements_total: int = 0
    fees_total: int = 0  # the fees listed: on movements, and rows that are a fee
    charged: int = 0  # the movements' own fee column: what the payout's arithmetic takes off

    @property
    def difference(self) -> int:
        """What our books and the provider disagree on: every matched refund's difference, and the settlement's
        own arithmetic. Must be 0."""
        return sum(m["difference"] for m in self.matched) + self.arithmetic_difference

    @property
    def arithmetic_difference(self) -> int:
        return self.settlement.net - (self.movements_total - self.charged)

    def as_dict(self) -> dict:
        s = self.settlement
        return {
            "settlement": {"route": s.route, "settlement_id": s.settlement_id, "currency": s.currency, "net": s.net,
                           "status": s.status, "paid_out_at": s.paid_out_at.isoformat() if s.paid_out_at else None,
                           "reference": s.reference, "fetched_at": s.fetched_at.isoformat()},
            "matched": self.matched, "external": self.external, "fees": self.fees, "other": self.other,
            "in_transit": self.in_transit,
            "totals": {"movements": self.movements_total, "fees": self.fees_total, "net": s.net,
                       "arithmetic_difference": self.arithmetic_difference,
                       "matched_difference": sum(m["difference"] for m in self.matched),
                       "difference": self.difference},
        }  # fmt: skip


def reconcile(session: Session, shop: Shop, row: SettlementRecord) -> Reconciliation:
    """The settlement's movements matched to our refunds (see the module's docstring)."""
    report = Reconciliation(row)
    lines = list(row.lines)
    outside = Outside.of(session, shop)
    ours = _our_refunds(session, shop, row.route, lines)
    by_id = {r.provider_refund_id: r for r in ours if r.provider_refund_id}
    by_key = {r.idempotency_key: r for r in ours}
    matched: dict[int, tuple[Refund, list[SettlementLine]]] = {}  # one refund may move in several rows
    for line in lines:
        if line.kind == MovementKind.PAYOUT:  # the payout itself, where a provider lists it: what `net` is
            report.other.append(_movement(line))
            continue
        report.movements_total += line.amount
        report.charged += line.fee
        if line.fee or line.kind == MovementKind.FEE:
            report.fees.append(_fee(line))
            report.fees_total += report.fees[-1]["fee"]
        if line.kind not in REFUND_KINDS:
            if line.kind != MovementKind.FEE:
                report.other.append(_movement(line))
            continue
        refund = by_id.get(line.provider_refund_id) or by_key.get(line.reference)
        if refund is None:
            report.external.append(_external(line, outside))
        else:
            matched.setdefault(refund.id, (refund, []))[1].append(line)
    report.matched = [_matched(session, refund, found) for refund, found in matched.values()]
    report.in_transit = [_in_transit(r) for r in _unsettled(session, shop, row.route)]
    return report


def _first_movement(session: Session, shop: Shop, route: str) -> datetime | None:
    """When the earliest movement of the route's settlements read so far happened: refunds before it were paid
    out in settlements nobody asked Palautus to read, and are not looked for."""
    return session.scalar(select(func.min(SettlementLine.occurred_at)).join(SettlementRecord).where(
        SettlementRecord.shop_id == shop.id, SettlementRecord.route == route))  # fmt: skip


def _our_refunds(session: Session, shop: Shop, route: str, lines: list[SettlementLine]) -> list[Refund]:
    """Our refunds any of the lines may be: by the provider's refund id or by our key, nothing else."""
    ids = {line.provider_refund_id for line in lines if line.provider_refund_id}
    keys = {line.reference for line in lines if line.reference}
    if not ids and not keys:
        return []
    query = select(Refund).join(Return).where(
        Return.shop_id == shop.id, or_(Refund.provider_refund_id.in_(ids), Refund.idempotency_key.in_(keys)))
    # Ours through this route, or of this provider's money through another (a Klarna payment Shopify's gateway
    # refunded shows in Klarna's settlement): a match is by id or key all the same.
    return [r for r in session.scalars(query) if route in (r.route, r.provider)]


def _movement(line: SettlementLine) -> dict:
    return {"movement_id": line.movement_id, "kind": line.kind, "provider_type": line.provider_type,
            "amount": line.amount, "fee": line.fee, "currency": line.currency,
            "occurred_at": line.occurred_at.isoformat() if line.occurred_at else None,
            "provider_refund_id": line.provider_refund_id, "reference": line.reference, "payment_id": line.payment_id,
            "description": line.description}  # fmt: skip


def _fee(line: SettlementLine) -> dict:
    on = "account" if line.kind == MovementKind.FEE else line.kind
    fee = line.fee if line.kind != MovementKind.FEE or line.fee else -line.amount
    return {"movement_id": line.movement_id, "on": on, "fee": fee, "currency": line.currency,
            "provider_refund_id": line.provider_refund_id, "payment_id": line.payment_id}  # fmt: skip


def _matched(session: Session, refund: Refund, lines: list[SettlementLine]) -> dict:
    """Our refund and the settlement's rows that moved it (one per transaction where a refund took from two
    captures; a failed refund's money coming back is a row of its own). What the rows moved must be what the
    refund paid through this route: its amount, or where it paid from several payments in one request (a card
    and a gift card through Shopify), the part of the payments that are not gift cards or store credit, which
    no payout holds. A row in another currency than the refund's (converted) is reported, never taken as equal."""
    paid = _through_route(session, refund)
    kinds = {line.kind for line in lines}  # out (a refund), back (it failed later): each once, maybe both here
    expected = (-paid if MovementKind.REFUND in kinds else 0) + (paid if MovementKind.REFUND_FAILURE in kinds else 0)
    converted = any(line.currency.upper() != refund.currency.upper() for line in lines)
    moved = sum(line.amount for line in lines)
    by_id = any(refund.provider_refund_id and refund.provider_refund_id == line.provider_refund_id for line in lines)
    return {"refund_id": refund.id, "refund_ref": refund.idempotency_key, "return_code": refund.ret.code,
            "refund_amount": refund.amount, "refund_currency": refund.currency, "refund_status": refund.status,
            "matched_by": "provider_refund_id" if by_id else "reference", "movements": [_movement(l) for l in lines],
            "moved": moved, "expected": expected, "converted": converted,
            "difference": 0 if converted else moved - expected}  # fmt: skip


def _through_route(session: Session, refund: Refund) -> int:
    if not refund.parts:
        return refund.amount
    payments = {p.id: p for p in session.scalars(select(Payment).where(
        Payment.id.in_([part["payment_id"] for part in refund.parts])))}  # fmt: skip
    return sum(part["amount"] for part in refund.parts
               if part["payment_id"] not in payments or not payments[part["payment_id"]].stored_value)


@dataclass
class Outside:
    """The shop's refund movements that no refund of ours explains, each with what Palautus knows of its payment.

    Whether the shop recorded such a refund (made in its admin: a ShopRefund not linked to ours) is decided one to
    one over all the shop's payouts in the order the money moved: a refund the shop recorded explains one movement
    of the same payment and amount (its part from that payment, where it took from two), never two. A movement of
    money the platform refunds (a platform-managed payment: its refunds are ours through its gateway, or recorded
    in its admin) is never booked from the payout: the platform's record is the books' record of it. Only a
    movement of a payment Palautus knows and refunds directly, that nothing recorded, is a refund made in the
    provider's dashboard, for the ledger to book (`external_movements`).
    """

    lines: dict  # SettlementLine.id -> (SettlementLine, SettlementRecord, Payment | None, ShopRefund | None)

    @classmethod
    def of(cls, session: Session, shop: Shop) -> "Outside":
        rows = session.execute(select(SettlementLine, SettlementRecord).join(SettlementLine.settlement).where(
            SettlementRecord.shop_id == shop.id, SettlementLine.kind == MovementKind.REFUND,
        ).order_by(SettlementLine.occurred_at, SettlementLine.id)).all()  # fmt: skip
        by_route: dict[str, list] = {}
        for line, record in rows:
            by_route.setdefault(record.route, []).append(line)
        ours = {line.id for route, lines in by_route.items() for line in _matched_lines(session, shop, route, lines)}
        payments = _payments(session, shop, {line.payment_id for line, _ in rows if line.payment_id})
        recorded = _unlinked_shop_refunds(session, shop, payments.values())
        found = {}
        for line, record in rows:
            if line.id in ours:
                continue
            payment = payments.get(line.payment_id)
            found[line.id] = (line, record, payment, _take(recorded, payment, abs(line.amount)))
        return cls(found)

    def booked_here(self, line_id: int) -> bool:
        """Whether the ledger books this movement from the payout itself (see the class's docstring)."""
        line, _, payment, shop_refund = self.lines[line_id]
        return payment is not None and not payment.platform_managed and shop_refund is None


def _matched_lines(session: Session, shop: Shop, route: str, lines: list[SettlementLine]) -> list[SettlementLine]:
    ours = _our_refunds(session, shop, route, lines)
    ids, keys = {r.provider_refund_id for r in ours if r.provider_refund_id}, {r.idempotency_key for r in ours}
    return [line for line in lines if line.provider_refund_id in ids or line.reference in keys]


def _payments(session: Session, shop: Shop, payment_ids: set[str]) -> dict:
    if not payment_ids:
        return {}
    query = select(Payment).join(Order).where(Order.shop_id == shop.id, Payment.payment_id.in_(payment_ids))
    return {payment.payment_id: payment for payment in session.scalars(query)}


def _unlinked_shop_refunds(session: Session, shop: Shop, payments) -> dict:
    """Per order, the refunds made in the shop's admin (not ours) not yet taken to explain a movement."""
    orders = {payment.order_id for payment in payments}
    if not orders:
        return {}
    query = select(ShopRefund).where(ShopRefund.order_id.in_(orders), ShopRefund.refund_id.is_(None),
                                     ShopRefund.amount != 0).order_by(ShopRefund.created_at, ShopRefund.id)  # fmt: skip
    found: dict[int, list] = {}
    for shop_refund in session.scalars(query):
        found.setdefault(shop_refund.order_id, []).append(shop_refund)
    return found


def _take(recorded: dict, payment, amount: int):
    """The first refund the shop recorded on this payment's order that took `amount` from this payment (or in all,
    where it names no parts), taken so it explains no other movement; None where none did."""
    if payment is None:
        return None
    for shop_refund in recorded.get(payment.order_id, []):
        parts = shop_refund.refunded_by_parent or {}
        taken = parts.get(payment.platform_transaction_id) if parts else shop_refund.amount
        if taken == amount:
            recorded[payment.order_id].remove(shop_refund)
            return shop_refund
    return None


def _external(line: SettlementLine, outside: Outside) -> dict:
    _, _, payment, shop_refund = outside.lines.get(line.id, (line, None, None, None))
    known = payment is not None
    return {**_movement(line), "recorded_in_shop": shop_refund is not None,
            "via_platform": bool(known and payment.platform_managed),
            "in_ledger": outside.booked_here(line.id) if line.id in outside.lines else False,
            "payment_known": known}  # fmt: skip


def _unsettled(session: Session, shop: Shop, route: str) -> list[Refund]:
    """Our succeeded refunds this route's payouts should carry that no payout read so far lists (by refund id or
    key), since the earliest movement read. A route's payouts carry the money of the providers whose payments
    appear in them (Shopify Payments' payouts: Shopify Payments', not a payments app's or a gift card's, which
    Shopify's gateway also refunds) and its own; a refund wholly to a gift card or store credit is in none."""
    since = _first_movement(session, shop, route)
    if since is None:
        return []
    settled_ids = select(SettlementLine.provider_refund_id).join(SettlementRecord).where(
        SettlementRecord.shop_id == shop.id, SettlementLine.provider_refund_id.is_not(None))
    settled_keys = select(SettlementLine.reference).join(SettlementRecord).where(
        SettlementRecord.shop_id == shop.id, SettlementLine.reference.is_not(None))
    paid_in = select(SettlementLine.payment_id).join(SettlementRecord).where(
        SettlementRecord.shop_id == shop.id, SettlementRecord.route == route, SettlementLine.payment_id.is_not(None))
    providers = set(session.scalars(select(Payment.provider).join(Order).where(
        Order.shop_id == shop.id, Payment.payment_id.in_(paid_in)).distinct())) | {route}
    query = select(Refund).join(Return).where(
        Return.shop_id == shop.id, Refund.status == RefundStatus.SUCCEEDED.value,
        or_(Refund.route == route, Refund.provider == route), Refund.provider.in_(providers),
        or_(Refund.provider_refund_id.is_(None), Refund.provider_refund_id.not_in(settled_ids)),
        Refund.idempotency_key.not_in(settled_keys), Refund.completed_at >= since,
    ).order_by(Refund.completed_at, Refund.id)  # fmt: skip
    return [refund for refund in session.scalars(query) if _through_route(session, refund) > 0]


def _in_transit(refund: Refund) -> dict:
    return {"refund_id": refund.id, "refund_ref": refund.idempotency_key, "return_code": refund.ret.code,
            "amount": refund.amount, "currency": refund.currency, "provider_refund_id": refund.provider_refund_id,
            "completed_at": refund.completed_at.isoformat() if refund.completed_at else None}  # fmt: skip


def external_movements(session: Session, shop: Shop, start: datetime, end: datetime) -> list[tuple[SettlementRecord, SettlementLine]]:
    """Refund movements in the shop's settlements, in [start, end), that the ledger books from the payout: refunds
    made in a provider's dashboard on a payment Palautus refunds directly, which nothing else recorded (`Outside`)."""
    outside = Outside.of(session, shop)
    found = [(record, line) for line, record, _, _ in outside.lines.values()
             if outside.booked_here(line.id) and line.occurred_at is not None and start <= line.occurred_at < end]
    return sorted(found, key=lambda pair: (pair[1].occurred_at, pair[1].id))


def refunds_moved_later(session: Session, shop: Shop) -> list[tuple[Refund, str, datetime]]:
    """Our refunds whose money moved otherwise than Palautus booked them, each once, with when it was first known:
    (refund, "refund_failed_after_success", when) for one that succeeded and came back, (refund,
    "provider_paid_failed_refund", when) for one failed in Palautus that the provider paid. Known from the
    refund's timeline (the provider's webhook said so) or a payout's row matched to the refund by id or key."""
    from integration.services.books import CAME_BACK, PAID_AFTER_ALL

    first: dict[tuple[int, str], datetime] = {}

    def seen(refund_id: int, what: str, when: datetime | None) -> None:
        if when is not None and ((refund_id, what) not in first or when < first[(refund_id, what)]):
            first[(refund_id, what)] = when

    events = session.execute(select(ReturnEvent.data, ReturnEvent.kind, ReturnEvent.created_at).join(Return).where(
        Return.shop_id == shop.id, ReturnEvent.kind.in_([CAME_BACK, PAID_AFTER_ALL]))).all()  # fmt: skip
    for data, kind, when in events:
        if isinstance(data, dict) and isinstance(data.get("refund_id"), int):
            seen(data["refund_id"], kind, when)
    rows = session.execute(select(SettlementLine, SettlementRecord).join(SettlementLine.settlement).where(
        SettlementRecord.shop_id == shop.id, SettlementLine.kind.in_(REFUND_KINDS))).all()  # fmt: skip
    by_route: dict[str, list[SettlementLine]] = {}
    for line, record in rows:
        by_route.setdefault(record.route, []).append(line)
    for route, lines in by_route.items():
        ours = _our_refunds(session, shop, route, lines)
        by_id = {r.provider_refund_id: r for r in ours if r.provider_refund_id}
        by_key = {r.idempotency_key: r for r in ours}
        for line in lines:
            refund = by_id.get(line.provider_refund_id) or by_key.get(line.reference)
            if refund is None:
                continue
            if line.kind == MovementKind.REFUND_FAILURE and refund.status == RefundStatus.SUCCEEDED.value:
                seen(refund.id, CAME_BACK, line.occurred_at)
            elif line.kind == MovementKind.REFUND and refund.status == RefundStatus.FAILED.value:
                seen(refund.id, PAID_AFTER_ALL, line.occurred_at)
    refunds = {r.id: r for r in session.scalars(select(Refund).where(Refund.id.in_({rid for rid, _ in first})))}
    return sorted(((refunds[rid], what, when) for (rid, what), when in first.items() if rid in refunds),
                  key=lambda found: (found[2], found[0].id))  # fmt: skip


def refund_fees(session: Session, shop: Shop, start: datetime, end: datetime) -> list[tuple[Refund, int, datetime, str]]:
    """(our refund, fee, when, currency) for each fee a payout charged on a movement of one of our refunds in
    [start, end): a refund row's own fee, or a fee row that names the refund. Matched as refunds are: by the
    provider's refund id or our key."""
    rows = session.execute(select(SettlementLine, SettlementRecord).join(SettlementLine.settlement).where(
        SettlementRecord.shop_id == shop.id, SettlementLine.occurred_at >= start, SettlementLine.occurred_at < end,
        or_(SettlementLine.provider_refund_id.is_not(None), SettlementLine.reference.is_not(None)),
        or_(SettlementLine.kind.in_(REFUND_KINDS) & (SettlementLine.fee != 0), SettlementLine.kind == MovementKind.FEE),
    ).order_by(SettlementLine.occurred_at, SettlementLine.id)).all()  # fmt: skip
    found = []
    for line, record in rows:
        ours = _our_refunds(session, shop, record.route, [line])
        refund = next((r for r in ours if r.provider_refund_id and r.provider_refund_id == line.provider_refund_id),
                      None) or next((r for r in ours if r.idempotency_key == line.reference), None)  # fmt: skip
        fee = line.fee if line.kind != MovementKind.FEE else -line.amount + line.fee
        if refund is not None and fee:
            found.append((refund, fee, line.occurred_at, line.currency))
    return found


def settlement_routes(ctx, shop: Shop) -> list[str]:
    """The routes a shop's payouts can be read through: its platform's own gateway, and each provider it gave
    Palautus keys for."""
    routes = ctx.routes_for(shop)
    return sorted(set(routes.direct) | ({routes.platform} if routes.gateway is not None else set()))

