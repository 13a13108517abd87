"""Platform-neutral records: what platform adapters produce from webhooks and APIs.

Adapters translate a platform's JSON into these; the services turn them into
rows. Amounts are integer minor units in the record's currency.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from integration.money import Money
from integration.refunds import RefundStatus

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
    "CustomerDataRequest",
    "CustomerRedact",
    "ShopRedact",
    "OrderRemoved",
    "RefundMoneyMoved",
    "RefundLineToRecord",
    "RefundToRecord",
    "ProviderRefund",
    "PaymentRef",
    "RefundLine",
    "RefundRequest",
    "ProviderRefundUpdate",
    "ProductData",
    "ReturnLineToOpen",
    "ReturnToOpen",
    "SettlementMovement",
    "Settlement",
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
    gift_card: bool = False  # the line sold a gift card (the platform says so)


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
    # A gift card or store credit: refunded from last, after every card and wallet (money back to the
    # customer's own means of payment first, as consumer rules and the platforms' own refunds do).
    stored_value: bool = False


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
    # The customer's id on the platform, where the body names one (not kept on the order: a customer's erasure
    # is remembered by it, so a snapshot of their order applied later does not bring their e-mail back).
    platform_customer_id: str | None = None
    # When the last item was fulfilled (only once every item is), and when the last shipment reached the customer
    # (only once every shipment did); None where the platform does not say. The customer's language at checkout.
    fulfilled_at: datetime | None = None
    delivered_at: datetime | None = None
    locale: str | None = None
    # Where the sale's VAT is due: the country the goods went to (ISO 3166-1 alpha-2), where the order says.
    tax_country: str | None = None


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

    shop_domain: str | None = None  # the shop the body names (its platform domain), checked against the delivery's


@dataclass(frozen=True)
class CustomerDataRequest:
    """A customer asked the shop for the data held on them: Palautus gathers what it holds, for the merchant.

    `shop_domain` is the shop the body itself names, where the platform puts one in it: the job acts only when it
    is the shop the delivery was verified for.
    """

    platform_request_id: str | None
    customer_email: str | None
    platform_customer_id: str | None
    platform_order_ids: tuple[str, ...] = ()
    shop_domain: str | None = None


@dataclass(frozen=True)
class CustomerRedact:
    """The shop asks Palautus to erase a customer's personal data (their e-mail, notes, the bodies that carry them)."""

    customer_email: str | None
    platform_customer_id: str | None
    platform_order_ids: tuple[str, ...] = ()
    shop_domain: str | None = None


@dataclass(frozen=True)
class ShopRedact:
    """Some time after the app was removed, the platform asks Palautus to erase what it holds on the shop."""

    shop_domain: str | None = None


@dataclass(frozen=True)
class OrderRemoved:
    """The shop put the order in its trash: no new return may start on it (it may come back, restored)."""

    platform_order_id: str


@dataclass(frozen=True)
class RefundMoneyMoved:
    """The platform's gateway settled or failed a refund's money on this order (a payments app answered): the
    refunds on their way through it are asked about again."""

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


# --- the payment-route port's records: one refund asked of a route, and its answer -----------------


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as the route reports it, in our vocabulary."""

    provider_refund_id: str
    status: RefundStatus  # SUBMITTED while the provider (or the platform's gateway) still works on it
    amount: Money
    provider_status: str  # the provider's own word, for operators
    failure_reason: str | None = None


@dataclass(frozen=True)
class PaymentRef:
    """Where the money is: the provider, its payment id, and the platform's transaction and order."""

    provider: str
    payment_id: str | None
    platform_transaction_id: str
    order_reference: str  # the order's name as the customer knows it (#1001)
    gateway: str
    platform_order_id: str = ""  # the order on the shop's platform (its numeric id)
    kind: str = "sale"  # sale or capture


@dataclass(frozen=True)
class RefundLine:
    """One refunded order line, for routes that itemise refunds (the platforms, Klarna, Paytrail)."""

    reference: str  # the platform's line id
    title: str
    sku: str | None
    quantity: int
    amount: int  # minor units, tax included, before any fee is kept
    tax: int
    tax_rate: str  # "0.24"
    restock: bool = False  # the merchant asked for its units back in stock
    # Units of it the platform already lists as refunded on an earlier refund of ours that failed there (a
    # payments app refused the money, Shopify kept the items): not listed again, or the platform refuses.
    listed: int = 0


@dataclass(frozen=True)
class RefundRequest:
    """Everything a route may need to pay one Refund back; the same request for every retry.

    `amount` is what goes back: the lines' and shipping's worth less any fee the
    policy keeps. `note` names the refund for people and carries its key
    (`note_reference`), so a refund recorded by a platform is known as ours.
    """

    payment: PaymentRef
    amount: Money
    idempotency_key: str
    lines: tuple[RefundLine, ...] = ()
    email: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    note: str = ""
    shipping: int = 0  # of the amount, the order's shipping given back in full (tax included)
    shipping_tax: int = 0  # the VAT in `shipping`
    # The platform already lists the shipping as refunded (an earlier refund of ours that failed there): the
    # money goes back all the same, the shipping is not listed again.
    shipping_listed: bool = False
    tax: int = 0  # the VAT in `amount`
    platform_return_id: str | None = None  # the platform's own return, where it has one
    # The payments it is paid from when its route refunds several in one request: (payment, amount) each,
    # adding up to `amount`; empty when it all comes from `payment`.
    parts: tuple[tuple[PaymentRef, Money], ...] = ()
    # Where a provider that answers later (Paytrail's signed refund callbacks) reaches Palautus about this
    # refund: the shop's own address for the route's callbacks; the route adds its own path and query.
    callback_url: str | None = None


