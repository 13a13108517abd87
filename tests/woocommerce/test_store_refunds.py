"""What the store does meanwhile: a refund made in its admin counts against the order and is never paid again;
an order put in the trash takes no new return until it is restored."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Order, Refund, ShopRefund
from tests.conftest import auth
from tests.jobs.helpers import approve_and_receive
from tests.woocommerce.test_return_path import open_return, order_in_store


def test_a_refund_made_in_the_store_admin_is_recorded_from_its_order_updated(client, hooked, store, stripe, work, db):
    order = order_in_store(store, stripe)
    work()
    sweater = order["line_items"][0]
    store.admin_refund(order["id"], "89.90", {sweater["id"]: 1}, reason="Refunded by phone")
    work()
    [shop_refund] = db.scalars(select(ShopRefund)).all()
    assert (shop_refund.amount, shop_refund.note) == (8990, "Refunded by phone")


def test_a_unit_the_merchant_refunded_in_the_admin_is_never_paid_again(client, hooked, store, stripe, work, db):
    _, key = hooked
    order = order_in_store(store, stripe)
    work()
    ret = open_return(client, key, order)  # the customer asks to return the sweater
    store.admin_refund(order["id"], "89.90", {order["line_items"][0]["id"]: 1}, reason="Refunded by phone")
    approve_and_receive(client, key, ret["id"])  # ... the merchant refunded it in the admin meanwhile
    work()
    assert stripe.money_moved == 0 and stripe.posts == []
    refund = db.scalar(select(Refund))
    assert (refund.status, refund.last_error) == (
        "failed", "the shop has refunded some of these items since this refund was planned; nothing was sent")
    assert len(store.refunds[order["id"]]) == 1  # the merchant's own, nothing recorded on top


def test_a_trashed_order_takes_no_new_return_until_it_is_restored(client, hooked, store, stripe, work, db):
    _, key = hooked
    order = order_in_store(store, stripe)
    work()
    store.trash(order["id"])
    work()
    assert db.scalar(select(Order)).removed_at is not None
    line = order["line_items"][0]
    answer = client.post("/api/v1/returns", headers=auth(key), json={
        "order_id": str(order["id"]), "items": [{"line_id": str(line["id"]), "quantity": 1}]})
    assert answer.status_code == 201  # opened for the record; the policy's verdict says why it is not eligible
    assert answer.get_json()["decision"] == {"eligible": False, "reasons": ["the order was deleted in the shop"],
                                             "auto_approve": False}
    store.restore(order["id"])
    work()
    db.expire_all()
    assert db.scalar(select(Order)).removed_at is None


def test_the_order_view_shows_lines_payments_refunds_and_returns_for_customer_service(client, hooked, store, stripe, work):
    _, key = hooked
    order = order_in_store(store, stripe)
    work()
    socks = order["line_items"][1]
    store.admin_refund(order["id"], "19.90", {socks["id"]: 1}, reason="Wrong colour, refunded by phone")
    work()
    ret = open_return(client, key, order)
    view = client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).get_json()
    assert (view["name"], view["total"], view["taxes_included"], view["status"]) == (f"#{order['id']}", 11570, False, "processing")
    assert [(line["sku"], line["quantity"], line["returnable"]) for line in view["lines"]] == [
        ("MERINO-M-GREY", 1, 0), ("SOCKS-WOOL-3", 1, 0)]  # the sweater is in a return, the socks refunded
    [payment] = view["payments"]
    assert (payment["provider"], payment["gateway"], payment["route"], payment["amount"], payment["refundable"]) == (
        "stripe", "stripe", "stripe", 11570, 11570 - 1990)
    [refund] = view["refunds"]
    assert (refund["amount"], refund["by_palautus"], refund["note"]) == (1990, False, "Wrong colour, refunded by phone")
    assert [(r["id"], r["status"]) for r in view["returns"]] == [(ret["id"], "requested")]
    assert view["snapshot_changes"] >= 1 and view["updated_at"]
    assert client.get("/api/v1/orders/999999", headers=auth(key)).status_code == 404
