"""The rows (integration/books.py), the journal (integration/journal.py) and the files (integration/exports/*,
integration/services/exports.py): the journal takes off the VAT the VAT summary does, and a file says what it
leaves out and refuses what its format cannot hold."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from integration.books import Head, Taxed, refund_rows, vat_summary
from integration.errors import InvalidInput
from integration.exports import ShopInfo, sie
from integration.journal import FINNISH_DEFAULTS, Kind, account_map, vouchers
from integration.services.exports import export
from tests.books.held.conftest import at, order, our_refund
from tests.books.held.conftest import rows as ledger_rows

HEAD = Head(shop_id=1, source="palautus", refund_ref="palautus-1-R1-1", refund_id=1, shop_refund_id=None,
            order_ref="#1001", platform_order_id="1001", sale_date=date(2025, 12, 20), refund_date=date(2026, 1, 10),
            return_code="R1", provider="stripe", route="stripe", provider_refund_id="re_1", country="FI",
            currency="EUR")  # fmt: skip


def test_a_capped_refund_reduces_output_vat_by_the_same_in_the_journal_as_in_the_vat_summary():
    """Goods 100.00 (VAT 19.35 at 24 %), the payment had 60.00 left: Refund.vat is 11.61 and the rows say so
    (goods +19.35, uncredited -7.74), as do the VAT summary and the credit note's totals. The voucher keeps the
    uncredited row's VAT in output VAT, so the journal takes off the same output VAT as the VAT summary: 11.61."""
    rows = refund_rows(HEAD, [Taxed(10000, 1935, Decimal("0.24"))], None, {}, 6000, {"0.24": 1161})
    [voucher] = vouchers(rows, FINNISH_DEFAULTS)
    journal_vat = sum(e.amount for e in voucher.entries if e.kind == Kind.VAT)
    summary_vat = sum(line.vat for line in vat_summary(rows))
    assert journal_vat == summary_vat, f"journal output VAT {journal_vat}, VAT summary {summary_vat}"


def test_a_journal_export_names_the_currencies_it_leaves_out_and_gives_them_when_asked(shop_row, db):
    """A EUR shop's order paid in USD (Shopify Markets): the refund is booked in USD. The Procountor, Netvisor and
    SIE files hold one currency's rows: January's EUR Procountor file is empty and names USD as left out (the
    download's `left_out` and its Palautus-Other-Currencies header), and the USD file, asked for by name, has the
    refund."""
    o = order(db, shop_row.id, currency="USD")
    our_refund(db, o, 5000, completed=at("2026-01-10"))
    db.commit()
    from integration.services.books import Period

    period = Period(date(2026, 1, 1), date(2026, 1, 31))
    assert [r.currency for r in ledger_rows(db, shop_row, "2026-01-01", "2026-01-31")] == ["USD"]
    download = export(db, shop_row, period, "procountor.json")
    # The EUR file has nothing, and says what it left out: the USD file is asked for by name.
    assert (download.body, download.left_out, download.headers()["Palautus-Other-Currencies"]) == (b"[]", ("USD",), "USD")
    assert export(db, shop_row, period, "procountor.json", currency="USD").body != b"[]"


def test_an_sie_file_of_a_three_decimal_currency_is_refused_not_rounded():
    """SIE amounts have a decimal point and at most two decimals. For a shop in a three-decimal currency (KWD,
    BHD) the file is refused with an error that says so, never written with 12.345 in #TRANS nor rounded."""
    rows = refund_rows(replace(HEAD, currency="KWD"), [Taxed(12345, 0, Decimal("0"))], None, {}, 12345, {})
    with pytest.raises(InvalidInput, match="at most two decimals"):  # refused, never rounded
        sie.sie4i(vouchers(rows, FINNISH_DEFAULTS), ShopInfo("Kuwait Shop"), date(2026, 2, 1))



def test_a_refund_split_over_a_card_and_a_gift_card_credits_each_its_own_clearing_account(shop_row, db):
    """A Shopify refund of 50.00: 30.00 to the card (Shopify Payments), 20.00 to a gift card (Refund.parts). The
    rows are split by payment, so the voucher credits what Shopify Payments owes with the 30.00 its payout moves,
    and the gift card's 20.00 goes where the merchant books gift cards."""
    o = order(db, shop_row.id, payments=(("shopify_payments", "p_card", 7000, False), ("gift_card", "p_gc", 3000, True)))
    card, gift = o.payments
    our_refund(db, o, 5000, route="shopify", provider="shopify_payments", provider_refund_id="770001",
               parts=({"payment_id": card.id, "amount": 3000}, {"payment_id": gift.id, "amount": 2000}))  # fmt: skip
    db.commit()
    accounts = account_map("fi", {"clearing": {"shopify_payments": "1712", "gift_card": "2948"}})
    book = ledger_rows(db, shop_row, "2026-01-01", "2026-01-31")
    assert sum(r.gross for r in book) == 5000 and all(r.net + r.vat == r.gross for r in book)
    [voucher] = vouchers(book, accounts)
    clearing = {e.account: e.amount for e in voucher.entries if e.kind == Kind.CLEARING}
    assert clearing == {"1712": -3000, "2948": -2000}, f"clearing entries {clearing}: the card's payout moves 3000"
