"""A shop's return policy and the checks a return request must pass: pure, stdlib only.

Each check is a small function `(request, policy) -> str | None`; a string is a
human-readable reason the request is not eligible. The decision is "all pass",
and the reasons are stored with the return.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

from integration.errors import InvalidInput
from integration.money import Money
from integration.refunds import Fees
from integration.returns import ReturnMethod

__all__ = ["RefundOn", "ShippingRefund", "ReturnPolicy", "RequestedItem", "ReturnRequest", "Decision", "CHECKS", "decide"]


class RefundOn(str, Enum):
    """When a return's refund starts by itself."""

    APPROVED = "approved"  # instant refunds
    RECEIVED = "received"
    MANUAL = "manual"  # only when the merchant asks


class ShippingRefund(str, Enum):
    """When the order's own shipping goes back to the customer."""

    # When the return, with what was refunded before, takes back the whole order: the EU
    # withdrawal rule (Directive 2011/83/EU art. 13: standard delivery is reimbursed).
    WHOLE_ORDER = "whole_order"
    NEVER = "never"


@dataclass(frozen=True)
class ReturnPolicy:
    window_days: int = 30
    refund_on: str = RefundOn.RECEIVED.value
    auto_approve: bool = False
    restocking_fee_percent: Decimal = Decimal(0)
    # A flat fee per currency, in that currency's minor units ({"EUR": 500} is 5.00 EUR):
    # 500 means something else in every currency, so one number cannot serve them all.
    return_shipping_fees: dict = field(default_factory=dict)
    non_returnable_skus: tuple[str, ...] = ()
    methods: tuple[str, ...] = tuple(m.value for m in ReturnMethod)
    refund_shipping: str = ShippingRefund.WHOLE_ORDER.value

    def __post_init__(self):
        try:
            object.__setattr__(self, "refund_on", RefundOn(self.refund_on).value)
        except ValueError:
            raise InvalidInput(f"refund_on must be one of {', '.join(r.value for r in RefundOn)}") from None
        if self.window_days < 0:
            raise InvalidInput("window_days cannot be negative")
        if self.refund_shipping not in {r.value for r in ShippingRefund}:
            raise InvalidInput(f"refund_shipping must be one of {', '.join(r.value for r in ShippingRefund)}")
        if not Decimal(0) <= Decimal(self.restocking_fee_percent) <= Decimal(100):
            raise InvalidInput("restocking_fee_percent must be between 0 and 100")
        object.__setattr__(self, "return_shipping_fees", _fees_by_currency(self.return_shipping_fees))
        for method in self.methods:
            ReturnMethod(method)

    @classmethod
    def from_dict(cls, data: dict | None) -> ReturnPolicy:
        """A policy from stored JSON; unknown keys are an error, missing ones take defaults."""
        data = dict(data or {})
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidInput(f"unknown policy settings: {', '.join(sorted(unknown))}")
        try:
            for key in ("non_returnable_skus", "methods"):
                if key in data:
                    data[key] = tuple(data[key])
            if "restocking_fee_percent" in data:
                data["restocking_fee_percent"] = Decimal(str(data["restocking_fee_percent"]))
            return cls(**data)
        except (TypeError, ValueError, ArithmeticError) as e:
            raise InvalidInput(f"invalid policy: {e}") from None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["restocking_fee_percent"] = str(self.restocking_fee_percent)
        data["non_returnable_skus"] = list(self.non_returnable_skus)
        data["methods"] = list(self.methods)
        return data

    def fees_for(self, currency: str) -> Fees:
        """The fees for an order in `currency`; InvalidInput when the shop charges return shipping but set none in it."""
        currency = currency.upper()
        if self.return_shipping_fees and currency not in self.return_shipping_fees:
            raise InvalidInput(
                f"the return policy sets a return shipping fee in {', '.join(sorted(self.return_shipping_fees))} "
                f"but none in {currency}: set return_shipping_fees.{currency} (0 for none)"
            )  # fmt: skip
        return Fees(Decimal(self.restocking_fee_percent), self.return_shipping_fees.get(currency, 0))


def _fees_by_currency(fees) -> dict[str, int]:
    if not isinstance(fees, dict):
        raise InvalidInput("return_shipping_fees must map currency codes to amounts in minor units")
    checked = {}
    for currency, amount in fees.items():
        money = Money(amount, currency)  # InvalidInput for a bad code or a non-integer amount
        if money.amount < 0:
            raise InvalidInput(f"return_shipping_fees.{money.currency} cannot be negative")
        checked[money.currency] = money.amount
    return dict(sorted(checked.items()))


@dataclass(frozen=True)
class RequestedItem:
    sku: str | None
    title: str
    quantity: int
    returnable_quantity: int  # bought, minus refunded and already in other returns


@dataclass(frozen=True)
class ReturnRequest:
    method: str
    requested_at: datetime
    order_processed_at: datetime | None
    order_cancelled: bool
    financial_status: str | None
    order_removed: bool = False  # the shop put the order in its trash
    items: tuple[RequestedItem, ...] = field(default=())


def within_return_window(request: ReturnRequest, policy: ReturnPolicy) -> str | None:
    if request.order_processed_at is None:
        return None
    deadline = request.order_processed_at + timedelta(days=policy.window_days)
    if request.requested_at > deadline:
        return f"the {policy.window_days}-day return window ended on {deadline.date().isoformat()}"
    return None


def order_is_paid(request: ReturnRequest, policy: ReturnPolicy) -> str | None:
    if request.order_cancelled:
        return "the order was cancelled"
    if request.order_removed:
        return "the order was deleted in the shop"
    # Not paid, in the platforms' words: Shopify's financial statuses, WooCommerce's order statuses
    # (on-hold: a bank transfer not yet in, or a card only authorized).
    if request.financial_status in ("pending", "authorized", "voided", "expired", "failed", "on-hold"):
        return f"the order is not paid (it is {request.financial_status})"
    return None


def items_are_returnable(request: ReturnRequest, policy: ReturnPolicy) -> str | None:
    blocked = [i.title for i in request.items if i.sku and i.sku in policy.non_returnable_skus]
    return f"not returnable: {', '.join(blocked)}" if blocked else None


def not_already_returned(request: ReturnRequest, policy: ReturnPolicy) -> str | None:
    over = [i.title for i in request.items if i.quantity > i.returnable_quantity]
    return f"more units than can still be returned: {', '.join(over)}" if over else None


def method_is_offered(request: ReturnRequest, policy: ReturnPolicy) -> str | None:
    if request.method not in policy.methods:
        return f"the shop does not offer {request.method} returns"
    return None


CHECKS = [within_return_window, order_is_paid, items_are_returnable, not_already_returned, method_is_offered]


@dataclass(frozen=True)
class Decision:
    eligible: bool
    reasons: tuple[str, ...]
    auto_approve: bool

    def to_dict(self) -> dict:
        return {"eligible": self.eligible, "reasons": list(self.reasons), "auto_approve": self.auto_approve}


def decide(request: ReturnRequest, policy: ReturnPolicy) -> Decision:
    """Run every check; eligible when none gives a reason."""
    reasons = tuple(reason for check in CHECKS if (reason := check(request, policy)))
    return Decision(not reasons, reasons, policy.auto_approve and not reasons)
