"""Vouchers as Procountor ledger receipts, shaped like Procountor's own published sample."""
from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings

from integration.books import Component
from integration.errors import InvalidInput
from integration.exports.procountor import ledger_receipt_bodies, ledger_receipts
from integration.journal import FINNISH_DEFAULTS, vouchers
from tests.books.factories import many_refunds, row

SAMPLE = Path(__file__).parent / "samples" / "procountor_ledger_receipt.json"
# Field the later revision of the same sample adds (help.procountor.fi/en/articles/532398): the receipt's VAT country.
LATER_FIELDS = ["vatProcessing"]


def parse(text: str) -> dict:
    """The reader the tests use for sample and output alike: JSON with exact decimals."""
    return json.loads(text, parse_float=Decimal)


def bodies(rows, accounts=FINNISH_DEFAULTS) -> list[dict]:
    return [parse(body) for body in ledger_receipt_bodies(vouchers(rows, accounts))]


def procountor_total(receipt: dict) -> Decimal:
    """What the receipt sums to once Procountor adds the VAT of each line (net x rate, to the cent)."""
    vat = sum((v["accountingValue"] * v["vatPercent"] / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
              for v in receipt["transactions"])  # fmt: skip
    return sum(t["accountingValue"] for t in receipt["transactions"]) + vat


def in_sample_order(keys: list[str], sample_keys: list[str]) -> bool:
    positions = [sample_keys.index(k) for k in keys]
    return positions == sorted(positions)


def test_the_published_sample_parses_and_is_a_journal_of_entries():
    sample = parse(SAMPLE.read_text())
    assert (sample["type"], sample["vatType"], sample["vatStatus"]) == ("JOURNAL", "SALES", 1)
    assert {t["transactionType"] for t in sample["transactions"]} == {"ENTRY"}


def test_our_receipt_uses_the_samples_field_names_in_the_samples_order():
    sample = parse(SAMPLE.read_text())
    [ours] = bodies([row(), row(component=Component.RESTOCKING_FEE, gross=-1255)])
    expected = list(sample)[:4] + LATER_FIELDS + list(sample)[4:]
    assert set(ours) <= set(expected) and in_sample_order(list(ours), expected)
    sample_fields = list(sample["transactions"][0])
    for transaction in ours["transactions"]:
        assert set(transaction) <= set(sample_fields) and in_sample_order(list(transaction), sample_fields)


def test_a_domestic_refund_books_net_sales_with_their_rate_and_the_clearing_account_without_vat():
    [receipt] = bodies([row(), row(component=Component.RESTOCKING_FEE, gross=-1255)])
    assert receipt["receiptDate"] == "2025-03-01" and receipt["vatProcessing"] == "FINLAND"
    assert receipt["name"] == "Refund #1001 R-7K2M rf_1" and receipt["status"] == "UNFINISHED"
    assert [(t["account"], t["accountingValue"], t["vatPercent"], t["vatStatus"]) for t in receipt["transactions"]] == [
        ("3000", Decimal("100.00"), Decimal("25.5"), 1), ("3990", Decimal("-10.00"), Decimal("25.5"), 1),
        ("1711", Decimal("-112.95"), 0, 12),
    ]  # fmt: skip
    assert "2939" not in {t["account"] for t in receipt["transactions"]}  # Procountor books the VAT itself
    assert procountor_total(receipt) == 0


def test_vat_that_procountor_would_round_differently_is_reconciled_on_the_vat_account():
    [receipt] = bodies([row(rate=Decimal(24), gross=1242, net=1001, vat=241)])  # 24 % of 10.01 is 2.40, not 2.41
    last = receipt["transactions"][-1]
    assert (last["transactionType"], last["account"], last["accountingValue"], last["vatPercent"]) == (
        "RECONCILIATION_ENTRY", "2939", Decimal("0.01"), 0)
    assert "vatStatus" not in last  # the documentation forbids it on reconciliation entries
    assert procountor_total(receipt) == 0


def test_a_voucher_of_several_vat_countries_becomes_one_balanced_receipt_per_country():
    rows = [row(), row(country="SE", rate=Decimal(25), gross=2500)]
    fi, se = bodies(rows)
    assert (fi["name"], fi["vatProcessing"]) == ("Refund #1001 R-7K2M rf_1 (FI)", "FINLAND")
    assert (se["name"], se["vatProcessing"]) == ("Refund #1001 R-7K2M rf_1 (SE)", "SWEDEN")
    assert [t["vatPercent"] for t in se["transactions"]] == [Decimal(25), 0]
    assert procountor_total(fi) == procountor_total(se) == 0


def test_zero_rated_sales_outside_the_eu_carry_procountors_outside_the_eu_status():
    [receipt] = bodies([row(country="NO", rate=Decimal(0), gross=5000)])
    assert "vatProcessing" not in receipt
    assert receipt["transactions"][0]["vatStatus"] == 3


def test_texts_are_cut_to_procountors_limits_and_other_currencies_are_refused():
    [receipt] = ledger_receipts(vouchers([row(order_ref="#" + "9" * 200)], FINNISH_DEFAULTS))
    assert len(receipt["name"]) == 80 and all(len(t["description"]) <= 255 for t in receipt["transactions"])
    with pytest.raises(InvalidInput, match="one currency"):
        ledger_receipts(vouchers([row(currency="SEK")], FINNISH_DEFAULTS))


@settings(max_examples=120, deadline=None)
@given(many_refunds())
def test_every_receipt_sums_to_zero_once_procountor_adds_its_vat(rows):
    for receipt in bodies(rows):
        assert procountor_total(receipt) == 0
        assert sum(t["transactionType"] == "RECONCILIATION_ENTRY" for t in receipt["transactions"]) <= 1
        assert all(t["accountingValue"] == t["accountingValue"].quantize(Decimal("0.01"))
                   for t in receipt["transactions"])  # fmt: skip
