"""On a generated shop whose truth is known (tests/insight/world.py), the rule flags the two planted products, with
the right reason and advice, and none of the 38 noise products; a rule without a significance test would not."""
from __future__ import annotations

from datetime import date

from integration.insight import Period, analyse
from integration.services import insight as queries
from tests.insight import world

MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


def _flagged(found) -> dict:
    return {(f.product_id, f.reason): (f.variant_id, f.advice) for f in found.flags}


def test_the_planted_products_are_flagged_with_their_reason_and_advice_and_no_noise_product_is():
    found = analyse(world.generate())
    assert _flagged(found) == {(world.SOCKS, "defective"): (None, "quality"),
                               (world.JACKET, "size_too_small"): (None, "size_chart")}  # fmt: skip
    assert len(found.products) == 40 and found.tests >= 40 * 9


def test_a_rule_without_a_significance_test_flags_noise_in_the_same_shop():
    counts = world.generate()
    assert len(world.weak_rule(counts) - world.PLANTED) >= 10  # what the test above would catch


def test_the_flags_carry_their_evidence_as_data_and_in_words():
    socks = next(f for f in analyse(world.generate()).flags if f.product_id == world.SOCKS)
    assert socks.returns >= socks.units * socks.rate - 1e-9 >= 5 and socks.units == 300
    assert socks.ratio > 1.5 and socks.p_value < 0.05 / socks.tests
    assert socks.sentence.startswith("Wool socks: 'defective' ") and socks.sentence.endswith(
        "-> quality: check the batch with the supplier")


def test_the_queries_read_back_exactly_the_counts_the_shop_was_built_from(app, db, shop, generated):
    read = queries.product_sales(db, shop[0].id, MARCH)
    as_built = {(s.product_id, s.variant_id): (s.title, s.sku, s.sold, dict(s.returned)) for s in generated}
    assert {(s.product_id, s.variant_id): (s.title, s.sku, s.sold, dict(s.returned)) for s in read} == as_built


def test_the_planted_products_are_flagged_from_the_database_too(app, db, shop, generated):
    assert _flagged(queries.products(db, shop[0].id, MARCH)) == _flagged(analyse(generated))
    assert queries.products(db, shop[0].id, Period(date(2026, 4, 1), date(2026, 4, 30))).products == ()
