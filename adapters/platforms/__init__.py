"""The platform port: what Palautus asks of a shop's platform, whichever it is, and the registry of platforms.

A platform adapter is a package under `adapters/platforms/` plus one line in
PLATFORMS. The jobs and the core never name a platform: they look the shop's
platform up here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from integration.records import OrderSnapshot, PaymentData, ProductData, RefundToRecord, ReturnToOpen, ShopRefundData

__all__ = ["Platform", "PlatformAdapter", "PLATFORMS", "platform_adapter"]


class Platform(Protocol):
    """One shop's platform, as the jobs use it. Errors are `adapters.errors.ProviderError`s."""

    name: str

    def fetch_order(self, platform_order_id: str) -> OrderSnapshot:
        """The order as the platform has it now (for one no webhook told us about); `paid` set."""

    def order_refunds(self, platform_order_id: str) -> list[ShopRefundData]:
        """Every refund the order has on the platform now, as its refund webhooks would give them."""

    def order_payments(self, platform_order_id: str) -> list[PaymentData]:
        """The order's captured payments, with who holds the money (webhooks do not carry them)."""

    def record_refund(self, refund: RefundToRecord) -> str:
        """Record on the order a refund made elsewhere, moving no money, at most once per key; the platform's id."""

    def tag_order(self, platform_order_id: str, tags: list[str]) -> None:
        """Add tags (or the platform's nearest thing) to the order."""

    def return_steps(self, have: str | None, want: str) -> list[str]:
        """The ShopReturnStatus values the platform's own return passes through from `have` to `want`."""

    def set_return_status(self, platform_return_id: str, status: str, reason: str | None = None,
                          note: str | None = None) -> None:  # fmt: skip
        """Take the platform's own return one step; a return already there counts as done."""

    def order_authorizations(self, platform_order_id: str) -> list[PaymentData]:
        """The order's payments only authorized (kind "authorization"): money held that nothing captured yet."""

    def cancel_order(self, platform_order_id: str, note: str) -> None:
        """Cancel the order on the platform, restocking it and refunding nothing (Palautus refunds what was paid);
        the platform releases what its own gateways only authorized. One cancelled already counts as done."""

    def read_products(self, platform_product_ids: list[str]) -> list[ProductData]:
        """The products of these ids as the platform has them now (type, tags); ones it has not are left out."""

    def open_return(self, request: ReturnToOpen) -> str | None:
        """Show the shop a return opened in Palautus: the platform's own return (made once however often asked),
        whose id is answered, or, on a platform without returns, an order note (None)."""

    def payment_route(self):
        """Refunds through the platform's own gateway (a PaymentRoute named after the platform), for the
        payments its adapter's `gateway.takes`; only platforms with a `gateway` have one."""


@dataclass(frozen=True)
class PlatformAdapter:
    """A platform's entry in the registry: its webhook topics, its domain rule and its API client."""

    name: str
    interpret: Callable[[str, object], object | None]  # (topic, payload) -> a record of integration.records, or None
    normalize_domain: Callable[[str], str]
    connect: Callable[..., Platform]  # (domain, credentials, config, session=None)
    credentials: tuple[str, ...] = ()  # the credential fields an operator can set (names, never values)
    # Where a shop's deliveries come, under /webhooks: "shopify" (one address, the shop named in a header),
    # or "woocommerce/{key}" (each shop its own address, with the shop's webhook_key).
    delivery_path: str = ""
    # The platform never retries a failed delivery: the catch-up job reads the orders modified since it
    # last looked (`modified_orders(after)`) and checks the shop's webhooks (`ensure_webhooks`, `webhook_health`).
    catches_up: bool = False
    # Credentials Palautus makes itself at registration (a webhook secret), by field name.
    generated: tuple[str, ...] = ()
    # The platform's own gateway route (GatewayTraits: `takes(provider, platform_managed)`, `refund_step`):
    # which of its payments the platform can refund itself, through `Platform.payment_route()`.
    gateway: object | None = None
    # A platform whose tokens expire (Shopify's offline tokens): `due(credentials, config, force)` says (without a
    # call) whether `fresh(domain, credentials, config, force)` would return credential fields to store instead;
    # the job context stores them, one refresh at a time per shop.
    tokens: object | None = None
    # (topic, payload) -> the shop a delivery's body names about itself (a platform domain), or None where it names
    # none: the platform signs only the body, so a body replayed under another shop's header is caught by it.
    named_shop: Callable[[str, object], str | None] | None = None
    # The webhook topics the platform sends that Palautus knows (named in /metrics; any other is "other").
    topics: tuple[str, ...] = ()


def _shopify() -> PlatformAdapter:
    from adapters.platforms.shopify import events, gateway, oauth, platform

    return PlatformAdapter(
        platform.NAME, events.interpret, platform.normalize_domain, platform.connect, platform.CREDENTIALS,
        delivery_path="shopify", gateway=gateway.GATEWAY, tokens=oauth.TOKENS, named_shop=events.named_shop,
        topics=tuple(events.TOPICS),
    )


def _woocommerce() -> PlatformAdapter:
    from adapters.platforms.woocommerce import events, gateway, platform

    return PlatformAdapter(
        platform.NAME, events.interpret, platform.normalize_domain, platform.connect, platform.CREDENTIALS,
        delivery_path="woocommerce/{key}", catches_up=True, generated=("webhook_secret",), gateway=gateway.GATEWAY,
        topics=tuple(events.TOPICS),
    )


PLATFORMS: dict[str, PlatformAdapter] = {"shopify": _shopify(), "woocommerce": _woocommerce()}


def platform_adapter(name: str) -> PlatformAdapter:
    """The registered adapter for a platform name; KeyError for one Palautus does not have."""
    return PLATFORMS[name]
