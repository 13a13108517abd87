"""Platform-neutral records: what platform adapters produce from webhooks and APIs.

Adapters translate a platform's JSON into these; the services turn them into
rows. Amounts are integer minor units in the record's currency.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from integration.money import Money

__all__ = [
    "OrderLineData",
    "PaymentData",
    "OrderSnapshot",
    "ShopRefundLine",
    "ShopRefundData",
    "ReturnItemData",
    "ReturnRequestData",
    "ReturnStatusChange",
    "ShopUninstalled",
    "OrderRemoved",
    "RefundLineToRecord",
    "RefundToRecord",
]


@dataclass(frozen=True)
class OrderLineData:
    """One order line as paid: unit price before discounts, line totals for discount and tax."""

    platform_line_id: str
    title: str
    quantity: int
    unit_price: int
    discount_total: int = 0
    tax_total: int = 0
    tax_rate: Decimal = Decimal(0)
    sku: str | None = None
    product_id: str | None = None
    variant_id: str | None = None


@dataclass(frozen=True)
class PaymentData:
    """A captured payment: which provider holds the money and under which id."""

    platform_transaction_id: str
    provider: str
    gateway: str
    payment_id: str | None
    amount: int
    currency: str
    kind: str = "sale"
    # True when the shop platform itself moves money through this gateway
    # (Shopify Payments, a payments app); False when the provider took the
    # money outside the platform and Palautus must refund it there.
    platform_managed: bool = False
    # What the platform says was refunded from it so far (its successful refund transactions).
    refunded: int = 0


@dataclass(frozen=True)
class OrderSnapshot:
    """An order as the platform last described it."""

    platform_order_id: str
    name: str
    currency: str
    shop_currency: str
    taxes_included: bool
    updated_at: datetime
    lines: tuple[OrderLineData, ...] = ()
    email: str | None = None
    financial_status: str | None = None
    processed_at: datetime | None = None
    cancelled_at: datetime | None = None
    total: int = 0
    platform_gid: str | None = None
    # The platform says money was taken: the order's payments are worth reading.
    paid: bool = False
    # What the customer paid for shipping, tax included, and the VAT in it.
    shipping_total: int = 0
    shipping_tax: int = 0
    shipping_tax_rate: Decimal = Decimal(0)
    # The order's payments, where the platform's order itself carries them (WooCommerce);
    # None where they must be read from the platform separately (Shopify).
    payments: tuple[PaymentData, ...] | None = None
    # The ids of the refunds the order has on the platform, where its body lists them (WooCommerce).
    refund_ids: tuple[str, ...] | None = None
    # The shop has the order in its trash (it may restore it).
    removed: bool = False


@dataclass(frozen=True)
class ShopRefundLine:
    """Units of one order line refunded by the shop."""

    platform_line_id: str
    quantity: int


@dataclass(frozen=True)
class ShopRefundData:
    """A refund made in the shop itself (admin, POS, another app, or our own sync echoed back)."""

    platform_refund_id: str
    platform_order_id: str
    amount: int
    currency: str
    created_at: datetime
    lines: tuple[ShopRefundLine, ...] = ()
    note: str | None = None
    # transaction ids of the payments this refund took money back from, and how much from each
    parent_transaction_ids: tuple[str, ...] = ()
    refunded_by_parent: tuple[tuple[str, int], ...] = ()
    # the platform's return this refund was made for, when it names one
    platform_return_id: str | None = None
    # it gave back (some of) the order's shipping
    shipping_refunded: bool = False
    # money still on its way back (refund transactions pending at the payment gateway)
    pending: int = 0
    # False when the read was cut short: not all of its lines are here
    complete: bool = True
    # The Palautus refund key the platform keeps as data on the refund (not note text): only Palautus
    # writes it, so the refund is one of ours, even one recorded twice after a lost answer.
    recorded_key: str | None = None


@dataclass(frozen=True)
class ReturnItemData:
    """One line of a return request."""

    platform_line_id: str
    quantity: int
    reason: str
    reason_note: str | None = None
    platform_item_id: str | None = None


@dataclass(frozen=True)
class ReturnRequestData:
    """A return the customer or merchant opened in the shop platform."""

    platform_return_id: str
    platform_order_id: str
    items: tuple[ReturnItemData, ...] = ()
    name: str | None = None
    customer_note: str | None = None


@dataclass(frozen=True)
class ReturnStatusChange:
    """The platform says a return it owns changed status (approved, declined, cancelled, closed)."""

    platform_return_id: str
    platform_order_id: str | None
    status: str  # our ReturnStatus the platform's change means: approved, rejected, cancelled, closed
    reason: str | None = None
    note: str | None = None
    items: tuple[ReturnItemData, ...] = field(default=())


@dataclass(frozen=True)
class ShopUninstalled:
    """The merchant removed the app: its access token is dead."""


@dataclass(frozen=True)
class OrderRemoved:
    """The shop put the order in its trash: no new return may start on it (it may come back, restored)."""

    platform_order_id: str


@dataclass(frozen=True)
class RefundLineToRecord:
    """Units of one order line a refund covers, and whether the shop should put them back in stock."""

    platform_line_id: str
    quantity: int
    restock: bool = False  # the merchant said so on receipt; the platform adapter restocks no unit twice
    amount: int = 0  # what was planned back for these units, tax included (before fees), minor units
    tax: int = 0  # the VAT in `amount`


@dataclass(frozen=True)
class RefundToRecord:
    """A refund Palautus made at a payment provider, to be recorded on the shop's order without moving money."""

    platform_order_id: str
    idempotency_key: str
    amount: Money
    note: str
    lines: tuple[RefundLineToRecord, ...] = ()
    platform_transaction_id: str | None = None  # the payment it went back to
    gateway: str | None = None
    platform_return_id: str | None = None
    shipping: int = 0  # the order's shipping, given back in full (tax included)
    shipping_tax: int = 0  # the VAT in `shipping`
    tax: int = 0  # the VAT in `amount`: what the refund's lines and shipping carry, shrunk with any fee kept
