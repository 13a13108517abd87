"""A shop's return policy and the checks a return request must pass: pure, stdlib only.

Each check is a small function `(request, policy) -> str | None`; a string is a
human-readable reason the request is not eligible. The decision is "all pass",
and the reasons are stored with the return.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal

from integration.errors import InvalidInput
from integration.refunds import Fees
from integration.returns import ReturnMethod

__all__ = ["ReturnPolicy", "RequestedItem", "ReturnRequest", "Decision", "CHECKS", "decide"]

REFUND_ON = ("approved", "received", "manual")


@dataclass(frozen=True)
class ReturnPolicy:
    window_days: int = 30
    refund_on: str = "received"  # when the refund starts by itself
    auto_approve: bool = False
    restocking_fee_percent: Decimal = Decimal(0)
    return_shipping_fee: int = 0  # minor units of the order's currency
    non_returnable_skus: tuple[str, ...] = ()
    methods: tuple[str, ...] = tuple(m.value for m in ReturnMethod)

    def __post_init__(self):
        if self.refund_on not in REFUND_ON:
            raise InvalidInput(f"refund_on must be one of {', '.join(REFUND_ON)}")
        if self.window_days < 0 or self.return_shipping_fee < 0:
            raise InvalidInput("window_days and return_shipping_fee cannot be negative")
        if not Decimal(0) <= Decimal(self.restocking_fee_percent) <= Decimal(100):
            raise InvalidInput("restocking_fee_percent must be between 0 and 100")
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

    @property
    def fees(self) -> Fees:
        return Fees(Decimal(self.restocking_fee_percent), self.return_shipping_fee)


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
    if request.financial_status in ("pending", "authorized", "voided", "expired"):
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
