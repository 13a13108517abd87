"""The platform port on Shopify: Palautus's neutral requests as Admin GraphQL calls.

Shopify's words (gids, its return statuses, the steps its returns must take)
stay here; the jobs speak of orders, refunds and returns.
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace

from adapters.errors import ProviderRejected
from adapters.platforms.shopify import events, products, return_request
from adapters.platforms.shopify.admin import RefundRecord, ShopifyAdmin
from adapters.platforms.shopify.gateway import ShopifyGatewayRefunds
from integration.errors import InvalidInput, MissingCredentials
from integration.records import OrderSnapshot, PaymentData, ProductData, RefundToRecord, ReturnToOpen, ShopRefundData
from integration.returns import ShopReturnStatus

__all__ = ["ShopifyPlatform", "connect", "normalize_domain", "gid"]

logger = logging.getLogger(__name__)

NAME = "shopify"
# access_token: the Admin API token; webhook_secret: a custom app's own secret (else the app's client secret).
CREDENTIALS = ("access_token", "webhook_secret")
_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
S = ShopReturnStatus


def gid(kind: str, platform_id: str) -> str:
    """Shopify's global id for a numeric id; a gid given as it is stays as it is."""
    return platform_id if platform_id.startswith("gid://") else f"gid://shopify/{kind}/{platform_id}"


def normalize_domain(domain: str) -> str:
    """The shop's myshopify.com domain in canonical form; InvalidInput if it cannot be one."""
    value = re.sub(r"^https?://", "", (domain or "").strip().lower()).rstrip("/")
    if not _DOMAIN.match(value):
        raise InvalidInput(f"{domain!r} is not a myshopify.com domain")
    return value


def connect(domain: str, credentials: dict, config: dict, session=None, renew=None) -> ShopifyPlatform:
    """The port for one shop, with its access token; MissingCredentials when it has none (uninstalled).

    `renew()`, when given, returns a new access token after Shopify answered 401 (an expiring token that ran out
    between our check and the call): the call is made once more with it.
    """
    token = credentials.get("access_token")
    if not token:
        raise MissingCredentials(f"the shop {domain} has no Shopify access token in Palautus", platform=NAME)
    admin = ShopifyAdmin(
        domain, token, api_base=config["SHOPIFY_API_BASE"], api_version=config["SHOPIFY_API_VERSION"],
        timeout=config["HTTP_TIMEOUT"], session=session, renew=renew,
    )  # fmt: skip
    return ShopifyPlatform(admin)


