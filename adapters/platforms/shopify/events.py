"""Shopify webhook topics as platform-neutral records: what each delivery means, nothing done yet."""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from adapters.platforms.shopify import payloads, products
from integration.records import ShopUninstalled

__all__ = ["interpret", "named_shop", "TOPICS", "PAID"]

# financial_status words that mean money was taken: the order's transactions are worth reading.
PAID = ("paid", "partially_paid", "partially_refunded", "refunded")


def _order(payload: object):
    snapshot = payloads.parse_order(payload)
    return replace(snapshot, paid=snapshot.financial_status in PAID)


def _status(topic: str):
    return lambda payload: payloads.parse_return_status(topic, payload)


TOPICS = {
    "orders/create": _order,
    "orders/updated": _order,
    "orders/paid": _order,
    "orders/cancelled": _order,
    "refunds/create": payloads.parse_refund,
    "order_transactions/create": payloads.parse_transaction,
    "returns/request": payloads.parse_return_request,
    "returns/approve": _status("returns/approve"),
    "returns/decline": _status("returns/decline"),
    "returns/cancel": _status("returns/cancel"),
    "returns/close": _status("returns/close"),
    # Products for the return policy's type and tag rules (declared in shopify.app.toml, with read_products).
    "products/create": products.parse_product,
    "products/update": products.parse_product,
    "app/uninstalled": lambda payload: ShopUninstalled(_myshopify_domain(payload)),
    # The mandatory compliance webhooks (privacy law): acted on by the jobs through integration.services.privacy.
    "customers/data_request": payloads.parse_customer_data_request,
    "customers/redact": payloads.parse_customer_redact,
    "shop/redact": payloads.parse_shop_redact,
}


def _myshopify_domain(payload: object) -> str | None:
    """The shop an app/uninstalled body is about (its `myshopify_domain`), or None when it names none."""
    value = payload.get("myshopify_domain") if isinstance(payload, dict) else None
    return value if isinstance(value, str) and value else None


def named_shop(topic: str, payload: object) -> str | None:
    """The myshopify.com shop a delivery's body names about itself, or None where it names none.

    app/uninstalled carries `myshopify_domain`; the compliance topics `shop_domain`; an order the host of its
    `order_status_url` (a myshopify.com host unless the shop has its own domain, which then says nothing here).
    """
    if not isinstance(payload, dict):
        return None
    if topic == "app/uninstalled":
        return _myshopify_domain(payload)
    if topic in ("customers/data_request", "customers/redact", "shop/redact"):
        value = payload.get("shop_domain")
        return value if isinstance(value, str) and value else None
    if topic.startswith("orders/"):
        url = payload.get("order_status_url")
        host = (urlsplit(url).hostname or "") if isinstance(url, str) else ""
        return host if host.endswith(".myshopify.com") else None
    return None


def interpret(topic: str, payload: object):
    """The record a delivery of `topic` carries; None for a topic Palautus does not act on. PayloadError if malformed."""
    parse = TOPICS.get(topic)
    return parse(payload) if parse else None
