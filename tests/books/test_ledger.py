"""The ledger of a period through the API, and a payout reconciled with it: real webhooks, worker and database."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from integration.models import Refund, SettlementRecord, utcnow
from integration.records import MovementKind, Settlement, SettlementMovement
from integration.services.settlements import store_settlement
from tests.conftest import auth, payload
from tests.fakes import stripe_sale
from tests.jobs.helpers import ORDER, PI, SWEATER, admin_refund_of_one_sweater_before_any_return, received_return


def a_2025_finnish_order_at_14_percent() -> dict:
    """The order, sold on 30 December 2025 to Finland, its lines at the reduced rate of that day (14 %)."""
    order = payload(ORDER)
    order["processed_at"] = order["created_at"] = "2025-12-30T10:00:00+02:00"
    order["shipping_address"] = {"country_code": "FI", "country": "Finland"}
    for line in order["line_items"] + order["shipping_lines"]:  # shipping follows the goods' rate
        at_rate(line, Decimal("0.14"))
    return order


def at_rate(line: dict, rate: Decimal) -> None:
    """The line's one tax line at `rate`, its VAT worked out of what the customer paid for it (prices include VAT)."""
    def paid(key: str) -> Decimal:
        price = Decimal(line["price_set"][key]["amount"]) if "price_set" in line else Decimal(line["price"])
        off = sum(Decimal(a["amount_set"][key]["amount"]) for a in line.get("discount_allocations", []))
        return price * line.get("quantity", 1) - off

    [tax] = line["tax_lines"]
    tax["rate"], tax["title"] = float(rate), f"ALV {rate * 100:g}%"
    for key in ("shop_money", "presentment_money"):
        vat = (paid(key) * rate / (1 + rate)).quantize(Decimal("0.01"))
        tax["price_set"][key]["amount"] = str(vat)
    tax["price"] = tax["price_set"]["shop_money"]["amount"]


def today() -> str:
    return utcnow().date().isoformat()


def rows_of(client, key, first=None, last=None) -> dict:
    query = {"from": first or today(), "to": last or today()}
    answer = client.get("/api/v1/books/rows", query_string=query, headers=auth(key))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def refunded(client, key, post_webhook, work, shopify, db, order=None) -> Refund:
    shopify.transactions = [stripe_sale()]
    assert post_webhook("orders/create", order or a_2025_finnish_order_at_14_percent(), webhook_id="o-1").status_code == 200
    work()
    received_return(client, key, {SWEATER: 1})
    work()
    refund = db.scalar(select(Refund))
    assert refund.status == "succeeded"
    return refund


def test_a_refund_of_a_2025_sale_is_booked_at_14_percent_in_finland_and_adds_up(client, shop, post_webhook, work, shopify, stripe, db):
    _, key = shop
    refund = refunded(client, key, post_webhook, work, shopify, db)
    ledger = rows_of(client, key)
    rows = ledger["rows"]
    assert {(r["country"], r["rate"], r["component"], r["source"]) for r in rows} == {("FI", "14", "goods", "palautus")}
    assert sum(r["gross"] for r in rows) == refund.amount == stripe.money_moved
    assert all(r["net"] + r["vat"] == r["gross"] for r in rows)
    assert {"0.14": sum(r["vat"] for r in rows)} == refund.vat
    assert (rows[0]["refund_ref"], rows[0]["provider_refund_id"], rows[0]["sale_date"]) == (
        refund.idempotency_key, refund.provider_refund_id, "2025-12-30")
    assert ledger["totals"]["EUR"] == {"gross": refund.amount, "net": refund.amount - refund.tax, "vat": refund.tax, "refunds": 1}
    summary = client.get("/api/v1/books/vat-summary", query_string={"from": today(), "to": today()}, headers=auth(key)).get_json()
    assert [(l["country"], l["rate"], l["gross"], l["vat"]) for l in summary["lines"]] == [("FI", "14", refund.amount, refund.tax)]
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    assert rows_of(client, key, yesterday, yesterday)["rows"] == []


