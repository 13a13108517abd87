"""Issuing: one note per refund that succeeded, numbered per shop without gaps, whatever the retries and races;
its totals are the refund's book rows."""
from __future__ import annotations

import threading
from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from integration.models import CreditNote, Refund, Shop
from integration.services import credit_notes
from integration.services.books import rows_for_refund
from jobs.credit_notes import issue_credit_note
from tests.credit_notes.conftest import COFFEE, SALE_2025, SHOE, SOCKS


def notes(db) -> list[tuple[int, int, int]]:
    """(shop, number, refund) of every note, as the database has them now."""
    db.rollback()
    return [tuple(row) for row in db.execute(select(CreditNote.shop_id, CreditNote.number, CreditNote.refund_id)
                                             .order_by(CreditNote.shop_id, CreditNote.number))]  # fmt: skip


def sequence(db, shop_id: int) -> int:
    db.rollback()
    return db.scalar(select(Shop.credit_note_seq).where(Shop.id == shop_id))


def test_a_refund_that_succeeds_queues_its_note_and_the_shops_notes_run_1_then_2(issuing_shop, refunded, db):
    shop_id, _ = issuing_shop
    first = refunded(shop_id)
    assert ("issue_credit_note", first.refund_id) in first.queued
    issue_credit_note(first.refund_id)
    second = refunded(shop_id)
    issue_credit_note(second.refund_id)
    assert notes(db) == [(shop_id, 1, first.refund_id), (shop_id, 2, second.refund_id)]
    assert [n.document["number"] for n in db.scalars(select(CreditNote).order_by(CreditNote.number))] == ["CN-1", "CN-2"]
    assert sequence(db, shop_id) == 2


def test_each_shop_has_its_own_series_with_its_own_prefix(issuing_shop, second_shop, refunded, db):
    ours, theirs = issuing_shop[0], second_shop[0]
    issue_credit_note(refunded(ours).refund_id)
    issue_credit_note(refunded(ours).refund_id)
    issue_credit_note(refunded(theirs).refund_id)
    assert [(shop, number) for shop, number, _ in notes(db)] == [(ours, 1), (ours, 2), (theirs, 1)]
    note = db.scalar(select(CreditNote).where(CreditNote.shop_id == theirs))
    assert note.document["number"] == "HY-000001" and note.document["sequence"] == 1


def test_a_job_run_again_or_queued_twice_issues_no_second_note_and_leaves_no_gap(issuing_shop, refunded, db):
    shop_id, _ = issuing_shop
    refund_id = refunded(shop_id).refund_id
    for _ in range(3):
        issue_credit_note(refund_id)
    with db.bind.connect() as other:  # what a second session finds: the same note
        assert other.scalar(select(func.count()).select_from(CreditNote)) == 1
    later = refunded(shop_id).refund_id
    issue_credit_note(later)
    issue_credit_note(later)
    assert notes(db) == [(shop_id, 1, refund_id), (shop_id, 2, later)] and sequence(db, shop_id) == 2


def test_an_issue_that_fails_gives_its_number_back(app, issuing_shop, refunded, db):
    shop_id, _ = issuing_shop
    refund_id = refunded(shop_id).refund_id
    refund = db.get(Refund, refund_id)
    paid = refund.amount
    refund.amount = paid + 1  # rows that cannot add up to what went back: no note may say otherwise
    db.commit()
    with pytest.raises(ValueError, match="do not add up"):
        issue_credit_note(refund_id)
    assert notes(db) == [] and sequence(db, shop_id) == 0
    db.get(Refund, refund_id).amount = paid
    db.commit()
    issue_credit_note(refund_id)
    assert notes(db) == [(shop_id, 1, refund_id)]


def test_a_second_issuer_waiting_on_the_first_ends_with_its_note_and_no_gap(app, issuing_shop, refunded, db):
    shop_id, _ = issuing_shop
    refund_id = refunded(shop_id).refund_id
    done, results = threading.Event(), []
    with app.extensions["db"].session() as first:
        # The first issuer has taken number 1 and not yet committed its note.
        assert first.execute(text("UPDATE shops SET credit_note_seq = credit_note_seq + 1 WHERE id = :id "
                                  "RETURNING credit_note_seq"), {"id": shop_id}).scalar_one() == 1  # fmt: skip

        def second():
            with app.app_context(), app.extensions["db"].session() as session:
                results.append(credit_notes.issue_credit_note(session, refund_id).number)
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(0.5)  # it waits for the shop
        first.add(CreditNote(shop_id=shop_id, number=1, refund_id=refund_id, currency="EUR", total=1, document={}))
        first.commit()
        thread.join(20)
    assert results == [1] and notes(db) == [(shop_id, 1, refund_id)] and sequence(db, shop_id) == 1


def test_issuers_racing_for_the_same_refunds_end_with_one_note_each_numbered_without_gaps(app, issuing_shop, refunded, db):
    shop_id, _ = issuing_shop
    refund_ids = [refunded(shop_id).refund_id for _ in range(3)]
    start, errors = threading.Barrier(6), []

    def issuer(refund_id):
        try:
            with app.app_context(), app.extensions["db"].session() as session:
                start.wait(10)
                credit_notes.issue_credit_note(session, refund_id)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=issuer, args=(refund_id,)) for refund_id in refund_ids * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    issued = notes(db)
    assert sorted(refund for _, _, refund in issued) == refund_ids
    assert [number for _, number, _ in issued] == [1, 2, 3] and sequence(db, shop_id) == 3


