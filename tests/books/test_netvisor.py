"""Vouchers as Netvisor accounting.nv XML, valid under Netvisor's DTD like the documented example."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings

from integration.books import Component
from integration.errors import InvalidInput
from integration.exports.netvisor import voucher_xml, vouchers_xml
from integration.journal import FINNISH_DEFAULTS, vouchers
from tests.books import dtd
from tests.books.factories import many_refunds, row

SAMPLES = Path(__file__).parent / "samples"
DTD = dtd.load(SAMPLES / "netvisor_accounting.dtd")
LINESUM = re.compile(r"-?\d+,\d{2}")


def parse(data: bytes) -> ET.Element:
    """The reader the tests use for sample and output alike."""
    return ET.fromstring(data)


def one(rows, **options) -> ET.Element:
    [voucher] = vouchers(rows, FINNISH_DEFAULTS)
    return parse(voucher_xml(voucher, **options))


def line_sums(root: ET.Element) -> Decimal:
    return sum(Decimal(e.text.replace(",", ".")) for e in root.iter("linesum"))


def lines(root: ET.Element) -> list[tuple]:
    return [(v.findtext("accountnumber"), v.findtext("linesum"), v.find("vatpercent").get("vatcode"),
             v.findtext("vatpercent")) for v in root.iter("voucherline")]  # fmt: skip


def test_the_documented_example_is_valid_under_the_dtd_and_balances():
    sample = parse((SAMPLES / "netvisor_accounting.xml").read_bytes())
    assert dtd.errors(sample, DTD) == []
    assert line_sums(sample) == 0


def test_our_voucher_is_valid_under_the_dtd_with_the_examples_elements_in_the_examples_order():
    ours = one([row(), row(component=Component.RESTOCKING_FEE, gross=-1255)])
    assert dtd.errors(ours, DTD) == []
    sample = parse((SAMPLES / "netvisor_accounting.xml").read_bytes())
    assert {e.tag for e in ours.iter()} == {e.tag for e in sample.iter()} - {"number"}  # Netvisor numbers it
    assert [c.tag for c in ours.find("voucher")][:4] == ["calculationmode", "voucherdate", "description",
                                                          "voucherclass"]  # fmt: skip
    assert ours.findtext("voucher/calculationmode") == "net" and ours.find("voucher/voucherdate").get("format") == "ansi"
    assert ours.findtext("voucher/voucherdate") == "2025-03-01"


def test_net_mode_lines_carry_our_own_vat_lines_with_decimal_commas_and_balance():
    ours = one([row(), row(component=Component.RESTOCKING_FEE, gross=-1255)])
    assert lines(ours) == [("3000", "100,00", "KOMY", "25,5"), ("3990", "-10,00", "KOMY", "25,5"),
                           ("2939", "22,95", "NONE", "0"), ("1711", "-112,95", "NONE", "0")]  # fmt: skip
    assert all(LINESUM.fullmatch(e.text) and e.get("type") == "net" for e in ours.iter("linesum"))
    assert line_sums(ours) == 0
    assert ours.findtext("voucher/description") == "Refund #1001 R-7K2M rf_1"
    assert ours.findtext("voucher/voucherclass") == "Myyntilasku"


def test_vat_codes_follow_netvisors_table_and_other_countries_vat_stays_out_of_the_finnish_return():
    ours = one([row(country="SE", rate=Decimal(25), gross=2500), row(country="SE", rate=Decimal(0), gross=700,
                component=Component.SHIPPING), row(country="US", rate=Decimal(0), gross=900)])  # fmt: skip
    codes = [(account, code, percent) for account, _, code, percent in lines(ours)]
    assert codes[:3] == [("3000", "NONE", "0"), ("3270", "EUMY", "0"), ("3000", "EUUM", "0")]
    assert ours.findall("voucher/voucherline")[0].findtext("description") == "#1001 returned goods 25 % SE"


def test_the_vat_country_may_also_go_in_as_a_dimension():
    ours = one([row(country="SE", rate=Decimal(25), gross=2500)], country_dimension="ALV-maa")
    assert dtd.errors(ours, DTD) == []
    dims = [(d.findtext("dimensionname"), d.findtext("dimensionitem")) for d in ours.iter("dimension")]
    assert dims == [("ALV-maa", "SE")] * 3


def test_one_request_body_per_voucher_in_utf_8_and_only_in_the_environments_currency():
    rows = [row(), row(refund_ref="rf_2", order_ref="Äänekoski & <Co>")]
    bodies = vouchers_xml(vouchers(rows, FINNISH_DEFAULTS))
    assert len(bodies) == 2 and all(parse(b).tag == "root" for b in bodies)
    assert "Äänekoski &amp; &lt;Co&gt;".encode() in bodies[1]
    with pytest.raises(InvalidInput, match="one currency"):
        vouchers_xml(vouchers([row(currency="SEK")], FINNISH_DEFAULTS))


@settings(max_examples=100, deadline=None)
@given(many_refunds())
def test_every_voucher_is_valid_and_balances_as_netvisor_will_book_it(rows):
    for body in vouchers_xml(vouchers(rows, FINNISH_DEFAULTS)):
        root = parse(body)
        assert dtd.errors(root, DTD) == []
        assert line_sums(root) == 0