def test_a_refund_made_in_the_shop_s_admin_is_in_the_ledger_as_external(client, shop, post_webhook, work, shopify, stripe, db):
    _, key = shop
    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", a_2025_finnish_order_at_14_percent(), webhook_id="o-1")
    work()
    body = admin_refund_of_one_sweater_before_any_return()
    body["created_at"] = body["processed_at"] = utcnow().isoformat()
    assert post_webhook("refunds/create", body, webhook_id="r-1").status_code == 200
    work()
    rows = rows_of(client, key)["rows"]
    assert {r["source"] for r in rows} == {"external"} and sum(r["gross"] for r in rows) == 8450
    assert {r["rate"] for r in rows} == {"14"} and all(r["net"] + r["vat"] == r["gross"] for r in rows)


def test_a_payout_reconciles_to_the_cent_and_finds_a_planted_cent_and_an_external_refund(
        client, shop, post_webhook, work, shopify, stripe, db, app):  # fmt: skip
    shop_row, key = shop
    refund = refunded(client, key, post_webhook, work, shopify, db)
    now = utcnow()
    movements = (
        SettlementMovement("txn_charge", MovementKind.CHARGE, 20000, 320, "EUR", now, payment_id=PI, provider_type="charge"),
        # The provider moved one cent more than we booked: reported, never rounded away.
        SettlementMovement("txn_ours", MovementKind.REFUND, -(refund.amount + 1), 0, "EUR", now,
                           provider_refund_id=refund.provider_refund_id, payment_id=PI, provider_type="refund"),
        # A refund made in Stripe's dashboard: no refund of ours, nothing the shop recorded.
        SettlementMovement("txn_dashboard", MovementKind.REFUND, -1000, 0, "EUR", now, provider_refund_id="re_dashboard",
                           payment_id=PI, provider_type="refund"),
        SettlementMovement("txn_fee", MovementKind.FEE, -150, 0, "EUR", now, provider_type="stripe_fee"),
    )  # fmt: skip
    net = sum(m.amount for m in movements) - sum(m.fee for m in movements)
    settlement = Settlement("stripe", "po_1", "EUR", net, "paid", now, movements)
    row = store_settlement(db, shop_row, "stripe", settlement)
    db.commit()
    report = client.get(f"/api/v1/settlements/{row.id}", headers=auth(key)).get_json()
    [matched] = report["matched"]
    assert (matched["refund_id"], matched["matched_by"], matched["difference"]) == (refund.id, "provider_refund_id", -1)
    assert [(e["movement_id"], e["recorded_in_shop"]) for e in report["external"]] == [("txn_dashboard", False)]
    assert sorted((f["movement_id"], f["fee"]) for f in report["fees"]) == [("txn_charge", 320), ("txn_fee", 150)]
    assert report["totals"]["arithmetic_difference"] == 0 and report["totals"]["difference"] == -1
    assert report["in_transit"] == []
    # The dashboard refund is in the ledger too, as external, its VAT taken at the sale's rate.
    rows = rows_of(client, key)["rows"]
    outside = [r for r in rows if r["refund_ref"] == "stripe:txn_dashboard"]
    assert sum(r["gross"] for r in outside) == 1000 and {(r["rate"], r["component"]) for r in outside} == {("14", "unallocated")}
    # Read again (the payout gained nothing), it is stored once.
    store_settlement(db, shop_row, "stripe", settlement)
    db.commit()
    assert len(db.scalars(select(SettlementRecord)).all()) == 1
    assert len(client.get(f"/api/v1/settlements/{row.id}", headers=auth(key)).get_json()["matched"]) == 1


