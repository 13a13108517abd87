"""Products as the return policy's rules need them (type and tags), kept fresh from the platforms."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.models import Order, Product, utcnow
from integration.records import ProductData

__all__ = ["upsert_product", "unknown_products"]

TITLE_MAX, TYPE_MAX = 512, 255  # the columns' lengths


def upsert_product(session: Session, shop_id: int, data: ProductData) -> tuple[Product, bool]:
    """Keep the newest description of a product: an older or equal one (a late or replayed delivery) changes
    nothing. A read without a time (a platform that gives none) counts as the newest."""
    row = session.scalar(select(Product).where(Product.shop_id == shop_id,
                                               Product.platform_product_id == data.platform_product_id))  # fmt: skip
    if row is None:
        row = Product(shop_id=shop_id, platform_product_id=data.platform_product_id)
        session.add(row)
    elif _older(data, row):
        return row, False
    row.title = (data.title or None) and data.title[:TITLE_MAX]
    row.product_type = (data.product_type or None) and data.product_type[:TYPE_MAX]
    row.tags = list(dict.fromkeys(data.tags))
    row.platform_updated_at = data.updated_at or row.platform_updated_at
    row.read_at = utcnow()
    session.flush()
    return row, True


def _older(data: ProductData, row: Product) -> bool:
    known, given = row.platform_updated_at, data.updated_at
    return given is not None and known is not None and given <= known


def unknown_products(session: Session, order: Order) -> list[str]:
    """The products of the order's lines that Palautus holds nothing on yet, each once, in line order."""
    wanted = list(dict.fromkeys(line.product_id for line in order.lines if line.product_id))
    if not wanted:
        return []
    known = set(session.scalars(select(Product.platform_product_id).where(
        Product.shop_id == order.shop_id, Product.platform_product_id.in_(wanted))))  # fmt: skip
    return [product_id for product_id in wanted if product_id not in known]

