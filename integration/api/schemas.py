"""Marshmallow schemas of the merchant API: what goes in, what comes out."""
from __future__ import annotations

import re
from decimal import Decimal

import marshmallow as ma
from marshmallow import validate

from integration.returns import Reason, ReturnMethod, ReturnStatus

__all__ = [
    "ReturnQuery", "ItemIn", "ReturnCreate", "NoteIn", "RejectIn", "TransitIn", "ReceiveIn",
    "ReturnOut", "ReturnSummary", "RefundOut", "RefundPlanOut", "RefundQuery", "PolicySchema", "ShopOut",
    "Text", "Percent",
]  # fmt: skip

_values = lambda enum: [e.value for e in enum]  # noqa: E731


MAX_FEE = 100_000_000  # minor units: a million in a two-decimal currency, and exact in any JSON client


class Text(ma.fields.String):
    """A string the database can keep: PostgreSQL text cannot hold NUL, so say so here, not with a 500."""

    default_error_messages = {"nul": "must not contain NUL characters"}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        return text


class Percent(ma.fields.Decimal):
    """A percentage 0-100 as a JSON string ("7.50"): exact, like money, and the same shape in and out."""

    DIGITS = r"[0-9]{1,3}(\.[0-9]{1,2})?"
    PATTERN = f"^{DIGITS}$"  # for the document; Python's $ would also let "7.5\n" through
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
    quantity = ma.fields.Integer(required=True, validate=validate.Range(min=1, max=10_000))
    reason = Text(load_default=Reason.OTHER.value, validate=validate.OneOf(_values(Reason)))
    note = Text(validate=validate.Length(max=2000), allow_none=True)


class ReturnCreate(_In):
    order_id = Text(required=True, metadata={"description": "the platform's order id"})
    items = ma.fields.List(ma.fields.Nested(ItemIn), required=True, validate=validate.Length(min=1, max=250))
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
    item_id = ma.fields.Integer(required=True)
    condition = Text(validate=validate.OneOf(["new", "opened", "used", "damaged"]), allow_none=True)
    restock = ma.fields.Boolean(allow_none=True)


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
    capped = ma.fields.Boolean()
    provider = ma.fields.String(allow_none=True)


class PolicySchema(_In):
    window_days = ma.fields.Integer(validate=validate.Range(min=0, max=3650))
    refund_on = Text(validate=validate.OneOf(["approved", "received", "manual"]))
    auto_approve = ma.fields.Boolean()
    restocking_fee_percent = Percent()
    return_shipping_fee = ma.fields.Integer(
        validate=validate.Range(min=0, max=MAX_FEE), metadata={"description": "minor units"}
    )
    non_returnable_skus = ma.fields.List(Text(validate=validate.Length(max=255)))
    methods = ma.fields.List(Text(validate=validate.OneOf(_values(ReturnMethod))))


class ShopOut(ma.Schema):
    id = ma.fields.Integer()
    platform = ma.fields.String()
    domain = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    currency = ma.fields.String(allow_none=True)
    policy = ma.fields.Nested(PolicySchema)
    installed_at = ma.fields.DateTime()


class RefundQuery(_In):
    status = Text(validate=validate.OneOf(["pending", "submitted", "succeeded", "failed"]))
