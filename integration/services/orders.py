"""Order snapshots, their payments, and refunds the shop made itself."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.errors import Conflict
from integration.models import Order, OrderLine, Payment, Refund, Return, Shop, ShopRefund, utcnow
from integration.records import OrderSnapshot, PaymentData, ShopRefundData
from integration.refunds import referenced_key
from integration.services import privacy
from integration.services.shops import raise_alert

__all__ = ["order_by_platform_id", "upsert_order", "mark_removed", "record_payments", "record_shop_refund", "OrderNotKnown"]

logger = logging.getLogger(__name__)

_ORDER_FIELDS = (
    "name", "email", "currency", "shop_currency", "taxes_included",
    "financial_status", "total", "processed_at", "cancelled_at", "platform_gid",
    "shipping_total", "shipping_tax", "shipping_tax_rate", "fulfilled_at", "delivered_at", "locale", "tax_country",
)
_LINE_FIELDS = (
    "title", "sku", "product_id", "variant_id", "quantity",
    "unit_price", "discount_total", "tax_total", "tax_rate", "gift_card",
)


class OrderNotKnown(Conflict):
    """An event refers to an order no order webhook has told us about yet."""


def order_by_platform_id(session: Session, shop_id: int, platform_order_id: str) -> Order | None:
    return session.scalar(
        select(Order).where(Order.shop_id == shop_id, Order.platform_order_id == platform_order_id)
    )


def upsert_order(session: Session, shop_id: int, snapshot: OrderSnapshot) -> tuple[Order, bool]:
    """Keep the newest snapshot: an older or equal one (late, replayed) changes nothing. The order of an erased
    customer keeps no e-mail, whatever the snapshot says (see `privacy.erased_order`)."""
    order = order_by_platform_id(session, shop_id, snapshot.platform_order_id)
    if order is not None and order.platform_updated_at >= snapshot.updated_at and not _moves_to_trash(order, snapshot):
        return order, False
    erased = privacy.erased_order(session, shop_id, snapshot)  # before the order changes (the query flushes)
    if order is None:
        order = Order(shop_id=shop_id, platform_order_id=snapshot.platform_order_id, snapshot_changes=0)
        session.add(order)
    else:
        order.snapshot_changes = (order.snapshot_changes or 0) + 1
    # In the shop's trash or not, as of this snapshot: the store's own word and time. An order removed for
    # good (no snapshot said so: our clock) comes back only with a change made after its removal.
    if snapshot.removed:
        order.removed_at = order.removed_at or snapshot.updated_at
    elif order.removed_at is not None and snapshot.updated_at > order.removed_at:
        order.removed_at = None
    held_email = order.email
    for name in _ORDER_FIELDS:
        setattr(order, name, getattr(snapshot, name))
    if erased is not None:
        # Never brought back; one still held while a refund of ours is on its way stays (privacy.finish_erasures).
        order.email = held_email if order.id in privacy.refunding_orders(session, [order.id]) else None
    order.platform_updated_at = snapshot.updated_at
    _merge_lines(order, snapshot)
    session.flush()
    return order, True


def _merge_lines(order: Order, snapshot: OrderSnapshot) -> None:
    # Lines are updated in place and never deleted: a return may point at a
    # line that a later order edit removed.
    existing = {line.platform_line_id: line for line in order.lines}
    for data in snapshot.lines:
        line = existing.get(data.platform_line_id)
        if line is None:
            line = OrderLine(platform_line_id=data.platform_line_id)
            order.lines.append(line)
        for name in _LINE_FIELDS:
            setattr(line, name, getattr(data, name))


def _moves_to_trash(order: Order, snapshot: OrderSnapshot) -> bool:
    """A trash in the same second as the order's last change: the store keeps seconds, so the time is equal."""
    return snapshot.removed and order.removed_at is None and order.platform_updated_at == snapshot.updated_at


def mark_removed(session: Session, shop_id: int, platform_order_id: str, when) -> Order | None:
    """The shop removed the order and cannot show it any more: no new return starts on it."""
    order = order_by_platform_id(session, shop_id, platform_order_id)
    if order is not None and order.removed_at is None:
        order.removed_at = when
        session.flush()
    return order


def record_payments(session: Session, order: Order, payments: list[PaymentData]) -> None:
    """Remember which provider holds the order's money, under which payment id."""
    known = {p.platform_transaction_id: p for p in order.payments}
    for data in payments:
        payment = known.get(data.platform_transaction_id)
        if payment is None:
            payment = Payment(platform_transaction_id=data.platform_transaction_id)
            order.payments.append(payment)
        for name in ("provider", "gateway", "payment_id", "kind", "amount", "currency", "platform_managed", "refunded", "stored_value"):
            setattr(payment, name, getattr(data, name))
    order.payments_synced_at = utcnow()
    session.flush()