class ShopifyPlatform:
    """What the jobs ask of a Shopify shop."""

    name = NAME

    def __init__(self, admin: ShopifyAdmin):
        self.admin = admin

    def __repr__(self) -> str:
        return f"ShopifyPlatform({self.admin!r})"

    def fetch_order(self, platform_order_id: str) -> OrderSnapshot:
        """The order as Shopify has it now, for one no webhook told us about (placed before install, or lost)."""
        snapshot = self.admin.fetch_order(gid("Order", platform_order_id))
        return replace(snapshot, paid=snapshot.financial_status in events.PAID)

    def order_refunds(self, platform_order_id: str) -> list[ShopRefundData]:
        """Every refund the order has in Shopify now, as the same records its refunds/create webhooks give."""
        return self.admin.order_refunds(gid("Order", platform_order_id))

    def order_payments(self, platform_order_id: str) -> list[PaymentData]:
        """The order's successful sales and captures, with who holds the money."""
        return self.admin.order_payments(gid("Order", platform_order_id))

    def order_authorizations(self, platform_order_id: str) -> list[PaymentData]:
        """The order's authorizations not captured yet (cancelling the order voids them)."""
        return self.admin.order_authorizations(gid("Order", platform_order_id))

    def cancel_order(self, platform_order_id: str, note: str) -> None:
        """Cancel the order refunding nothing (Palautus refunds it), restocking; Shopify voids what it only held."""
        self.admin.cancel_order(gid("Order", platform_order_id), note)

    def record_refund(self, refund: RefundToRecord) -> str:
        """Record a refund made at the provider on the order, moving no money; the platform's refund id."""
        wanted = [line.platform_line_id for line in refund.lines if line.restock]
        restock_at = self.restock_locations(refund.platform_order_id, refund.platform_return_id, wanted)
        lines = tuple(
            (gid("LineItem", line.platform_line_id), line.quantity, restock_at.get(line.platform_line_id))
            for line in refund.lines
        )  # fmt: skip
        record = RefundRecord(
            order_gid=gid("Order", refund.platform_order_id), idempotency_key=refund.idempotency_key,
            note=refund.note, lines=lines, amount=refund.amount, gateway=refund.gateway, full_shipping=refund.shipping > 0,
            parent_transaction_gid=gid("OrderTransaction", refund.platform_transaction_id) if refund.platform_transaction_id else None,
        )  # fmt: skip
        return self.admin.record_refund(record).rsplit("/", 1)[-1]

    def read_products(self, platform_product_ids: list[str]) -> list[ProductData]:
        """The products of these ids as Shopify has them now (type, tags); ones it no longer has are left out."""
        return products.read_products(self.admin, platform_product_ids)

    def open_return(self, request: ReturnToOpen) -> str:
        """Shopify's own return for a return opened in Palautus (made once, even when run again): its id."""
        return return_request.open_return(self.admin, request)

    def still_installed(self) -> bool:
        """Whether Shopify still lets the app into the shop (an app/uninstalled that is not a replay makes it False)."""
        return self.admin.has_access()

    def payment_route(self) -> ShopifyGatewayRefunds:
        """Refunds through Shopify's own gateway, for the payments Shopify processed."""
        return ShopifyGatewayRefunds(self)

    def restock_locations(self, platform_order_id: str, platform_return_id: str | None, line_ids: list[str]) -> dict[str, str]:
        """Line id -> where to restock it: where it was fulfilled from, unless the shop's own return
        processing already restocked some of its units (then Palautus restocks none: never twice).

        Stock is not money: when either can't be read (refused, or the return is gone),
        nothing is restocked and the refund goes ahead all the same.
        """
        if not line_ids:
            return {}
        try:
            locations = self.admin.fulfillment_locations(gid("Order", platform_order_id))
            restocked = self.admin.return_restocked(gid("Return", platform_return_id)) if platform_return_id else {}
        except ProviderRejected as e:
            logger.warning("restock skipped: %s", e, extra={"order": platform_order_id})
            return {}
        if restocked is None:
            logger.warning("restock skipped: the return cannot be read", extra={"order": platform_order_id})
            return {}
        return {line: locations[line] for line in line_ids if line in locations and not restocked.get(line)}

    def tag_order(self, platform_order_id: str, tags: list[str]) -> None:
        """Add tags to the order; adding a tag it has is harmless."""
        self.admin.add_tags(gid("Order", platform_order_id), tags)

    def return_steps(self, have: str | None, want: str) -> list[str]:
        """The statuses the platform's return passes through from `have` to `want`, in order."""
        # Shopify closes only an open return: one we approved but never told it about is approved first.
        if want == S.CLOSED and have == S.REQUESTED:
            return [S.OPEN.value, S.CLOSED.value]
        return [want]

    def set_return_status(self, platform_return_id: str, status: str, reason: str | None = None,
                          note: str | None = None) -> None:  # fmt: skip
        """Take the platform's return one step, to `status`; a return already there counts as done."""
        return_gid = gid("Return", platform_return_id)
        status = S(status)
        if status == S.OPEN:
            self.admin.approve_return(return_gid)
        elif status == S.DECLINED:
            self.admin.decline_return(return_gid, reason, note)
        elif status == S.CANCELED:
            self.admin.cancel_return(return_gid)
        elif status == S.CLOSED:
            self.admin.close_return(return_gid)
        else:
            raise InvalidInput(f"a Shopify return cannot be moved back to {status.value}")
