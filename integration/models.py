"""Persistence of the common return model (SQLAlchemy 2 declarative). Logic lives elsewhere."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "Shop",
    "Order",
    "OrderLine",
    "Payment",
    "ShopRefund",
    "Return",
    "ReturnItem",
    "Refund",
    "WebhookEvent",
    "ReturnEvent",
    "EarlyReturnStatus",
    "Product",
    "Withdrawal",
    "Message",
    "DashboardLogin",
    "PrivacyTombstone",
    "CreditNote",
    "SettlementRecord",
    "SettlementLine",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on the way in and out, on SQLite too (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Minor = BigInteger  # money in minor units
Rate = Numeric(9, 6)  # VAT rate as a fraction: 0.24


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class Shop(Base):
    __tablename__ = "shops"
    __table_args__ = (UniqueConstraint("platform", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    domain: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str | None] = mapped_column(String(3))
    # Fernet tokens: the platform's access token, a webhook secret of the shop's
    # own (custom apps), and the payment providers' credentials as JSON.
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(String(16))
    policy: Mapped[dict] = mapped_column(JSON, default=dict)
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    uninstalled_at: Mapped[datetime | None]
    # The unguessable key in the shop's own webhook URL (/webhooks/<platform>/<key>), for platforms
    # whose deliveries do not say which shop they come from in a way we can trust before verifying.
    webhook_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # What an operator should look at, by kind: {"webhooks": {"message": ..., "at": ...}, ...}.
    alerts: Mapped[dict] = mapped_column(JSON, default=dict)
    # Catch-up sync: orders modified up to here have been read from the platform.
    synced_until: Mapped[datetime | None]
    # The shop's customer-facing address in Palautus (/s/<portal_slug>/...): the return portal, the policy
    # page and the withdrawal function. Public and stable: merchants link to it from their storefront and e-mails.
    portal_slug: Mapped[str | None] = mapped_column(String(64), unique=True)
    # How the shop presents itself to its customers and on its documents: {"legal_name", "email", "address",
    # "vat_id", "languages", "default_language", ...} (integration/services/shops.py checks it).
    profile: Mapped[dict] = mapped_column(JSON, default=dict)
    # The shop's bookkeeping settings: {"credit_notes": bool, "chart": "fi"|"bas", "accounts": {...}}
    # (integration/services/books_settings.py checks it).
    books: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    # The number of the last credit note Palautus issued for the shop: numbers run 1, 2, 3... without a gap.
    credit_note_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("shop_id", "platform_order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    platform_order_id: Mapped[str] = mapped_column(String(64))
    platform_gid: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3))  # what the customer paid in
    shop_currency: Mapped[str] = mapped_column(String(3))
    taxes_included: Mapped[bool] = mapped_column(Boolean, default=False)
    financial_status: Mapped[str | None] = mapped_column(String(32))
    total: Mapped[int] = mapped_column(Minor, default=0)
    # What the customer paid for shipping (tax included) and the VAT in it: refunded on a whole-order withdrawal.
    shipping_total: Mapped[int] = mapped_column(Minor, default=0)
    shipping_tax: Mapped[int] = mapped_column(Minor, default=0)
    shipping_tax_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal(0))
    processed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    platform_updated_at: Mapped[datetime]
    payments_synced_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]  # the store put the order in its trash (it may restore it)
    snapshot_changes: Mapped[int] = mapped_column(Integer, default=0)  # newer snapshots applied after the first
    # When the last item left the shop, and when the last item reached the customer, where the platform says:
    # the return window counts from delivery where known, the statutory withdrawal period only from delivery.
    fulfilled_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    locale: Mapped[str | None] = mapped_column(String(16))  # the customer's language at checkout, where known
    # Where the VAT of the sale is due (ISO 3166-1 alpha-2): the country the goods went to, where the platform
    # says (shipping address, else billing address); None where it does not.
    tax_country: Mapped[str | None] = mapped_column(String(2))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )
    payments: Mapped[list[Payment]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="Payment.id"
    )
    shop_refunds: Mapped[list[ShopRefund]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="ShopRefund.id"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "platform_line_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    platform_line_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(512))
    sku: Mapped[str | None] = mapped_column(String(255))
    product_id: Mapped[str | None] = mapped_column(String(64))
    variant_id: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Minor)
    discount_total: Mapped[int] = mapped_column(Minor, default=0)
    tax_total: Mapped[int] = mapped_column(Minor, default=0)
    tax_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal(0))
    gift_card: Mapped[bool] = mapped_column(Boolean, default=False)

    order: Mapped[Order] = relationship(back_populates="lines")


class Payment(Base):
    """A payment reference: which provider holds the order's money, under which id."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("order_id", "platform_transaction_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    platform_transaction_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(40))
    gateway: Mapped[str] = mapped_column(String(120))
    payment_id: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(Minor)
    currency: Mapped[str] = mapped_column(String(3))
    platform_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the platform last said was refunded from this payment (money that moved, by anyone).
    refunded: Mapped[int] = mapped_column(Minor, default=0)
    stored_value: Mapped[bool] = mapped_column(Boolean, default=False)  # a gift card or store credit: refunded last

    order: Mapped[Order] = relationship(back_populates="payments")


