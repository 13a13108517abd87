"""Marshmallow schemas of the merchant API: what goes in, what comes out."""
from __future__ import annotations

import re
from decimal import Decimal

import marshmallow as ma
from marshmallow import validate

from integration.policy import RefundOn, ShippingRefund
from integration.return_methods import MAX_CARRIER, MAX_TEXT
from integration.services.inbox import EventStatus
from integration.returns import Reason, ReturnMethod, ReturnStatus

__all__ = [
    "ReturnQuery", "ItemIn", "ReturnCreate", "NoteIn", "RejectIn", "TransitIn", "ReceiveIn",
    "ReturnOut", "ReturnSummary", "RefundOut", "RefundPlanOut", "RefundQuery", "PolicySchema", "ShopOut",
    "Text", "Flag", "Percent", "InboxEventQuery", "InboxEventOut", "FeeList",
]  # fmt: skip

_values = lambda enum: [e.value for e in enum]  # noqa: E731


MAX_FEE = 100_000_000  # minor units: a million in a two-decimal currency, and exact in any JSON client
MAX_ID = 2_147_483_647  # ids are 32-bit in the database, as the return ids in the paths


class Text(ma.fields.String):
    """A string the database can keep: PostgreSQL text cannot hold NUL, so say so here, not with a 500."""

    default_error_messages = {"nul": "must not contain NUL characters"}
    # In the document too, so that a string with NUL is not promised to be accepted.
    NO_NUL = r"^[^\x00]*$"

    def __init__(self, **kwargs):
        super().__init__(metadata={"pattern": self.NO_NUL, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        return text


class Flag(ma.fields.Boolean):
    """A JSON true or false, as documented: not the 0, 1, "yes" or "on" marshmallow's Boolean also takes."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Percent(ma.fields.Decimal):
    """A percentage 0-100 as a JSON string ("7.50"): exact, like money, and the same shape in and out."""

    DIGITS = r"[0-9]{1,3}(\.[0-9]{1,2})?"
    # For the document, the range written into the pattern: a string has no `maximum` a client or a
    # fuzzer reads, and DIGITS alone documented "999.99" as valid. Exactly DIGITS within 0-100.
    # (Python's $ would also let "7.5\n" through, hence fullmatch on DIGITS in _deserialize.)
    PATTERN = r"^(100(\.00?)?|0?[0-9]{1,2}(\.[0-9]{1,2})?)$"
    default_error_messages = {"format": 'must be a string like "7.50": a number from 0 to 100, at most 2 decimals'}

    def __init__(self, **kwargs):
        metadata = {"pattern": self.PATTERN, "example": "7.50", **kwargs.pop("metadata", {})}
        super().__init__(as_string=True, places=2, validate=validate.Range(min=0, max=100), metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not re.fullmatch(self.DIGITS, value):
            raise self.make_error("format")
        return super()._deserialize(value, attr, data, **kwargs)


class Rate(ma.fields.String):
    """A VAT rate as written in `vat` keys: "0.24", not the database's "0.240000"."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format(Decimal(value).normalize(), "f")


class _In(ma.Schema):
    error_messages = {"type": "must be a JSON object", "unknown": "is not a field of this request"}

    class Meta:
        unknown = ma.RAISE  # a misspelt field is an error, not silently dropped


class ReturnQuery(_In):
    status = Text(validate=validate.OneOf(_values(ReturnStatus)))
    code = Text()
    order = Text(metadata={"description": "the platform's order id"})


class ItemIn(_In):
    line_id = Text(required=True, metadata={"description": "the platform's order line id"})
    quantity = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10_000))
    reason = Text(load_default=Reason.OTHER.value, validate=validate.OneOf(_values(Reason)))
    note = Text(validate=validate.Length(max=2000), allow_none=True)


class ReturnCreate(_In):
    order_id = Text(required=True, metadata={"description": "the platform's order id"})
    items = ma.fields.List(
        ma.fields.Nested(ItemIn), required=True, validate=validate.Length(min=1, max=250),
        metadata={"description": "each order line at most once, with its total quantity"},
    )  # fmt: skip
    method = Text(load_default=ReturnMethod.CUSTOMER_SERVICE.value, validate=validate.OneOf(_values(ReturnMethod)))
    customer_note = Text(validate=validate.Length(max=5000), allow_none=True)

    @ma.validates_schema
    def _one_item_per_line(self, data, **kwargs):
        # Two items on one line would each be checked, and refunded, against the whole line.
        seen = set()
        for item in data.get("items", []):
            if item["line_id"] in seen:
                problem = f"line {item['line_id']} is listed twice: give its total quantity once"
                raise ma.ValidationError(problem, "items")
            seen.add(item["line_id"])