@dataclass(frozen=True)
class ProviderRefundUpdate:
    """A payment provider says (in a signed webhook or callback) what became of a refund: its state now."""

    provider: str
    provider_refund_id: str | None
    status: RefundStatus  # SUBMITTED while it is still on its way
    amount: Money | None
    provider_status: str
    failure_reason: str | None = None
    idempotency_key: str | None = None  # our key, where the provider echoes it (metadata, a stamp): signed
    # The delivery came to an address only our own refunds use (Paytrail's callback URLs): it is about a
    # refund of ours, so one Palautus cannot match yet is retried, and a person told, never dropped.
    ours: bool = False
    hint: str | None = None  # an unsigned hint at which refund (our own URL parameter): for people only


@dataclass(frozen=True)
class ProductData:
    """What the return policy's product rules read: a product's type and tags, as of `updated_at`."""

    platform_product_id: str
    title: str | None
    product_type: str | None
    tags: tuple[str, ...]
    updated_at: datetime | None


@dataclass(frozen=True)
class ReturnLineToOpen:
    """Units of one order line a return opened in Palautus takes back, and why."""

    platform_line_id: str
    quantity: int
    reason: str  # our Reason code
    title: str = ""
    note: str | None = None  # what the customer wrote about it


@dataclass(frozen=True)
class ReturnToOpen:
    """A return opened in Palautus (the portal), for the shop's platform to show: its own return, or a note."""

    platform_order_id: str
    code: str  # the return code the customer was given
    lines: tuple[ReturnLineToOpen, ...]
    opened_at: datetime
    # The platform's returns of this order already linked to returns of ours: never taken for this one.
    linked: tuple[str, ...] = ()


# --- the settlement port's records: what a provider paid out, movement by movement ---------------------


class MovementKind:
    """What a settlement movement is, in our words (providers' own words stay in `provider_type`)."""

    CHARGE = "charge"  # money the customer paid in
    REFUND = "refund"  # money that went back to the customer
    REFUND_FAILURE = "refund_failure"  # a refund that came back (failed after it was settled)
    FEE = "fee"  # the provider's fee, on its own row (on a charge, a refund, or the account)
    DISPUTE = "dispute"  # a chargeback and its reversal
    ADJUSTMENT = "adjustment"  # anything else that moves the balance (corrections, reserves, transfers)
    PAYOUT = "payout"  # the payout itself, where the provider lists it among the movements


@dataclass(frozen=True)
class SettlementMovement:
    """One movement in a provider's settlement (a payout): signed as the provider's balance sees it.

    `amount` is gross and signed in minor units of `currency`: a charge is positive, a refund negative.
    `fee` is what the provider charged on this movement (positive: taken from the merchant), kept apart
    from `amount` so a refund's own fee shows as a row of its own in the books.
    `provider_refund_id` is in exactly the form Palautus stores in `Refund.provider_refund_id` for that route
    (Klarna: "<order_id>:<refund_id>"), so matching is an equality; `reference` is what we sent with the
    refund as the provider echoes it (our idempotency key, or the return code): the second way to match.
    """

    movement_id: str  # the provider's id for the movement (a balance transaction, a report row), unique in it
    kind: str  # a MovementKind
    amount: int
    fee: int
    currency: str
    occurred_at: datetime | None = None
    provider_refund_id: str | None = None
    reference: str | None = None
    payment_id: str | None = None  # the payment it belongs to, as Payment.payment_id has it
    provider_type: str = ""  # the provider's own word for it (Stripe's "refund", Klarna's "RETURN", ...)
    description: str | None = None


@dataclass(frozen=True)
class Settlement:
    """A payout or settlement as the provider reports it, with every movement in it."""

    provider: str  # the route's name
    settlement_id: str  # Stripe po_..., Klarna payment_reference, Paytrail settlement id, Shopify payout id
    currency: str
    net: int  # what was paid out to the merchant, minor units (charges - refunds - fees +/- the rest)
    status: str  # the provider's word: paid, in_transit, pending, failed, ...
    paid_out_at: datetime | None
    movements: tuple[SettlementMovement, ...]
    reference: str | None = None  # the bank reference the payout carries, where there is one


@dataclass(frozen=True)
class SettlementReport:
    """A settlement the provider sent to our callback address (Paytrail's payment report), verified when it came:
    what a read would have returned, delivered later; kept as the read keeps it."""

    route: str  # the payment route it came through, as `store_settlement` takes it
    settlement: Settlement
