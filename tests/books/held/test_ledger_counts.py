"""The period ledger (integration/services/books.py) and the refund movements it books from payouts
(integration/services/settlements.py: external_movements): money that moved once is counted once, money that
moved is in a book, and a refund whose money came back is taken off again."""
from __future__ import annotations

from decimal import Decimal

from integration.records import MovementKind as K
from integration.records import SettlementMovement as M
from integration.services.settlements import reconcile
from tests.books.held.conftest import at, order, our_refund, payout, rows, shop_refund


def gross(book) -> int:
    return sum(r.gross for r in book)


def test_a_refund_that_came_back_later_is_taken_off_in_the_month_it_came_back(shop_row, db):
    """Our refund of 50.00 settles in January, then Stripe's February payout carries its refund_failure: the
    money came back. The refund stays succeeded, so January keeps it; February takes its rows off again, negated,
    and January and February together have booked nothing as refunded."""
    o = order(db, shop_row.id)
    refund = our_refund(db, o, 5000, completed=at("2026-01-10"))
    payout(db, shop_row, "stripe", "po_jan", M("txn_r", K.REFUND, -5000, 0, "EUR", at("2026-01-11"),
                                                provider_refund_id=refund.provider_refund_id, payment_id="pi_1"))
    payout(db, shop_row, "stripe", "po_feb", M("txn_f", K.REFUND_FAILURE, 5000, 0, "EUR", at("2026-02-05"),
                                                provider_refund_id=refund.provider_refund_id, payment_id="pi_1"))
    both = rows(db, shop_row, "2026-01-01", "2026-02-28")
    assert gross(both) == 0, f"the books keep {gross(both)} as refunded for money that came back"


def test_money_a_provider_paid_on_a_refund_we_have_as_failed_is_booked_or_shown_as_a_difference(shop_row, db):
    """Our refund failed in Palautus (a lost answer, a timeout) but Stripe paid it, and the payout matches it by
    id. The 50.00 that left must be seen: either January's ledger books it, or the reconciliation shows a
    difference for the merchant to look into."""
    o = order(db, shop_row.id)
    refund = our_refund(db, o, 5000, status="failed", completed=at("2026-01-10"))
    row = payout(db, shop_row, "stripe", "po_1", M("txn_r", K.REFUND, -5000, 0, "EUR", at("2026-01-11"),
                                                   provider_refund_id=refund.provider_refund_id, payment_id="pi_1"))
    report = reconcile(db, shop_row, row)
    book = rows(db, shop_row, "2026-01-01", "2026-01-31")
    assert report.difference != 0 or gross(book) == 5000, (
        f"reconciliation says difference {report.difference} and the ledger has {gross(book)} for 5000 paid out")


def test_a_shop_refund_split_over_card_and_gift_card_is_counted_once(shop_row, db):
    """An admin refund of 50.00: 30.00 to the card, 20.00 to a gift card. The Shopify Payments payout shows the
    card's -30.00, which the shop's refund explains by its part from the card's payment: the ledger has the admin
    refund's 50.00 and nothing more from the payout."""
    o = order(db, shop_row.id, payments=(("shopify_payments", "p_card", 7000, False), ("gift_card", "p_gc", 3000, True)))
    shop_refund(db, o, "sr1", 5000, created=at("2026-01-12"), lines=(("L1", 1),),
                by_parent={o.payments[0].platform_transaction_id: 3000, o.payments[1].platform_transaction_id: 2000})
    payout(db, shop_row, "shopify", "gid://shopify/ShopifyPaymentsPayout/1",
           M("bt1", K.REFUND, -3000, 0, "EUR", at("2026-01-12"), provider_refund_id="sr1", payment_id="p_card"))
    book = rows(db, shop_row, "2026-01-01", "2026-01-31")
    assert gross(book) == 5000, f"{gross(book)} booked for 5000 refunded: {[(r.source, r.refund_ref, r.gross) for r in book]}"


def test_a_dashboard_refund_of_the_same_amount_as_an_admin_refund_is_booked_too(shop_row, db):
    """Two refunds of 10.00 on one payment: one made in the shop's admin (a ShopRefund), one in Stripe's dashboard
    only. The shop's refund explains one of the payout's two movements, never both, so the other is booked from
    the payout: the ledger has the 20.00 that went back."""
    o = order(db, shop_row.id)
    shop_refund(db, o, "sr1", 1000, created=at("2026-01-12"))
    payout(db, shop_row, "stripe", "po_1",
           M("txn_admin", K.REFUND, -1000, 0, "EUR", at("2026-01-12"), provider_refund_id="re_admin", payment_id="pi_1"),
           M("txn_dash", K.REFUND, -1000, 0, "EUR", at("2026-01-13"), provider_refund_id="re_dash", payment_id="pi_1"))
    book = rows(db, shop_row, "2026-01-01", "2026-01-31")
    assert gross(book) == 2000, f"{gross(book)} booked for 2000 refunded"