def test_a_refund_matched_by_our_key_and_one_not_settled_yet(client, shop, post_webhook, work, shopify, stripe, db):
    shop_row, key = shop
    refund = refunded(client, key, post_webhook, work, shopify, db)
    before = refund.completed_at - timedelta(hours=1)
    by_key = SettlementMovement("txn_k", MovementKind.REFUND, -refund.amount, 0, "EUR", before,
                                reference=refund.idempotency_key)  # fmt: skip
    row = store_settlement(db, shop_row, "stripe", Settlement("stripe", "po_2", "EUR", -refund.amount, "paid", before, (by_key,)))
    db.commit()
    report = client.get(f"/api/v1/settlements/{row.id}", headers=auth(key)).get_json()
    assert [(m["matched_by"], m["difference"]) for m in report["matched"]] == [("reference", 0)]
    assert report["totals"]["difference"] == 0
    # Another payout without it: our refund is settled in po_2, so it is not in transit either.
    other = SettlementMovement("txn_c", MovementKind.CHARGE, 500, 0, "EUR", before)
    row3 = store_settlement(db, shop_row, "stripe", Settlement("stripe", "po_3", "EUR", 500, "paid", before, (other,)))
    db.commit()
    assert client.get(f"/api/v1/settlements/{row3.id}", headers=auth(key)).get_json()["in_transit"] == []
    db.delete(db.get(SettlementRecord, row.id))
    db.commit()
    in_transit = client.get(f"/api/v1/settlements/{row3.id}", headers=auth(key)).get_json()["in_transit"]
    assert [t["refund_id"] for t in in_transit] == [refund.id]


def test_bad_periods_and_other_shops_settlements_are_refused(client, shop, register, db):
    shop_row, key = shop
    for query, field in (({"from": "2026-02-01", "to": "2026-01-01"}, "to"), ({"from": "2026-01-01"}, "to"),
                         ({"from": "2024-01-01", "to": "2026-01-01"}, "to"), ({"from": "x", "to": "2026-01-01"}, "from")):  # fmt: skip
        answer = client.get("/api/v1/books/rows", query_string=query, headers=auth(key))
        assert answer.status_code == 400 and field in str(answer.get_json()), (query, answer.get_json())
    other, _ = register("other-shop.myshopify.com")
    row = store_settlement(db, other, "stripe", Settlement("stripe", "po_x", "EUR", 0, "paid", None, ()))
    db.commit()
    assert client.get(f"/api/v1/settlements/{row.id}", headers=auth(key)).status_code == 404


def test_the_rate_is_the_sale_s_whatever_day_the_refund_is(client, shop, post_webhook, work, shopify, stripe, db):
    _, key = shop
    order = a_2025_finnish_order_at_14_percent()
    order["processed_at"] = order["created_at"] = "2026-01-02T10:00:00+02:00"
    for line in order["line_items"] + order["shipping_lines"]:
        at_rate(line, Decimal("0.135"))
    refunded(client, key, post_webhook, work, shopify, db, order)
    assert {(r["rate"], r["sale_date"]) for r in rows_of(client, key)["rows"]} == {("13.5", "2026-01-02")}


def test_a_provider_s_fee_on_our_refund_is_a_row_of_its_own_booked_as_an_expense(client, shop, post_webhook, work, shopify, stripe, db):
    shop_row, key = shop
    refund = refunded(client, key, post_webhook, work, shopify, db)
    now = utcnow()
    movements = (SettlementMovement("txn_r", MovementKind.REFUND, -refund.amount, 35, "EUR", now,
                                    provider_refund_id=refund.provider_refund_id, payment_id=PI),)  # fmt: skip
    store_settlement(db, shop_row, "stripe", Settlement("stripe", "po_f", "EUR", -refund.amount - 35, "paid", now, movements))
    db.commit()
    rows = rows_of(client, key)["rows"]
    [fee] = [r for r in rows if r["component"] == "provider_fee"]
    assert (fee["refund_ref"], fee["gross"], fee["net"], fee["vat"], fee["rate"]) == (
        f"{refund.idempotency_key}:fee", 35, 35, 0, "0")
    assert sum(r["gross"] for r in rows if r["refund_ref"] == refund.idempotency_key) == refund.amount
    summary = client.get("/api/v1/books/vat-summary", query_string={"from": today(), "to": today()}, headers=auth(key)).get_json()
    assert [(l["rate"], l["gross"]) for l in summary["lines"]] == [("14", refund.amount)]  # a fee is no sale
    receipts = json.loads(client.get("/api/v1/books/export/procountor.json", query_string={"from": today(), "to": today()},
                                     headers=auth(key)).data)  # fmt: skip
    booked = [(t["account"], str(t["accountingValue"])) for r in receipts for t in r["transactions"] if "fee" in t["description"]]
    assert booked == [("8010", "0.35")]  # the Finnish chart's provider fees, against what the provider owes
