"""What a store can do meanwhile, each case found by reading the WooCommerce path as a hostile auditor would:
money refunded beside units, fees and rounding, a recording retried blind, trash and restore in any order,
a catch-up meeting an unreadable order or orders changing under it."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from adapters.platforms.woocommerce.orders import parse_order
from integration.models import Order, Refund, Shop, WebhookEvent
from integration.refunds import Fees, LineToRefund, plan_refund
from jobs.catch_up import catch_up
from tests.jobs.helpers import approve_and_receive
from tests.woocommerce.test_return_path import open_return

PAID = {"id": 7, "currency": "EUR", "status": "processing", "date_paid_gmt": "2026-01-01T00:00:00",
        "date_created_gmt": "2026-01-01T00:00:00", "date_modified_gmt": "2026-01-01T00:00:00", "shipping_lines": [],
        "tax_lines": [], "payment_method": "stripe", "transaction_id": "ch_1", "meta_data": [], "refunds": []}  # fmt: skip


def line(i: int, amount: str) -> dict:
    return {"id": i, "name": "x", "quantity": 1, "subtotal": amount, "total": amount, "total_tax": "0.00", "taxes": [],
            "product_id": 1, "variation_id": 0, "meta_data": []}  # fmt: skip


def test_money_refunded_on_a_line_without_units_beside_a_unit_row_stops_the_refund(client, hooked, store, stripe, work, db):
    """One admin refund: the socks (1 unit) and 30.00 goodwill typed on the sweater's line with no units.
    The 30.00 may have paid for the sweater, so its return is not paid blind: a person decides."""
    _, key = hooked
    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], stripe=stripe)
    work()
    sweater, socks = order["line_items"]
    with store._lock:
        answer = store._refund(order, {"amount": "49.90", "reason": "socks + goodwill", "api_refund": False, "line_items": [
            {"id": socks["id"], "quantity": 1, "refund_total": socks["total"], "refund_tax": [{"id": 1, "refund_total": socks["total_tax"]}]},
            {"id": sweater["id"], "quantity": 0, "refund_total": "23.90", "refund_tax": [{"id": 1, "refund_total": "6.10"}]}]})
    assert answer.status == 201
    work()
    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()
    refund = db.scalar(select(Refund))
    assert refund.status == "pending" and "money beyond its items" in refund.last_error and stripe.money_moved == 0


def test_a_negative_fee_lowers_what_each_line_can_pay_back():
    body = {**PAID, "total": "80.00", "line_items": [line(1, "50.00"), line(2, "50.00")],
            "fee_lines": [{"id": 9, "name": "Gift card", "total": "-20.00", "total_tax": "0.00", "taxes": []}]}
    snap = parse_order(body)
    assert [item.unit_price - item.discount_total for item in snap.lines] == [4000, 4000]


def test_lines_rounded_above_the_order_total_are_brought_down_to_it_so_a_whole_return_is_not_capped():
    body = {**PAID, "total": "10.005", "line_items": [line(1, "3.335"), line(2, "3.335"), line(3, "3.335")]}
    snap = parse_order(body)
    assert snap.total == 1001 and sum(item.unit_price - item.discount_total for item in snap.lines) == 1001
    lines = [LineToRefund(i, 1, 1, 0, item.unit_price, item.discount_total, item.tax_total, item.tax_rate, False)
             for i, item in enumerate(snap.lines)]  # fmt: skip
    assert not plan_refund(lines, "EUR", Fees(), snap.payments[0].amount).capped


def test_a_retry_that_cannot_see_the_refunds_meta_finds_it_by_the_key_in_its_reason(client, hooked, store, stripe, work, db, monkeypatch):
    """WooCommerce saves a refund's meta after the refund itself: a retry soon after a lost answer may not see it."""
    _, key = hooked
    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], stripe=stripe)
    work()
    original = store._page

    def without_meta(rows, query):
        reply = original(rows, query)
        if isinstance(reply.body, list):
            reply.body[:] = [{k: v for k, v in r.items() if k != "meta_data"} if "amount" in r else r for r in reply.body]
        return reply

    monkeypatch.setattr(store, "_page", without_meta)
    ret = open_return(client, key, order, sku="SOCKS-WOOL-3")
    store.lost_answers = ["POST refunds"]
    approve_and_receive(client, key, ret["id"])
    work()
    assert stripe.money_moved == 1990 and len(store.refunds[order["id"]]) == 1
    assert store.calls.count(("POST", f"/orders/{order['id']}/refunds")) == 1