class NoteIn(_In):
    note = Text(validate=validate.Length(max=2000), allow_none=True)


class RejectIn(NoteIn):
    reason = Text(validate=validate.OneOf(["final_sale", "return_period_ended", "other"]), allow_none=True)


class TransitIn(_In):
    tracking = Text(validate=validate.Length(max=255), allow_none=True)


class ConditionIn(_In):
    item_id = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    condition = Text(validate=validate.OneOf(["new", "opened", "used", "damaged"]), allow_none=True)
    restock = Flag(allow_none=True)


class ReceiveIn(_In):
    items = ma.fields.List(ma.fields.Nested(ConditionIn), load_default=list)


class ItemOut(ma.Schema):
    id = ma.fields.Integer()
    line_id = ma.fields.String(attribute="order_line.platform_line_id")
    sku = ma.fields.String(attribute="order_line.sku", allow_none=True)
    title = ma.fields.String(attribute="order_line.title")
    quantity = ma.fields.Integer()
    reason = ma.fields.String()
    note = ma.fields.String(attribute="reason_note", allow_none=True)
    condition = ma.fields.String(allow_none=True)
    restock = ma.fields.Boolean(allow_none=True)


class RefundOut(ma.Schema):
    id = ma.fields.Integer()
    return_id = ma.fields.Integer()
    sequence = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "pending, submitted, succeeded or failed"})
    amount = ma.fields.Integer(metadata={"description": "minor units"})
    currency = ma.fields.String()
    tax = ma.fields.Integer(metadata={"description": (
        "VAT contained in the amount refunded, minor units: the goods' VAT, reduced in proportion when fees "
        "are kept or the payment had less left")})
    vat = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={"description": "VAT per rate"})
    fees = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    provider = ma.fields.String(allow_none=True)
    route = ma.fields.String(allow_none=True, metadata={"description": (
        "who moves the money back: the provider's route (its name) or the shop's platform's gateway (its name)")})
    provider_refund_id = ma.fields.String(allow_none=True)
    provider_status = ma.fields.String(allow_none=True)
    idempotency_key = ma.fields.String()
    attempts = ma.fields.Integer()
    last_error = ma.fields.String(allow_none=True, metadata={"description": "why it failed, or the last transient error"})
    created_at = ma.fields.DateTime()
    completed_at = ma.fields.DateTime(allow_none=True)
    shop_synced_at = ma.fields.DateTime(allow_none=True)
    sync_error = ma.fields.String(allow_none=True)


class EventOut(ma.Schema):
    at = ma.fields.DateTime(attribute="created_at")
    actor = ma.fields.String()
    kind = ma.fields.String()
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()


class ReturnSummary(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String(metadata={"description": "the return code the customer shows at a drop-off point"})
    status = ma.fields.String()
    method = ma.fields.String()
    source = ma.fields.String()
    order_id = ma.fields.String(attribute="order.platform_order_id")
    order_name = ma.fields.String(attribute="order.name")
    currency = ma.fields.String(attribute="order.currency")
    platform_return_id = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ReturnOut(ReturnSummary):
    customer_note = ma.fields.String(allow_none=True)
    decision = ma.fields.Dict(metadata={"description": "the policy's verdict: eligible, reasons"})
    items = ma.fields.List(ma.fields.Nested(ItemOut))
    refunds = ma.fields.List(ma.fields.Nested(RefundOut))
    timeline = ma.fields.List(ma.fields.Nested(EventOut), attribute="events")


class PlannedLineOut(ma.Schema):
    return_item_id = ma.fields.Integer(allow_none=True)
    quantity = ma.fields.Integer()
    amount = ma.fields.Integer()
    tax = ma.fields.Integer()
    tax_rate = Rate()


class RefundPlanOut(ma.Schema):
    currency = ma.fields.String()
    lines = ma.fields.List(ma.fields.Nested(PlannedLineOut))
    subtotal = ma.fields.Integer()
    fees = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    amount = ma.fields.Integer()
    tax = ma.fields.Integer()
    vat = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    owed = ma.fields.Integer(metadata={"description": "what the customer is owed: goods and shipping less fees"})
    shipping = ma.fields.Integer(metadata={"description": "of the subtotal, the order's shipping given back"})
    capped = ma.fields.Boolean(metadata={"description": (
        "the payment Palautus would refund from has less left than is owed: such a refund is not sent")})
    provider = ma.fields.String(allow_none=True)
    route = ma.fields.String(allow_none=True, metadata={"description": "the route the refund would take (see payments)"})


class FeeIn(_In):
    currency = Text(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"),
                    metadata={"pattern": "^[A-Z]{3}$", "description": "ISO 4217 code", "example": "EUR"})  # fmt: skip
    amount = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_FEE),
                               metadata={"description": "minor units of `currency`: 500 is 5.00 EUR"})  # fmt: skip


