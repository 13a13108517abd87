"""Accounting export formats. Each writer is one module that turns journal vouchers (integration/journal.py) or
book rows (integration/books.py) into one file format, and knows nothing of the others. Pure: stdlib only.

csv: book rows, RFC 4180 and Finnish Excel. procountor: ledger receipts (JSON bodies of POST /ledgerreceipts).
netvisor: accounting.nv voucher XML. sie: an SIE 4I file. Each module's docstring names the documentation it follows.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from integration.errors import InvalidInput
from integration.money import to_decimal

__all__ = ["ShopInfo", "amount_text", "one_currency"]


@dataclass(frozen=True)
class ShopInfo:
    """The little a file says about the shop whose books it is."""

    name: str
    business_id: str | None = None  # Y-tunnus (FI) or organisationsnummer (SE)


def amount_text(minor: int, currency: str, decimal_sign: str = ".") -> str:
    """Minor units as a plain decimal in major units, all the currency's decimals: 1234 EUR -> "12.34"."""
    return str(to_decimal(minor, currency)).replace(".", decimal_sign)


def one_currency(vouchers: Iterable, expected: str | None = None) -> str | None:
    """The one currency of all vouchers (or `expected`); formats that carry no currency per line refuse a mix."""
    found = {voucher.currency for voucher in vouchers}
    if expected is not None:
        found.add(expected.upper())
    if len(found) > 1:
        raise InvalidInput(f"these vouchers are in {', '.join(sorted(found))}; this format takes one currency",
                           currencies=sorted(found))  # fmt: skip
    return next(iter(found), None)
