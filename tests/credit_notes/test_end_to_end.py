"""The whole path: a Shopify return refunded through Stripe by the worker, then its credit note by the next job."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import CreditNote, Refund, Shop
from tests.conftest import auth
from tests.jobs.test_return_to_refund import EXPECTED_AMOUNT, EXPECTED_VAT, open_shopify_return


def test_a_refund_paid_by_the_worker_gets_its_credit_note_from_the_job_queued_after_it(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shop_row, key = shop
    db.get(Shop, shop_row.id).books = {"credit_notes": True, "credit_note_prefix": "HY-"}
    db.commit()
    open_shopify_return(post_webhook, work, shopify)
    return_id = client.get("/api/v1/returns", headers=auth(key)).get_json()[0]["id"]
    for action in ("approve", "receive"):
        assert client.post(f"/api/v1/returns/{return_id}/{action}", json={}, headers=auth(key)).status_code == 200
        work()
    refund = db.scalar(select(Refund))
    assert refund.status == "succeeded" and stripe.money_moved == EXPECTED_AMOUNT
    note = db.scalar(select(CreditNote))
    assert (note.number, note.refund_id, note.total) == (1, refund.id, EXPECTED_AMOUNT)
    assert note.document["number"] == "HY-000001" and note.document["refund"]["provider_refund_id"] == refund.provider_refund_id
    assert {t["vat_rate"]: t["vat"]["minor"] for t in note.document["totals"]} == {"24": EXPECTED_VAT["0.24"]}
    answer = client.get("/api/v1/credit-notes/1.pdf", headers=auth(key))
    assert answer.status_code == 200 and answer.data.startswith(b"%PDF")
