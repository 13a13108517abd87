"""What a store can do meanwhile, each case found by reading the WooCommerce path as a hostile auditor would:
money refunded beside units, fees and rounding, a recording retried blind, trash and restore in any order,
a catch-up meeting an unreadable order or orders changing under it."""
from __future__ import annotations

import time
from decimal import Decimal
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
    assert "could not be read" in shop.alerts[f"order {bad['id']}"]["message"]
    # The mark stays before the unreadable order, so it is read again next time (and the good one is not applied twice).
    assert shop.synced_until is not None and shop.synced_until.strftime("%Y-%m-%dT%H:%M:%S") < store.orders[bad["id"]]["date_modified_gmt"]
    with app.app_context():
        assert catch_up() == {hooked[0].id: 0}
    with store._lock:
        store.orders[bad["id"]]["line_items"][0]["taxes"][0]["id"] = 1  # mended in the store
    with app.app_context():
        assert catch_up() == {hooked[0].id: 1}
    db.expire_all()
    assert f"order {bad['id']}" not in db.get(Shop, hooked[0].id).alerts


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


# --- found by the second reading ----------------------------------------------------------------------------

ORDER_ROWS = {"id": 7, "currency": "EUR", "fee_lines": [],
              "line_items": [{"id": 11, "quantity": 1, "total": "71.63", "total_tax": "18.27"},
                             {"id": 12, "quantity": 4, "total": "92.43", "total_tax": "23.57"}],
              "shipping_lines": [{"id": 13, "total": "4.70", "total_tax": "1.20"}]}  # fmt: skip


def refund_body(amount: str, rows: list, ships=()) -> dict:
    return {"id": 90, "date_created_gmt": "2026-03-05T08:00:00", "amount": amount, "reason": "", "meta_data": [],
            "line_items": [{"id": 100 + i, "quantity": -units, "total": f"-{total}", "total_tax": f"-{tax}",
                            "meta_data": [{"key": "_refunded_item_id", "value": str(line)}]}
                           for i, (line, units, total, tax) in enumerate(rows)],
            "shipping_lines": [{"id": 200, "total": f"-{total}", "total_tax": f"-{tax}",
                                "meta_data": [{"key": "_refunded_item_id", "value": "13"}]} for total, tax in ships]}  # fmt: skip


def test_more_money_typed_on_a_row_than_its_units_are_worth_is_not_explained():
    from adapters.platforms.woocommerce.orders import parse_refund

    fair = parse_refund(refund_body("29.00", [(12, 1, "23.11", "5.89")]), "7", "EUR", ORDER_ROWS)
    assert fair.complete
    typed = parse_refund(refund_body("109.80", [(12, 1, "87.49", "22.31")]), "7", "EUR", ORDER_ROWS)  # 1 beanie, 109.80
    assert not typed.complete
    shipping = parse_refund(refund_body("89.90", [], ships=[("71.63", "18.27")]), "7", "EUR", ORDER_ROWS)
    assert not shipping.complete  # the shipping line cost 5.90


def test_a_store_showing_whole_euros_rounds_its_rows_and_is_still_explained():
    from adapters.platforms.woocommerce.orders import parse_refund

    shown = refund_body("99", [(11, 1, "79", "19")])  # stored 79.4 + 19.4, shown with 0 decimals
    assert parse_refund(shown, "7", "EUR", {**ORDER_ROWS, "line_items": [
        {"id": 11, "quantity": 1, "total": "79", "total_tax": "20"}]}).complete


def test_a_negative_fee_lowers_each_lines_vat_at_its_own_rate():
    taxed = {**line(1, "100.00"), "total_tax": "24.00", "taxes": [{"id": 1, "total": "24.00"}]}
    untaxed = line(2, "100.00")
    body = {**PAID, "total": "201.60", "line_items": [taxed, untaxed],
            "tax_lines": [{"id": 5, "rate_id": 1, "rate_percent": 24}, {"id": 6, "rate_id": 2, "rate_percent": 0}],
            "fee_lines": [{"id": 9, "name": "Store credit", "total": "-20.00", "total_tax": "-2.40", "taxes": []}]}
    first, second = parse_order(body).lines
    paid = lambda item: item.unit_price - item.discount_total + item.tax_total  # noqa: E731
    assert paid(first) + paid(second) == 20160
    assert abs(Decimal(first.tax_total) / (paid(first) - first.tax_total) - Decimal("0.24")) < Decimal("0.001")
    assert second.tax_total == 0


def test_an_order_in_a_plugins_own_status_is_caught_up(app, hooked, store, stripe, db):
    store.unreachable = True
    order = store.create_order([("SOCKS-WOOL-3", 1)], stripe=stripe, status="processing")
    store.orders[order["id"]]["status"] = "shipped"  # a status an order-status plugin registered
    store.unreachable = False
    with app.app_context():
        assert catch_up() == {hooked[0].id: 1}


def test_more_than_a_page_of_orders_changed_in_one_second_are_all_caught_up(app, hooked, store, stripe, db):
    store.unreachable = True
    orders = [store.create_order([("SOCKS-WOOL-3", 1)], stripe=stripe) for _ in range(150)]
    store.unreachable = False
    second = store.orders[orders[0]["id"]]["date_modified_gmt"]
    for o in orders:
        store.orders[o["id"]]["date_modified_gmt"] = second
    with app.app_context():
        assert catch_up() == {hooked[0].id: 150}
        assert catch_up() == {hooked[0].id: 0}


