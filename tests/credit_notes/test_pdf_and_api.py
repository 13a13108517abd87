"""The note as PDF and through the API and the dashboard: drawn from the stored document, only the shop's own."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import CreditNote, Shop
from integration.services.credit_notes import render_pdf
from jobs.credit_notes import issue_credit_note
from tests.conftest import auth
from tests.credit_notes.pdf_text import pdf_text


def issued(db, refunded, shop_id: int, **kwargs) -> CreditNote:
    done = refunded(shop_id, **kwargs)
    issue_credit_note(done.refund_id)
    db.rollback()
    return db.scalar(select(CreditNote).where(CreditNote.refund_id == done.refund_id))


def test_the_pdf_shows_the_number_the_seller_the_sale_the_lines_and_the_totals(issuing_shop, refunded, db):
    note = issued(db, refunded, issuing_shop[0], policy={"restocking_fee_percent": "10"})
    compressed = render_pdf(note)
    assert compressed.startswith(b"%PDF") and b"CN-1" in compressed  # the title names the number
    assert b"/FontFile2" in compressed  # the embedded Unicode font, for ä, ö and å
    shown = pdf_text(render_pdf(note, compress=False))
    for text in ("Credit note CN-1", "Kenkä ja Sukka Oy", "VAT id: FI12345678", note.document["amends"]["text"],
                 "Reason: return of goods", "Nahkakenkä (SHOE-42)", "Restocking fee (kept)", "-16.53", "VAT 25.5 %",
                 f"Credited to the customer: {note.document['total']['gross']['amount']} EUR"):  # fmt: skip
        assert text in shown, text


def test_the_pdf_is_drawn_from_the_stored_document_alone(issuing_shop, refunded, db):
    note = issued(db, refunded, issuing_shop[0])
    before = render_pdf(note)
    shop = db.get(Shop, issuing_shop[0])
    shop.profile, shop.books = {"legal_name": "Uusi Nimi Oy"}, {"credit_notes": True, "credit_note_prefix": "X-"}
    db.commit()
    assert render_pdf(note) == before  # the same bytes, whatever the shop has become since


def test_the_api_lists_the_notes_and_answers_each_as_json_and_as_pdf(client, issuing_shop, refunded, db):
    shop_id, key = issuing_shop
    first, second = issued(db, refunded, shop_id), issued(db, refunded, shop_id)
    listed = client.get("/api/v1/credit-notes", headers=auth(key))
    assert listed.status_code == 200
    assert [(n["number"], n["sequence"], n["refund_id"], n["total"]) for n in listed.get_json()] == [
        ("CN-2", 2, second.refund_id, second.total), ("CN-1", 1, first.refund_id, first.total)]
    only = client.get(f"/api/v1/credit-notes?refund_id={first.refund_id}", headers=auth(key)).get_json()
    assert [n["sequence"] for n in only] == [1]
    document = client.get("/api/v1/credit-notes/1", headers=auth(key))
    assert document.status_code == 200 and document.get_json() == first.document
    pdf = client.get("/api/v1/credit-notes/1.pdf", headers=auth(key))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert 'filename="credit-note-CN-1.pdf"' in pdf.headers["Content-Disposition"]


def test_an_unknown_number_and_another_shops_note_are_the_same_404(client, issuing_shop, second_shop, refunded, db):
    issued(db, refunded, second_shop[0])
    _, key = issuing_shop
    for path in ("/api/v1/credit-notes/1", "/api/v1/credit-notes/1.pdf", "/api/v1/credit-notes/99"):
        answer = client.get(path, headers=auth(key))
        assert answer.status_code == 404 and answer.get_json()["error"] == "not_found", path
    assert client.get("/api/v1/credit-notes", headers=auth(key)).get_json() == []
    assert client.get("/api/v1/credit-notes/1", headers=auth(second_shop[1])).status_code == 200


def test_the_return_page_links_the_refunds_credit_note_and_serves_it(app, client, issuing_shop, refunded, db):
    from tests.dashboard.conftest import Browser

    done = refunded(issuing_shop[0])
    browser = Browser(client)
    assert browser.sign_in(app, db.get(Shop, issuing_shop[0])).status_code == 303
    page = browser.get(f"/dashboard/returns/{done.return_id}").get_data(as_text=True)
    assert "credit-notes/" not in page  # not issued yet
    issue_credit_note(done.refund_id)
    page = browser.get(f"/dashboard/returns/{done.return_id}").get_data(as_text=True)
    link = f"/dashboard/returns/{done.return_id}/credit-notes/1.pdf"
    assert f'href="{link}"' in page and "CN-1" in page
    pdf = browser.get(link)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert browser.get(f"/dashboard/returns/{done.return_id}/credit-notes/2.pdf").status_code == 404
    other = refunded(issuing_shop[0])
    assert browser.get(f"/dashboard/returns/{other.return_id}/credit-notes/1.pdf").status_code == 404