def test_a_second_trash_in_the_same_second_is_not_taken_for_the_first(client, hooked, store, stripe, work, db):
    order = store.create_order([("MERINO-M-GREY", 1)], stripe=stripe)
    work()
    for step in (store.trash, store.restore, store.trash):
        step(order["id"])
        work()
    db.expire_all()
    assert len([e for e in db.scalars(select(WebhookEvent)) if e.topic == "order.deleted"]) == 2
    assert db.scalar(select(Order)).removed_at is not None  # in the trash, as the store has it


def test_a_trash_and_restore_delivered_late_and_out_of_order_leave_the_order_live(client, hooked, store, stripe, work, db):
    order = store.create_order([("MERINO-M-GREY", 1)], stripe=stripe)
    work()
    queued, send = [], store.deliver
    store.deliver = lambda url, body, headers: queued.append((url, body, headers)) or 200
    store.trash(order["id"])
    store.restore(order["id"])
    time.sleep(1.1)  # Action Scheduler sends them later, the restore first
    store.deliver = send
    for url, body, headers in reversed(queued):
        send(url, body, headers)
    work()
    db.expire_all()
    assert store.orders[order["id"]]["status"] == "processing" and db.scalar(select(Order)).removed_at is None


def test_an_order_the_adapter_cannot_read_is_flagged_and_the_catch_up_goes_on(app, hooked, store, stripe, db):
    store.unreachable = True
    bad = store.create_order([("BEANIE-RED", 1)], stripe=stripe)
    good = store.create_order([("SOCKS-WOOL-3", 1)], stripe=stripe)
    with store._lock:
        store.orders[bad["id"]]["line_items"][0]["taxes"][0]["id"] = 999  # a rate its tax_lines do not list
    store.unreachable = False
    with app.app_context():
        assert catch_up() == {hooked[0].id: 1}
    assert db.scalar(select(Order).where(Order.platform_order_id == str(good["id"]))) is not None
    shop = db.get(Shop, hooked[0].id)
    assert "could not be read" in shop.alerts["orders"]["message"] and shop.synced_until is not None


def test_an_order_changing_while_the_catch_up_pages_skips_no_other(app, hooked, store, stripe, db, monkeypatch):
    store.unreachable = True
    orders = [store.create_order([("SOCKS-WOOL-3", 1)], stripe=stripe) for _ in range(150)]
    store.unreachable = False
    now = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
    for i, o in enumerate(orders):  # an outage of a few hours: changes spread over it
        store.orders[o["id"]]["date_modified_gmt"] = (now - timedelta(minutes=200 - i)).isoformat()
    shop = db.get(Shop, hooked[0].id)
    shop.synced_until = (now - timedelta(minutes=300)).replace(tzinfo=timezone.utc)
    db.commit()
    original, calls = store._list_orders, []

    def listing(query):
        calls.append(query)
        if len(calls) == 2:  # the first order changes while the catch-up reads on
            store.orders[orders[0]["id"]]["date_modified_gmt"] = now.isoformat()
        return original(query)

    monkeypatch.setattr(store, "_list_orders", listing)
    with app.app_context():
        catch_up()
    known = {int(o.platform_order_id) for o in db.scalars(select(Order))}
    assert [o["id"] for o in orders if o["id"] not in known] == []
    assert all("page" not in query or query["page"] in ("1", 1) for query in calls)  # keyset, never offset
