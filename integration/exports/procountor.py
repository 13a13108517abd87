"""Vouchers as Procountor ledger receipts: the JSON bodies of POST /ledgerreceipts, one journal per voucher.

Followed: Procountor's API reference model LedgerReceipt/Transaction (as transcribed field by field with its
descriptions in github.com/omniboost/go-procountor ledger_receipts_post.go and github.com/Fisplay/procountor-php
Interfaces/LedgerReceiptCommon.php, TransactionCommon.php) and Procountor's published sample "Ledger receipts:
Import cash sales to Procountor as voucher" (support.procountor.fi/hc/en-us/articles/360016545478; committed in
tests/books/samples/procountor_ledger_receipt.json). What those say, and what follows here:
- type JOURNAL is the only type POST takes; a new receipt is UNFINISHED until approved (PUT .../approve).
- name (max 80), receiptDate (YYYY-MM-DD), vatType SALES/PURCHASE, vatStatus (the numeric part of a VAT status
  code: 1 "Domestic", 3 "Outside of the EU", 5 "EU community sales (product)", 12 "No VAT handling", from GET
  /vats/default as shown in "BtoB Webshop sales Domestic EU"), vatProcessing (the receipt's VAT country, e.g.
  FINLAND; a foreign one needs Procountor's right for foreign VATs), accountantsNotes (max 255).
- transactions: transactionType ENTRY, account, accountingValue ("This value is net. Scale: 2"; debit positive,
  credit negative), vatPercent, vatType, vatStatus (overrides the receipt's), description (max 255).
  Procountor books the VAT of a line itself from its net value and vatPercent, so our VAT lines are not sent; where
  its VAT (net x rate, rounded to the cent) differs from the VAT the sale really carried, one
  RECONCILIATION_ENTRY (vatPercent 0, no vatStatus, at most one per receipt) on the output-VAT account makes the
  receipt sum to zero, as the documentation says a receipt with VAT may need.
- A receipt has one VAT country, so a voucher with rows of several VAT countries becomes one receipt per country;
  each still balances, because every book row does. Amounts are in the environment's currency (no currency field).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from integration.errors import InvalidInput
from integration.exports import one_currency
from integration.journal import Entry, Kind, VatClass, Voucher
from integration.money import to_decimal

__all__ = ["ENDPOINT", "ledger_receipts", "ledger_receipt_bodies", "COUNTRY_NAMES"]

ENDPOINT = "/ledgerreceipts"
JOURNAL, UNFINISHED, SALES = "JOURNAL", "UNFINISHED", "SALES"
ENTRY, RECONCILIATION_ENTRY = "ENTRY", "RECONCILIATION_ENTRY"
VAT_DOMESTIC, VAT_OUTSIDE_EU, VAT_EU_GOODS, NO_VAT = 1, 3, 5, 12
NAME_MAX, TEXT_MAX = 80, 255
# Procountor's country enum (Address.country, also vatProcessing), as Fisplay/procountor-php Helpers/Country.php maps
# ISO 3166 codes to it; only EU countries can be a receipt's VAT country here.
COUNTRY_NAMES = {
    "AT": "AUSTRIA", "BE": "BELGIUM", "BG": "BULGARIA", "CY": "CYPRUS", "CZ": "CZECH_REPUBLIC", "DE": "GERMANY",
    "DK": "DENMARK", "EE": "ESTONIA", "ES": "SPAIN", "FI": "FINLAND", "FR": "FRANCE", "GR": "GREECE",
    "HR": "CROATIA", "HU": "HUNGARY", "IE": "IRELAND", "IT": "ITALY", "LT": "LITHUANIA", "LU": "LUXEMBOURG",
    "LV": "LATVIA", "MT": "MALTA", "NL": "NETHERLANDS", "PL": "POLAND", "PT": "PORTUGAL", "RO": "ROMANIA",
    "SE": "SWEDEN", "SI": "SLOVENIA", "SK": "SLOVAKIA",
}  # fmt: skip


def ledger_receipts(vouchers: Iterable[Voucher], currency: str = "EUR") -> list[dict]:
    """The ledger receipts (as data) for the vouchers, whose amounts must be in the environment's currency."""
    vouchers = list(vouchers)
    one_currency(vouchers, currency)
    return [_receipt(v, country, len(v.countries) > 1) for v in vouchers for country in v.countries]


