"""A shop's return policy: every setting the checks and the refund planning read. Pure, stdlib only.

The checks themselves are integration/eligibility.py's (re-exported here); the methods' settings are
integration/return_methods.py's.

`ReturnPolicy.for_withdrawal()` is what the law leaves of a policy for the statutory right of withdrawal
(Directive 2011/83/EU arts. 9, 13, 14 and 16): approved by itself, with no conditions and no abuse
limit; no restocking fee; no return shipping fee unless the customer was told before the order that they bear
it (art. 14(1)), and then the method's fee or return_shipping_fees (none in a currency not named); no
exclusions but the law's own (art. 16, the `withdrawal_exceptions` tags: sale, final-sale, gift-card, SKU, tag,
type and unit rules do not apply); the outbound shipping back on a whole-order withdrawal (art. 13(1)); refunded
on receipt (the trader may wait for the goods or proof of dispatch, art. 13(3)) unless the shop refunds on
approval, never manual. The shop's window and methods are not checked: the legal period (14 days from delivery
of the last item) is integration/withdrawal.py's check, and the right does not hang on how the goods travel.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from enum import Enum
from typing import ClassVar

from integration.eligibility import (
    CHECKS, EXCEPTIONS, Decision, ProductFacts, RequestedItem, ReturnRequest, Track, decide,
)  # fmt: skip
from integration.errors import InvalidInput
from integration.refunds import Fees
from integration.return_methods import MethodOffer, fees_by_currency, strings
from integration.returns import Reason, ReturnMethod

__all__ = [
    "RefundOn", "ShippingRefund", "Track", "ReturnPolicy", "WithdrawalPolicy", "MethodOffer", "ProductFacts",
    "RequestedItem", "ReturnRequest", "Decision", "CHECKS", "EXCEPTIONS", "decide",
]  # fmt: skip


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
    """The shop's return policy. Amounts are minor units per currency ({"EUR": 500} is 5.00 EUR)."""

    window_days: int = 30  # days to ask, from delivery where known, else dispatch, else the order date
    refund_on: str = RefundOn.RECEIVED.value
    auto_approve: bool = False  # approve an eligible return by itself, unless an auto-approval condition holds it
    auto_approve_reasons: tuple[str, ...] = ()  # only when every item's reason is one of these; (): any reason
    auto_approve_max_order_values: dict = field(default_factory=dict)  # only orders worth at most this, per currency
    abuse_limit_returns: int | None = None  # a customer with this many returns (by e-mail) in the last...
    abuse_limit_days: int = 30  # ...this many days waits for the merchant: never refused for it
    restocking_fee_percent: Decimal = Decimal(0)  # of the value of items not returned for the shop's fault
    # A flat fee per currency: 500 means something else in every currency, so one number cannot serve them all.
    return_shipping_fees: dict = field(default_factory=dict)
    non_returnable_skus: tuple[str, ...] = ()
    non_returnable_tags: tuple[str, ...] = ()  # product tags (the catalogue's, without case)
    non_returnable_product_types: tuple[str, ...] = ()
    non_returnable_gift_cards: bool = True
    final_sale_tags: tuple[str, ...] = ("final-sale",)
    max_units_per_return: int | None = None
    methods: tuple[str, ...] = tuple(m.value for m in ReturnMethod)  # the ways back offered, by name
    # Carrier, drop-off code, instructions and fee of the methods that have them (stored inside `methods`).
    method_settings: tuple[MethodOffer, ...] = ()
    refund_shipping: str = ShippingRefund.WHOLE_ORDER.value
    # The customer was told before the order that they bear the cost of sending goods back after a withdrawal
    # (art. 14(1)): only then does a withdrawal's refund keep the return shipping fee.
    withdrawal_return_cost_disclosed: bool = False
    # The law's exceptions to withdrawal (art. 16): {kind: product tags}, kinds as in eligibility.EXCEPTIONS.
    withdrawal_exceptions: dict = field(default_factory=dict)
    track: ClassVar[str] = Track.RETURN.value  # which rules the checks apply (WithdrawalPolicy: the law's)

    def __post_init__(self):
        for name, value in {**_choices(self), **_numbers(self), **_lists(self), **_methods(self)}.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, data: dict | None) -> ReturnPolicy:
        """A policy from stored JSON; unknown keys are an error, missing ones take defaults."""
        data = dict(data or {})
        unknown = set(data) - _STORED
        if unknown:
            raise InvalidInput(f"unknown policy settings: {', '.join(sorted(map(str, unknown)))}")
        try:
            if "restocking_fee_percent" in data:
                data["restocking_fee_percent"] = Decimal(str(data["restocking_fee_percent"]))
            return cls(**data)
        except (TypeError, ValueError, ArithmeticError) as e:
            raise InvalidInput(f"invalid policy: {e}") from None

    def to_dict(self) -> dict:
        """The stored JSON: `from_dict(to_dict())` is the same policy."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _STORED}
        data = {name: list(value) if isinstance(value, tuple) else value for name, value in data.items()}
        data["restocking_fee_percent"] = str(self.restocking_fee_percent)
        data["methods"] = [self.method(name).to_json() for name in self.methods]
        data["withdrawal_exceptions"] = {kind: list(tags) for kind, tags in self.withdrawal_exceptions.items()}
        return data

    def method(self, name: str) -> MethodOffer | None:
        """The settings of method `name` (a bare MethodOffer when it has none); None when the shop does not offer it."""
        if name not in self.methods:
            return None
        return next((offer for offer in self.method_settings if offer.method == name), MethodOffer(name))

    def fees_for(self, currency: str, method: str | None = None) -> Fees:
        """The fees for an order in `currency` sent back by `method`, whose own fee replaces return_shipping_fees."""
        # No fee in the order's currency: a return cannot be priced (InvalidInput says what to set), but a
        # withdrawal pays none, since the customer was told no amount in their currency they would bear.
        currency, offer = currency.upper(), self.method(method) if method else None
        table, name = (offer.fee, f"methods.{method}.fee") if offer and offer.fee is not None else (
            self.return_shipping_fees, "return_shipping_fees")  # fmt: skip
        if table and currency not in table and self.track == Track.RETURN.value:
            raise InvalidInput(
                f"the return policy sets a return shipping fee in {', '.join(sorted(table))} "
                f"but none in {currency}: set {name}.{currency} (0 for none)"
            )  # fmt: skip
        return Fees(Decimal(self.restocking_fee_percent), table.get(currency, 0))

    def for_track(self, track: str | None) -> ReturnPolicy:
        """The policy a return on `track` is judged and refunded by."""
        return self.for_withdrawal() if track == Track.WITHDRAWAL.value else self

    def settings(self) -> dict:
        """Every setting by name, as the dataclass holds it (`to_dict` is the stored form)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def for_withdrawal(self) -> ReturnPolicy:
        """What the law leaves of this policy for a withdrawal (the module docstring says what); idempotent."""
        disclosed, on_approval = self.withdrawal_return_cost_disclosed, self.refund_on == RefundOn.APPROVED.value
        offers = self.method_settings
        return WithdrawalPolicy(**{
            **self.settings(), "auto_approve": True, "auto_approve_reasons": (), "auto_approve_max_order_values": {},
            "abuse_limit_returns": None, "restocking_fee_percent": Decimal(0),
            "return_shipping_fees": self.return_shipping_fees if disclosed else {},
            "method_settings": self.method_settings if disclosed else tuple(replace(o, fee=None) for o in offers),
            "non_returnable_skus": (), "non_returnable_tags": (), "non_returnable_product_types": (),
            "non_returnable_gift_cards": False, "final_sale_tags": (), "max_units_per_return": None,
            "refund_shipping": ShippingRefund.WHOLE_ORDER.value,
            "refund_on": RefundOn.APPROVED.value if on_approval else RefundOn.RECEIVED.value,
        })  # fmt: skip