def test_a_shop_whose_erp_issues_its_notes_gets_none(erp_shop, refunded, db):
    shop_id, _ = erp_shop
    done = refunded(shop_id)
    assert not any(name == "issue_credit_note" for name, _ in done.queued)
    issue_credit_note(done.refund_id)  # queued anyway (an operator, an old job): still none
    assert notes(db) == [] and sequence(db, shop_id) == 0


def test_a_refund_that_has_not_succeeded_gets_none(app, issuing_shop, refunded, db):
    refund = db.get(Refund, refunded(issuing_shop[0]).refund_id)
    refund.status = "failed"
    db.commit()
    with app.extensions["db"].session() as session:
        assert credit_notes.issue_credit_note(session, refund.id) is None
    assert notes(db) == []


def test_the_totals_per_rate_are_the_refunds_book_rows_and_the_grand_total_what_went_back(issuing_shop, refunded, db):
    shop_id, _ = issuing_shop
    refund_id = refunded(shop_id, lines=(SHOE, SOCKS, COFFEE)).refund_id
    issue_credit_note(refund_id)
    note, refund = db.scalar(select(CreditNote)), db.get(Refund, refund_id)
    per_rate = defaultdict(lambda: [0, 0, 0])
    for row in rows_for_refund(db.get(Shop, shop_id), refund):
        per_rate[format(row.rate, "f")] = [a + b for a, b in zip(per_rate[format(row.rate, "f")], (row.net, row.vat, row.gross))]
    shown = {t["vat_rate"]: [t["net"]["minor"], t["vat"]["minor"], t["gross"]["minor"]] for t in note.document["totals"]}
    assert shown == dict(per_rate) and set(shown) == {"25.5", "14"}
    assert note.document["total"]["gross"] == {"amount": f"{Decimal(refund.amount) / 100:.2f}", "minor": refund.amount}
    assert note.total == refund.amount and sum(line["gross"]["minor"] for line in note.document["lines"]) == refund.amount
    for line in note.document["lines"]:  # every line: net + VAT = gross, and each amount twice, the same
        assert line["net"]["minor"] + line["vat"]["minor"] == line["gross"]["minor"]
        assert Decimal(line["gross"]["amount"]) * 100 == line["gross"]["minor"]


def test_a_kept_restocking_fee_is_a_negative_line_that_reduces_the_totals(issuing_shop, refunded, db):
    refund_id = refunded(issuing_shop[0], policy={"restocking_fee_percent": "10"}).refund_id
    issue_credit_note(refund_id)
    note, refund = db.scalar(select(CreditNote)), db.get(Refund, refund_id)
    [fee] = [line for line in note.document["lines"] if line["kind"] == "restocking_fee"]
    assert fee["gross"]["minor"] == -refund.fees["restocking"] and fee["vat"]["minor"] < 0
    assert fee["description"] == "Restocking fee (kept)" and fee["vat_rate"] == "25.5"
    assert note.document["total"]["gross"]["minor"] == refund.amount == 12550 + 3980 + 590 - 1653


def test_a_2025_sale_at_14_percent_is_credited_at_14_percent(issuing_shop, refunded, db):
    issue_credit_note(refunded(issuing_shop[0], lines=(COFFEE,), sold_at=SALE_2025, shipping=(0, 0, "0")).refund_id)
    document = db.scalar(select(CreditNote)).document
    assert [line["vat_rate"] for line in document["lines"]] == ["14"]
    assert [(t["vat_rate"], t["vat"]["minor"]) for t in document["totals"]] == [("14", 140)]
    assert document["amends"]["order_date"] == "2025-12-20"


def test_the_note_refers_to_the_sale_it_amends_and_says_what_and_why(issuing_shop, refunded, db):
    done = refunded(issuing_shop[0])
    issue_credit_note(done.refund_id)
    document, refund = db.scalar(select(CreditNote)).document, db.get(Refund, done.refund_id)
    assert document["amends"] == {"order_name": refund.ret.order.name, "platform": "shopify",
                                  "platform_order_id": refund.ret.order.platform_order_id, "order_date": "2026-11-20",
                                  "text": f"Order {refund.ret.order.name} of 2026-11-20 (shopify order "
                                          f"{refund.ret.order.platform_order_id})"}  # fmt: skip
    assert document["reason"] == {"code": "return", "text": "return of goods"}
    assert document["refund"] == {"reference": refund.idempotency_key, "date": refund.completed_at.date().isoformat(),
                                  "return_code": refund.ret.code, "provider": "stripe",
                                  "provider_refund_id": f"re_{refund.id}"}  # fmt: skip
    assert document["seller"] == {"name": "Kenkä ja Sukka Oy", "address": "Esplanadi 1\n00130 Helsinki",
                                  "vat_id": "FI12345678", "email": "asiakaspalvelu@example.fi"}  # fmt: skip
    assert refund.ret.order.name in document["amendment"] and "return of goods" in document["amendment"]
    assert [(line["description"], line["sku"], line["quantity"]) for line in document["lines"][:2]] == [
        ("Nahkakenkä", "SHOE-42", 1), ("Villasukat", "SOCKS-3", 2)]


def test_a_withdrawal_says_so(issuing_shop, refunded, db):
    issue_credit_note(refunded(issuing_shop[0], track="withdrawal").refund_id)
    assert db.scalar(select(CreditNote)).document["reason"] == {"code": "withdrawal",
                                                                "text": "withdrawal from the contract"}
