"""WooCommerce webhook topics as platform-neutral records: what each delivery means, nothing done yet."""
from __future__ import annotations

from adapters.platforms.woocommerce import orders, products
from integration.records import OrderRemoved

__all__ = ["interpret", "TOPICS"]


def _order(payload: object):
    if isinstance(payload, dict) and payload.get("status") in orders.DRAFT_STATUSES:
        return None  # a checkout draft is not an order yet (WooCommerce sends none, but a plugin might)
    return orders.parse_order(payload)


TOPICS = {
    "order.created": _order,
    "order.updated": _order,  # also how a refund made in the store's admin shows
    "order.restored": _order,  # back from the trash
    "order.deleted": lambda payload: OrderRemoved(orders.order_id_of(payload)),  # to the trash: {"id": N}
    # Products for the return policy's type and tag rules (webhooks Palautus makes: platform.TOPICS).
    "product.created": products.parse_product,
    "product.updated": products.parse_product,
}


def interpret(topic: str, payload: object):
    """The record a delivery of `topic` carries; None for a topic Palautus does not act on. PayloadError if malformed."""
    parse = TOPICS.get(topic)
    return parse(payload) if parse else None
