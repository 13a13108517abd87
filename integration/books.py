"""Refunds as rows for the books: one row per refund x VAT country x rate x component, purely.

`net + vat == gross` on every row, and the rows of one refund add up to what moved back to the customer.
The rate is always the original sale's, as its own tax lines had it (Finland's 14 % became 13.5 % on
1 January 2026: a 2025 sale is credited at 14 %); no rate table is ever consulted.

Signs: a row is money given back to the customer (positive), or kept from them (negative: the fees and
deductions the shop kept). Accounting formats turn them into debits and credits (integration/journal.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from integration.money import allocate

__all__ = ["Component", "BookRow", "Head", "Taxed", "refund_rows", "external_rows", "percent", "VatLine", "vat_summary",
           "totals"]


class Component:
    """What a row is for. Positive components are credited to the customer; the rest are kept from them."""

    GOODS = "goods"  # the returned items' price (what the customer paid for those units)
    SHIPPING = "shipping"  # the order's shipping, given back
    RETURN_SHIPPING_FEE = "return_shipping_fee"  # the flat return-shipping fee the shop kept
    RESTOCKING_FEE = "restocking_fee"  # the restocking fee the shop kept
    DIMINISHED_VALUE = "diminished_value"  # a deduction for the goods' diminished value
    # Owed but not paid by this refund: the payment had less left to refund than the return was worth.
    UNCREDITED = "uncredited"
    # Of a refund made outside Palautus, what its lines do not explain (the platform did not say what for).
    UNALLOCATED = "unallocated"
    # What the payment provider charged (positive) or gave back (negative) on the movement of one of our refunds,
    # as its payout says: a row of its own, under the refund's key with ":fee", outside the refund's own sum.
    PROVIDER_FEE = "provider_fee"

    CREDITED = (GOODS, SHIPPING)
    KEPT = (RETURN_SHIPPING_FEE, RESTOCKING_FEE, DIMINISHED_VALUE, UNCREDITED)
    ALL = (GOODS, SHIPPING, RETURN_SHIPPING_FEE, RESTOCKING_FEE, DIMINISHED_VALUE, UNCREDITED, UNALLOCATED, PROVIDER_FEE)


@dataclass(frozen=True)
class BookRow:
    """One line of the refund ledger. Amounts are signed minor units of `currency`; net + vat == gross."""

    shop_id: int
    source: str  # "palautus" (a refund Palautus made) or "external" (made in the shop's admin or elsewhere)
    refund_ref: str  # ours: the refund's idempotency key; external: "<platform>:<platform refund id>"
    refund_id: int | None  # our Refund row, when ours
    shop_refund_id: int | None  # the ShopRefund row, when the platform recorded it
    order_ref: str  # the order's name as the customer knows it (#1001)
    platform_order_id: str
    sale_date: date | None  # when the original sale was made (the order's processed_at)
    refund_date: date  # when the money went back (ours: completed; external: the platform's created_at)
    return_code: str | None
    provider: str | None  # who held the money
    route: str | None  # who moved it back
    provider_refund_id: str | None
    country: str  # the VAT country (ISO 3166-1 alpha-2: where the goods went), "" where unknown
    rate: Decimal  # VAT rate in percent, the original sale's: Decimal("13.5"), Decimal("25.5"), Decimal("0")
    component: str  # a Component
    currency: str
    gross: int
    net: int
    vat: int


@dataclass(frozen=True)
class Head:
    """What every row of one refund shares: BookRow's fields but the rate, the component and the amounts."""

    shop_id: int
    source: str
    refund_ref: str
    refund_id: int | None
    shop_refund_id: int | None
    order_ref: str
    platform_order_id: str
    sale_date: date | None
    refund_date: date
    return_code: str | None
    provider: str | None
    route: str | None
    provider_refund_id: str | None
    country: str
    currency: str


@dataclass(frozen=True)
class Taxed:
    """One priced thing of the sale: what the customer paid (tax included), the VAT in it, and its rate as the
    sale's own tax lines had it, as a fraction (Decimal("0.135"))."""

    gross: int
    vat: int
    rate: Decimal


