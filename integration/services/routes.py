"""Which route pays a payment back: the platform's own gateway, or the provider directly, or none.

The rule, per payment (the README's route table says the same):

1. A payment the shop's platform processed itself (`platform_managed`: Shopify
   Payments, a payments app on Shopify, a gift card) goes back **only** through
   the platform's gateway. Refunding it at the provider directly would leave the
   platform showing the money as still refundable (a later admin refund would pay
   twice) and the payments app out of step with it.
2. Any other payment goes back **directly** at its provider when Palautus has a
   route for the provider and the shop gave Palautus its credentials; the refund
   is then recorded in the shop, moving no money there.
3. Otherwise through the **platform's gateway**, where the platform can refund
   that payment (WooCommerce calls the gateway plugin that took it).
4. Otherwise none: the merchant refunds it in the shop's admin, and Palautus says why.

The provider a payment belongs to comes from the platform adapters' exact tables
of gateway names (never a substring guess in here): this module only combines
what they and the shop's credentials say.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["RouteTraits", "GatewayTraits", "ShopRoutes"]


class RouteTraits(Protocol):
    """What planning needs to know of a payment route, without naming it: its smallest refundable step."""

    def refund_step(self, currency: str) -> int: ...


class GatewayTraits(RouteTraits, Protocol):
    """A platform's own gateway route: which of the platform's payments it can refund, and whether one request
    can refund several of them (`splits_payments`: Shopify's refundCreate takes a transaction per payment)."""

    splits_payments: bool

    def takes(self, provider: str, platform_managed: bool) -> bool: ...


@dataclass(frozen=True)
class ShopRoutes:
    """The routes one shop's refunds may take: its platform's gateway, and the providers it has credentials for.

    `platform` is the gateway route's name (the platform's own); `direct` maps each
    provider Palautus has a route for, and the shop credentials for, to its traits.
    """

    platform: str
    gateway: GatewayTraits | None = None
    direct: Mapping[str, RouteTraits] = field(default_factory=dict)
    known: frozenset[str] = frozenset()  # every provider Palautus has a direct route for

    def route_of(self, payment) -> str | None:
        """The route that pays this payment back (by the rule above), or None when no route can."""
        through_platform = self.gateway is not None and self.gateway.takes(payment.provider, bool(payment.platform_managed))
        if payment.platform_managed:
            return self.platform if through_platform else None
        if payment.provider in self.direct:
            return payment.provider
        return self.platform if through_platform else None

    def refund_step(self, route: str | None, currency: str) -> int:
        """The smallest amount, in minor units, the route can refund: 1 unless the route says otherwise."""
        if route is None:
            return 1
        traits = self.gateway if route == self.platform else self.direct.get(route)
        return traits.refund_step(currency) if traits is not None else 1

    def splits(self, route: str | None) -> bool:
        """Whether one refund through `route` can take money from several of the order's payments at once."""
        return route is not None and route == self.platform and bool(getattr(self.gateway, "splits_payments", False))

    def why_not(self, payment) -> str:
        """Why no route pays this payment back, for the merchant."""
        if payment.platform_managed:
            return f"{payment.gateway} (processed by the shop's platform, which cannot refund it through its API: refund it in the shop's admin)"
        if payment.provider in self.known:
            return (f"{payment.gateway} (the shop has given Palautus no {payment.provider} credentials, and the "
                    "shop's platform cannot refund it)")
        return f"{payment.gateway} (no payment route in Palautus, and the shop's platform cannot refund it)"
