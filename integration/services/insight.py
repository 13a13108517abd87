"""The counts behind the merchant's insight, read in SQL over a period, one shop at a time.

What each figure counts (the pure rules are in integration/insight.py):
- units sold: the quantities of the order lines of orders processed in the period, neither cancelled nor
  removed (put in the trash), gift cards left out;
- units returned: the items of those same lines in returns not rejected or cancelled, whenever asked for.
  Returns are counted against the orders they came from, so a rate is "of the units sold in the period, how
  many came back (so far)", never above 100 %; a recent period's returns are still coming in;
- refund times and totals: refunds that succeeded, completed in the period; a refund's time runs from its
  return's requested_at to its completed_at, per return method and per refund route;
- feedback: the ratings given (feedback_at) in the period.

Sums and counts are grouped in SQL (GROUP BY, plain SQL on SQLite and PostgreSQL alike). Percentiles are not a
portable SQL aggregate, so the refund times are read as one narrow row per refund of the period.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from integration import insight
from integration.insight import Period, Sales
from integration.models import Order, OrderLine, Refund, Return, ReturnItem
from integration.refunds import RefundStatus
from integration.returns import ReturnStatus

__all__ = ["product_sales", "products", "refund_samples", "refund_totals", "refund_summary", "feedback_summary",
           "NO_ROUTE"]  # fmt: skip

NO_ROUTE = "none"  # a refund's route before one was chosen (a refund of the shop's admin, say)
DEAD = (ReturnStatus.REJECTED.value, ReturnStatus.CANCELLED.value)
SUCCEEDED = RefundStatus.SUCCEEDED.value


def _within(column, period: Period):
    begin, end = period.bounds()
    return (column >= begin) & (column < end) if end is not None else column >= begin


def _sold_lines(shop_id: int, period: Period):
    """The conditions on an order line for its units to count as sold in the period."""
    return (Order.shop_id == shop_id, _within(Order.processed_at, period), Order.cancelled_at.is_(None),
            Order.removed_at.is_(None), OrderLine.gift_card.is_(False))  # fmt: skip


# A line of no product (a custom item) is told apart by its title; lines of a product by their product id.
_ORPHAN = case((OrderLine.product_id.is_(None), OrderLine.title))  # no ELSE: NULL, the same in SELECT and GROUP BY
_KEY = (OrderLine.product_id, OrderLine.variant_id, _ORPHAN)


def product_sales(session: Session, shop_id: int, period: Period) -> list[Sales]:
    """Per variant: units sold in the period, and the units of them returned, per reason."""
    if period.empty:
        return []
    sold = (select(*_KEY, func.max(OrderLine.title), func.max(OrderLine.sku), func.sum(OrderLine.quantity))
            .join(Order, OrderLine.order_id == Order.id).where(*_sold_lines(shop_id, period)).group_by(*_KEY))  # fmt: skip
    back = (select(*_KEY, ReturnItem.reason, func.sum(ReturnItem.quantity))
            .join(Return, ReturnItem.return_id == Return.id).join(OrderLine, ReturnItem.order_line_id == OrderLine.id)
            .join(Order, OrderLine.order_id == Order.id)
            .where(Return.shop_id == shop_id, Return.status.not_in(DEAD), *_sold_lines(shop_id, period))
            .group_by(*_KEY, ReturnItem.reason))  # fmt: skip
    returned: dict[tuple, dict[str, int]] = defaultdict(dict)
    for product, variant, orphan, reason, units in session.execute(back):
        returned[(product, variant, orphan)][reason] = int(units or 0)
    return [Sales(product, variant, title or "", sku, int(units or 0), returned.get((product, variant, orphan), {}))
            for product, variant, orphan, title, sku, units in session.execute(sold)]  # fmt: skip


def products(session: Session, shop_id: int, period: Period, rule: insight.Rule = insight.RULE) -> insight.Insight:
    """The shop's products over the period: rates, reason mixes and flags."""
    return insight.analyse(product_sales(session, shop_id, period), rule)


def _refunds(shop_id: int, period: Period, *columns):
    return (select(*columns).join(Return, Refund.return_id == Return.id)
            .where(Return.shop_id == shop_id, Refund.status == SUCCEEDED, Refund.completed_at.is_not(None),
                   _within(Refund.completed_at, period)))  # fmt: skip


def refund_samples(session: Session, shop_id: int, period: Period) -> tuple[list, list]:
    """(method, seconds) and (route, seconds) of each refund that succeeded in the period."""
    if period.empty:
        return [], []
    query = _refunds(shop_id, period, Return.method, Refund.route, Return.requested_at, Refund.completed_at)
    rows = [(method, route or NO_ROUTE, (done - asked).total_seconds())
            for method, route, asked, done in session.execute(query)]  # fmt: skip
    return [(method, s) for method, _, s in rows], [(route, s) for _, route, s in rows]


def refund_totals(session: Session, shop_id: int, period: Period) -> list[dict]:
    """Per currency: the minor units refunded in the period, and how many refunds."""
    if period.empty:
        return []
    query = _refunds(shop_id, period, Refund.currency, func.sum(Refund.amount), func.count()).group_by(Refund.currency)
    return [{"currency": currency, "amount": int(amount or 0), "count": count}
            for currency, amount, count in session.execute(query.order_by(Refund.currency))]  # fmt: skip


def refund_summary(session: Session, shop_id: int, period: Period) -> dict:
    """Time to refund (p50, p90) per return method and per route, and the totals per currency."""
    by_method, by_route = refund_samples(session, shop_id, period)
    return {"period": period, "by_method": insight.refund_times(by_method), "by_route": insight.refund_times(by_route),
            "totals": refund_totals(session, shop_id, period)}  # fmt: skip


def feedback_summary(session: Session, shop_id: int, period: Period) -> insight.Feedback:
    """Ratings given in the period: count, average, distribution 1-5."""
    if period.empty:
        return insight.feedback({})
    query = (select(Return.feedback_rating, func.count())
             .where(Return.shop_id == shop_id, Return.feedback_rating.is_not(None), _within(Return.feedback_at, period))
             .group_by(Return.feedback_rating))  # fmt: skip
    return insight.feedback({int(rating): count for rating, count in session.execute(query)})
