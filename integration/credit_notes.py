"""A credit note for one refund, as a plain document (a dict ready for JSON), built purely.

What it must say, and where that comes from (Council Directive 2006/112/EC, as amended by 2010/45/EU):
- Art. 219: "any document or message that amends and refers specifically and unambiguously to the initial
  invoice shall be treated as an invoice". The note names the sale it amends by the order's name as the customer
  knows it, the platform and its order id, and the sale's date (`amends`), and says what it amends (`amendment`,
  `reason`, the lines).
- Art. 220a(1)(b): a document treated as an invoice under Art. 219 may be a simplified invoice, whose contents
  Art. 226b lists: the date of issue, the seller, the type of goods, the VAT amount (or what is needed to compute
  it), and "specific and unambiguous reference to that initial invoice and the specific details which are being
  amended". The note holds all of that and, of Art. 226's full list, also what Palautus knows: a sequential
  number per shop that identifies it uniquely (226(2)), the seller's VAT id, name and address (226(3), (5)),
  quantity and nature of the goods (226(6)), the taxable amount per rate and the unit price exclusive of VAT
  (226(8)), each rate (226(9)) and the VAT per rate (226(10)).
  Not held: the customer's name and address (226(5)) and VAT id (226(4)). A full invoice needs them where Art.
  220(1)(1)-(3) makes one compulsory (a sale to a business, a distance sale outside the OSS scheme, an
  intra-Community supply), and Art. 220a(2) rules out the simplified one there: such a merchant keeps credit
  notes off and issues them from its own ERP with the references of the books export.
- Art. 230 lets the amounts be in any currency; where the VAT is due in another currency, converting it is left
  to the merchant's books, as for the sale. Art. 238 (a Member State's option to drop details on invoices of
  minor amounts) is not relied on: 220a(1)(b) already allows the simplified form for an amending document.
The wording followed is the consolidated text (Arts. 219, 220, 220a, 226 and 226b as amended by 2010/45/EU;
Art. 238 as republished at legislation.gov.uk/eudr/2006/112/article/238).

Signs: a line is money credited to the customer (positive) or kept from them (negative: the fees and deductions
the shop kept), as in integration/books.py; the totals per rate are the refund's book rows summed, so the note
and the books never disagree, and the grand total is what went back. The rate of every line is the original
sale's (a 2025 sale at 14 % is credited at 14 %), never a table's.

Amounts are given twice: a decimal string in major units for people ("84.90") and an integer of minor units
for machines (8490). The document is stored as issued and the PDF is drawn from it alone, so it reads the same
for as long as it is kept (integration/services/credit_notes.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from integration.books import BookRow, Component, percent
from integration.money import to_decimal

__all__ = ["VERSION", "Seller", "Sale", "Credit", "Goods", "REASONS", "format_number", "build_document"]

VERSION = 1  # the document's layout: a reader of old notes knows which it holds
DEFAULT_PREFIX = "CN"
REASONS = {
    "return": "return of goods",
    "withdrawal": "withdrawal from the contract",
    "cancellation": "cancellation",
}
# What each component of the books is called on the note (goods lines carry their own titles).
DESCRIPTIONS = {
    Component.SHIPPING: "Shipping",
    Component.RETURN_SHIPPING_FEE: "Return shipping fee (kept)",
    Component.RESTOCKING_FEE: "Restocking fee (kept)",
    Component.DIMINISHED_VALUE: "Deduction for diminished value (kept)",
    Component.UNCREDITED: "Not refunded: the payment had less left to refund",
    Component.UNALLOCATED: "Not allocated to a line",
}


@dataclass(frozen=True)
class Seller:
    """Who issues the note: the shop as its profile presents it."""

    name: str
    address: str | None
    vat_id: str | None
    email: str | None


@dataclass(frozen=True)
class Sale:
    """The original sale the note amends."""

    order_name: str  # "#1001", as the customer knows it
    platform: str
    platform_order_id: str
    order_date: date | None


@dataclass(frozen=True)
class Credit:
    """The refund the note documents."""

    reference: str  # ours: the refund's idempotency key
    date: date  # when the money went back
    return_code: str | None
    reason: str  # a key of REASONS
    provider: str | None
    provider_refund_id: str | None
    amount: int  # what went back, minor units
    currency: str


@dataclass(frozen=True)
class Goods:
    """One refunded order line: what the customer paid for these units (tax included), the VAT in it, and the
    sale's rate as a fraction (Decimal("0.24"))."""

    title: str
    sku: str | None
    quantity: int
    gross: int
    vat: int
    rate: Decimal


def format_number(sequence: int, prefix: str | None = None) -> str:
    """The number as printed: the shop's prefix as it wrote it, then the sequence padded to six digits, so the
    numbers sort as they run ("HY-" gives "HY-000123"); without a prefix, "CN-123"."""
    prefix = (prefix or "").strip()
    return f"{prefix}{sequence:06d}" if prefix else f"{DEFAULT_PREFIX}-{sequence}"


