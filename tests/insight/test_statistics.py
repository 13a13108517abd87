"""The pure statistics of integration/insight.py: the flag rule and its minimum sample, the binomial tail,
percentiles, the feedback summary, the period, and the CSV."""
from __future__ import annotations

import ast
import csv
import io
import math
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration import insight, insight_csv, insight_stats
from integration.insight import Period, Sales, analyse, binomial_tail, percentile

NOISE = {"size_too_small": 4, "changed_mind": 4, "defective": 1}  # per 100 units sold


def shop_of(products: int = 20, sold: int = 100, **extra: Sales) -> list[Sales]:
    """`products` alike products of `sold` units with the noise returns, and the extra rows given."""
    rows = [Sales(f"p{i}", None, f"Product {i}", None, sold, {r: n * sold // 100 for r, n in NOISE.items()})
            for i in range(products)]  # fmt: skip
    return rows + list(extra.values())


@pytest.mark.parametrize("module", [insight, insight_stats, insight_csv])
def test_the_modules_import_only_the_standard_library_and_the_pure_domain(module):
    tree = ast.parse(Path(module.__file__).read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    foreign = {n for n in names if n.split(".")[0] not in sys.stdlib_module_names and n != "__future__"}
    assert foreign <= {"integration.returns", "integration.insight", "integration.insight_stats"}


def test_two_returns_out_of_three_units_are_not_flagged_however_high_the_rate():
    tiny = Sales("tiny", None, "Tiny", None, 3, {"defective": 2})
    found = analyse(shop_of(tiny=tiny))
    assert found.flags == ()
    assert next(p for p in found.products if p.product_id == "tiny").rate == pytest.approx(2 / 3)


def test_a_product_of_enough_units_but_too_few_returns_for_the_reason_is_not_flagged():
    few = Sales("few", None, "Few", None, 400, {"defective": insight.RULE.min_returns - 1})
    assert analyse(shop_of(products=40, few=few)).flags == ()


def test_a_clearly_defective_product_is_flagged_with_its_evidence_and_advice():
    socks = Sales("socks", None, "Socks", None, 200, {"defective": 24, "changed_mind": 8})
    found = analyse(shop_of(socks=socks))
    [flag] = found.flags
    assert (flag.product_id, flag.variant_id, flag.reason, flag.advice) == ("socks", None, "defective", "quality")
    assert (flag.returns, flag.units, flag.shop_returns, flag.shop_units) == (24, 200, 20, 2000)
    assert flag.rate == pytest.approx(0.12) and flag.shop_rate == pytest.approx(0.01)
    assert flag.ratio == pytest.approx(12.0) and flag.p_value < found.rule.alpha / flag.tests
    assert flag.sentence == ("Socks: 'defective' 12.0 % of units, 12.0x the rest of the shop's rate, over 24 returns "
                             "-> quality: check the batch with the supplier")  # fmt: skip


def test_a_significant_difference_too_small_to_act_on_is_not_flagged():
    # 1.3x the rest of the shop on many units: not chance, yet below MIN_RATIO.
    big = Sales("big", None, "Big", None, 20_000, {"size_too_small": 1040})
    assert analyse(shop_of(products=200, big=big)).flags == ()


def test_a_reason_the_rest_of_the_shop_never_has_is_flagged_with_no_ratio():
    late = Sales("late", None, "Late", None, 300, {"arrived_late": 20})
    [flag] = analyse(shop_of(late=late)).flags
    assert (flag.reason, flag.ratio, flag.shop_rate, flag.advice) == ("arrived_late", None, 0.0, "delivery")
    assert "none elsewhere in the shop" in flag.sentence


def test_one_variant_that_runs_small_is_flagged_as_the_variant():
    sizes = [Sales("jacket", size, "Trail Jacket", f"TJ-{size}", 150, {"size_too_small": 6, "changed_mind": 6})
             for size in ("S", "L")]  # fmt: skip
    sizes.append(Sales("jacket", "M", "Trail Jacket", "TJ-M", 380, {"size_too_small": 42, "changed_mind": 15}))
    found = analyse(shop_of(products=30, **{s.variant_id: s for s in sizes}))
    [flag] = found.flags
    assert (flag.variant_id, flag.sku, flag.reason, flag.advice) == ("M", "TJ-M", "size_too_small", "size_chart")
    assert flag.sentence.startswith("Trail Jacket (TJ-M): 'too small' 11.1 % of units, 2.8x the rest of the shop")
    jacket = next(p for p in found.products if p.product_id == "jacket")
    assert (jacket.variant_id, jacket.sold, [v.variant_id for v in jacket.variants]) == (None, 680, ["M", "L", "S"])


def test_a_product_whose_every_variant_runs_small_is_flagged_once_as_the_product():
    sizes = {s: Sales("jacket", s, "Trail Jacket", f"TJ-{s}", 200, {"size_too_small": 24}) for s in "SML"}
    [flag] = analyse(shop_of(products=30, **sizes)).flags
    assert (flag.product_id, flag.variant_id, flag.sku, flag.label) == ("jacket", None, None, "Trail Jacket")


def test_the_empty_shop_has_no_rates_no_flags_and_no_tests():
    found = analyse([])
    assert (found.sold, found.returned, found.rate, found.products, found.flags, found.tests) == (0, 0, None, (), (), 0)
    assert insight_csv.products_csv(found) == ",".join(insight_csv.CSV_COLUMNS) + "\r\n"


def test_the_shop_mix_and_each_products_mix_sit_side_by_side():
    found = analyse(shop_of(products=2))
    assert [(r.reason, r.units) for r in found.reasons] == [("changed_mind", 8), ("size_too_small", 8), ("defective", 2)]
    assert sum(r.share for r in found.reasons) == pytest.approx(1)
    first = found.products[0].reasons[0]
    assert (first.share, first.shop_share, first.rate, first.shop_rate) == pytest.approx((4 / 9, 4 / 9, 0.04, 0.04))


@settings(max_examples=200, deadline=None, database=None)
@given(n=st.integers(0, 120), k=st.integers(0, 125), p=st.floats(0, 1))
def test_the_binomial_tail_is_the_exact_sum(n, k, p):
    exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
    assert binomial_tail(k, n, p) == pytest.approx(exact, rel=1e-9, abs=1e-13)


def test_the_binomial_tail_of_large_samples_stays_exact():
    assert binomial_tail(50_000, 100_000, 0.5) == pytest.approx(0.5 + math.comb(100_000, 50_000) / 2**100_001, rel=1e-9)
    assert binomial_tail(0, 10, 0.3) == 1.0 and binomial_tail(11, 10, 0.3) == 0.0


@pytest.mark.parametrize(("values", "p50", "p90"), [
    ([5], 5, 5), ([1, 2], 1, 2), ([4, 1, 3, 2], 2, 4), (list(range(1, 11)), 5, 9), (list(range(1, 101)), 50, 90),
])  # fmt: skip
def test_p50_and_p90_are_nearest_rank_percentiles(values, p50, p90):
    assert (percentile(values, 50), percentile(values, 90)) == (p50, p90)


def test_refund_times_group_by_key_and_count_a_negative_time_as_none():
    rows = insight.refund_times([("postal", 3600), ("postal", 7200), ("in_store", -5), ("postal", 36000)])
    assert rows == (insight.Durations("in_store", 1, 0, 0), insight.Durations("postal", 3, 7200, 36000))
    assert insight.refund_times([]) == ()


def test_feedback_counts_averages_and_ignores_what_is_not_a_rating():
    given = insight.feedback({5: 3, 4: 1, 1: 1, 9: 4})
    assert (given.count, given.average, given.distribution) == (5, 4.0, {1: 1, 2: 0, 3: 0, 4: 1, 5: 3})
    assert insight.feedback({}) == insight.Feedback(0, None, {1: 0, 2: 0, 3: 0, 4: 0, 5: 0})


def test_a_period_is_whole_utc_days_both_ends_included():
    period = Period(date(2026, 3, 1), date(2026, 3, 31))
    assert period.bounds() == (datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 4, 1, tzinfo=timezone.utc))
    assert Period(date(2026, 3, 2), date(2026, 3, 1)).empty and not period.empty
    assert Period(date.min, date.max).bounds()[1] is None
    assert Period.last(90, date(2026, 3, 31)).start == date(2026, 1, 1)
    assert Period.last(90, date(1, 1, 5)).start == date.min


def test_the_csv_is_rfc_4180_and_never_a_formula():
    rows = shop_of(products=2) + [
        Sales("q", "v1", 'Jacket, "Trail"\r\nedition', "=HYPERLINK(1)", 10, {"other": 1}),
        Sales("q", "v2", 'Jacket, "Trail"\r\nedition', "-2", 10, {}),
    ]  # fmt: skip
    text = insight_csv.products_csv(analyse(rows))
    assert text.endswith("\r\n") and text.count("\r\n") == 5 + 2  # 5 records, 2 quoted line breaks
    records = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(records[0]) == insight_csv.CSV_COLUMNS and len(records) == 4
    jacket = {r["variant_id"]: r for r in records if r["product_id"] == "q"}
    assert jacket["v1"]["title"] == 'Jacket, "Trail"\r\nedition' and jacket["v1"]["sku"] == "'=HYPERLINK(1)"
    assert jacket["v2"]["sku"] == "'-2" and jacket["v1"]["returned_other"] == "1" and jacket["v1"]["return_rate"] == "0.1000"
    assert '"Jacket, ""Trail""\r\nedition"' in text