def percent(rate: Decimal) -> Decimal:
    """A rate as a fraction (0.135) in percent (13.5), written without trailing zeros or an exponent (24, not 2.4E+1)."""
    value = Decimal(rate) * 100
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _key(rate: Decimal) -> str:
    """A rate as Refund.vat's keys have it (integration/refunds.py `_vat`): "0.24", "0.135"."""
    return str(Decimal(rate).normalize())


def _row(head: Head, rate: Decimal, component: str, gross: int, vat: int) -> BookRow:
    return BookRow(**asdict(head), rate=percent(rate), component=component, gross=gross, net=gross - vat, vat=vat)


def _by_rate(items: list[Taxed]) -> dict[Decimal, tuple[int, int]]:
    """Gross and VAT summed per rate, in the order the rates first appear."""
    totals: dict[Decimal, tuple[int, int]] = {}
    for item in items:
        rate = Decimal(item.rate).normalize()
        gross, vat = totals.get(rate, (0, 0))
        totals[rate] = (gross + item.gross, vat + item.vat)
    return totals


def refund_rows(head: Head, goods: list[Taxed], shipping: Taxed | None, fees: dict[str, int], amount: int,
                vat: dict[str, int]) -> list[BookRow]:  # fmt: skip
    """The rows of one refund Palautus made: the goods and shipping given back per rate, then what was kept.

    `goods` and `shipping` are the refund's planned lines and shipping (Refund.lines, Refund.shipping), `fees`
    its named deductions (Refund.fees), `amount` what went back and `vat` the VAT in it per rate (Refund.vat):
    the rows add up to `amount`, and their VAT per rate to `vat`, exactly.

    What was kept (the subtotal less the amount) is the fees in the order diminished value, restocking, return
    shipping, then anything more as uncredited (the payment had less left than the return was worth). Each
    rate keeps the share of it that its gross bears (`allocate`), and the VAT it keeps is what its credited VAT
    exceeds what the refund carries at that rate: the plan shrank the VAT with the money, rounding toward the
    merchant, so a kept fee carries its share of VAT as a sale would. Across rates and components the kept
    gross is split so every rate's and every component's total is exact.
    """
    credited = [(Component.GOODS, _by_rate(goods))] + ([(Component.SHIPPING, _by_rate([shipping]))] if shipping else [])
    rows = [_row(head, rate, component, gross, tax) for component, totals in credited for rate, (gross, tax) in totals.items()
            if gross or tax]  # fmt: skip
    per_rate = _by_rate(goods + ([shipping] if shipping else []))
    subtotal = sum(gross for gross, _ in per_rate.values())
    kept = subtotal - amount
    if kept <= 0:
        return rows
    parts = _kept_parts(fees, kept)
    rates = list(per_rate)
    kept_gross = allocate(kept, [per_rate[rate][0] for rate in rates])
    for rate, gross_kept in zip(rates, kept_gross):
        vat_kept = per_rate[rate][1] - vat.get(_key(rate), 0)
        rows += _kept_rows(head, rate, gross_kept, vat_kept, parts)
    return rows


def _kept_parts(fees: dict[str, int], kept: int) -> list[list]:
    """[component, amount] for what was kept: the fees in a fixed order, never more than was kept, then the rest."""
    names = [("diminished_value", Component.DIMINISHED_VALUE), ("restocking", Component.RESTOCKING_FEE),
             ("return_shipping", Component.RETURN_SHIPPING_FEE)]  # fmt: skip
    parts, left = [], kept
    for name, component in names:
        take = min(max(fees.get(name, 0), 0), left)
        if take:
            parts.append([component, take])
            left -= take
    if left:
        parts.append([Component.UNCREDITED, left])
    return parts


def _kept_rows(head: Head, rate: Decimal, gross: int, vat: int, parts: list[list]) -> list[BookRow]:
    """One rate's kept gross and VAT split over the kept components. `parts` holds what each component still has
    to place; this rate takes from each in proportion (never more than is left), the last takes the rest."""
    shares = allocate(gross, [left for _, left in parts])
    taxes = allocate(vat, shares) if gross else [vat] + [0] * (len(parts) - 1)
    rows = []
    for part, share, tax in zip(parts, shares, taxes):
        part[1] -= share
        if share or tax:
            rows.append(_row(head, rate, part[0], -share, -tax))
    return rows


