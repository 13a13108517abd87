"""Book rows for the export tests: one valid row with every field overridable, and random refunds (hypothesis)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import strategies as st

from integration.books import BookRow, Component
from integration.journal import ANY, BAS_DEFAULTS, AccountMap

BASE = BookRow(
    shop_id=1, source="palautus", refund_ref="rf_1", refund_id=1, shop_refund_id=None, order_ref="#1001",
    platform_order_id="5001", sale_date=date(2025, 2, 1), refund_date=date(2025, 3, 1), return_code="R-7K2M",
    provider="stripe", route="stripe", provider_refund_id="re_1", country="FI", rate=Decimal("25.5"),
    component=Component.GOODS, currency="EUR", gross=12550, net=10000, vat=2550,
)  # fmt: skip
RATES = [Decimal(r) for r in ("0", "6", "10", "12", "13.5", "14", "24", "25", "25.5")]
COUNTRIES = ["FI", "SE", "DE", "EE", "NO", ""]
# A Swedish map that can book any rate: BAS has no account for another country's VAT, so the merchant names one.
BAS_ANY_RATE = AccountMap.from_dict({**BAS_DEFAULTS.to_dict(), "output_vat": {**BAS_DEFAULTS.output_vat,
                                                                            ANY: "2890"}})  # fmt: skip


def row(**changes) -> BookRow:
    """A valid row (25.5 % goods given back in Finland) with the given fields changed; pass gross and rate alone
    to have net and vat worked out."""
    if "gross" in changes and "net" not in changes:
        changes["net"], changes["vat"] = split(changes["gross"], changes.get("rate", BASE.rate))
    return replace(BASE, **changes)


def split(gross: int, rate: Decimal) -> tuple[int, int]:
    """Net and VAT of a gross amount at a rate, the VAT rounded half up."""
    vat = int((Decimal(gross) * rate / (100 + rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return gross - vat, vat


@st.composite
def refund_rows(draw, refund_ref: str = "rf_1", currency: str = "EUR") -> list[BookRow]:
    """The rows of one refund: several components, rates and VAT countries, given back and kept."""
    source = draw(st.sampled_from(["palautus", "external"]))
    provider = draw(st.sampled_from(["stripe", "klarna", "paypal", "paytrail", None]))
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        component = draw(st.sampled_from(Component.ALL))
        rate = draw(st.sampled_from(RATES))
        amount = draw(st.integers(1, 10_000_000))
        gross = -amount if component in Component.KEPT else amount
        net, vat = split(gross, rate)
        rows.append(row(refund_ref=refund_ref, source=source, provider=provider, route=provider, currency=currency,
                        component=component, rate=rate, country=draw(st.sampled_from(COUNTRIES)),
                        gross=gross, net=net, vat=vat))  # fmt: skip
    return rows


@st.composite
def many_refunds(draw, currency: str = "EUR") -> list[BookRow]:
    """The rows of several refunds."""
    count = draw(st.integers(1, 4))
    return [r for i in range(count) for r in draw(refund_rows(refund_ref=f"rf_{i}", currency=currency))]