class FeeList(ma.fields.List):
    """A fee per currency: a list of {currency, amount} in the API, {currency: amount} in the stored policy."""

    default_error_messages = {"twice": "lists a currency more than once: give each currency once"}

    def __init__(self, **kwargs):
        super().__init__(ma.fields.Nested(FeeIn), validate=validate.Length(max=200), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return [{"currency": c, "amount": a} for c, a in sorted((value or {}).items())]

    def _deserialize(self, value, attr, data, **kwargs):
        fees = super()._deserialize(value, attr, data, **kwargs)
        if len({fee["currency"] for fee in fees}) != len(fees):
            raise self.make_error("twice")
        return {fee["currency"]: fee["amount"] for fee in fees}


class AmountsPerCurrency(FeeList):
    """A FeeList of the newer settings: a currency given twice keeps its last amount, as a JSON object would.

    The document cannot say "each currency once" of a list in a way a client can check, so it is not a rule here.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        fees = ma.fields.List._deserialize(self, value, attr, data, **kwargs)  # FeeList's, without its "twice"
        return {fee["currency"]: fee["amount"] for fee in fees}


class InstructionsIn(_In):
    fi = Text(validate=validate.Length(max=MAX_TEXT))
    sv = Text(validate=validate.Length(max=MAX_TEXT))
    en = Text(validate=validate.Length(max=MAX_TEXT))


class MethodIn(_In):
    method = Text(required=True, validate=validate.OneOf(
        [m.value for m in ReturnMethod if m != ReturnMethod.DROP_OFF]))  # drop_off: DropOffMethodIn
    carrier = Text(validate=validate.Length(max=MAX_CARRIER), metadata={"example": "Posti"})
    instructions = ma.fields.Nested(InstructionsIn, metadata={"description": "what the customer does, per language"})
    fee = AmountsPerCurrency(metadata={"description": (
        "the return shipping fee of this method, per currency: replaces return_shipping_fees for it (a currency "
        "given twice keeps its last amount)")})


class DropOffMethodIn(MethodIn):
    method = Text(required=True, validate=validate.OneOf([ReturnMethod.DROP_OFF.value]))
    drop_off_code = Text(validate=validate.Regexp(r"^[A-Za-z0-9-]{1,32}\Z"), metadata={
        "pattern": "^[A-Za-z0-9-]{1,32}$", "example": "12345",
        "description": "the shop's own code the customer gives at the carrier's drop-off point"})  # fmt: skip


def _inline(schema) -> dict:
    """A schema written out in place (its nested schemas too), for a oneOf: apispec's own conversion."""
    from apispec.ext.marshmallow.openapi import OpenAPIConverter

    return OpenAPIConverter("3.0.3", lambda _schema: None, None).schema2jsonschema(schema)


class MethodEntry(ma.fields.Field):
    """A return method the shop offers: its name, or an object with its carrier, instructions and fee."""

    default_error_messages = {"invalid": "must be a method name or an object with a method"}

    def _schema(self, value: dict) -> ma.Schema:
        return DropOffMethodIn() if value.get("method") == ReturnMethod.DROP_OFF.value else MethodIn()

    def _serialize(self, value, attr, obj, **kwargs):
        return value if isinstance(value, str) or value is None else self._schema(value).dump(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return Text(validate=validate.OneOf(_values(ReturnMethod))).deserialize(value)
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        return self._schema(value).load(value)


class MethodList(ma.fields.List):
    """The methods offered, in order; a method listed twice keeps its last listing (as settings given twice do)."""

    def __init__(self, **kwargs):
        super().__init__(MethodEntry(metadata={"oneOf": [
            {"type": "string", "enum": _values(ReturnMethod), "pattern": Text.NO_NUL},
            _inline(DropOffMethodIn), _inline(MethodIn),
        ]}), **kwargs)  # fmt: skip

    def _deserialize(self, value, attr, data, **kwargs):
        entries = {}
        for entry in super()._deserialize(value, attr, data, **kwargs):
            entries[entry if isinstance(entry, str) else entry["method"]] = entry
        return list(entries.values())


class WithdrawalExceptionsIn(_In):
    """Product tags per exception to the right of withdrawal (Directive 2011/83/EU art. 16)."""

    custom_made = ma.fields.List(Text(validate=validate.Length(max=255)))
    perishable = ma.fields.List(Text(validate=validate.Length(max=255)))
    sealed_hygiene = ma.fields.List(Text(validate=validate.Length(max=255)))
    sealed_media = ma.fields.List(Text(validate=validate.Length(max=255)))


def _tags(description: str) -> ma.fields.List:
    return ma.fields.List(Text(validate=validate.Length(max=255)), metadata={"description": description})


def _count(least: int, most: int, description: str, **kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=validate.Range(min=least, max=most),
                             metadata={"description": description}, **kwargs)  # fmt: skip


class PolicySchema(_In):
    window_days = _count(0, 3650, "days to ask for a return: from delivery where known, else dispatch, else the order")
    refund_on = Text(validate=validate.OneOf(_values(RefundOn)))
    auto_approve = Flag(metadata={"description": "approve an eligible return by itself, when the conditions allow"})
    auto_approve_reasons = ma.fields.List(Text(validate=validate.OneOf(_values(Reason))), metadata={"description": (
        "approve by itself only when every item's reason is one of these (empty: any reason)")})
    auto_approve_max_order_values = AmountsPerCurrency(metadata={"description": (
        "approve by itself only orders worth at most this, per currency (empty: any value; an order in a currency "
        "not listed waits for the merchant)")})
    abuse_limit_returns = _count(1, 10_000, (
        "a customer (by e-mail) who made this many returns in the last abuse_limit_days waits for the merchant: "
        "never refused for it (null: no limit)"), allow_none=True)
    abuse_limit_days = _count(1, 3650, "the days abuse_limit_returns counts back")
    restocking_fee_percent = Percent(metadata={"description": (
        "of the value of the items not returned for the shop's fault (defective, damaged_in_transit, wrong_item, "
        "not_as_described)")})
    return_shipping_fees = FeeList(metadata={"description": (
        "the flat return shipping fee kept from a refund, per currency (each currency at most once); an order "
        "in a currency not listed cannot be refunded while any fee is set. Waived when any item is returned for "
        "the shop's fault")})
    refund_shipping = Text(validate=validate.OneOf(_values(ShippingRefund)), metadata={"description": (
        "whole_order: the order's shipping goes back when a return completes the return of the whole order "
        "(the EU withdrawal rule); never: it is kept")})
    non_returnable_skus = ma.fields.List(Text(validate=validate.Length(max=255)))
    non_returnable_tags = _tags("products with any of these tags cannot be returned (case does not matter)")
    non_returnable_product_types = _tags("products of these types cannot be returned (case does not matter)")
    non_returnable_gift_cards = Flag(metadata={"description": "gift cards cannot be returned"})
    final_sale_tags = _tags("tags that mark a product final sale: it cannot be returned")
    max_units_per_return = _count(1, 10_000, "the most units one return may hold (null: no limit)", allow_none=True)
    methods = MethodList(metadata={"description": (
        "the ways back the shop offers, in order: a name, or an object with its carrier, its drop-off code "
        "(drop_off only), its instructions per language and its own fee. The whole list is replaced; a method "
        "listed twice keeps its last listing")})
    withdrawal_return_cost_disclosed = Flag(metadata={"description": (
        "the customer was told before buying that they bear the cost of returning goods after a withdrawal: "
        "only then does a withdrawal's refund keep the return shipping fee")})
    withdrawal_exceptions = ma.fields.Nested(WithdrawalExceptionsIn, metadata={"description": (
        "product tags per exception to the statutory right of withdrawal (art. 16 of Directive 2011/83/EU); "
        "sealed goods lose it only if unsealed, so they are noted, not refused")})


class ShopOut(ma.Schema):
    id = ma.fields.Integer()
    platform = ma.fields.String()
    domain = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    currency = ma.fields.String(allow_none=True)
    policy = ma.fields.Nested(PolicySchema)
    installed_at = ma.fields.DateTime()
    alerts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Dict(), metadata={"description": (
        "what an operator should look at, by kind (webhooks, source, store): {message, at}")})
    synced_until = ma.fields.DateTime(allow_none=True, metadata={"description": (
        "for platforms that never retry a delivery: orders changed up to here have been caught up")})
    customer_links = ma.fields.Method("_customer_links", metadata={"description": (
        "the shop's stable customer pages: the return portal, the policy page and the withdrawal function "
        "(link them from the storefront, order e-mails and customer account pages)")})

    def _customer_links(self, shop) -> dict:
        from flask import current_app

        return current_app.extensions["customer_links"](shop)


class OrderLineOut(ma.Schema):
    line_id = ma.fields.String(attribute="line.platform_line_id")
    title = ma.fields.String(attribute="line.title")
    sku = ma.fields.String(attribute="line.sku", allow_none=True)
    quantity = ma.fields.Integer(attribute="line.quantity")
    unit_price = ma.fields.Integer(attribute="line.unit_price", metadata={"description": "minor units, before discounts"})
    discount_total = ma.fields.Integer(attribute="line.discount_total")
    tax_total = ma.fields.Integer(attribute="line.tax_total")
    tax_rate = Rate(attribute="line.tax_rate")
    returnable = ma.fields.Integer(metadata={"description": "units neither refunded nor in a live return"})


class OrderPaymentOut(ma.Schema):
    transaction_id = ma.fields.String(attribute="payment.platform_transaction_id")
    provider = ma.fields.String(attribute="payment.provider")
    gateway = ma.fields.String(attribute="payment.gateway")
    kind = ma.fields.String(attribute="payment.kind")
    amount = ma.fields.Integer(attribute="payment.amount")
    currency = ma.fields.String(attribute="payment.currency")
    refunded = ma.fields.Integer(attribute="payment.refunded", metadata={"description": "as the platform reports it"})
    refundable = ma.fields.Integer(metadata={"description": "what Palautus could still refund from it"})
    route = ma.fields.String(metadata={"description": (
        "the route a refund of it takes: a provider's name (Palautus refunds at the provider directly, with the "
        "shop's credentials, and records it in the shop), the platform's name (the shop's platform refunds it "
        "through its own gateway), or none (no route can: it is refunded in the shop's admin)")})


class ShopRefundOut(ma.Schema):
    refund_id = ma.fields.String(attribute="platform_refund_id")
    amount = ma.fields.Integer()
    currency = ma.fields.String()
    lines = ma.fields.List(ma.fields.Dict())
    shipping_refunded = ma.fields.Boolean()
    pending = ma.fields.Integer()
    note = ma.fields.String(allow_none=True)
    by_palautus = ma.fields.Function(lambda row: row.refund_id is not None,
                                     metadata={"description": "the record of a refund Palautus made"})  # fmt: skip
    created_at = ma.fields.DateTime()


class OrderReturnOut(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    status = ma.fields.String()


class OrderOut(ma.Schema):
    order_id = ma.fields.String(attribute="order.platform_order_id")
    name = ma.fields.String(attribute="order.name")
    currency = ma.fields.String(attribute="order.currency")
    total = ma.fields.Integer(attribute="order.total")
    taxes_included = ma.fields.Boolean(attribute="order.taxes_included")
    status = ma.fields.String(attribute="order.financial_status", allow_none=True,
                              metadata={"description": "the platform's word: Shopify's financial status, WooCommerce's order status"})
    processed_at = ma.fields.DateTime(attribute="order.processed_at", allow_none=True)
    cancelled_at = ma.fields.DateTime(attribute="order.cancelled_at", allow_none=True)
    removed_at = ma.fields.DateTime(attribute="order.removed_at", allow_none=True,
                                    metadata={"description": "when the shop put the order in its trash"})
    shipping_total = ma.fields.Integer(attribute="order.shipping_total")
    shipping_tax = ma.fields.Integer(attribute="order.shipping_tax")
    updated_at = ma.fields.DateTime(attribute="order.platform_updated_at",
                                    metadata={"description": "when the platform last changed the order, as far as Palautus knows"})
    snapshot_changes = ma.fields.Integer(attribute="order.snapshot_changes",
                                         metadata={"description": "how many newer snapshots replaced the first one"})
    payments_read_at = ma.fields.DateTime(attribute="order.payments_synced_at", allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(OrderLineOut))
    payments = ma.fields.List(ma.fields.Nested(OrderPaymentOut))
    refunds = ma.fields.List(ma.fields.Nested(ShopRefundOut), metadata={"description": "refunds made anywhere"})
    returns = ma.fields.List(ma.fields.Nested(OrderReturnOut))


class InboxEventQuery(_In):
    status = Text(validate=validate.OneOf(_values(EventStatus)))


class InboxEventOut(ma.Schema):
    id = ma.fields.Integer()
    topic = ma.fields.String()
    status = ma.fields.String(metadata={"description": "received, processed, ignored, retrying or failed"})
    attempts = ma.fields.Integer()
    error = ma.fields.String(allow_none=True, metadata={"description": "why it failed, or why it is retried"})
    received_at = ma.fields.DateTime()
    processed_at = ma.fields.DateTime(allow_none=True)
    next_attempt_at = ma.fields.DateTime(allow_none=True)


class RefundQuery(_In):
    status = Text(validate=validate.OneOf(["pending", "submitted", "succeeded", "failed"]))
