"""Where a shop's platform delivers its webhooks, and keeping a shop's webhooks on the platform in order.

For a platform that never retries a delivery (WooCommerce), Palautus creates the
store's webhooks itself, each with the shop's own secret and its own address
(`PUBLIC_URL/webhooks/woocommerce/<key>`), and turns them back on when the store
disabled them after failed deliveries.
"""
from __future__ import annotations

import logging

from integration.models import Shop
from integration.services.shops import clear_alert, raise_alert

__all__ = ["delivery_url", "set_up_webhooks", "check_webhooks", "NoPublicUrl"]

logger = logging.getLogger(__name__)


class NoPublicUrl(Exception):
    """PUBLIC_URL is not set: a store cannot be told where to deliver."""


def delivery_url(config, shop: Shop, delivery_path: str) -> str:
    """The address the shop's platform delivers to (`delivery_path` from its registry entry); NoPublicUrl
    without PUBLIC_URL."""
    base = str(config.get("PUBLIC_URL") or "").rstrip("/")
    if not base:
        raise NoPublicUrl("set PUBLIC_URL to the public https:// address the store can reach Palautus at")
    return f"{base}/webhooks/" + delivery_path.format(key=shop.webhook_key)


def set_up_webhooks(platform, url: str, shop: Shop, secret: str) -> list:
    """Create the shop's missing webhooks to `url` and turn disabled ones back on; the states (not committed)."""
    states = platform.ensure_webhooks(url, secret)
    clear_alert(shop, "webhooks")
    return states


def check_webhooks(platform, url: str, shop: Shop, secret: str) -> list:
    """Look at the shop's webhooks to `url`; flag and repair any that are missing or not active (not committed)."""
    seen = platform.webhook_health(url)
    broken = [state for state in seen if state.status != "active"]
    if not broken:
        clear_alert(shop, "webhooks")
        return seen
    message = "webhooks not active at the store: " + ", ".join(f"{s.topic} {s.status}" for s in broken)
    raise_alert(shop, "webhooks", message)
    logger.warning("%s; turning them back on", message, extra={"shop_id": shop.id})
    repaired = platform.ensure_webhooks(url, secret)
    if all(state.status == "active" for state in repaired):
        raise_alert(shop, "webhooks", message + " (repaired by Palautus; deliveries missed meanwhile are caught up)")
    return repaired
