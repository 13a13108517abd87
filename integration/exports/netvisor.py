"""Vouchers as Netvisor accounting vouchers: the XML body of POST accounting.nv, one voucher per request.

Followed: Netvisor's "Import accounting data accounting.nv" and "Edit accounting data accountingedit.nv"
(support.netvisor.fi/en/support/solutions/articles/77000554186 and 77000554187) with the DTD of accounting.nv
(as vendored by github.com/xi-project/xi-netvisor, Resource/Dtd/accounting.dtd; copied to tests/books/samples),
and "VAT classes and VAT codes" (support.netvisor.fi/en/support/solutions/articles/77000557878). What they say:
- root/voucher: calculationmode, voucherdate (attribute format="ansi"), number?, description?, voucherclass,
  voucherline+ in that order; voucherline: linesum (attribute type net|gross), description?, accountnumber,
  vatpercent (attribute vatcode), accountdimension?, dimension* (dimensionname, dimensionitem).
- One request carries one voucher; without a number Netvisor takes the next one of the voucher type.
- calculationmode "net": Netvisor adds no VAT or rounding lines, "the voucher will be exactly as the imported
  material", so our own VAT lines go in as they are. A positive linesum is a debit, a negative one a credit; two
  decimals at most, written with a decimal comma as the documentation's example "-100,00".
- voucherclass is the voucher type's full name (example "Myyntilasku"); description max 255 characters.
- VAT codes: KOMY domestic sales (0, 10, 14, 24, 25,5 %), EUMY EU sales (0 %), EUUM sales outside the EU (0 %),
  NONE no VAT processing. The table has no code for another EU country's VAT (OSS), which is not reported in the
  Finnish VAT return: such lines go in as NONE 0, with the VAT country in their text (and optionally a dimension).
Amounts are in the environment's currency (accounting.nv has no currency field).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from integration.exports import amount_text, one_currency
from integration.journal import Entry, Kind, VatClass, Voucher

__all__ = ["RESOURCE", "voucher_xml", "vouchers_xml", "vat_code"]

RESOURCE = "accounting.nv"
DEFAULT_CLASS = "Myyntilasku"
TEXT_MAX = 255


def vouchers_xml(vouchers: Iterable[Voucher], currency: str = "EUR", **options) -> list[bytes]:
    """One accounting.nv request body per voucher (see voucher_xml for the options)."""
    vouchers = list(vouchers)
    one_currency(vouchers, currency)
    return [voucher_xml(voucher, **options) for voucher in vouchers]


def voucher_xml(voucher: Voucher, voucherclass: str = DEFAULT_CLASS, country_dimension: str | None = None) -> bytes:
    """The voucher as accounting.nv XML (UTF-8). With `country_dimension`, each line with a VAT country also names
    it as an item of that dimension (Netvisor creates missing dimensions unless told not to)."""
    root = ET.Element("root")
    element = ET.SubElement(root, "voucher")
    _text(element, "calculationmode", "net")
    _text(element, "voucherdate", voucher.date.isoformat()).set("format", "ansi")
    _text(element, "description", voucher.text[:TEXT_MAX])
    _text(element, "voucherclass", voucherclass)
    for entry in voucher.entries:
        _line(ET.SubElement(element, "voucherline"), entry, voucher.currency, country_dimension)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode").encode("utf-8")


def vat_code(entry: Entry) -> tuple[str, str]:
    """The line's Netvisor VAT code and VAT percent (decimal comma)."""
    if entry.kind != Kind.INCOME:
        return "NONE", "0"
    rate = format(entry.rate.normalize(), "f").replace(".", ",")
    if entry.vat_class == VatClass.DOMESTIC or (entry.vat_class == VatClass.EXPORT and entry.rate):
        return "KOMY", rate
    if entry.rate == 0:
        return ("EUMY" if entry.vat_class == VatClass.EU else "EUUM"), "0"
    return "NONE", "0"  # another EU country's VAT (OSS): outside the Finnish VAT return


def _line(line: ET.Element, entry: Entry, currency: str, country_dimension: str | None) -> None:
    _text(line, "linesum", amount_text(entry.amount, currency, ",")).set("type", "net")
    _text(line, "description", entry.description[:TEXT_MAX])
    _text(line, "accountnumber", entry.account)
    code, percent = vat_code(entry)
    _text(line, "vatpercent", percent).set("vatcode", code)
    if country_dimension and entry.country:
        dimension = ET.SubElement(line, "dimension")
        _text(dimension, "dimensionname", country_dimension)
        _text(dimension, "dimensionitem", entry.country)


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = text
    return child
