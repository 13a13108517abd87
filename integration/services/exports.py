"""A period's refund ledger as a file to download, built in one place for the API and the dashboard.

The merchant API (integration/api/books.py, behind an API key) and the dashboard (integration/dashboard/books.py,
behind its sign-in) offer the same files; building them here keeps the two byte for byte the same, so a file
downloaded from either reconciles with the other. The formats themselves are the pure writers under
integration/exports/ (each names the documentation it follows); this module only reads the ledger, picks the
shop's accounts and one currency, and names the file.

    rows.csv         every BookRow, RFC 4180 or Finnish Excel's dialect (integration/exports/csv.py)
    procountor.json  one Procountor ledger receipt per refund, each a POST /ledgerreceipts body
    netvisor.zip     one Netvisor accounting.nv voucher XML per refund, zipped
    sie              one SIE 4I file, a #VER per refund
The journal formats take one currency (the one asked for, else the shop's): their rows of other currencies are
left out, never converted.
"""
from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import NamedTuple

from sqlalchemy.orm import Session

from integration.errors import InvalidInput
from integration.exports import ShopInfo, netvisor, procountor, sie
from integration.exports.csv import DIALECTS, RFC4180, rows_csv
from integration.journal import AccountMap, Voucher, account_map, vouchers
from integration.models import Shop, utcnow
from integration.services.books import Period, ledger
from integration.services.books_settings import books_of

__all__ = ["KINDS", "Download", "export", "accounts_of", "currency_of", "LEFT_OUT"]

ROWS_CSV, PROCOUNTOR, NETVISOR, SIE = "rows.csv", "procountor.json", "netvisor.zip", "sie"
KINDS = (ROWS_CSV, PROCOUNTOR, NETVISOR, SIE)
CSV_TYPE = "text/csv; charset=utf-8; header=present"
LEFT_OUT = "Palautus-Other-Currencies"  # the header naming the currencies a one-currency file left out


class Download(NamedTuple):
    """A file as it is sent: its bytes, its Content-Type, and the name it is saved under."""

    body: bytes
    content_type: str
    filename: str
    # The currencies whose refunds of the period a one-currency file left out (ask for each with its currency):
    # said with the file (its LEFT_OUT header), never left unsaid.
    left_out: tuple[str, ...] = ()

    def headers(self) -> dict:
        found = {"Content-Disposition": f'attachment; filename="{self.filename}"'}
        if self.left_out:
            found[LEFT_OUT] = ", ".join(self.left_out)
        return found


def export(session: Session, shop: Shop, period: Period, kind: str, dialect: str = RFC4180.name,
           currency: str | None = None, today: date | None = None) -> Download:  # fmt: skip
    """The period's ledger as a file of `kind` (KINDS). `dialect` is the CSV's, `currency` the journal formats'
    one currency (the shop's by default); `today` is the SIE file's generation date (today in the period's zone)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown export {kind!r}; known: {', '.join(KINDS)}", kind=kind)
    if kind == ROWS_CSV:
        if dialect not in DIALECTS:
            raise InvalidInput(f"unknown CSV dialect {dialect!r}; known: {', '.join(DIALECTS)}", dialect=dialect)
        body = rows_csv(ledger(session, shop, period), dialect)
        return Download(body, CSV_TYPE, _name(period, f"rows-{dialect}", "csv"))
    currency = currency or currency_of(shop)
    accounts = accounts_of(shop)
    rows = ledger(session, shop, period)
    found = vouchers([row for row in rows if row.currency == currency], accounts)
    left_out = tuple(sorted({row.currency for row in rows} - {currency}))
    if kind == PROCOUNTOR:
        body = "[" + ",".join(procountor.ledger_receipt_bodies(found, currency)) + "]"
        return Download(body.encode("utf-8"), "application/json", _name(period, "procountor", "json"), left_out)
    if kind == NETVISOR:
        return Download(_netvisor_zip(found, currency), "application/zip", _name(period, "netvisor", "zip"), left_out)
    today = today or utcnow().astimezone(period.zone).date()
    body = sie.sie4i(found, _shop_info(shop), today, accounts)
    return Download(body, "text/plain; charset=IBM437", _name(period, "sie4i", "si"), left_out)


def currency_of(shop: Shop) -> str:
    """The currency the journal formats are in unless another is asked for: the shop's."""
    return shop.currency or "EUR"


def accounts_of(shop: Shop) -> AccountMap:
    """The shop's account map: its chart's defaults with the merchant's own accounts over them."""
    return account_map(books_of(shop)["chart"], (shop.books or {}).get("accounts") or {})


def _name(period: Period, kind: str, suffix: str) -> str:
    return f"palautus-{kind}-{period.first}-{period.last}.{suffix}"


def _netvisor_zip(found: list[Voucher], currency: str) -> bytes:
    """One XML file per voucher (Netvisor takes one voucher per request). Each member is dated by its voucher,
    not by the clock, so the same period gives the same bytes whenever and wherever it is downloaded."""
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (voucher, body) in enumerate(zip(found, netvisor.vouchers_xml(found, currency)), start=1):
            member = zipfile.ZipInfo(f"{number:05d}-{voucher.date}.xml", _zip_time(voucher.date))
            member.external_attr = 0o644 << 16  # a plain readable file once unpacked
            archive.writestr(member, body, compress_type=zipfile.ZIP_DEFLATED)
    return packed.getvalue()


def _zip_time(day: date) -> tuple[int, int, int, int, int, int]:
    """A day as a ZIP member's time: midnight; ZIP's DOS dates hold only the years 1980 to 2107."""
    return (min(max(day.year, 1980), 2107), day.month, day.day, 0, 0, 0)


def _shop_info(shop: Shop) -> ShopInfo:
    profile = shop.profile or {}
    return ShopInfo(profile.get("legal_name") or shop.name or shop.domain, _organisation_number(profile.get("vat_id")))


def _organisation_number(vat_id: str | None) -> str | None:
    """A Swedish VAT number (SE + the 10-digit organisationsnummer + 01) as SIE's #ORGNR has it (NNNNNN-NNNN)."""
    digits = (vat_id or "").replace(" ", "").upper()
    if len(digits) == 14 and digits.startswith("SE") and digits[2:].isdigit():
        return f"{digits[2:8]}-{digits[8:12]}"
    return None
