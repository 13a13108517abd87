"""Products for the return policy's type and tag rules: kept from the platforms' product webhooks, and read for
a return whose order has products Palautus holds nothing on yet (most products are never returned: no catalog
is copied, only what returns touch and what changes)."""
from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from integration.models import Order, Shop
from integration.records import ProductData
from integration.services import products
from jobs.context import JobContext, job_context
from jobs.outcomes import calling_out

__all__ = ["on_product", "read_products"]

logger = logging.getLogger(__name__)


def on_product(jc: JobContext, shop: Shop, data: ProductData | None) -> None:
    """A product webhook: its description kept, unless a newer one is (deliveries come late and in any order)."""
    if data is not None:
        _keep(jc, shop, [data])


def read_products(order_id: int) -> None:
    """The job a return's opening asks for when some of its order's products are unknown: read them, once.

    Best effort: a refusal (a product gone, no access to products) is logged and the policy treats the product as
    one it knows nothing of; an outage is retried by rq."""
    with job_context() as jc:
        order = jc.session.get(Order, order_id)
        shop = jc.session.get(Shop, order.shop_id) if order is not None else None
        if shop is None or shop.uninstalled_at is not None:
            return
        wanted = products.unknown_products(jc.session, order)
        if not wanted:
            return
        with calling_out(jc.session, "product read", on_refusal=lambda e: None, order_id=order_id):
            found = jc.platform(shop).read_products(wanted)
            _keep(jc, shop, found)
            logger.info("products read", extra={"order_id": order_id, "asked": len(wanted), "found": len(found)})


def _keep(jc: JobContext, shop: Shop, found: list[ProductData]) -> None:
    """Upsert and commit; a product another worker inserted a moment ago (the unique id) is updated instead."""
    try:
        for data in found:
            products.upsert_product(jc.session, shop.id, data)
        jc.session.commit()
    except IntegrityError:
        jc.session.rollback()
        for data in found:
            products.upsert_product(jc.session, shop.id, data)
        jc.session.commit()
