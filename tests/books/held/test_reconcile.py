"""Reconciliation (integration/services/settlements.py) and the payout reads: what waits in transit, what the
fees add up to, and two reads of one payout at once (that one needs PostgreSQL and is skipped on SQLite)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import IntegrityError

from integration.records import MovementKind as K
from integration.records import Settlement
from integration.records import SettlementMovement as M
from integration.services.settlements import reconcile, store_settlement
from jobs.settlements import keep
from tests.books.held.conftest import at, order, our_refund, payout


def test_a_gift_card_refund_through_shopify_is_never_waiting_in_transit(shop_row, db):
    """A refund through route "shopify" paid to a gift card (or through a payments app: Paytrail, Klarna on
    Shopify) never appears in a Shopify Payments payout, so reconciling one does not list it as in transit."""
    o = order(db, shop_row.id, payments=(("gift_card", "p_gc", 10000, True),))
    gift = our_refund(db, o, 5000, route="shopify", provider="gift_card", provider_refund_id="880001",
                      completed=at("2026-01-10"))  # fmt: skip
    row = payout(db, shop_row, "shopify", "gid://shopify/ShopifyPaymentsPayout/1",
                 M("bt1", K.CHARGE, 2000, 60, "EUR", at("2026-01-09"), payment_id="p_other"))
    in_transit = [t["refund_id"] for t in reconcile(db, shop_row, row).in_transit]
    assert gift.id not in in_transit, "a gift-card refund can never settle in a payout, yet it waits in transit"


def test_the_fees_total_adds_up_the_fee_rows_it_lists(shop_row, db):
    """Klarna (and Stripe's stripe_fee, PayPal's T01nn) give fees as FEE rows whose *amount* is the fee, fee=0.
    The report lists the row's fee as 3.00, and its fees total is what its fees list adds up to: 3.00."""
    row = payout(db, shop_row, "klarna", "KP1",
                 M("SALE:o1:c1:PURCHASE", K.CHARGE, 10000, 0, "EUR", at("2026-01-09"), payment_id="o1"),
                 M("FEE:o1:c1:PURCHASE_FEE_FIXED", K.FEE, -300, 0, "EUR", at("2026-01-09"), payment_id="o1"))
    report = reconcile(db, shop_row, row)
    assert report.fees_total == sum(f["fee"] for f in report.fees) == 300, (report.fees_total, report.fees)


def test_two_reads_of_a_new_payout_at_once_end_without_an_integrity_error(app, shop_row, db):
    """The daily read and a merchant's POST /settlements/read of the same payout: both find it not yet stored and
    insert it, the second waiting on the unique index until the first commits. Every read keeps what it read
    through `jobs.settlements.keep`, so the second read must end with the payout stored, not with an
    IntegrityError."""
    if app.extensions["db"].engine.dialect.name != "postgresql":
        pytest.skip("two writers at once need PostgreSQL; SQLite has one writer at a time")
    settlement = Settlement("stripe", "po_race", "EUR", -5000, "paid", None,
                            (M("txn_r", K.REFUND, -5000, 0, "EUR", at("2026-01-11"), provider_refund_id="re_x"),))
    errors: list[Exception] = []
    first_stored = threading.Event()

    def second():
        with app.app_context(), app.extensions["db"].session() as session:
            from integration.models import Shop

            first_stored.wait(10)
            try:
                keep(session, session.get(Shop, shop_row.id), "stripe", settlement)  # stores and commits
            except Exception as e:  # noqa: BLE001 - any error is kept, to be named
                errors.append(e)
                session.rollback()

    with app.extensions["db"].session() as first:
        from integration.models import Shop

        store_settlement(first, first.get(Shop, shop_row.id), "stripe", settlement)  # inserted, not committed
        thread = threading.Thread(target=second)
        thread.start()
        first_stored.set()
        thread.join(1.5)  # the second is now waiting on the unique index
        first.commit()
        thread.join(20)
    assert not [e for e in errors if isinstance(e, IntegrityError)], f"second read: {errors[0]!r}"
