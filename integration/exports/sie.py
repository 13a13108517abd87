"""Vouchers as an SIE 4I file: the import variant of SIE type 4 (vouchers only, no balances), for Swedish software.

Followed: SIE Gruppen's "SIE filformat, utgåva 4B" (2008-09-30; sie.se "SIE 1-4": "Typ 4i ... innehåller endast
verifikationer ... när ett försystem ... ska generera bokföringsorder för inläsning i bokföringssystemet"). The
specification text itself could not be fetched here; its rules are taken as the SIE libraries quote them
(kigkonsult Sie4Sdk Sie4Interface: "#PROGRAM programnamn version", "#GEN datum sign", "#FORMAT ... SKA vara IBM
PC 8-bitars extended ASCII (Codepage 437)"; Alipsa SIEParser TestEncoding quoting section 5.8) and as SIE
Gruppen's and PayEx's published 4I files show them (tests/books/samples/, checked by tests/books/siecheck.py):
- One item per line: a label (#FLAGGA, #PROGRAM, #FORMAT PC8, #GEN, #SIETYP 4, #ORGNR, #FNAMN, #VALUTA, #KONTO,
  #VER) and fields separated by spaces; a field with spaces is in double quotes and a double quote inside it is
  written \\"; an object list is in braces ({} when empty). #VER serie vernr verdatum vertext is followed by "{",
  its #TRANS kontonr {objektlista} belopp transdat transtext lines and "}", and its amounts sum to zero.
- Amounts: decimal point, at most two decimals, a leading minus for credits. Dates: YYYYMMDD.
- The file is in code page 437 (#FORMAT PC8). A character that code page cannot hold is written as its base letter
  when it has one (č -> c) or a close equivalent (€ -> EUR), else "?"; control characters (tabs, line breaks)
  become spaces, and a backslash becomes "/", since the format gives it a meaning only before a quote.
- vernr is left empty: in a 4I file the receiving program numbers the vouchers in its own series.
Amounts are in one currency, named by #VALUTA (the format has no currency per line).
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date

from integration.errors import InvalidInput
from integration.exports import ShopInfo, amount_text, one_currency
from integration.journal import AccountMap, Voucher
from integration.money import exponent

__all__ = ["ENCODING", "sie4i", "sie_text"]

ENCODING = "cp437"
PROGRAM = "Palautus"
_SUBSTITUTES = {"€": "EUR", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "ø": "o", "Ø": "O",
                "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "\\": "/"}  # fmt: skip


def sie4i(vouchers: Iterable[Voucher], shop: ShopInfo, generated: date, accounts: AccountMap | None = None,
          series: str = "A", program_version: str = "1") -> bytes:  # fmt: skip
    """The vouchers as an SIE 4I file in code page 437, CRLF line ends. `accounts` names the accounts (#KONTO)."""
    vouchers = list(vouchers)
    currency = one_currency(vouchers)
    if currency and exponent(currency) > 2:  # SIE amounts have at most two decimals (4B, 5.9): never rounded here
        raise InvalidInput(f"SIE amounts have at most two decimals; {currency} has {exponent(currency)}: export "
                           f"{currency} in another format", currency=currency)  # fmt: skip
    lines = ["#FLAGGA 0", f"#PROGRAM {_quote(PROGRAM)} {_quote(program_version)}", "#FORMAT PC8",
             f"#GEN {generated:%Y%m%d}", "#SIETYP 4"]  # fmt: skip
    if shop.business_id:
        lines.append(f"#ORGNR {_field(shop.business_id)}")
    lines.append(f"#FNAMN {_quote(shop.name)}")
    if currency:
        lines.append(f"#VALUTA {currency}")
    names = accounts.names if accounts else {}
    used = sorted({entry.account for voucher in vouchers for entry in voucher.entries})
    lines += [f"#KONTO {account} {_quote(names[account])}" for account in used if account in names]
    for voucher in vouchers:
        lines += _ver(voucher, series)
    return ("\r\n".join(lines) + "\r\n").encode(ENCODING)


def _ver(voucher: Voucher, series: str) -> list[str]:
    day = f"{voucher.date:%Y%m%d}"
    lines = [f"#VER {_quote(series)} \"\" {day} {_quote(voucher.text)}", "{"]
    for entry in voucher.entries:
        amount = amount_text(entry.amount, voucher.currency)
        lines.append(f"#TRANS {entry.account} {{}} {amount} {day} {_quote(entry.description)}")
    return lines + ["}"]


def sie_text(value: str) -> str:
    """Text as code page 437 can hold it, with no control characters (see the module docstring)."""
    out = []
    for char in value:
        char = _SUBSTITUTES.get(char, char)
        if len(char) == 1 and (ord(char) < 32 or ord(char) == 127):
            char = " "
        elif len(char) == 1 and not _cp437(char):
            base = unicodedata.normalize("NFKD", char)[0]
            char = base if base.isascii() and base.isprintable() else "?"
        out.append(char)
    return "".join(out)


def _field(value: str) -> str:
    """A token as it is when it needs no quotes (an organisation number), else quoted."""
    text = sie_text(value)
    return text if text and all(c.isalnum() or c in "-." for c in text) else _quote(value)


def _quote(value: str) -> str:
    return '"' + sie_text(value).replace('"', '\\"') + '"'


def _cp437(char: str) -> bool:
    try:
        char.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True
