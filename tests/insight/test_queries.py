"""What the insight queries count: units of orders processed in the period (not cancelled, not removed, no gift
cards), returned units of live returns, refunds that succeeded in the period, ratings given in it; one shop only."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from integration.insight import Durations, Period, Sales
from integration.models import Order, OrderLine, Refund, Return, ReturnItem
from integration.services import insight as queries

MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))
T = datetime(2026, 3, 10, 9, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def order(db, shop_id: int, number: str, lines, processed_at=T, **fields) -> Order:
    """An order of (product, variant, quantity, gift card) lines."""
    row = Order(shop_id=shop_id, platform_order_id=number, name=f"#{number}", currency="EUR", shop_currency="EUR",
                total=1000, platform_updated_at=T, processed_at=processed_at, **fields)  # fmt: skip
    row.lines = [OrderLine(platform_line_id=f"{number}-{i}", title=f"Title {product}", sku=f"SKU-{variant}",
                           product_id=product, variant_id=variant, quantity=units, unit_price=100, gift_card=gift)
                 for i, (product, variant, units, gift) in enumerate(lines)]  # fmt: skip
    db.add(row)
    db.flush()
    return row


def give_back(db, shop_id: int, row: Order, units: int, reason: str, status="received", method="postal", **fields):
    ret = Return(shop_id=shop_id, order_id=row.id, code=f"R{db.query(Return).count() + 1}", status=status,
                 method=method, source="portal", requested_at=T, **fields)  # fmt: skip
    ret.items = [ReturnItem(order_line_id=row.lines[0].id, quantity=units, reason=reason)]
    db.add(ret)
    db.flush()
    return ret


def refund(db, ret: Return, after: timedelta, status="succeeded", route="stripe", amount=100, currency="EUR"):
    n = db.query(Refund).filter_by(return_id=ret.id).count() + 1
    db.add(Refund(return_id=ret.id, sequence=n, idempotency_key=f"k-{ret.id}-{n}", amount=amount, currency=currency,
                  status=status, route=route, completed_at=T + after))  # fmt: skip
    db.flush()


@pytest.fixture
def shops(register):
    return register()[0].id, register(domain="other-shop.myshopify.com")[0].id


def test_only_live_sales_and_live_returns_of_the_period_count(db, shops):
    a, b = shops
    sold = order(db, a, "1", [("P", "V", 5, False), ("GIFT", "G", 3, True)])
    give_back(db, a, sold, 2, "defective")
    give_back(db, a, sold, 1, "style", status="rejected")
    give_back(db, a, sold, 1, "style", status="cancelled")
    give_back(db, a, order(db, a, "2", [("P", "V", 7, False)], cancelled_at=T), 1, "color")
    give_back(db, a, order(db, a, "3", [("P", "V", 11, False)], removed_at=T), 1, "color")
    order(db, a, "4", [("P", "V", 13, False)], processed_at=T + timedelta(days=30))
    order(db, a, "5", [("P", "V", 17, False)], processed_at=None)
    order(db, a, "6", [("P", "V", 1, False)], processed_at=datetime(2026, 3, 31, 23, 59, tzinfo=timezone.utc))
    give_back(db, b, order(db, b, "1", [("P", "V", 19, False)]), 4, "defective")
    order(db, a, "7", [(None, None, 2, False)])  # a custom item: known by its title
    db.commit()
    assert sorted(queries.product_sales(db, a, MARCH), key=lambda s: s.title) == [
        Sales(None, None, "Title None", "SKU-None", 2, {}), Sales("P", "V", "Title P", "SKU-V", 6, {"defective": 2}),
    ]  # fmt: skip
    assert queries.product_sales(db, a, Period(MARCH.end, MARCH.start)) == []


def test_refund_times_run_from_the_request_to_the_refund_per_method_and_route(db, shops):
    a, b = shops
    sold = order(db, a, "1", [("P", "V", 9, False)])
    postal, store = give_back(db, a, sold, 1, "other"), give_back(db, a, sold, 1, "other", method="in_store")
    refund(db, postal, HOUR)
    refund(db, postal, 10 * HOUR, route=None)
    refund(db, store, 72 * HOUR, amount=250, currency="SEK")
    refund(db, store, 2 * HOUR, status="failed")
    refund(db, store, 40 * 24 * HOUR)  # completed in April
    refund(db, give_back(db, b, order(db, b, "1", [("P", "V", 1, False)]), 1, "other"), 5 * HOUR)
    db.commit()
    summary = queries.refund_summary(db, a, MARCH)
    assert summary["by_method"] == (Durations("in_store", 1, 259200, 259200), Durations("postal", 2, 3600, 36000))
    assert summary["by_route"] == (Durations("none", 1, 36000, 36000), Durations("stripe", 2, 3600, 259200))
    assert summary["totals"] == [{"currency": "EUR", "amount": 200, "count": 2},
                                 {"currency": "SEK", "amount": 250, "count": 1}]  # fmt: skip


def test_feedback_counts_the_ratings_given_in_the_period(db, shops):
    a, b = shops
    sold = order(db, a, "1", [("P", "V", 9, False)])
    for rating, when in ((5, T), (5, T), (3, T), (1, T + timedelta(days=30))):
        give_back(db, a, sold, 1, "other", feedback_rating=rating, feedback_at=when)
    give_back(db, b, order(db, b, "1", [("P", "V", 1, False)]), 1, "other", feedback_rating=2, feedback_at=T)
    db.commit()
    given = queries.feedback_summary(db, a, MARCH)
    assert (given.count, round(given.average, 2), given.distribution) == (3, 4.33, {1: 0, 2: 0, 3: 1, 4: 0, 5: 2})
