"""Payouts read from Stripe by the jobs, kept, and reconciled with a refund that really went back.

The payouts are the sandbox Stripe's own (`stripe.pay_out()`): the customer's charge and our refund went through
its balance, and the payout pays them out in the shape Stripe documents (tests/sandbox/test_sandbox_payouts.py).
"""
from __future__ import annotations

from sqlalchemy import func, select

from integration.models import SettlementLine, SettlementRecord, Shop
from jobs.settlements import read_recent_settlements, read_settlement, read_settlements
from sandbox.stripe_balance import fee_of
from tests.books.test_ledger import refunded, today
from tests.conftest import auth
from tests.jobs.helpers import PI

PAID = 18970  # what the customer paid for the order (stripe_sale's 189.70)


def lines(db) -> int:
    return db.scalar(select(func.count()).select_from(SettlementLine))


def test_the_merchant_asks_for_a_payout_and_it_reconciles_to_zero(client, shop, post_webhook, work, shopify, stripe, db):
    _, key = shop
    stripe.charge(PAID, "eur", payment_id=PI)  # the customer's payment, taken at the sandbox Stripe
    refund = refunded(client, key, post_webhook, work, shopify, db)
    payout_id = stripe.pay_out()
    asked = client.post("/api/v1/settlements/read", json={"route": "stripe", "settlement_id": payout_id}, headers=auth(key))
    assert asked.status_code == 202, asked.get_json()
    work()
    [listed] = client.get("/api/v1/settlements", headers=auth(key)).get_json()
    assert (listed["settlement_id"], listed["net"], listed["status"]) == (payout_id, PAID - fee_of(PAID, "eur") - refund.amount, "paid")
    report = client.get(f"/api/v1/settlements/{listed['id']}", headers=auth(key)).get_json()
    assert [(m["refund_id"], m["matched_by"], m["difference"]) for m in report["matched"]] == [(refund.id, "provider_refund_id", 0)]
    assert report["matched"][0]["refund_ref"] == refund.idempotency_key == report["matched"][0]["movements"][0]["reference"]
    assert [f["fee"] for f in report["fees"]] == [fee_of(PAID, "eur")]
    assert report["totals"]["difference"] == 0 and report["external"] == [] and report["in_transit"] == []
    kept = lines(db)  # the charge, our refund and the payout's own row
    assert kept == 3
    # Read again: replaced, not doubled.
    client.post("/api/v1/settlements/read", json={"route": "stripe", "settlement_id": payout_id}, headers=auth(key))
    work()
    assert db.scalar(select(SettlementRecord.id).where(SettlementRecord.settlement_id == payout_id)) == listed["id"]
    assert lines(db) == kept


def test_a_route_the_shop_has_no_keys_for_is_refused_and_a_refused_read_is_told_to_the_merchant(
        client, shop, app, stripe, db):  # fmt: skip
    shop_row, key = shop
    answer = client.post("/api/v1/settlements/read", json={"route": "klarna", "settlement_id": "x"}, headers=auth(key))
    assert answer.status_code == 404 and "stripe" in answer.get_json()["message"]
    both = client.post("/api/v1/settlements/read", json={"route": "stripe", "settlement_id": "po_1", "from": today()},
                       headers=auth(key))  # fmt: skip
    assert both.status_code == 400
    stripe.charge(5000, "eur")
    manual = stripe.pay_out(automatic=False)  # the merchant paid out by hand: Stripe cannot say what went into it
    assert read_settlement(shop_row.id, "stripe", manual) is None
    db.expire_all()
    message = db.get(Shop, shop_row.id).alerts["settlements"]["message"]
    assert "stripe settlements could not be read" in message and "manual" in message
    assert db.scalar(select(func.count()).select_from(SettlementRecord)) == 0


def test_a_period_keeps_the_itemised_payouts_and_leaves_one_still_being_itemised(
        client, shop, post_webhook, work, shopify, stripe, db):  # fmt: skip
    shop_row, key = shop
    stripe.charge(PAID, "eur", payment_id=PI)
    refunded(client, key, post_webhook, work, shopify, db)
    itemised = stripe.pay_out(arrival=1_999_000_000)
    stripe.charge(5000, "eur")
    itemising = stripe.pay_out(arrival=2_000_000_000, reconciled=False)
    period = ("2033-01-01T00:00:00+00:00", "2033-12-31T00:00:00+00:00")
    assert read_settlements(shop_row.id, "stripe", *period) == [itemised]
    assert [r.settlement_id for r in db.scalars(select(SettlementRecord))] == [itemised]
    # Stripe finishes itemising it: the next read of the period keeps it too, and the first once.
    stripe.finish_payout(itemising)
    assert read_settlements(shop_row.id, "stripe", *period) == [itemised, itemising]
    assert sorted(r.settlement_id for r in db.scalars(select(SettlementRecord))) == sorted([itemised, itemising])


def test_the_daily_read_queues_each_shop_and_route_that_refunded_lately(client, shop, post_webhook, work, shopify, stripe, db, app):
    _, key = shop
    refunded(client, key, post_webhook, work, shopify, db)
    asked = []
    app.extensions["tasks"].read_settlements = lambda *args: asked.append(args)
    assert read_recent_settlements() == 1
    assert [(a[1], a[0] > 0) for a in asked] == [("stripe", True)]
