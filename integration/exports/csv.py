"""Book rows as CSV, one line per BookRow with every field, in two dialects.

RFC 4180 (section 2, rules 1-7, https://www.rfc-editor.org/rfc/rfc4180): a header line, fields separated by commas,
every record ended by CRLF, a field holding a comma, a double quote or a line break enclosed in double quotes, a
double quote inside such a field doubled. Amounts use a decimal point. UTF-8 without a byte-order mark.

Finnish Excel: what Excel on a Finnish Windows opens by double-click into the right columns. Excel splits a CSV by
the locale's list separator and reads numbers with its decimal sign, which in Finland are ';' and ','; it reads
the file as UTF-8 only when it starts with the byte-order mark EF BB BF, else in the PC's code page (SAP wiki
"Excel files - CSV format", "How does Excel recognize text files"), which would garble ä, ö and €. So: ';',
decimal comma ("12,34"), UTF-8 with BOM, CRLF, RFC 4180 quoting. A text field that starts with = + - @ or a tab
is prefixed with ' so Excel shows it instead of running it as a formula; amounts and rates are never text.

Amounts are major units with the currency's own decimals (integration/money.py `to_decimal`): 1234 EUR -> 12.34,
500 JPY -> 500. Dates are ISO 8601 (YYYY-MM-DD), which Excel reads as dates in any locale.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, fields

from integration.books import BookRow
from integration.exports import amount_text
from integration.errors import InvalidInput

__all__ = ["COLUMNS", "Dialect", "RFC4180", "EXCEL_FI", "DIALECTS", "rows_csv"]

COLUMNS = tuple(f.name for f in fields(BookRow))  # every field, in the dataclass's order
_MONEY = ("gross", "net", "vat")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Dialect:
    """How one flavour of CSV spells a file."""

    name: str
    delimiter: str
    decimal_sign: str
    bom: bool
    guard_formulas: bool


RFC4180 = Dialect("rfc4180", ",", ".", bom=False, guard_formulas=False)
EXCEL_FI = Dialect("excel-fi", ";", ",", bom=True, guard_formulas=True)
DIALECTS = {d.name: d for d in (RFC4180, EXCEL_FI)}


def rows_csv(rows: Iterable[BookRow], dialect: Dialect | str = RFC4180) -> bytes:
    """The rows as a CSV file in the dialect (a Dialect or its name), header first."""
    if isinstance(dialect, str):
        if dialect not in DIALECTS:
            raise InvalidInput(f"unknown CSV dialect {dialect!r}; known: {', '.join(DIALECTS)}", dialect=dialect)
        dialect = DIALECTS[dialect]
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=dialect.delimiter, quotechar='"', doublequote=True, lineterminator="\r\n",
                        quoting=csv.QUOTE_MINIMAL)  # fmt: skip
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_cells(row, dialect))
    return ("\ufeff" if dialect.bom else "").encode("utf-8") + out.getvalue().encode("utf-8")


def _cells(row: BookRow, dialect: Dialect) -> list[str]:
    cells = []
    for name in COLUMNS:
        value = getattr(row, name)
        if name in _MONEY:
            cells.append(amount_text(value, row.currency, dialect.decimal_sign))
        elif name == "rate":
            cells.append(format(value.normalize(), "f").replace(".", dialect.decimal_sign))
        elif value is None:
            cells.append("")
        elif isinstance(value, str):
            cells.append(_text(value, dialect))
        else:
            cells.append(value.isoformat() if hasattr(value, "isoformat") else str(value))
    return cells


def _text(value: str, dialect: Dialect) -> str:
    if dialect.guard_formulas and value.startswith(_FORMULA_START):
        return "'" + value
    return value
