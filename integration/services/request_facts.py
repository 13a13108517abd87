"""What a return request is judged on beyond its order: the products' catalogue facts and the customer's history.

Reads only. `services/returns.py: _request` gathers these into the pure ReturnRequest the policy checks.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.eligibility import ProductFacts, Track
from integration.models import Order, OrderLine, Product, Return
from integration.returns import ReturnStatus

__all__ = ["product_facts", "customer_returns"]


def product_facts(session: Session, order: Order, lines: list[OrderLine]) -> dict[str, ProductFacts]:
    """The type and tags of the lines' products the shop's catalogue has, by platform product id."""
    ids = {line.product_id for line in lines if line.product_id}
    if not ids:
        return {}
    query = select(Product).where(Product.shop_id == order.shop_id, Product.platform_product_id.in_(ids))
    facts = lambda row: ProductFacts(row.product_type, tuple(t for t in row.tags or () if isinstance(t, str)))  # noqa: E731
    return {row.platform_product_id: facts(row) for row in session.scalars(query)}


def customer_returns(session: Session, order: Order, email: str | None, days: int | None,
                     now: datetime) -> tuple[datetime, ...]:  # fmt: skip
    """When the customer (by e-mail, without case) asked for their returns of the shop in the `days` before `now`."""
    # The e-mail given with the request, else the order's. Cancelled returns do not count (nothing came back),
    # nor do withdrawals (a statutory right is no sign of abuse). No query when no limit is set (`days` None).
    email = (email or order.email or "").strip().lower()
    if days is None or not email:
        return ()
    query = (
        select(Return.requested_at).join(Order, Return.order_id == Order.id)
        .where(Return.shop_id == order.shop_id, Return.requested_at >= now - timedelta(days=days),
               Return.status != ReturnStatus.CANCELLED.value, Return.track != Track.WITHDRAWAL.value,
               func.lower(func.coalesce(Return.customer_email, Order.email)) == email)
    )  # fmt: skip
    return tuple(session.scalars(query))