class ShopRefund(Base):
    """A refund recorded in the shop: made in its admin, or our own refund echoed back."""

    __tablename__ = "shop_refunds"
    __table_args__ = (UniqueConstraint("order_id", "platform_refund_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    platform_refund_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(Minor)
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list] = mapped_column(JSON, default=list)  # [{platform_line_id, quantity}]
    parent_transaction_ids: Mapped[list] = mapped_column(JSON, default=list)
    # {parent transaction id: minor units}: what it took back from each payment (one refund may take from two)
    refunded_by_parent: Mapped[dict] = mapped_column(JSON, default=dict)
    platform_return_id: Mapped[str | None] = mapped_column(String(64))  # the return it was made for, if any
    shipping_refunded: Mapped[bool] = mapped_column(Boolean, default=False)
    pending: Mapped[int] = mapped_column(Minor, default=0)  # money still on its way back at the gateway
    complete: Mapped[bool] = mapped_column(Boolean, default=True)  # all its lines are known
    note: Mapped[str | None] = mapped_column(Text)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]

    order: Mapped[Order] = relationship(back_populates="shop_refunds")


class Return(Base):
    __tablename__ = "returns"
    __table_args__ = (UniqueConstraint("shop_id", "code"), UniqueConstraint("shop_id", "platform_return_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), index=True)
    method: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    platform_return_id: Mapped[str | None] = mapped_column(String(64))
    # The status the platform's own return has, as far as we know (REQUESTED,
    # OPEN, DECLINED, CANCELED, CLOSED); sync jobs bring it in line with ours.
    shop_status: Mapped[str | None] = mapped_column(String(20))
    shop_sync_error: Mapped[str | None] = mapped_column(Text)
    sync_enqueued_at: Mapped[datetime | None]  # when the sweeper last queued its sync
    customer_note: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[dict] = mapped_column(JSON, default=dict)  # {"eligible", "reasons": [...]}
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the customer asked (the platform's time)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # "return" (the shop's voluntary returns, under its policy) or "withdrawal" (the customer's statutory right
    # of withdrawal: the shop's policy may not narrow it; see integration/withdrawal.py).
    track: Mapped[str] = mapped_column(String(20), default="return", server_default="return")
    customer_email: Mapped[str | None] = mapped_column(String(320))  # where messages about it go, when not the order's
    language: Mapped[str | None] = mapped_column(String(8))  # the customer's language for pages and messages
    # When the refund is due by law (a withdrawal: 14 days from the notice); None where no legal clock runs.
    refund_due_at: Mapped[datetime | None]
    feedback_rating: Mapped[int | None] = mapped_column(Integer)  # 1-5, given once after the refund
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None]
    # Optimistic lock: of two requests that move the same return at once, the
    # second fails (StaleDataError, a 409) instead of silently overwriting the first.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    order: Mapped[Order] = relationship()
    items: Mapped[list[ReturnItem]] = relationship(
        back_populates="ret", cascade="all, delete-orphan", order_by="ReturnItem.id"
    )
    refunds: Mapped[list[Refund]] = relationship(back_populates="ret", order_by="Refund.sequence")
    events: Mapped[list[ReturnEvent]] = relationship(
        back_populates="ret", cascade="all, delete-orphan", order_by="ReturnEvent.id"
    )


class ReturnItem(Base):
    __tablename__ = "return_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    platform_item_id: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    reason_note: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(String(32))
    restock: Mapped[bool | None] = mapped_column(Boolean)
    # A deduction for diminished value (handling beyond what was needed to establish the goods' nature), in the
    # order's minor units, tax included, recorded with its reason at receipt: the only deduction a withdrawal allows.
    deduction: Mapped[int] = mapped_column(Minor, default=0, server_default="0")
    deduction_reason: Mapped[str | None] = mapped_column(Text)

    ret: Mapped[Return] = relationship(back_populates="items")
    order_line: Mapped[OrderLine] = relationship()


class Refund(Base):
    """One money movement back to the customer, written before the provider is called."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("return_id", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"), index=True)
    # Resolved by the refund job when the order's payments were not known yet.
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    amount: Mapped[int] = mapped_column(Minor)
    currency: Mapped[str] = mapped_column(String(3))
    tax: Mapped[int] = mapped_column(Minor, default=0)
    vat: Mapped[dict] = mapped_column(JSON, default=dict)  # {"0.24": 1935}
    fees: Mapped[dict] = mapped_column(JSON, default=dict)  # {"restocking": 500}
    shipping: Mapped[int] = mapped_column(Minor, default=0)  # the order's shipping, given back (tax included)
    # The VAT in `shipping` and its rate as the sale had them when the refund was planned (None: planned before
    # Palautus kept them): the books credit these, whatever the order's shipping became since.
    shipping_tax: Mapped[int | None] = mapped_column(Minor)
    shipping_tax_rate: Mapped[Decimal | None] = mapped_column(Rate)
    # The return policy in force when the refund was started: the job plans again with it, not with
    # one changed since (a fee added later never shortens a refund already promised).
    policy: Mapped[dict] = mapped_column(JSON, default=dict)
    # Since when it waits for the shop's payments and refunds to be read and explained (None: not waiting).
    waiting_since: Mapped[datetime | None]
    lines: Mapped[list] = mapped_column(JSON, default=list)
    provider: Mapped[str | None] = mapped_column(String(40))  # who holds the money (the payment's provider)
    # Who moves it back: a provider's own route (its name), or the shop's platform's gateway (the platform's
    # name). Chosen with the payment when the refund is planned; fixed once it is sent.
    route: Mapped[str | None] = mapped_column(String(40))
    # The payments it is paid from, when its route refunds several in one request: [{"payment_id", "amount"}].
    parts: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), index=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    provider_status: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The provider may hold an outcome we never saw (it answered 5xx after taking the
    # request): look the refund up by its key before sending anything again.
    needs_lookup: Mapped[bool] = mapped_column(Boolean, default=False)
    # A job holds the refund until this moment; a crashed job's claim runs out.
    claimed_until: Mapped[datetime | None]
    # After a failed attempt the sweeper leaves the refund to rq's retries until then.
    next_attempt_at: Mapped[datetime | None]
    # When the sweeper last queued the refund's job and its shop sync: it leaves them
    # alone for a while after, so a backlog is not queued again every minute.
    enqueued_at: Mapped[datetime | None]
    sync_enqueued_at: Mapped[datetime | None]
    sync_claimed_until: Mapped[datetime | None]  # one sync at a time records a refund in the shop
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_submitted_at: Mapped[datetime | None]
    # When a request for it last left for a route without an idempotency key (see jobs/refunds.py `_send`).
    last_sent_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    shop_refund_gid: Mapped[str | None] = mapped_column(String(128))
    shop_synced_at: Mapped[datetime | None]
    sync_error: Mapped[str | None] = mapped_column(Text)

    ret: Mapped[Return] = relationship(back_populates="refunds")
    payment: Mapped[Payment | None] = relationship()


_UNQUEUED = "status = 'received' AND enqueued_at IS NULL"


class WebhookEvent(Base):
    """The inbox: every delivery we answered 200 to, before anything is done with it."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("shop_id", "delivery_id"),
        # What the outbox relay still has to queue: a handful of rows however large the inbox grows.
        Index("ix_webhook_events_unqueued", "id", postgresql_where=text(_UNQUEUED), sqlite_where=text(_UNQUEUED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(100))
    delivery_id: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255))
    api_version: Mapped[str | None] = mapped_column(String(20))
    triggered_at: Mapped[datetime | None]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]  # when the sweeper tries a retrying event again
    enqueued_at: Mapped[datetime | None]  # when the outbox relay or the sweeper last queued it
    correlation_id: Mapped[str | None] = mapped_column(String(64))  # the delivery's request id, for its job's logs
    processed_at: Mapped[datetime | None]
    # A customer erased while this delivery waited (it names them), or one about an erased order: its body is
    # replaced by a stub the moment it is processed, ignored or failed (see integration/services/privacy.py).
    erase_body: Mapped[bool] = mapped_column(Boolean, default=False)


