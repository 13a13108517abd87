"""Credit notes (integration/services/credit_notes.py) against the books: a note dates its refund as the ledger
and the VAT summary do."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from integration.models import CreditNote, Refund, Shop
from integration.services.books import rows_for_refund
from integration.services.books_settings import zone_of
from jobs.credit_notes import issue_credit_note


def test_the_note_dates_the_refund_in_the_shops_zone_as_the_books_do(issuing_shop, refunded, db):
    """A shop in Europe/Helsinki, a refund at 23:30 UTC on 31 January: 1 February in the shop's zone. The ledger
    and the VAT summary count it in February, and the credit note, which dates the refund as the books have it,
    gives the same day."""
    shop_id, _ = issuing_shop
    refund_id = refunded(shop_id).refund_id
    shop = db.get(Shop, shop_id)
    shop.books = {**shop.books, "timezone": "Europe/Helsinki"}
    db.get(Refund, refund_id).completed_at = datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc)
    db.commit()
    issue_credit_note(refund_id)
    db.expire_all()
    note = db.scalar(select(CreditNote))
    booked = rows_for_refund(db.get(Shop, shop_id), db.get(Refund, refund_id), zone_of(db.get(Shop, shop_id)))
    assert note.document["refund"]["date"] == booked[0].refund_date.isoformat(), (
        f"note: {note.document['refund']['date']}, books: {booked[0].refund_date}")
