"""The refund ledger of a period, read from the rows: our refunds that went back, and refunds made outside.

Reads only. Ours are the refunds that succeeded in the period (by `completed_at`: when the money went back);
external ones are refunds the shop recorded in the period that are not ours (`ShopRefund.refund_id` is None:
our own, echoed back, carry our refund's id). A refund made in a provider's dashboard that the shop never
recorded is found by reconciling the provider's settlement (integration/services/settlements.py).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from integration.books import BookRow, Component, Head, Taxed, external_rows, refund_rows
from integration.models import Order, Payment, Refund, Return, Shop, ShopRefund
from integration.money import allocate, prorate
from integration.refunds import RefundStatus

__all__ = ["ledger", "rows_for_refund", "rows_for_shop_refund", "Period", "UTC_ZONE"]

UTC_ZONE = ZoneInfo("UTC")


class Period:
    """[start, end): the days `first` to `last`, both included, as the shop's own time zone counts them (a refund
    at 23:30 UTC on 31 January is in February in Helsinki); rows are dated in the same zone."""

    def __init__(self, first: date, last: date, zone: ZoneInfo = UTC_ZONE):
        self.first, self.last, self.zone = first, last, zone
        self.start = datetime.combine(first, time(0), zone).astimezone(timezone.utc)
        self.end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(timezone.utc)


def ledger(session: Session, shop: Shop, period: Period) -> list[BookRow]:
    """Every row of the period: ours, then those the shop recorded, then those only a provider's settlement
    shows; each in the order the money moved."""
    return (_ours(session, shop, period) + _afterwards(session, shop, period) + _fees(session, shop, period)
            + _external(session, shop, period) + _provider_only(session, shop, period))


def _fees(session: Session, shop: Shop, period: Period) -> list[BookRow]:
    """The payment providers' fees on our refunds, as their payouts list them (read so far), in the period the
    movement happened: each a row of its own (no VAT: a financial service), under `<key>:fee`."""
    from integration.services.settlements import refund_fees

    rows = []
    for refund, fee, when, currency in refund_fees(session, shop, period.start, period.end):
        [first, *_] = rows_for_refund(shop, refund, period.zone, by_payment=False) or [None]
        if first is None:
            continue
        rows.append(replace(first, refund_ref=f"{refund.idempotency_key}:fee", refund_date=_day(when, period.zone),
                            component=Component.PROVIDER_FEE, rate=Decimal(0), currency=currency, gross=fee, net=fee,
                            vat=0))  # fmt: skip
    return rows


# What the refund's timeline records when the provider's word came after Palautus booked the refund otherwise.
CAME_BACK, PAID_AFTER_ALL = "refund_failed_after_success", "provider_paid_failed_refund"


def _afterwards(session: Session, shop: Shop, period: Period) -> list[BookRow]:
    """Refunds of ours whose money moved otherwise than booked, in the period the provider said so (its event on
    the return's timeline, or its payout's row, whichever came first):

    - one that succeeded, then came back (a closed card: the provider's refund_failure): its rows again, negated,
      under `<key>:reversed`, so the month it came back takes off what the month it left credited;
    - one Palautus has as failed that the provider paid all the same (an answer lost on the way): its rows, then,
      under `<key>:paid`, so money that left is in the books. Both also raise an alert for the merchant.
    """
    from integration.services.settlements import refunds_moved_later

    rows = []
    for refund, what, when in refunds_moved_later(session, shop):
        if not period.start <= when < period.end:
            continue
        sign = -1 if what == CAME_BACK else 1
        suffix = "reversed" if what == CAME_BACK else "paid"
        for row in rows_for_refund(shop, refund, period.zone):
            rows.append(replace(row, refund_ref=f"{row.refund_ref}:{suffix}", refund_date=_day(when, period.zone),
                                gross=sign * row.gross, net=sign * row.net, vat=sign * row.vat))
    return rows


def _provider_only(session: Session, shop: Shop, period: Period) -> list[BookRow]:
    """Refunds made in a provider's dashboard that neither Palautus nor the shop recorded: what the settlement
    says moved, its VAT spread over the sale's rates where the payment's order is known (`external_rows`)."""
    from integration.services.settlements import external_movements

    rows = []
    for record, line in external_movements(session, shop, period.start, period.end):
        order = session.scalar(select(Order).join(Payment).where(
            Order.shop_id == shop.id, Payment.payment_id == line.payment_id).limit(1)) if line.payment_id else None
        head = Head(
            shop_id=shop.id, source="external", refund_ref=f"{record.route}:{line.movement_id}", refund_id=None,
            shop_refund_id=None, order_ref=order.name if order else "", platform_order_id=order.platform_order_id
            if order else "", sale_date=_day(order.processed_at, period.zone) if order else None,
            refund_date=_day(line.occurred_at, period.zone),
            return_code=None, provider=record.route, route=record.route, provider_refund_id=line.provider_refund_id,
            country=(order.tax_country or "") if order else "", currency=line.currency,
        )  # fmt: skip
        sale = _sale(order) if order and order.currency == line.currency else []
        rows += external_rows(head, [], None, abs(line.amount), sale)
    return rows


def _ours(session: Session, shop: Shop, period: Period) -> list[BookRow]:
    query = (
        select(Refund).join(Return).where(
            Return.shop_id == shop.id, Refund.status == RefundStatus.SUCCEEDED.value,
            Refund.completed_at >= period.start, Refund.completed_at < period.end)
        .options(selectinload(Refund.ret).selectinload(Return.order))
        .order_by(Refund.completed_at, Refund.id)
    )  # fmt: skip
    return [row for refund in session.scalars(query) for row in rows_for_refund(shop, refund, period.zone)]


def _external(session: Session, shop: Shop, period: Period) -> list[BookRow]:
    query = (
        select(ShopRefund).join(Order).where(
            Order.shop_id == shop.id, ShopRefund.refund_id.is_(None),
            ShopRefund.created_at >= period.start, ShopRefund.created_at < period.end)
        .where(ShopRefund.amount != 0)  # a refund of nothing (a restock the admin recorded) moved no money
        .options(selectinload(ShopRefund.order).selectinload(Order.lines))
        .order_by(ShopRefund.created_at, ShopRefund.id)
    )  # fmt: skip
    return [row for shop_refund in session.scalars(query) for row in rows_for_shop_refund(shop, shop_refund, period.zone)]


def rows_for_refund(shop: Shop, refund: Refund, zone: ZoneInfo = UTC_ZONE, by_payment: bool = True) -> list[BookRow]:
    """The rows of one refund of ours (it must have succeeded: its amount is what went back); `by_payment`: split
    over the payments it paid from (the ledger, for the journal's clearing accounts), or whole (a credit note,
    which amends the sale, whatever paid it back)."""
    ret, order = refund.ret, refund.ret.order
    head = Head(
        shop_id=shop.id, source="palautus", refund_ref=refund.idempotency_key, refund_id=refund.id,
        shop_refund_id=None, order_ref=order.name, platform_order_id=order.platform_order_id,
        sale_date=_day(order.processed_at, zone), refund_date=_day(refund.completed_at or refund.created_at, zone),
        return_code=ret.code, provider=refund.provider, route=refund.route,
        provider_refund_id=refund.provider_refund_id, country=order.tax_country or "", currency=refund.currency,
    )  # fmt: skip
    goods = [Taxed(line["amount"], line["tax"], _rate(line["tax_rate"])) for line in refund.lines or []]
    shipping = _shipping(order, refund.shipping)
    if refund.shipping and refund.shipping_tax is not None:  # as planned: the sale's shipping VAT, never edited since
        shipping = Taxed(refund.shipping, refund.shipping_tax, _rate(refund.shipping_tax_rate))
    rows = refund_rows(head, goods, shipping, refund.fees or {}, refund.amount, refund.vat or {})
    return _by_payment(rows, refund) if by_payment else rows


def _by_payment(rows: list[BookRow], refund: Refund) -> list[BookRow]:
    """A refund that paid from several payments in one request (a card and a gift card, through Shopify): each row
    split over them in proportion to what each paid (`allocate`, VAT too, so every row stays exact and the rows
    still add up), each part under its payment's provider: the journal credits what each provider owes, and the
    gift card's part goes where the merchant books gift cards (their clearing account), not to the card's."""
    parts = [(part["payment_id"], part["amount"]) for part in refund.parts or [] if part.get("amount")]
    session = object_session(refund)
    if len(parts) < 2 or session is None:
        return rows
    payments = {p.id: p for p in session.scalars(select(Payment).where(Payment.id.in_([pid for pid, _ in parts])))}
    providers = [payments[pid].provider if pid in payments else refund.provider for pid, _ in parts]
    if len(set(providers)) < 2:
        return rows
    weights = [amount for _, amount in parts]
    split = []
    for row in rows:
        for provider, gross, vat in zip(providers, allocate(row.gross, weights), allocate(row.vat, weights)):
            if gross or vat:
                split.append(replace(row, provider=provider, gross=gross, vat=vat, net=gross - vat))
    return split


def rows_for_shop_refund(shop: Shop, shop_refund: ShopRefund, zone: ZoneInfo = UTC_ZONE) -> list[BookRow]:
    """The rows of a refund made outside Palautus, priced from the order's lines it names."""
    order = shop_refund.order
    head = Head(
        shop_id=shop.id, source="external", refund_ref=f"{shop.platform}:{shop_refund.platform_refund_id}",
        refund_id=None, shop_refund_id=shop_refund.id, order_ref=order.name,
        platform_order_id=order.platform_order_id, sale_date=_day(order.processed_at, zone),
        refund_date=_day(shop_refund.created_at, zone), return_code=None, provider=None, route=None,
        provider_refund_id=None, country=order.tax_country or "", currency=shop_refund.currency,
    )  # fmt: skip
    lines = {line.platform_line_id: line for line in order.lines}
    before = _refunded_before(shop_refund)
    goods = [_line_share(lines[item["platform_line_id"]], item["quantity"], before.get(item["platform_line_id"], 0))
             for item in shop_refund.lines or [] if item.get("platform_line_id") in lines and item.get("quantity")]  # fmt: skip
    shipping = _shipping(order, order.shipping_total) if shop_refund.shipping_refunded else None
    return external_rows(head, goods, shipping, shop_refund.amount, _sale(order))


def _sale(order: Order) -> list[Taxed]:
    """The whole sale: every line and the shipping, each at its own rate."""
    return [_line_share(line, line.quantity) for line in order.lines if line.quantity] + (
        [_shipping(order, order.shipping_total)] if order.shipping_total else [])


def _refunded_before(shop_refund: ShopRefund) -> dict[str, int]:
    """Units of each line the order's refunds recorded before this one gave back (ours echoed, or the admin's)."""
    units: dict[str, int] = {}
    for earlier in shop_refund.order.shop_refunds:
        if (earlier.created_at, earlier.id) >= (shop_refund.created_at, shop_refund.id):
            continue
        for item in earlier.lines or []:
            if item.get("platform_line_id") and isinstance(item.get("quantity"), int):
                units[item["platform_line_id"]] = units.get(item["platform_line_id"], 0) + item["quantity"]
    return units


def _line_share(line, quantity: int, before: int = 0) -> Taxed:
    """What `quantity` units of an order line cost the customer after `before` units went back earlier, and the VAT
    in it: the one pro-rating rule, so the refunds of a line add up to the line, its VAT to the cent."""
    quantity = max(min(quantity, line.quantity), 0)
    before = max(min(before, line.quantity - quantity), 0)
    gross = line.unit_price * line.quantity - line.discount_total
    paid = gross if line.order.taxes_included else gross + line.tax_total
    args = (line.quantity, quantity, before)
    return Taxed(prorate(paid, *args), prorate(line.tax_total, *args), _rate(line.tax_rate))


def _shipping(order: Order, amount: int) -> Taxed | None:
    """The order's shipping given back (`amount`, tax included), with its share of the shipping's VAT."""
    if not amount:
        return None
    tax = order.shipping_tax if amount == order.shipping_total or not order.shipping_total else (
        order.shipping_tax * amount // order.shipping_total)
    return Taxed(amount, tax, _rate(order.shipping_tax_rate))


def _rate(value) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def _day(moment: datetime | None, zone: ZoneInfo) -> date | None:
    return moment.astimezone(zone).date() if moment else None
