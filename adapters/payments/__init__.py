"""The payment-route port: refund a payment reference, look a refund up, find one made under our key.

One module per provider (or per platform gateway), plus one line in ROUTES. Each
route states its own recovery rules, so the refund job needs no provider's name:
how long the provider remembers an idempotency key, which failures leave the
outcome unknown, and the smallest amount it can refund.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Protocol

from integration.money import Money
from integration.refunds import RefundStatus

__all__ = [
    "ProviderRefund", "PaymentRef", "RefundLine", "RefundRequest", "PaymentRoute", "RouteEntry", "ROUTES",
    "route_for",
]  # fmt: skip


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as the provider reports it, in our vocabulary."""

    provider_refund_id: str
    status: RefundStatus  # SUBMITTED while the provider still works on it
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


@dataclass(frozen=True)
class RefundLine:
    """One refunded order line, for providers that itemise refunds (Klarna, Paytrail)."""

    reference: str  # the platform's line id
    title: str
    sku: str | None
    quantity: int
    amount: int  # minor units, tax included
    tax: int
    tax_rate: str  # "0.24"


@dataclass(frozen=True)
class RefundRequest:
    """Everything a route may need to pay one Refund back; the same request for every retry."""

    payment: PaymentRef
    amount: Money
    idempotency_key: str
    lines: tuple[RefundLine, ...] = ()
    email: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class PaymentRoute(Protocol):
    """One provider's refunds, with one shop's credentials. Errors are `adapters.errors.ProviderError`s."""

    name: str
    # How long the provider remembers an idempotency key; a retry later than this
    # first looks the refund up by key. None: keys never expire.
    key_lifetime: timedelta | None

    def refund_step(self, currency: str) -> int:
        """The smallest amount, in our minor units, the provider can refund in `currency`."""

    def outcome_unknown(self, error: Exception) -> bool:
        """After sending, does this error leave open whether the provider made the refund?"""

    def refund(self, request: RefundRequest) -> ProviderRefund:
        """Refund part or all of the payment; the same key never refunds twice."""

    def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        """The refund's current state at the provider."""

    def find_refund(self, request: RefundRequest) -> ProviderRefund | None:
        """A refund made earlier for this payment under this request's key, if the provider has one."""


@dataclass(frozen=True)
class RouteEntry:
    """A route's registry line: what planning may know without credentials, and how to connect."""

    refund_step: Callable[[str], int]
    connect: Callable[..., PaymentRoute]  # (credentials, config, session=None)
    credentials: tuple[str, ...] = ()  # the credential fields an operator can set (names, never values)


def _stripe() -> RouteEntry:
    from adapters.payments import stripe

    return RouteEntry(stripe.refund_step, stripe.connect, stripe.CREDENTIALS)


ROUTES: dict[str, RouteEntry] = {"stripe": _stripe()}


def route_for(name: str, credentials: dict, config: dict, session=None) -> PaymentRoute:
    """The route adapter for a provider name with a shop's credentials; KeyError if Palautus has none."""
    return ROUTES[name].connect(credentials, config, session)
