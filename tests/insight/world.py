"""A generated shop with a known ground truth, as counts (for the pure rule) and as rows (for the queries).

40 products (every fourth with three variants) sell 150-300 units each; every unit comes back with the shop's
base probability, for a reason drawn from the shop's mix: noise. Two products are planted: wool socks that come
back 'defective' far more (10 % of units on top of the noise), and a trail jacket, in three sizes, that comes
back 'too small' three times as often as the rest. The seed is fixed, so the world is the same on every run.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from integration.insight import Sales
from integration.models import Order, OrderLine, Return, ReturnItem

SEED = 17
BASE = 0.12  # the share of units that come back
MIX = {"size_too_small": .25, "size_too_large": .20, "changed_mind": .20, "style": .10, "color": .08,
       "defective": .05, "not_as_described": .05, "damaged_in_transit": .03, "wrong_item": .02, "other": .02}  # fmt: skip
SOCKS, JACKET = "7001", "7002"  # the planted products
PLANTED = {(SOCKS, "defective"), (JACKET, "size_too_small")}
WHEN = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)  # when the world's orders were processed
LINE_UNITS = 10  # units per order line when written as rows


def _returns(rnd: random.Random, sold: int, probabilities: dict[str, float]) -> dict[str, int]:
    back: dict[str, int] = {}
    for _ in range(sold):
        draw, edge = rnd.random(), 0.0
        for reason, p in probabilities.items():
            edge += p
            if draw < edge:
                back[reason] = back.get(reason, 0) + 1
                break
    return back


def _product(rnd, product_id: str, title: str, sold: int, sizes: tuple[str, ...], probabilities) -> list[Sales]:
    return [Sales(product_id, f"{product_id}-{size or 'one'}", title, f"{title[:5].upper()}-{size or 'ONE'}", n,
                  _returns(rnd, n, probabilities))
            for size in sizes for n in [sold // len(sizes)]]  # fmt: skip


def generate(seed: int = SEED, products: int = 40) -> list[Sales]:
    """The world's variants: sales and returns per reason (noise, and the two planted products)."""
    rnd = random.Random(seed)
    noise = {reason: BASE * share for reason, share in MIX.items()}
    socks = {**noise, "defective": noise["defective"] + 0.10}
    jacket = {**noise, "size_too_small": 3 * noise["size_too_small"]}
    world = _product(rnd, SOCKS, "Wool socks", 300, ("",), socks)
    world += _product(rnd, JACKET, "Trail jacket", 600, ("S", "M", "L"), jacket)
    for i in range(products - 2):
        sizes = ("S", "M", "L") if i % 4 == 0 else ("",)
        world += _product(rnd, str(8000 + i), f"Product {i:02d}", rnd.randint(150, 300), sizes, noise)
    return world


def write(session, shop_id: int, world: list[Sales], when: datetime = WHEN) -> None:
    """The world as orders of the shop (one line of LINE_UNITS units each, the last one the remainder) and
    returns of one item each (up to 3 units), spread over the lines."""
    number = 0
    for row in world:
        lines = []
        for start in range(0, row.sold, LINE_UNITS):
            number += 1
            line = OrderLine(platform_line_id=f"L{number}", title=row.title, sku=row.sku, product_id=row.product_id,
                             variant_id=row.variant_id, quantity=min(LINE_UNITS, row.sold - start), unit_price=1000)  # fmt: skip
            session.add(Order(shop_id=shop_id, platform_order_id=str(number), name=f"#{number}", currency="EUR",
                              shop_currency="EUR", total=10_000, platform_updated_at=when, processed_at=when,
                              lines=[line]))  # fmt: skip
            lines.append(line)
        session.flush()
        _write_returns(session, shop_id, row, lines, when)
    session.commit()


def _write_returns(session, shop_id: int, row: Sales, lines: list[OrderLine], when: datetime) -> None:
    free = [[line, line.quantity] for line in lines]  # units of each line not yet returned
    for reason, units in sorted(row.returned.items()):
        while units:
            slot = next(s for s in free if s[1])
            take = min(units, 3, slot[1])
            slot[1] -= take
            units -= take
            ret = Return(shop_id=shop_id, order_id=slot[0].order_id, code=f"R{slot[0].id}-{slot[1]}", status="received",
                         method="postal", source="portal", requested_at=when + timedelta(days=7))  # fmt: skip
            ret.items = [ReturnItem(order_line_id=slot[0].id, quantity=take, reason=reason)]
            session.add(ret)


def weak_rule(world: list[Sales], ratio: float = 1.5, least: int = 3) -> set[tuple[str, str]]:
    """What a rule without a significance test flags: a product at `ratio` times the shop's rate with `least`
    returns for the reason. The ground-truth test shows it flags noise in this world."""
    sold, back, products = 0, {}, {}
    for row in world:
        sold += row.sold
        entry = products.setdefault(row.product_id, [0, {}])
        entry[0] += row.sold
        for reason, n in row.returned.items():
            back[reason] = back.get(reason, 0) + n
            entry[1][reason] = entry[1].get(reason, 0) + n
    return {(product, reason) for product, (n, returned) in products.items() for reason, k in returned.items()
            if k >= least and k / n >= ratio * back[reason] / sold}  # fmt: skip
