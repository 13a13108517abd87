"""Which products come back and why, with the evidence: pure statistics over counts, stdlib only.

integration/services/insight.py counts in SQL; this module turns the counts into return rates, each
product's reason mix against the shop's, flags that carry their evidence, refund-time percentiles and the
feedback summary (the arithmetic is in insight_stats.py, the CSV in insight_csv.py). Returns are counted in
units (an item of 2 is 2 returns).

The flag rule, one test per (product or variant, reason). All three must hold:

1. Enough sample: the product sold at least MIN_UNITS units and MIN_RETURNS of them came back for the
   reason; the rest of the shop sold at least MIN_UNITS too (there is something to compare with).
   2 returns out of 3 units is never a flag, however high the rate.
2. Big enough to act on: the product's rate for the reason (units returned for it / units sold) is at
   least MIN_RATIO times the rest of the shop's rate for it (or the rest of the shop has none).
3. Not chance: the one-sided conditional binomial test of two Poisson rates (the "C-test" of
   Przyborowski & Wilenski 1940, as described in Krishnamoorthy & Thomson 2004, "A more powerful test
   for comparing two Poisson means", J. Statistical Planning and Inference 119:23-35). With k returns for
   the reason out of n units for the product and K out of N for the rest of the shop, k given k + K is
   Binomial(k + K, n / (n + N)) when both rates are equal; the p-value P(X >= k) must be at most
   ALPHA / m, where m is the number of tests made: every row with enough units (products, and the
   variants of products that have several) times every reason the shop saw MIN_RETURNS times or more.
   That is Bonferroni's correction: across a shop of hundreds of products, the chance that noise alone
   flags even one stays under ALPHA (5 %), where testing each at 5 % would flag one test in twenty.

The baseline is the rest of the shop, not the whole shop: a product that makes most of the sales would
otherwise be compared with itself. Where a product and some of its variants are flagged for one reason, the
flag names the variants when the product's other variants are not above MIN_RATIO times the rest of the shop
(the trouble is in those variants), and the whole product otherwise.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from integration.insight_stats import binomial_tail, percentile
from integration.returns import Reason

__all__ = [
    "Rule", "RULE", "ADVICE", "REASON_LABELS", "Period", "Sales", "ReasonShare", "Line", "Flag", "Insight",
    "analyse", "product_key", "binomial_tail", "percentile", "Durations", "refund_times", "Feedback", "feedback",
]  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """The constants of the flag rule (see the module's docstring)."""

    min_units: int = 20
    min_returns: int = 5
    min_ratio: float = 1.5
    alpha: float = 0.05


RULE = Rule()

R = Reason
# What a merchant does about each reason: a code (the dashboard words it in the merchant's language) and the words.
ADVICE: dict[str, tuple[str, str]] = {
    R.SIZE_TOO_SMALL: ("size_chart", "check the size chart (it runs small)"),
    R.SIZE_TOO_LARGE: ("size_chart", "check the size chart (it runs large)"),
    R.NOT_AS_DESCRIBED: ("description", "fix the description and photos"),
    R.DEFECTIVE: ("quality", "quality: check the batch with the supplier"),
    R.DAMAGED_IN_TRANSIT: ("packaging", "packaging: protect it better in transit"),
    R.WRONG_ITEM: ("picking", "picking: check the stock location and labels"),
    R.COLOR: ("photos", "check the colours in the photos"),
    R.STYLE: ("photos", "show the fit and style better in the photos"),
    R.CHANGED_MIND: ("product_page", "check that the product page sets the right expectations"),
    R.ARRIVED_LATE: ("delivery", "check the delivery times and the carrier"),
    R.OTHER: ("notes", "read the customers' notes on these returns"),
    R.UNKNOWN: ("ask_reason", "ask customers for a reason when they return it"),
}  # fmt: skip
ADVICE = {reason.value: advice for reason, advice in ADVICE.items()}
REASON_LABELS = {reason.value: reason.value.replace("size_", "").replace("_", " ") for reason in Reason}


@dataclass(frozen=True)
class Period:
    """Whole UTC days from `start` to `end`, both included; one that ends before it starts holds nothing."""

    start: date
    end: date

    @classmethod
    def last(cls, days: int, today: date) -> Period:
        """The `days` days up to `today`, included (from the calendar's first day, if it comes sooner)."""
        start = today - timedelta(days=days - 1) if today.toordinal() >= days else date.min
        return cls(start, today)

    @property
    def empty(self) -> bool:
        return self.start > self.end

    def bounds(self) -> tuple[datetime, datetime | None]:
        """From the start's midnight, up to (not including) the midnight after the end; None: no end."""
        begin = datetime.combine(self.start, time.min, timezone.utc)
        if self.end == date.max:
            return begin, None
        return begin, datetime.combine(self.end + timedelta(days=1), time.min, timezone.utc)


@dataclass(frozen=True)
class Sales:
    """One variant's units sold in the period, and the units of them that came back, per reason."""

    product_id: str | None
    variant_id: str | None
    title: str
    sku: str | None
    sold: int
    returned: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ReasonShare:
    """A reason of a row: its units, its share of the row's returns and rate per unit sold, and the shop's."""

    reason: str
    units: int
    share: float
    rate: float
    shop_share: float
    shop_rate: float


@dataclass(frozen=True)
class Line:
    """A product (its variants inside, when it has several) or a variant, as the table shows it."""

    product_id: str | None
    variant_id: str | None
    title: str
    sku: str | None
    sold: int
    returned: int
    rate: float | None
    reasons: tuple[ReasonShare, ...]
    variants: tuple[Line, ...] = ()


@dataclass(frozen=True)
class Flag:
    """A product (or variant) that comes back for a reason more than the rest of the shop, and the evidence."""

    product_id: str | None
    variant_id: str | None
    title: str
    sku: str | None
    reason: str
    rate: float  # returns / units
    shop_rate: float  # the rest of the shop's: shop_returns / shop_units
    ratio: float | None  # rate / shop_rate; None when the rest of the shop had none
    returns: int
    units: int
    shop_returns: int
    shop_units: int
    p_value: float
    tests: int  # m, the number of tests the p-value was held against (ALPHA / m)

    @property
    def advice(self) -> str:
        return ADVICE[self.reason][0]

    @property
    def advice_text(self) -> str:
        return ADVICE[self.reason][1]

    @property
    def product(self) -> tuple:
        return product_key(self.product_id, self.title)

    @property
    def label(self) -> str:
        return _label(self.title, self.sku, self.variant_id)

    @property
    def sentence(self) -> str:
        """In words: "Socks: 'defective' 12.0 % of units, 4.2x the rest of the shop's rate, over 24 returns -> ..."."""
        compared = f"{self.ratio:.1f}x the rest of the shop's rate" if self.ratio else "none elsewhere in the shop"
        return (f"{self.label}: '{REASON_LABELS[self.reason]}' {100 * self.rate:.1f} % of units, {compared}, "
                f"over {self.returns} returns -> {self.advice_text}")  # fmt: skip


@dataclass(frozen=True)
class Insight:
    """The shop's units sold and returned, its reason mix, its products (most returned first) and the flags."""

    sold: int
    returned: int
    rate: float | None
    reasons: tuple[ReasonShare, ...]
    products: tuple[Line, ...]
    flags: tuple[Flag, ...]
    rule: Rule
    tests: int


def _label(title: str, sku: str | None, variant_id: str | None) -> str:
    if variant_id is None:
        return title
    return f"{title} ({sku or f'variant {variant_id}'})"


class _Tally:
    """Units sold and returned per reason, of a variant, a product or the shop."""

    def __init__(self, rows: Iterable[Sales] = ()):
        self.sold, self.returned = 0, defaultdict(int)
        for row in rows:
            self.sold += row.sold
            for reason, units in row.returned.items():
                self.returned[reason] += units

    @property
    def total(self) -> int:
        return sum(self.returned.values())


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _reasons(row: _Tally, shop: _Tally) -> tuple[ReasonShare, ...]:
    """The row's reasons, most returned first, each beside the whole shop's share and rate."""
    order = sorted((r for r, n in row.returned.items() if n), key=lambda r: (-row.returned[r], r))
    return tuple(ReasonShare(r, row.returned[r], _ratio(row.returned[r], row.total), _ratio(row.returned[r], row.sold),
                             _ratio(shop.returned[r], shop.total), _ratio(shop.returned[r], shop.sold))
                 for r in order)  # fmt: skip


def _line(first: Sales, tally: _Tally, shop: _Tally, variant: bool, variants=()) -> Line:
    return Line(first.product_id, first.variant_id if variant else None, first.title, first.sku if variant else None,
                tally.sold, tally.total, tally.total / tally.sold if tally.sold else None, _reasons(tally, shop),
                tuple(variants))  # fmt: skip


def product_key(product_id: str | None, title: str) -> tuple:
    """A product's identity: its id, or the title of a line of no product (a custom item)."""
    return (product_id, None if product_id else title)


def analyse(sales: Iterable[Sales], rule: Rule = RULE) -> Insight:
    """Rates, reason mixes and flags of the shop's products (see the module's docstring for the rule)."""
    sales = [row for row in sales if row.sold > 0 or any(row.returned.values())]
    shop, groups = _Tally(sales), defaultdict(list)
    for row in sales:
        groups[product_key(row.product_id, row.title)].append(row)
    lines, rows = [], []  # rows: what the rule tests, as (tally, line, is a variant of several)
    for group in groups.values():
        tally = _Tally(group)
        variants = [(_Tally([v]), v) for v in group] if len(group) > 1 else []
        kids = [(t, _line(v, t, shop, variant=True)) for t, v in variants]
        rows += [(t, kid, True) for t, kid in kids]
        kids.sort(key=lambda pair: (-pair[1].returned, -pair[1].sold, pair[1].sku or "", pair[1].variant_id or ""))
        line = _line(group[0], tally, shop, variant=not kids, variants=[kid for _, kid in kids])
        lines.append(line)
        rows.append((tally, line, False))
    lines.sort(key=lambda k: (-k.returned, -k.sold, k.title))
    flags, tests = _flags(rows, shop, rule)
    return Insight(shop.sold, shop.total, shop.total / shop.sold if shop.sold else None, _reasons(shop, shop),
                   tuple(lines), flags, rule, tests)  # fmt: skip


def _flags(rows: list[tuple[_Tally, Line, bool]], shop: _Tally, rule: Rule) -> tuple[tuple[Flag, ...], int]:
    reasons = sorted(r for r, n in shop.returned.items() if n >= rule.min_returns)  # the others can flag nothing
    sized = [row for row in rows if row[0].sold >= rule.min_units and shop.sold - row[0].sold >= rule.min_units]
    tests = len(sized) * len(reasons)
    found = [flag for row in sized for r in reasons if (flag := _test(*row, r, shop, rule, tests))]
    kept = _attributed(found, [(t, line) for t, line, variant in rows if variant], rule)
    kept.sort(key=lambda f: (f.p_value, -f.returns, f.title, f.reason))
    return tuple(kept), tests


def _attributed(found: list[Flag], variants: list[tuple[_Tally, Line]], rule: Rule) -> list[Flag]:
    """One flag per product and reason: its variants' when the product's other variants are not above
    MIN_RATIO times the rest of the shop (the trouble is in those variants), else the whole product's."""
    named = defaultdict(set)  # (product, reason): the variants flagged for it
    for f in found:
        if f.variant_id is not None:
            named[(f.product, f.reason)].add(f.variant_id)
    by_product = {(f.product, f.reason) for f in found if f.variant_id is None}
    to_variants = set()  # (product, reason) flagged as the product, that its flagged variants explain
    for product, reason in by_product & set(named):
        rest = [t for t, line in variants if product_key(line.product_id, line.title) == product
                and line.variant_id not in named[(product, reason)]]  # fmt: skip
        sold, back = sum(t.sold for t in rest), sum(t.returned[reason] for t in rest)
        shop_rate = next(f.shop_rate for f in found if (f.product, f.reason, f.variant_id) == (product, reason, None))
        if sold and back / sold < rule.min_ratio * shop_rate:
            to_variants.add((product, reason))

    def kept(f: Flag) -> bool:
        pair = (f.product, f.reason)
        return pair not in to_variants if f.variant_id is None else pair not in by_product or pair in to_variants

    return [f for f in found if kept(f)]


def _test(row: _Tally, line: Line, variant: bool, reason: str, shop: _Tally, rule: Rule, tests: int) -> Flag | None:
    n, k = row.sold, row.returned[reason]
    big, many = shop.sold - n, shop.returned[reason] - k
    if k < rule.min_returns:
        return None
    rate, base = k / n, many / big
    if base and rate < rule.min_ratio * base:
        return None
    p_value = binomial_tail(k, k + many, n / (n + big))
    if p_value > rule.alpha / tests:
        return None
    return Flag(line.product_id, line.variant_id if variant else None, line.title, line.sku if variant else None,
                reason, rate, base, rate / base if base else None, k, n, many, big, p_value, tests)  # fmt: skip


@dataclass(frozen=True)
class Durations:
    """How long refunds took for one key (a return method, or a refund route): count, p50 and p90 in seconds."""

    key: str
    count: int
    p50: int
    p90: int


def refund_times(samples: Iterable[tuple[str, float]]) -> tuple[Durations, ...]:
    """Per key, the p50 and p90 of (key, seconds) samples; a negative time (clocks apart) counts as 0."""
    groups: dict[str, list[float]] = defaultdict(list)
    for key, seconds in samples:
        groups[key].append(max(seconds, 0.0))
    return tuple(Durations(key, len(v), round(percentile(v, 50)), round(percentile(v, 90)))
                 for key, v in sorted(groups.items()))  # fmt: skip


@dataclass(frozen=True)
class Feedback:
    count: int
    average: float | None
    distribution: dict[int, int]  # rating 1-5: how many gave it


def feedback(counts: Mapping[int, int]) -> Feedback:
    """Count, average and distribution of ratings 1-5 (others are not ratings and are left out)."""
    distribution = {rating: int(counts.get(rating, 0)) for rating in range(1, 6)}
    total = sum(distribution.values())
    average = sum(r * n for r, n in distribution.items()) / total if total else None
    return Feedback(total, average, distribution)
