"""Book rows as CSV: RFC 4180 as the RFC writes it, and the Finnish dialect Excel opens into the right columns."""
from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings

from integration.books import Component
from integration.errors import InvalidInput
from integration.exports.csv import COLUMNS, EXCEL_FI, RFC4180, rows_csv
from tests.books.factories import many_refunds, row

SAMPLES = Path(__file__).parent / "samples"
BOM = b"\xef\xbb\xbf"


def read(data: bytes, delimiter: str) -> list[list[str]]:
    """The reader the tests use for samples and output alike: the stdlib's, on the file's own text."""
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_the_rfc_4180_sample_reads_as_the_rfc_says():
    data = (SAMPLES / "rfc4180.csv").read_bytes()
    assert read(data, ",") == [["field_name"] * 3, ["aaa", "bbb", "ccc"], ["aaa", "b\r\nbb", "ccc"],
                               ["aaa", 'b"bb', "ccc"], ["zzz", "yyy", "xxx"]]  # fmt: skip


def test_the_finnish_excel_sample_reads_with_semicolons_after_its_byte_order_mark():
    data = (SAMPLES / "excel_fi.csv").read_bytes()
    assert data.startswith(BOM)
    assert read(data, ";")[1:4] == [["aaa", "bbb", "12,34"], ["aaa", "b\r\nbb", "-0,50"], ["aaa", 'b"bb', "c;c"]]


def test_rfc_4180_output_has_a_header_of_every_field_commas_crlf_and_decimal_points():
    data = rows_csv([row()], RFC4180)
    assert not data.startswith(BOM)
    assert data.count(b"\r\n") == 2 and b"\n" not in data.replace(b"\r\n", b"")
    header, line = read(data, ",")
    assert header == list(COLUMNS) and len(line) == len(COLUMNS)
    cells = dict(zip(header, line))
    assert (cells["gross"], cells["net"], cells["vat"], cells["rate"]) == ("125.50", "100.00", "25.50", "25.5")
    assert (cells["refund_date"], cells["shop_refund_id"], cells["component"]) == ("2025-03-01", "", "goods")


def test_the_finnish_dialect_opens_as_excel_expects_bom_semicolons_and_decimal_commas():
    data = rows_csv([row(), row(rate=Decimal("13.5"), gross=-1135, component=Component.RESTOCKING_FEE)], EXCEL_FI)
    assert data.startswith(BOM)
    assert data.decode("utf-8-sig").splitlines()[0] == ";".join(COLUMNS)
    first, second = (dict(zip(COLUMNS, line)) for line in read(data, ";")[1:])
    assert (first["gross"], first["net"], first["vat"], first["rate"]) == ("125,50", "100,00", "25,50", "25,5")
    assert (second["gross"], second["rate"]) == ("-11,35", "13,5")  # a negative amount stays a number
    assert b"\r\n" in data and b";125,50;" in data


def test_amounts_carry_the_currencys_own_decimals():
    cells = dict(zip(COLUMNS, read(rows_csv([row(currency="JPY", gross=1255, net=1000, vat=255)]), ",")[1]))
    assert (cells["gross"], cells["net"], cells["vat"]) == ("1255", "1000", "255")


@pytest.mark.parametrize("dialect, delimiter", [(RFC4180, ","), (EXCEL_FI, ";")])
def test_fields_with_delimiters_quotes_and_line_breaks_are_quoted_and_read_back_whole(dialect, delimiter):
    awkward = 'say "hi", then; go\r\nnext line\nand ä €'
    data = rows_csv([row(order_ref=awkward, return_code="a;b,c")], dialect)
    assert b'"say ""hi"", then; go\r\nnext line\nand \xc3\xa4 \xe2\x82\xac"' in data
    cells = dict(zip(COLUMNS, read(data, delimiter)[1]))
    assert (cells["order_ref"], cells["return_code"]) == (awkward, "a;b,c")


def test_excel_does_not_run_text_as_a_formula_but_rfc_4180_keeps_it_as_it_is():
    rows = [row(order_ref="=HYPERLINK(\"x\")", return_code="@SUM(A1)", provider_refund_id="-1+1")]
    excel = dict(zip(COLUMNS, read(rows_csv(rows, EXCEL_FI), ";")[1]))
    assert (excel["order_ref"], excel["return_code"], excel["provider_refund_id"]) == (
        "'=HYPERLINK(\"x\")", "'@SUM(A1)", "'-1+1")
    plain = dict(zip(COLUMNS, read(rows_csv(rows, RFC4180), ",")[1]))
    assert plain["order_ref"] == "=HYPERLINK(\"x\")"


def test_a_dialect_may_be_named_and_an_unknown_one_is_refused():
    assert rows_csv([row()], "excel-fi") == rows_csv([row()], EXCEL_FI)
    with pytest.raises(InvalidInput, match="unknown CSV dialect 'tsv'"):
        rows_csv([row()], "tsv")


@settings(max_examples=60, deadline=None)
@given(many_refunds())
def test_every_row_comes_back_with_every_field_in_both_dialects(rows):
    for dialect, delimiter, sign in ((RFC4180, ",", "."), (EXCEL_FI, ";", ",")):
        lines = read(rows_csv(rows, dialect), delimiter)
        assert len(lines) == len(rows) + 1 and all(len(line) == len(COLUMNS) for line in lines)
        for source, line in zip(rows, lines[1:]):
            cells = dict(zip(COLUMNS, line))
            assert Decimal(cells["gross"].replace(sign, ".")) * 100 == source.gross
            assert (cells["refund_ref"], cells["country"]) == (source.refund_ref, source.country)