@dataclass(frozen=True)
class WithdrawalPolicy(ReturnPolicy):
    """What ReturnPolicy.for_withdrawal leaves: the checks skip the shop's window and method, and apply art. 16."""

    track: ClassVar[str] = Track.WITHDRAWAL.value


_STORED = {f.name for f in fields(ReturnPolicy)} - {"method_settings"}  # the settings live inside `methods`


def _choice(value, enum, name: str) -> str:
    try:
        return enum(value).value
    except ValueError:
        raise InvalidInput(f"{name} must be one of {', '.join(e.value for e in enum)}") from None


def _count(value, name: str, least: int, optional: bool = False) -> int | None:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidInput(f"{name} must be a whole number of at least {least}{' or null' if optional else ''}")
    return value


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false")
    return value


def _choices(p: ReturnPolicy) -> dict:
    if p.refund_shipping not in {r.value for r in ShippingRefund}:
        raise InvalidInput(f"refund_shipping must be one of {', '.join(r.value for r in ShippingRefund)}")
    reasons = strings(p.auto_approve_reasons, "auto_approve_reasons")
    return {"refund_on": _choice(p.refund_on, RefundOn, "refund_on"),
            "auto_approve_reasons": tuple(_choice(r, Reason, "auto_approve_reasons") for r in reasons)}  # fmt: skip


