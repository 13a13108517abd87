"""What jobs ask of a shop's platform, whichever it is: one entry per platform."""
from __future__ import annotations

from integration.models import Order, Shop
from jobs import shopify_events
from jobs.context import JobContext

__all__ = ["fetch_payments"]

# Reading an order's payments (the webhooks do not carry them).
_PAYMENTS = {"shopify": shopify_events.fetch_payments}


def fetch_payments(jc: JobContext, shop: Shop, order: Order) -> None:
    """Record the order's payments as its platform reports them."""
    _PAYMENTS[shop.platform](jc, shop, order)