def test_our_refund_through_the_shops_payments_app_is_not_counted_again_from_the_providers_settlement(shop_row, db):
    """On Shopify a Paytrail (Klarna, PayPal) payment is platform-managed: Palautus refunds it through route
    "shopify" (provider "paytrail"). Paytrail's settlement shows the same refund with the app's stamp, not our
    key, and names no payment. The platform's record is the books' record of that money, so the ledger has our
    50.00 once, and nothing from Paytrail's row."""
    o = order(db, shop_row.id, payments=(("paytrail", "pt_1", 10000, False),))
    o.payments[0].platform_managed = True
    refund = our_refund(db, o, 5000, route="shopify", provider="paytrail", provider_refund_id="990001")
    shop_refund(db, o, "990001", 5000, created=at("2026-01-10"), refund_id=refund.id)  # our echo, linked
    payout(db, shop_row, "paytrail", "4242",
           M("checkoutReference:abc", K.REFUND, -5000, 0, "EUR", at("2026-01-10"), reference="shopify-app-stamp-77"))
    book = rows(db, shop_row, "2026-01-01", "2026-01-31")
    assert gross(book) == 5000, f"{gross(book)} booked: {[(r.source, r.refund_ref, r.gross) for r in book]}"


def test_redacting_a_shop_leaves_its_closed_periods_as_they_were(app, shop_row, db):
    """January has an admin refund (24 % VAT, Finland) and its Stripe movement. The app is removed and the shop
    redacted: January's rows (country, rate, gross, VAT) are what they were before, neither the refund gone nor
    its movement back as a refund at 0 % with no country."""
    from integration.models import utcnow
    from integration.services.privacy import redact_shop

    o = order(db, shop_row.id)
    shop_refund(db, o, "sr1", 5000, created=at("2026-01-12"), lines=(("L1", 1),))
    payout(db, shop_row, "stripe", "po_1",
           M("txn_admin", K.REFUND, -5000, 0, "EUR", at("2026-01-12"), provider_refund_id="re_admin", payment_id="pi_1"))
    before = [(r.country, r.rate, r.gross, r.vat) for r in rows(db, shop_row, "2026-01-01", "2026-01-31")]
    shop_row.uninstalled_at = utcnow()
    redact_shop(db, shop_row, app.extensions["vault"])
    db.commit()
    after = [(r.country, r.rate, r.gross, r.vat) for r in rows(db, shop_row, "2026-01-01", "2026-01-31")]
    assert after == before, f"January was {before}, after the redaction it is {after}"


def test_shipping_rows_follow_the_refund_not_the_order_as_edited_later(shop_row, db):
    """Our refund gave back 50.00 of goods and 5.90 of shipping (VAT 1.14 at 24 %), as planned. The order's
    shipping tax is edited afterwards (0.70 at 13.5 %): January's rows still add up to what the refund paid and
    the VAT it carried, the shipping row priced from the refund, not the order as it is now."""
    o = order(db, shop_row.id, lines=((1, 5000, 968, "0.24"),), shipping=(590, 114, "0.24"))
    line = o.lines[0]
    refund = our_refund(db, o, 5590, shipping=590, vat={"0.24": 968 + 114},
                        lines=[{"order_line_id": line.id, "return_item_id": None, "quantity": 1, "amount": 5000,
                                "tax": 968, "tax_rate": "0.24"}])  # fmt: skip
    refund.shipping_tax, refund.shipping_tax_rate = 114, Decimal("0.24")  # as planning keeps them
    db.commit()
    o.shipping_tax, o.shipping_tax_rate = 70, Decimal("0.135")  # a later snapshot of the order (tax lines edited)
    db.commit()
    book = rows(db, shop_row, "2026-01-01", "2026-01-31")
    assert (sum(r.gross for r in book), sum(r.vat for r in book)) == (5590, 968 + 114), (
        f"rows now: {[(r.component, r.gross, r.vat) for r in book]}; the refund paid 5590 with VAT {refund.vat}")


def test_a_restock_only_admin_refund_moves_no_sales(shop_row, db):
    """A merchant "refunds" one unit for 0.00 in the admin to restock it (common after the money went back
    elsewhere). No money moved, so January's vouchers move nothing on any income account: sales are not debited
    for a refund that never happened."""
    from integration.journal import FINNISH_DEFAULTS, Kind, vouchers

    o = order(db, shop_row.id)
    shop_refund(db, o, "sr_restock", 0, created=at("2026-01-12"), lines=(("L1", 1),))
    book = rows(db, shop_row, "2026-01-01", "2026-01-31")
    moved = {e.account: e.amount for v in vouchers(book, FINNISH_DEFAULTS) for e in v.entries if e.kind == Kind.INCOME}
    assert all(amount == 0 for amount in moved.values()), f"income entries for a 0.00 refund: {moved}"


def test_admin_refunds_of_one_line_unit_by_unit_credit_the_line_s_whole_vat(shop_row, db):
    """Three admin refunds of one unit each of a 3-unit line (paid 10.00, VAT 1.94): each is priced after the units
    the ones before it gave back (the one pro-rating rule), so the last carries the leftover cent and the line's
    whole VAT is credited, as our own refunds of a line do."""
    o = order(db, shop_row.id, lines=((3, 333, 194, "0.24"),), payments=(("stripe", "pi_1", 999, False),))
    o.lines[0].unit_price, o.lines[0].discount_total = 334, 2  # 3 x 3.34 - 0.02 = 10.00
    for i, (amount, day) in enumerate(((333, "2026-01-05"), (333, "2026-01-06"), (334, "2026-01-07")), 1):
        shop_refund(db, o, f"sr{i}", amount, created=at(day), lines=(("L1", 1),))
    book = rows(db, shop_row, "2026-01-01", "2026-01-31")
    assert gross(book) == 1000
    assert sum(r.vat for r in book) == 194, f"{sum(r.vat for r in book)} of the line's 194 VAT credited"