def build_document(number: str, sequence: int, issued_at: datetime, seller: Seller, sale: Sale, credit: Credit,
                   goods: list[Goods], rows: list[BookRow]) -> dict:  # fmt: skip
    """The credit note of `credit`: its goods lines, then the shipping and the kept amounts of its book rows.

    Raises ValueError when the lines and the rows disagree, or the rows do not add up to what went back: a note
    that would contradict the books is never issued.
    """
    currency = credit.currency
    lines = [_goods_line(item, currency) for item in goods] + [_row_line(row, currency) for row in rows
                                                                if row.component != Component.GOODS]  # fmt: skip
    _check(goods, rows, credit)
    totals = _totals(rows)
    gross, vat = sum(r.gross for r in rows), sum(r.vat for r in rows)
    return {
        "version": VERSION,
        "type": "credit_note",
        "language": "en",
        "number": number,
        "sequence": sequence,
        "issued_at": issued_at.isoformat(),
        "issue_date": issued_at.date().isoformat(),
        "seller": {"name": seller.name, "address": seller.address, "vat_id": seller.vat_id, "email": seller.email},
        "amends": _amends(sale),
        "reason": {"code": credit.reason, "text": REASONS[credit.reason]},
        "amendment": _amendment(sale, credit, gross, vat),
        "refund": {
            "reference": credit.reference, "date": credit.date.isoformat(), "return_code": credit.return_code,
            "provider": credit.provider, "provider_refund_id": credit.provider_refund_id,
        },  # fmt: skip
        "vat_country": rows[0].country if rows else "",
        "currency": currency,
        "lines": lines,
        "totals": [{"vat_rate": _rate_text(rate), **_amounts(n, v, g, currency)} for rate, (n, v, g) in totals.items()],
        "total": _amounts(gross - vat, vat, gross, currency),
    }


def _money(minor: int, currency: str) -> dict:
    return {"amount": str(to_decimal(minor, currency)), "minor": minor}


def _amounts(net: int, vat: int, gross: int, currency: str) -> dict:
    return {"net": _money(net, currency), "vat": _money(vat, currency), "gross": _money(gross, currency)}


def _rate_text(rate: Decimal) -> str:
    """A rate in percent (as `percent` writes it) as the note shows it: "24", "25.5", "14"."""
    return format(rate, "f")


def _goods_line(item: Goods, currency: str) -> dict:
    net = item.gross - item.vat
    unit = int((Decimal(net) / item.quantity).quantize(Decimal(1), ROUND_HALF_UP)) if item.quantity else net
    return {
        "kind": Component.GOODS, "description": item.title, "sku": item.sku, "quantity": item.quantity,
        "unit_price": _money(unit, currency), "vat_rate": _rate_text(percent(item.rate)),
        **_amounts(net, item.vat, item.gross, currency),
    }  # fmt: skip


def _row_line(row: BookRow, currency: str) -> dict:
    return {
        "kind": row.component, "description": DESCRIPTIONS.get(row.component, row.component), "sku": None,
        "quantity": None, "unit_price": None, "vat_rate": _rate_text(row.rate),
        **_amounts(row.net, row.vat, row.gross, currency),
    }  # fmt: skip


def _totals(rows: list[BookRow]) -> dict[Decimal, tuple[int, int, int]]:
    """(net, VAT, gross) per rate, highest rate first."""
    totals: dict[Decimal, tuple[int, int, int]] = {}
    for row in rows:
        net, vat, gross = totals.get(row.rate, (0, 0, 0))
        totals[row.rate] = (net + row.net, vat + row.vat, gross + row.gross)
    return dict(sorted(totals.items(), key=lambda item: -item[0]))


def _check(goods: list[Goods], rows: list[BookRow], credit: Credit) -> None:
    lines: dict[Decimal, tuple[int, int]] = {}
    for item in goods:
        gross, vat = lines.get(percent(item.rate), (0, 0))
        lines[percent(item.rate)] = (gross + item.gross, vat + item.vat)
    booked: dict[Decimal, tuple[int, int]] = {}
    for row in rows:
        if row.component == Component.GOODS:
            gross, vat = booked.get(row.rate, (0, 0))
            booked[row.rate] = (gross + row.gross, vat + row.vat)
    if {rate: amounts for rate, amounts in lines.items() if amounts != (0, 0)} != booked:
        raise ValueError("the refund's lines do not add up to its book rows")
    if sum(row.gross for row in rows) != credit.amount:
        raise ValueError("the refund's book rows do not add up to what went back")


def _amends(sale: Sale) -> dict:
    when = f" of {sale.order_date.isoformat()}" if sale.order_date else ""
    return {
        "order_name": sale.order_name, "platform": sale.platform, "platform_order_id": sale.platform_order_id,
        "order_date": sale.order_date.isoformat() if sale.order_date else None,
        "text": f"Order {sale.order_name}{when} ({sale.platform} order {sale.platform_order_id})",
    }  # fmt: skip


def _amendment(sale: Sale, credit: Credit, gross: int, vat: int) -> str:
    """What the note changes, in words (Art. 226b(e): "the specific details which are being amended")."""
    return (f"Reduces the consideration of order {sale.order_name} by {to_decimal(gross, credit.currency)} "
            f"{credit.currency}, of which VAT {to_decimal(vat, credit.currency)} {credit.currency}, for the "
            f"{REASONS[credit.reason]}: the lines below.")  # fmt: skip
