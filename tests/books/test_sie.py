"""Vouchers as an SIE 4I file: the published samples' grammar, code page 437, balanced #VER blocks."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings

from integration.books import Component
from integration.errors import InvalidInput
from integration.exports import ShopInfo
from integration.exports.sie import sie4i, sie_text
from integration.journal import vouchers
from tests.books import siecheck
from tests.books.factories import BAS_ANY_RATE, many_refunds, row

SAMPLES = Path(__file__).parent / "samples"
SHOP = ShopInfo("Butiken Åäö AB", "556677-8899")
GENERATED = date(2025, 3, 2)


def swedish(**changes):
    return row(**{"country": "SE", "rate": Decimal(25), "gross": 12500, "currency": "SEK", **changes})


def sie(rows, shop=SHOP) -> bytes:
    return sie4i(vouchers(rows, BAS_ANY_RATE), shop, GENERATED, BAS_ANY_RATE)


@pytest.mark.parametrize("name", ["sie4i_bl0001.si", "sie4i_payex.si"])
def test_the_published_samples_pass_the_grammar_and_spell_swedish_in_code_page_437(name):
    data = (SAMPLES / name).read_bytes()
    parsed = siecheck.check(data)
    assert parsed["vouchers"] and all(v["opened"] for v in parsed["vouchers"])
    assert b"\x84" in data and "ä" in data.decode("cp437")  # "Kostnadsställe" / "intäkter"


def test_our_file_passes_the_same_grammar_with_its_items_in_the_samples_order():
    data = sie([swedish(), swedish(component=Component.RESTOCKING_FEE, gross=-1250)])
    parsed = siecheck.check(data)
    labels = [label for label, _ in parsed["items"]]
    assert labels[:8] == ["#FLAGGA", "#PROGRAM", "#FORMAT", "#GEN", "#SIETYP", "#ORGNR", "#FNAMN", "#VALUTA"]
    items = dict(parsed["items"])
    assert (items["#FLAGGA"], items["#FORMAT"], items["#SIETYP"], items["#GEN"]) == (["0"], ["PC8"], ["4"],
                                                                                       ["20250302"])  # fmt: skip
    assert (items["#ORGNR"], items["#FNAMN"], items["#VALUTA"]) == (["556677-8899"], ["Butiken Åäö AB"], ["SEK"])
    assert data.count(b"\r\n") == data.count(b"\n")  # CRLF throughout


def test_a_refund_is_one_balanced_ver_block_with_its_accounts_named():
    parsed = siecheck.check(sie([swedish(), swedish(component=Component.RESTOCKING_FEE, gross=-1250)]))
    [ver] = parsed["vouchers"]
    assert ver["fields"] == ["A", "", "20250301", "Refund #1001 R-7K2M rf_1"]
    assert [t[:3] for t in ver["trans"]] == [["3001", "{}", "100.00"], ["3900", "{}", "-10.00"],
                                            ["2611", "{}", "22.50"], ["1580", "{}", "-112.50"]]  # fmt: skip
    assert ver["trans"][0][3:] == ["20250301", "#1001 returned goods 25 % SE"]
    konto = {fields[0]: fields[1] for label, fields in parsed["items"] if label == "#KONTO"}
    assert konto["1580"] == "Fordringar för kontokort och kuponger" and konto["2611"].startswith("Utgående moms")


def test_swedish_letters_are_written_in_code_page_437():
    data = sie([swedish(order_ref="Åsa Öberg ä")])
    assert "Åsa Öberg ä".encode("cp437") == b"\x8fsa \x99berg \x84"
    assert b"\x8fsa \x99berg \x84" in data and b"\xc3" not in data  # no UTF-8 bytes


def test_characters_code_page_437_cannot_hold_are_replaced_and_quotes_escaped():
    assert sie_text("€ 5 – Łódź č 🙂") == "EUR 5 - Lódz c ?"  # ó is in code page 437
    assert sie_text("tab\there\r\nnew\\line") == "tab here  new/line"
    data = sie([swedish(order_ref='say "hi" € 🙂\n')])
    parsed = siecheck.check(data)
    assert parsed["vouchers"][0]["trans"][0][4] == 'say "hi" EUR ?  returned goods 25 % SE'
    assert b'say \\"hi\\" EUR ?' in data


def test_vouchers_in_several_currencies_are_refused():
    with pytest.raises(InvalidInput, match="one currency"):
        sie([swedish(), swedish(refund_ref="rf_2", currency="EUR")])


def test_an_empty_export_is_still_a_valid_4i_file_with_every_mandatory_item():
    with pytest.raises(siecheck.SieError, match="#PROGRAM is missing"):
        siecheck.check(b"#FLAGGA 0\r\n")
    data = sie4i([], ShopInfo("Tom"), GENERATED)
    assert siecheck.check(data)["vouchers"] == []


@pytest.mark.parametrize("broken, problem", [
    (b'#FLAGGA 0\n#PROGRAM "x" 1\n#FORMAT PC8\n#GEN 20250101\n#SIETYP 4\n#FNAMN "a\n', "not closed"),
    (b"#FLAGGA 0\n#PROGRAM x 1\n#FORMAT PC8\n#GEN 20250101\n#SIETYP 4\n#FNAMN a\n#VER A 1 20250101\n{\n"
     b"#TRANS 1930 {} 1.00\n}\n", "does not balance"),
    (b"#FLAGGA 0\n#PROGRAM x 1\n#FORMAT PC8\n#GEN 20250101\n#SIETYP 4\n#FNAMN a\n#VER A 1 20250101\n"
     b"#TRANS 1930 {} 0\n", "not followed by"),
    (b"#FLAGGA 0\n#PROGRAM x 1\n#FORMAT PC8\n#GEN 20251301\n#SIETYP 4\n#FNAMN a\n", "not a date"),
    (b"#FLAGGA 0\n#PROGRAM x 1\n#FORMAT PC8\n#GEN 20250101\n#SIETYP 4\n#FNAMN a\n#UB 0 1930 5\n", "no balances"),
    (b"#FLAGGA 0\n#PROGRAM x 1\n#FORMAT PC8\n#GEN 20250101\n#SIETYP 4\n#FNAMN a\n#VER A 1 20250101\n{\n"
     b"#TRANS 1930 {} 1,00\n#TRANS 3001 {} -1,00\n}\n", "at most two decimals"),
    (b"#FLAGGA 0\n#PROGRAM x 1\n#FORMAT PC8\n#GEN 20250101\n#SIETYP 4\n#FNAMN \"a\x07\"\n", "control character"),
    (b"#PROGRAM x 1\n#FLAGGA 0\n", "start with #FLAGGA"),
])  # fmt: skip
def test_the_checker_catches_what_breaks_the_grammar(broken, problem):
    with pytest.raises(siecheck.SieError, match=problem):
        siecheck.check(broken)


@settings(max_examples=100, deadline=None)
@given(many_refunds(currency="SEK"))
def test_every_export_passes_the_grammar_and_every_ver_balances(rows):
    parsed = siecheck.check(sie(rows))
    assert len(parsed["vouchers"]) == len(vouchers(rows, BAS_ANY_RATE))