def _numbers(p: ReturnPolicy) -> dict:
    if not Decimal(0) <= Decimal(p.restocking_fee_percent) <= Decimal(100):
        raise InvalidInput("restocking_fee_percent must be between 0 and 100")
    flags = ("auto_approve", "non_returnable_gift_cards", "withdrawal_return_cost_disclosed")
    per_currency = ("return_shipping_fees", "auto_approve_max_order_values")
    counts = {"window_days": (0, False), "abuse_limit_days": (1, False), "abuse_limit_returns": (1, True),
              "max_units_per_return": (1, True)}  # fmt: skip
    return {
        **{name: _count(getattr(p, name), name, least, optional) for name, (least, optional) in counts.items()},
        **{name: fees_by_currency(getattr(p, name), name) for name in per_currency},
        **{name: _flag(getattr(p, name), name) for name in flags},
    }


def _lists(p: ReturnPolicy) -> dict:
    names = ("non_returnable_skus", "non_returnable_tags", "non_returnable_product_types", "final_sale_tags")
    exceptions = p.withdrawal_exceptions
    if not isinstance(exceptions, dict) or set(exceptions) - set(EXCEPTIONS):
        raise InvalidInput(f"withdrawal_exceptions must map some of {', '.join(EXCEPTIONS)} to product tags")
    checked = {kind: strings(tags, f"withdrawal_exceptions.{kind}") for kind, tags in exceptions.items()}
    return {**{name: strings(getattr(p, name), name) for name in names}, "withdrawal_exceptions": checked}


def _methods(p: ReturnPolicy) -> dict:
    """Names in `methods`, settings in `method_settings`, from either; one method with two settings is an error."""
    if isinstance(p.methods, (str, dict)) or not isinstance(p.methods, (list, tuple)):
        raise InvalidInput("methods must be a list of method names or objects")
    listed = [MethodOffer.parse(entry) for entry in p.methods]
    offers: dict[str, MethodOffer] = {}
    for offer in (*map(MethodOffer.parse, p.method_settings), *listed):
        if not offer.plain and offers.setdefault(offer.method, offer) != offer:
            raise InvalidInput(f"methods lists {offer.method} twice, with different settings")
    names = tuple(dict.fromkeys(offer.method for offer in listed))
    stray = sorted(set(offers) - set(names))
    if stray:
        raise InvalidInput(f"method_settings names {stray[0]}, which methods does not offer")
    return {"methods": names, "method_settings": tuple(offers[n] for n in names if n in offers)}