def external_rows(head: Head, goods: list[Taxed], shipping: Taxed | None, amount: int,
                  sale: list[Taxed]) -> list[BookRow]:  # fmt: skip
    """The rows of a refund made outside Palautus (the shop's admin, a provider's dashboard), from what the
    platform recorded: the lines and shipping it named, priced from the sale, then what they do not explain.

    Lines worth more than the refund: the refund shrinks them as ours do (`refund_rows`, the difference is
    UNALLOCATED rather than a fee nobody named). A refund worth more than its lines (an amount with no line,
    a goodwill refund): the rest is spread over the sale's rates in proportion to the sale (`sale`: its lines
    and shipping), as a discount on a mixed-rate sale is, its VAT taken out of the gross at each rate.
    """
    named = goods + ([shipping] if shipping else [])
    explained = sum(item.gross for item in named)
    if amount <= explained:
        per_rate = _by_rate(named)
        vat = {_key(rate): tax * amount // explained if explained else 0 for rate, (_, tax) in per_rate.items()}
        rows = refund_rows(head, goods, shipping, {}, amount, vat)
        return [row if row.component != Component.UNCREDITED else _relabel(row) for row in rows]
    rows = refund_rows(head, goods, shipping, {}, explained, {_key(r): t for r, (_, t) in _by_rate(named).items()})
    per_rate = _by_rate(sale) or {Decimal(0): (1, 0)}
    rates = list(per_rate)
    for rate, gross in zip(rates, allocate(amount - explained, [per_rate[rate][0] for rate in rates])):
        if gross:
            rows.append(_row(head, rate, Component.UNALLOCATED, gross, _vat_in(gross, rate)))
    return rows


def _relabel(row: BookRow) -> BookRow:
    return BookRow(**{**asdict(row), "component": Component.UNALLOCATED})


def _vat_in(gross: int, rate: Decimal) -> int:
    """The VAT contained in a tax-included amount at a rate, rounded half up to the minor unit."""
    rate = Decimal(rate)
    return int((Decimal(gross) * rate / (1 + rate)).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class VatLine:
    """A month's refunds at one VAT country and rate: what the VAT return for that month takes off the sales."""

    month: str  # "2026-01"
    country: str
    rate: Decimal  # percent
    currency: str
    gross: int
    net: int
    vat: int
    refunds: int  # how many refunds have rows in it


def vat_summary(rows: list[BookRow]) -> list[VatLine]:
    """Rows summed per month of the refund, VAT country, rate and currency (sorted): every component of the sale
    counts, kept fees reduce the credit as they should; the providers' fees are no sale and are left out."""
    groups: dict[tuple, list[BookRow]] = {}
    for row in rows:
        if row.component == Component.PROVIDER_FEE:  # a cost of the refund, not a sale it takes back: no VAT
            continue
        groups.setdefault((row.refund_date.strftime("%Y-%m"), row.country, row.rate, row.currency), []).append(row)
    return [
        VatLine(month, country, rate, currency, sum(r.gross for r in group), sum(r.net for r in group),
                sum(r.vat for r in group), len({r.refund_ref for r in group}))
        for (month, country, rate, currency), group in sorted(groups.items(), key=lambda item: _sort_key(item[0]))
    ]  # fmt: skip


def _sort_key(key: tuple) -> tuple:
    month, country, rate, currency = key
    return (month, country, currency, -rate)


def totals(rows: list[BookRow]) -> dict[str, dict]:
    """Per currency (sorted): how many refunds the rows are of, and their gross, net and VAT."""
    found: dict[str, dict] = {}
    for row in rows:
        t = found.setdefault(row.currency, {"gross": 0, "net": 0, "vat": 0, "refunds": set()})
        t["gross"], t["net"], t["vat"] = t["gross"] + row.gross, t["net"] + row.net, t["vat"] + row.vat
        t["refunds"].add(row.refund_ref)
    return {currency: {**t, "refunds": len(t["refunds"])} for currency, t in sorted(found.items())}