class ReturnEvent(Base):
    """The audit trail: who did what to a return, when, with what data."""

    __tablename__ = "return_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ret: Mapped[Return] = relationship(back_populates="events")


class EarlyReturnStatus(Base):
    """A platform's status change for a return Palautus has not opened yet; applied when the return opens.

    A cancel or decline can arrive before its return request (the request waits
    for its order): dropping it would let the return open, be approved and be paid.
    """

    __tablename__ = "early_return_statuses"
    __table_args__ = (Index(None, "shop_id", "platform_return_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_return_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # the ReturnStatus the platform's change means
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    happened_at: Mapped[datetime]  # when the platform made the change, as far as we know
    applied_at: Mapped[datetime | None]


class PendingConnection(Base):
    """A WooCommerce store a merchant asked to connect from the browser, until the store sends its REST keys.

    `token` is the `user_id` Palautus gives WooCommerce's /wc-auth/v1/authorize: unguessable, single use,
    short-lived. The store's unsigned key delivery is taken only for a connection Palautus started.
    """

    __tablename__ = "pending_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    store_url: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)


class PrivacyRequest(Base):
    """A privacy duty for one shop: a customer's data request, a customer's or the whole shop's redaction.

    From the platform (Shopify's mandatory compliance webhooks) or the merchant (the API, for any platform).
    A data request keeps the export it produced for the merchant to fetch.
    """

    __tablename__ = "privacy_requests"
    __table_args__ = (Index(None, "shop_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # customer_data_request | customer_redact | shop_redact
    source: Mapped[str] = mapped_column(String(20))  # the platform's name, or "merchant_api"
    customer_email: Mapped[str | None] = mapped_column(String(320))
    platform_customer_id: Mapped[str | None] = mapped_column(String(64))
    platform_request_id: Mapped[str | None] = mapped_column(String(64))  # Shopify's data_request.id
    orders: Mapped[list] = mapped_column(JSON, default=list)  # platform order ids the request names
    status: Mapped[str] = mapped_column(String(20), default="received")  # received | done | failed
    export: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class PrivacyTombstone(Base):
    """A customer's erasure, remembered so that nothing applied later brings their personal data back.

    Per shop and per what identifies the customer in what a platform sends: their e-mail and their customer id
    on the platform (each only as a hash: `key`), and the ids of their orders (in clear, as the orders kept for
    the books have them). `erased_at` is the latest erasure. See integration/services/privacy.py.
    """

    __tablename__ = "privacy_tombstones"
    __table_args__ = (UniqueConstraint("shop_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # email | customer | order
    key: Mapped[str] = mapped_column(String(64))  # SHA-256 (hex) of the e-mail or customer id; an order's id
    erased_at: Mapped[datetime]


class Product(Base):
    """What the policy needs to know of a product that its order lines do not carry: its type and tags."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("shop_id", "platform_product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_product_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(512))
    product_type: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    platform_updated_at: Mapped[datetime | None]
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class Withdrawal(Base):
    """A customer's statement of withdrawal from a contract, made through the shop's withdrawal function.

    Stored when the customer confirms it (the second step): `submitted_at` is when the trader was informed,
    from which the 14 days to refund run. Its own track beside returns: see integration/withdrawal.py.
    """

    __tablename__ = "withdrawals"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id", ondelete="SET NULL"))
    code: Mapped[str] = mapped_column(String(16))  # the reference the acknowledgement gives the customer
    kind: Mapped[str] = mapped_column(String(20))  # "withdrawal" (after delivery) or "cancellation" (before)
    status: Mapped[str] = mapped_column(String(20), default="received")
    # The statement as the customer made it: who, which contract, where to confirm.
    customer_name: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(String(320))
    order_reference: Mapped[str] = mapped_column(String(64))
    lines: Mapped[list] = mapped_column(JSON, default=list)  # [{platform_line_id, quantity}]; empty: the whole order
    language: Mapped[str | None] = mapped_column(String(8))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)  # why it could not be carried out by itself, for the merchant
    enqueued_at: Mapped[datetime | None]  # when the sweeper last queued its job (its first enqueue may have failed)


class Message(Base):
    """One e-mail to a customer for one step of their return or withdrawal: written with the step, sent by a job.

    `dedupe_key` ("return:12:approved") makes a second message for the same step impossible.
    """

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    withdrawal_id: Mapped[int | None] = mapped_column(ForeignKey("withdrawals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # what the step's template needs beyond the return
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending|sending|sent|failed
    # The RFC 5322 Message-ID, fixed when the message is written: were it ever sent again after a crash,
    # the copy carries the same id and mail clients show it once.
    message_id: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # When a job began handing it to the SMTP server (just before DATA): from then on the server may have it, and
    # no later run sends it again (see jobs/messages.py).
    handed_at: Mapped[datetime | None]
    # After a failed attempt the sweeper leaves it to rq's retries until then; when the sweeper last queued it.
    next_attempt_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]


class DashboardLogin(Base):
    """A signed sign-in link for a shop's staff, remembered once used so it signs in only once."""

    __tablename__ = "dashboard_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))  # whom it was made for, when known
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class CreditNote(Base):
    """A credit document Palautus issued for one refund (where the shop turned them on): kept for the books.

    `number` runs per shop without gaps (Shop.credit_note_seq, taken in the same transaction); `document` is the
    whole document as issued (seller, original sale, what is amended, lines, totals per rate): the PDF is drawn
    from it, so it reads the same in ten years whatever the code has become.
    """

    __tablename__ = "credit_notes"
    __table_args__ = (UniqueConstraint("shop_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id"), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(Minor)  # what the document credits, tax included
    document: Mapped[dict] = mapped_column(JSON)


class SettlementRecord(Base):
    """A payout or settlement a payment provider made to the shop, as read from the provider."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("shop_id", "route", "settlement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    route: Mapped[str] = mapped_column(String(40))  # the payment route it was read through
    settlement_id: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    net: Mapped[int] = mapped_column(Minor)
    status: Mapped[str] = mapped_column(String(40))
    paid_out_at: Mapped[datetime | None]
    reference: Mapped[str | None] = mapped_column(String(255))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[SettlementLine]] = relationship(
        back_populates="settlement", cascade="all, delete-orphan", order_by="SettlementLine.id"
    )


class SettlementLine(Base):
    """One movement in a settlement (see integration/records.py: SettlementMovement)."""

    __tablename__ = "settlement_lines"
    __table_args__ = (UniqueConstraint("settlement_row_id", "movement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_row_id: Mapped[int] = mapped_column(ForeignKey("settlements.id", ondelete="CASCADE"), index=True)
    movement_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(Minor)
    fee: Mapped[int] = mapped_column(Minor, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime | None]
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), index=True)
    reference: Mapped[str | None] = mapped_column(String(255))
    payment_id: Mapped[str | None] = mapped_column(String(255))
    provider_type: Mapped[str] = mapped_column(String(60), default="")
    description: Mapped[str | None] = mapped_column(Text)

    settlement: Mapped[SettlementRecord] = relationship(back_populates="lines")
