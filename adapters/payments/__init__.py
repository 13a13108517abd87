"""The payment-route port: refund a payment reference, look a refund up, find one made under our key.

One module per provider (or per platform gateway), plus one line in ROUTES. Each
route states its own recovery rules, so the refund job needs no provider's name:
how long the provider remembers an idempotency key, which failures leave the
outcome unknown, and the smallest amount it can refund.

Settlements are read through the route too (`settlements`, `settlement`). A route
whose provider never answers a settlement's contents in the request, but sends them
later to an address of ours (Paytrail POSTs a payment report), also has
`request_settlement` (`SettlementsByCallback`): the jobs ask with it instead of
reading, the provider's delivery is verified and stored by its receiver in webhooks/,
and the route entry's `interpret` turns the stored delivery into a
`SettlementReport` that the event job keeps like a read settlement.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Callable, Protocol

from integration.records import PaymentRef, ProviderRefund, RefundLine, RefundRequest, Settlement

__all__ = [
    "ProviderRefund", "PaymentRef", "RefundLine", "RefundRequest", "PaymentRoute", "SettlementsByCallback",
    "RouteEntry", "ROUTES", "route_for", "VoidOutcome",
]  # fmt: skip


class VoidOutcome(str, Enum):
    """What became of an authorization a route was asked to void (cancel before capture)."""

    VOIDED = "voided"  # released now, or before (a retry finds it released): no money was ever taken
    CAPTURED = "captured"  # money was taken (in full or in part): it goes back as a refund instead
    NOTHING = "nothing"  # nothing is held any more (expired, denied) and nothing was taken


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

    def void(self, payment: PaymentRef) -> VoidOutcome:
        """Release an authorization not captured yet (an order cancelled before delivery); safe to repeat: one
        released before is VOIDED again. Never refunds: money already taken is reported as CAPTURED."""

    def settlements(self, since: datetime, until: datetime) -> list[str]:
        """The ids of the settlements (payouts) the provider made in [since, until), oldest first.
        `adapters.errors.SettlementsUnsupported` where the route has no settlement reports."""

    def settlement(self, settlement_id: str) -> Settlement:
        """One settlement with every movement in it, over every page the provider splits it into.
        `adapters.errors.SettlementsUnsupported` where it can only arrive later (`SettlementsByCallback`)."""


class SettlementsByCallback(Protocol):
    """What a route whose settlements arrive later adds to PaymentRoute (optional: the jobs look for it).

    Its `settlement` raises SettlementsUnsupported; the provider sends the settlement to the callback URL
    instead, which is the shop's webhook address for the route (`PUBLIC_URL/webhooks/payments/<route>/<shop
    webhook key>/settlements/<settlement id>`), so the job needs PUBLIC_URL. What arrives there is the
    route's to verify and store, and its RouteEntry's `interpret` makes it a `SettlementReport`."""

    def request_settlement(self, settlement_id: str, callback_url: str) -> None:
        """Ask the provider to send the settlement's contents to `callback_url` (HTTPS); ProviderRejected where
        it refuses (an unknown settlement, a callback URL it cannot take), ProviderUnavailable to retry."""


@dataclass(frozen=True)
class RouteEntry:
    """A route's registry line: what planning may know without credentials, and how to connect."""

    refund_step: Callable[[str], int]
    connect: Callable[..., PaymentRoute]  # (credentials, config, session=None)
    credentials: tuple[str, ...] = ()  # the credential fields an operator can set (names, never values)
    # (topic, payload) -> a ProviderRefundUpdate, a SettlementReport (a settlement sent to our callback), or None:
    # what a verified delivery from the provider means.
    interpret: Callable[[str, object], object] | None = None


def _stripe() -> RouteEntry:
    from adapters.payments import stripe

    return RouteEntry(stripe.refund_step, stripe.connect, stripe.CREDENTIALS, interpret=stripe.interpret)


def _klarna() -> RouteEntry:
    from adapters.payments import klarna

    return RouteEntry(klarna.refund_step, klarna.connect, klarna.CREDENTIALS)


def _paypal() -> RouteEntry:
    from adapters.payments import paypal

    return RouteEntry(paypal.refund_step, paypal.connect, paypal.CREDENTIALS)


def _paytrail() -> RouteEntry:
    from adapters.payments import paytrail

    return RouteEntry(paytrail.refund_step, paytrail.connect, paytrail.CREDENTIALS, interpret=paytrail.interpret)


# The direct routes: a provider's own API, with the shop's credentials for it. Refunds through a shop
# platform's own gateway are each platform adapter's (`PlatformAdapter.gateway`, `Platform.payment_route`).
ROUTES: dict[str, RouteEntry] = {"stripe": _stripe(), "klarna": _klarna(), "paypal": _paypal(), "paytrail": _paytrail()}


def route_for(name: str, credentials: dict, config: dict, session=None) -> PaymentRoute:
    """The route adapter for a provider name with a shop's credentials; KeyError if Palautus has none."""
    return ROUTES[name].connect(credentials, config, session)
