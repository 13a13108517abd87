"""The document, purely: its number, and never a note that disagrees with the books."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from integration.books import Component, Head, Taxed, refund_rows
from integration.credit_notes import Credit, Goods, Sale, Seller, build_document, format_number

HEAD = Head(shop_id=1, source="palautus", refund_ref="palautus-1-ABCD-1", refund_id=7, shop_refund_id=None,
            order_ref="#1001", platform_order_id="5001", sale_date=date(2025, 12, 20), refund_date=date(2026, 1, 12),
            return_code="ABCD", provider="stripe", route="stripe", provider_refund_id="re_1", country="FI",
            currency="EUR")  # fmt: skip
SELLER = Seller("Kenkä ja Sukka Oy", "Esplanadi 1", "FI12345678", None)
SALE = Sale("#1001", "shopify", "5001", date(2025, 12, 20))
ISSUED = datetime(2026, 1, 12, 10, 0, tzinfo=timezone.utc)
SHOE = Goods("Nahkakenkä", "SHOE-42", 1, 12400, 2400, Decimal("0.24"))  # a 2025 sale: 24 %
COFFEE = Goods("Kahvi", None, 3, 3420, 420, Decimal("0.14"))


def credit(amount: int) -> Credit:
    return Credit("palautus-1-ABCD-1", date(2026, 1, 12), "ABCD", "return", "stripe", "re_1", amount, "EUR")


def rows(goods, amount, fees=None, vat=None):
    return refund_rows(HEAD, [Taxed(g.gross, g.vat, g.rate) for g in goods], None, fees or {}, amount, vat or {})


@pytest.mark.parametrize(("sequence", "prefix", "number"), [
    (1, None, "CN-1"), (123, "", "CN-123"), (123, "HY-", "HY-000123"), (7, "2026/", "2026/000007"),
    (1234567, "HY-", "HY-1234567"),
])  # fmt: skip
def test_the_number_is_the_prefix_and_the_sequence_padded_or_cn_and_the_sequence(sequence, prefix, number):
    assert format_number(sequence, prefix) == number


def test_two_rates_give_a_total_per_rate_highest_first_and_the_sale_rates_stay_as_they_were():
    amount = 12400 + 3420
    document = build_document("CN-1", 1, ISSUED, SELLER, SALE, credit(amount), [COFFEE, SHOE],
                              rows([COFFEE, SHOE], amount, vat={"0.24": 2400, "0.14": 420}))  # fmt: skip
    assert [(t["vat_rate"], t["net"]["minor"], t["vat"]["minor"], t["gross"]["minor"]) for t in document["totals"]] == [
        ("24", 10000, 2400, 12400), ("14", 3000, 420, 3420)]
    assert document["total"] == {"net": {"amount": "130.00", "minor": 13000}, "vat": {"amount": "28.20", "minor": 2820},
                                 "gross": {"amount": "158.20", "minor": 15820}}  # fmt: skip
    coffee = document["lines"][0]
    assert coffee["unit_price"] == {"amount": "10.00", "minor": 1000} and coffee["vat_rate"] == "14"
    assert document["issue_date"] == "2026-01-12" and document["amends"]["order_date"] == "2025-12-20"


def test_what_the_shop_kept_is_a_negative_line_of_its_kind():
    fees = {"restocking": 1240}
    document = build_document("CN-1", 1, ISSUED, SELLER, SALE, credit(12400 - 1240), [SHOE],
                              rows([SHOE], 12400 - 1240, fees, {"0.24": 2400 - 240}))  # fmt: skip
    kept = document["lines"][-1]
    assert (kept["kind"], kept["gross"]["minor"], kept["vat"]["minor"]) == (Component.RESTOCKING_FEE, -1240, -240)
    assert kept["gross"]["amount"] == "-12.40" and document["total"]["gross"]["minor"] == 11160


def test_a_note_that_would_disagree_with_the_books_is_refused():
    booked = rows([SHOE], 12400, vat={"0.24": 2400})
    with pytest.raises(ValueError, match="lines do not add up"):
        build_document("CN-1", 1, ISSUED, SELLER, SALE, credit(12400), [SHOE, COFFEE], booked)
    with pytest.raises(ValueError, match="rows do not add up"):
        build_document("CN-1", 1, ISSUED, SELLER, SALE, credit(12401), [SHOE], booked)


@pytest.mark.parametrize(("reason", "text"), [("return", "return of goods"),
                                              ("withdrawal", "withdrawal from the contract"),
                                              ("cancellation", "cancellation")])  # fmt: skip
def test_the_reason_is_said_in_words(reason, text):
    document = build_document("CN-1", 1, ISSUED, SELLER, SALE, Credit("k", date(2026, 1, 12), None, reason, None, None,
                              12400, "EUR"), [SHOE], rows([SHOE], 12400, vat={"0.24": 2400}))  # fmt: skip
    assert document["reason"] == {"code": reason, "text": text} and text in document["amendment"]