def test_a_merchants_refund_quoting_our_key_is_never_taken_for_ours(client, hooked, store, stripe, work, db):
    """The key in a reason identifies our refund only if it moved no money and is of our amount."""
    from adapters.platforms.woocommerce.platform import _with_key
    from integration.money import Money
    from integration.records import RefundToRecord

    ours = RefundToRecord(platform_order_id="7", idempotency_key="k-1", amount=Money(8990, "EUR"), note="")
    quoted = {"id": 5, "amount": "89.90", "reason": "see [palautus:k-1]", "refunded_payment": True, "meta_data": []}
    assert _with_key([quoted], ours) is None
    assert _with_key([{**quoted, "refunded_payment": False, "amount": "10.00"}], ours) is None
    assert _with_key([{**quoted, "refunded_payment": False}], ours) == "5"


def test_units_the_merchant_refunded_by_hand_after_our_refund_are_recorded_by_amount_only(client, hooked, store, stripe, work, db):
    _, key = hooked
    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1), ("BEANIE-RED", 1)], stripe=stripe)
    work()
    ret = open_return(client, key, order)
    store.faults = []
    from unittest import mock

    with mock.patch("jobs.sync.sync_refund"):  # the sync waits (an outage) ...
        approve_and_receive(client, key, ret["id"])
        work()
    store.admin_refund(order["id"], "0.00", {order["line_items"][0]["id"]: 1}, reason="restocked by hand")  # ... meanwhile
    refund = db.scalar(select(Refund))
    from jobs.sync import sync_refund

    with client.application.app_context():
        sync_refund(refund.id)
    db.expire_all()
    mine = next(r for r in store.refunds[order["id"]] if r["amount"] == "89.90")
    assert mine["line_items"] == [] and "by amount only" in mine["reason"] and db.get(Refund, refund.id).shop_synced_at


def test_a_store_with_less_left_than_our_refund_moved_is_a_conflict_for_a_person(client, hooked, store, stripe, work, db):
    _, key = hooked
    order = store.create_order([("MERINO-M-GREY", 1)], stripe=stripe)
    work()
    ret = open_return(client, key, order)
    from unittest import mock

    with mock.patch("jobs.sync.sync_refund"):
        approve_and_receive(client, key, ret["id"])
        work()
    store.admin_refund(order["id"], "89.90", {order["line_items"][0]["id"]: 1}, reason="refunded by hand as well")
    refund = db.scalar(select(Refund))
    from jobs.sync import sync_refund

    with client.application.app_context():
        sync_refund(refund.id)
    db.expire_all()
    assert "may have been refunded in the store as well" in db.get(Refund, refund.id).sync_error
    assert len(store.refunds[order["id"]]) == 1


def test_our_refund_recorded_twice_in_the_store_is_ours_both_times_and_flagged(client, hooked, store, stripe, work, db):
    from integration.models import ShopRefund

    _, key = hooked
    order = store.create_order([("MERINO-M-GREY", 2)], stripe=stripe)  # enough left for a second 89.90
    work()
    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()
    refund = db.scalar(select(Refund))
    with store._lock:  # a second record of ours (a retry that could not see the first), made outside Palautus's checks
        store._refund(store.orders[order["id"]], {"amount": "89.90", "reason": "again", "api_refund": False, "line_items": [],
                                                  "meta_data": [{"key": "palautus_refund_key", "value": refund.idempotency_key}]})
    work()
    rows = db.scalars(select(ShopRefund)).all()
    assert len(rows) == 2 and {row.refund_id for row in rows} == {refund.id}  # neither counts as the merchant's money
    alerts = db.get(Shop, hooked[0].id).alerts
    assert any("recorded twice" in alert["message"] for alert in alerts.values())


def test_a_trash_in_the_same_second_as_the_last_change_still_removes_the_order(client, hooked, store, stripe, work, db):
    order = store.create_order([("MERINO-M-GREY", 1)], stripe=stripe)
    work()
    with store._lock:
        store.orders[order["id"]]["status"] = "trash"  # trashed within the second of its last change
        store._announce("order.deleted", {"id": order["id"]})
    work()
    db.expire_all()
    assert db.scalar(select(Order)).removed_at is not None


def test_an_order_deleted_for_good_is_not_brought_back_by_an_older_update(client, hooked, store, stripe, work, db):
    from tests.woocommerce.test_receiver import headers
    from sandbox.woocommerce import php_json

    order = store.create_order([("MERINO-M-GREY", 1)], stripe=stripe)
    work()
    stale = php_json({**store.orders[order["id"]], "date_modified_gmt": "2026-01-01T00:00:00"})
    with store._lock:
        del store.orders[order["id"]]  # deleted permanently: the store answers 404 for it now
        store._announce("order.deleted", {"id": order["id"]})
    work()
    client.post(f"/webhooks/woocommerce/{hooked[0].webhook_key}", data=stale, headers=headers(stale))
    work()
    db.expire_all()
    assert db.scalar(select(Order)).removed_at is not None


def test_a_store_refund_the_adapter_cannot_read_holds_the_refund_and_then_fails_it(client, hooked, store, stripe, work, db):
    """An answer that will not mend by itself is not retried for ever: the refund waits, as for any refund it
    cannot read, and after the waiting limit fails with nothing sent."""
    from datetime import timedelta

    _, key = hooked
    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], stripe=stripe)
    work()
    made = store.admin_refund(order["id"], "19.90", {order["line_items"][1]["id"]: 1})
    made["line_items"][0]["quantity"] = "minus one"  # a plugin wrote something the adapter cannot read
    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()
    refund = db.scalar(select(Refund))
    assert refund.status == "pending" and "not in the documented shape" in refund.last_error and refund.waiting_since
    refund.waiting_since -= timedelta(hours=13)
    db.commit()
    from jobs.refunds import push_refund

    with client.application.app_context():
        push_refund(refund.id)
    db.expire_all()
    refund = db.get(Refund, refund.id)
    assert refund.status == "failed" and "Nothing was sent" in refund.last_error and stripe.money_moved == 0
