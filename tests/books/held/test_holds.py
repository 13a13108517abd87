"""Credit-note numbering and the books' reads where they are easiest to get wrong: an issuer failing while another
waits for the next number, and one-day periods at the edges of a shop's time zone."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from integration.models import CreditNote, Refund, Shop
from integration.services import credit_notes
from tests.conftest import auth


def test_an_issuer_that_fails_after_taking_its_number_leaves_no_gap_for_the_one_waiting_behind_it(
        app, issuing_shop, refunded, db):  # fmt: skip
    """Issuer A takes number 1 for refund X, then fails building its document (rows that do not add up): its
    rollback gives 1 back. Issuer B (refund Y), blocked on the shop's row meanwhile, gets 1; X, once mended, gets
    2, and the shop's sequence has no gap."""
    shop_id, _ = issuing_shop
    x, y = refunded(shop_id).refund_id, refunded(shop_id).refund_id
    broken = db.get(Refund, x)
    paid = broken.amount
    broken.amount = paid + 1
    db.commit()
    results, errors, a_has_number = [], [], threading.Event()
    real_document = credit_notes._document

    def slow_document(session, shop, refund, *args):
        a_has_number.set()
        threading.Event().wait(1.0)  # hold the number while B queues behind it
        return real_document(session, shop, refund, *args)

    def issuer(refund_id, patch):
        with app.app_context(), app.extensions["db"].session() as session:
            try:
                results.append((refund_id, credit_notes.issue_credit_note(session, refund_id).number))
            except Exception as e:  # noqa: BLE001
                errors.append((refund_id, type(e).__name__))

    credit_notes._document = slow_document
    try:
        a = threading.Thread(target=issuer, args=(x, True))
        a.start()
        a_has_number.wait(10)
        credit_notes._document = real_document
        b = threading.Thread(target=issuer, args=(y, False))
        b.start()
        a.join(30)
        b.join(30)
    finally:
        credit_notes._document = real_document
    assert errors == [(x, "ValueError")] and results == [(y, 1)]
    db.get(Refund, x).amount = paid
    db.commit()
    with app.extensions["db"].session() as session:
        assert credit_notes.issue_credit_note(session, x).number == 2
    db.rollback()
    assert sorted(n for n in db.scalars(select(CreditNote.number))) == [1, 2]
    assert db.scalar(select(Shop.credit_note_seq).where(Shop.id == shop_id)) == 2


@pytest.mark.parametrize("zone, day", [("America/Santiago", "2026-09-06"), ("Europe/Helsinki", "2026-03-29"),
                                       ("Pacific/Apia", "2026-04-05")])
def test_every_books_read_answers_a_day_at_a_time_zones_edge_for_a_shop_without_a_currency(
        client, register, db, zone, day):  # fmt: skip
    """A one-day period, for a shop with no currency set, on a day at its zone's edge: Santiago's, whose
    midnight never happens (the clock jumps to 01:00), Helsinki's spring forward, and a day in Apia (UTC+13, no
    longer changing its clock), which starts on the UTC day before. The rows, the VAT summary and each export
    answer 200."""
    shop, key = register()
    row = db.get(Shop, shop.id)
    row.books, row.currency = {"timezone": zone}, None
    db.commit()
    for path in ("/api/v1/books/rows", "/api/v1/books/vat-summary", "/api/v1/books/export/sie",
                 "/api/v1/books/export/procountor.json", "/api/v1/books/export/netvisor.zip"):
        answer = client.get(path, query_string={"from": day, "to": day}, headers=auth(key))
        assert answer.status_code == 200, (path, answer.get_data(as_text=True)[:200])