def record_shop_refund(session: Session, shop_id: int, data: ShopRefundData) -> ShopRefund:
    """Record a refund the shop made; link it to ours when it is our own sync echoed back.

    The same refund arrives from its webhook and from the Admin API, in either order,
    and one source may know less (a transaction still pending, shipping the webhook
    does not show): what it took from each payment and whether it gave shipping back
    only ever grow, so no later record can make it count for less. The note of a refund made before its
    order's customer was erased is kept as the erasure left it (our refund's key alone).
    """
    order = order_by_platform_id(session, shop_id, data.platform_order_id)
    if order is None:
        raise OrderNotKnown(f"order {data.platform_order_id} is not known yet")
    erased = privacy.order_erased_at(session, shop_id, order.platform_order_id)  # before the row changes (it flushes)
    row = session.scalar(
        select(ShopRefund).where(ShopRefund.order_id == order.id, ShopRefund.platform_refund_id == data.platform_refund_id)
    )
    if row is None:
        row = ShopRefund(order_id=order.id, platform_refund_id=data.platform_refund_id)
        session.add(row)
    row.amount = max(row.amount or 0, data.amount)
    row.currency, row.note, row.created_at = data.currency, data.note, data.created_at
    if erased is not None and (data.created_at is None or data.created_at <= erased) and not data.pending:
        # (a refund still pending keeps its note, which its gateway's notes are matched against, until it settles:
        # privacy.finish_erasures)
        row.note = privacy.erased_note(data.note)
    # Units only: money is counted from the refund's transactions, which say what went back to whom.
    # A read cut short (more lines than one read returns) never shrinks what a full one recorded.
    if data.complete or not row.lines:
        row.lines = [{"platform_line_id": line.platform_line_id, "quantity": line.quantity} for line in data.lines]
    row.complete = bool(row.complete) or data.complete
    row.pending = data.pending
    row.parent_transaction_ids = list(dict.fromkeys([*(row.parent_transaction_ids or []), *data.parent_transaction_ids]))
    taken = dict(row.refunded_by_parent or {})
    for parent, amount in data.refunded_by_parent:
        taken[parent] = max(taken.get(parent, 0), amount)
    row.refunded_by_parent = taken
    row.platform_return_id = data.platform_return_id or row.platform_return_id
    row.shipping_refunded = bool(row.shipping_refunded) or data.shipping_refunded
    row.refund_id = row.refund_id or _our_refund_id(session, order, data)
    session.flush()
    return row


def _our_refund_id(session: Session, order: Order, data: ShopRefundData) -> int | None:
    """Our refund this shop refund records, if it is ours: by the platform's id we stored, else by the key in
    its note, but only for a refund of ours not yet known under another id nor linked to another row (a
    merchant may paste our note into a refund of their own)."""
    refunds = session.scalars(select(Refund).join(Return).where(Return.order_id == order.id)).all()
    shop = session.get(Shop, order.shop_id)

    def known(refund: Refund) -> str | None:
        # The shop's refund id we keep: recorded by the sync, or (made through the shop's own gateway) the
        # id the platform answered when it made it.
        gid = refund.shop_refund_gid or (refund.provider_refund_id if refund.route == shop.platform else None)
        return gid.rsplit("/", 1)[-1] if gid else None

    for refund in refunds:
        if known(refund) == data.platform_refund_id:
            return refund.id
    others = {row.refund_id for row in session.scalars(
        select(ShopRefund).where(ShopRefund.order_id == order.id, ShopRefund.platform_refund_id != data.platform_refund_id))}  # fmt: skip
    for refund in refunds:  # the platform keeps our key on it as data: ours, even a second record of it
        if data.recorded_key and refund.idempotency_key == data.recorded_key:
            if (known(refund) and known(refund) != data.platform_refund_id) or refund.id in others:
                first = known(refund) or "another"
                if refund.route == shop.platform:  # made through the shop's own gateway: each one may have paid
                    message = (f"refund {refund.id} was made twice through the shop's gateway ({first} and "
                               f"{data.platform_refund_id}): check at the payment provider whether the customer "
                               f"was paid twice")  # fmt: skip
                else:
                    message = (f"refund {refund.id} is recorded twice in the shop ({first} and "
                               f"{data.platform_refund_id}): delete one there; the money moved once")  # fmt: skip
                raise_alert(shop, f"duplicate {data.platform_refund_id}", message)
            return refund.id
    key = referenced_key(data.note)
    for refund in refunds:
        if refund.idempotency_key == key and not known(refund) and refund.id not in others:
            return refund.id
    return None