def ledger_receipt_bodies(vouchers: Iterable[Voucher], currency: str = "EUR") -> list[str]:
    """Each receipt as the JSON text of one POST /ledgerreceipts request body (numbers exact, never floats)."""
    return [_json(receipt) for receipt in ledger_receipts(vouchers, currency)]


def _receipt(voucher: Voucher, country: str, split: bool) -> dict:
    entries = [e for e in voucher.entries if e.country == country]
    suffix = f" ({country})" if split and country else ""
    receipt = {"type": JOURNAL, "status": UNFINISHED, "name": voucher.text[: NAME_MAX - len(suffix)] + suffix,
               "receiptDate": voucher.date.isoformat()}  # fmt: skip
    vat_class = next((e.vat_class for e in entries if e.kind == Kind.INCOME), VatClass.DOMESTIC)
    if country in COUNTRY_NAMES and vat_class in (VatClass.DOMESTIC, VatClass.EU):
        receipt["vatProcessing"] = COUNTRY_NAMES[country]
    receipt.update({"vatType": SALES, "vatStatus": VAT_DOMESTIC, "accountantsNotes": voucher.text[:TEXT_MAX]})
    receipt["transactions"] = [_transaction(e, voucher.currency) for e in entries if e.kind != Kind.VAT]
    reconciliation = _reconciliation(entries, voucher.currency)
    if reconciliation:
        receipt["transactions"].append(reconciliation)
    return receipt


def _transaction(entry: Entry, currency: str) -> dict:
    vat = entry.kind == Kind.INCOME
    return {
        "transactionType": ENTRY, "account": entry.account, "accountingValue": to_decimal(entry.amount, currency),
        "vatPercent": entry.rate.normalize() if vat else Decimal(0), "vatType": SALES,
        "vatStatus": _vat_status(entry) if vat else NO_VAT, "description": entry.description[:TEXT_MAX],
    }  # fmt: skip


def _vat_status(entry: Entry) -> int:
    if entry.rate == 0 and entry.vat_class == VatClass.EXPORT:
        return VAT_OUTSIDE_EU
    if entry.rate == 0 and entry.vat_class == VatClass.EU:
        return VAT_EU_GOODS
    return VAT_DOMESTIC


def _reconciliation(entries: list[Entry], currency: str) -> dict | None:
    """The line that makes Procountor's VAT (net x rate per line, to the cent) equal the VAT actually charged."""
    ours = sum(e.amount for e in entries if e.kind == Kind.VAT)
    theirs = sum(_procountor_vat(e) for e in entries if e.kind == Kind.INCOME)
    if ours == theirs:
        return None
    account = next((e.account for e in entries if e.kind == Kind.VAT), None)
    account = account or next((e.vat_account for e in entries if e.kind == Kind.INCOME and e.vat_account), None)
    if account is None:
        raise InvalidInput("Procountor would book VAT on this receipt, but the account map names no VAT account "
                           "for its rates")  # fmt: skip
    return {"transactionType": RECONCILIATION_ENTRY, "account": account,
            "accountingValue": to_decimal(ours - theirs, currency), "vatPercent": Decimal(0), "vatType": SALES,
            "description": "VAT as charged on the original sale (rounding)"}  # fmt: skip


def _procountor_vat(entry: Entry) -> int:
    exact = Decimal(entry.amount) * entry.rate / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _json(value) -> str:
    """JSON with Decimals written as exact decimal literals (json.dumps would need floats)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)
