"""A WooCommerce order's whole return path: store webhook -> order -> return through the API -> one Stripe refund
-> one store refund recorded with api_refund false -> its order.updated echo changes nothing."""
from __future__ import annotations

from sqlalchemy import select

from adapters.platforms.woocommerce.platform import TOPICS
from integration.models import Order, Refund, ShopRefund, WebhookEvent
from tests.conftest import auth
from tests.jobs.helpers import approve_and_receive


def order_in_store(store, stripe, *items):
    return store.create_order(list(items) or [("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], stripe=stripe)


def open_return(client, key, order, sku="MERINO-M-GREY", quantity=1):
    line = next(row for row in order["line_items"] if row["sku"] == sku)
    answer = client.post("/api/v1/returns", headers=auth(key), json={
        "order_id": str(order["id"]), "items": [{"line_id": str(line["id"]), "quantity": quantity, "reason": "size_too_small"}]})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_a_return_for_a_woocommerce_order_is_refunded_once_and_recorded_in_the_store(client, hooked, store, stripe, work, db):
    _, key = hooked
    order = order_in_store(store, stripe)
    assert store.answers == [200] * (len(TOPICS) + 1)  # a ping per webhook, then order.created
    work()
    stored = db.scalar(select(Order).where(Order.platform_order_id == str(order["id"])))
    assert (stored.total, stored.taxes_included, [p.payment_id for p in stored.payments]) == (
        11570, False, [order["meta_data"][0]["value"]])

    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()

    refund = db.scalar(select(Refund))
    assert (refund.status, refund.amount, refund.tax) == ("succeeded", 8990, 1827)
    assert stripe.money_moved == 8990 and len(stripe.refunds) == 1
    [recorded] = store.refunds[order["id"]]
    assert (recorded["amount"], recorded["refunded_payment"]) == ("89.90", False)
    assert [(row["quantity"], row["total"], row["total_tax"]) for row in recorded["line_items"]] == [(-1, "-71.63", "-18.27")]
    assert {m["key"]: m["value"] for m in recorded["meta_data"]} == {"palautus_refund_key": refund.idempotency_key}
    assert refund.shop_refund_gid == str(recorded["id"]) and refund.shop_synced_at is not None
    assert [n["note"] for n in store.notes[order["id"]]][-1].startswith(f"Palautus return {ret['code']}")
    # The store announced the refund and the status meta as order.updated: applied, and nothing paid again.
    work()
    topics = [e.topic for e in db.scalars(select(WebhookEvent).order_by(WebhookEvent.id))]
    assert topics.count("order.updated") >= 1
    assert {e.status for e in db.scalars(select(WebhookEvent))} == {"processed"}
    assert stripe.money_moved == 8990 and len(store.refunds[order["id"]]) == 1
    [echo] = db.scalars(select(ShopRefund)).all()  # our own refund, read back from the store: known as ours
    assert (echo.platform_refund_id, echo.refund_id) == (str(recorded["id"]), refund.id)


def test_a_store_refund_whose_answer_was_lost_is_found_by_its_key_not_recorded_again(client, hooked, store, stripe, work, db):
    _, key = hooked
    order = order_in_store(store, stripe)
    work()
    ret = open_return(client, key, order)
    store.lost_answers = ["POST refunds"]  # the store records the refund; its answer never arrives
    approve_and_receive(client, key, ret["id"])
    work()  # the sync looks for it by its key before giving up on the answer
    refund = db.scalar(select(Refund))
    [recorded] = store.refunds[order["id"]]
    assert (refund.status, refund.shop_refund_gid, refund.sync_claimed_until) == ("succeeded", str(recorded["id"]), None)
    assert stripe.money_moved == 8990 and store.calls.count(("POST", f"/orders/{order['id']}/refunds")) == 1
    assert len([n for n in store.notes[order["id"]] if n["note"].startswith("Palautus return")]) == 1


def test_a_refund_the_store_saves_only_after_the_retry_looked_is_still_recorded_once(client, hooked, store, stripe, work, db, monkeypatch):
    """PHP runs on after our timeout: the refund shows in the store a while later, not at the first look."""
    _, key = hooked
    order = order_in_store(store, stripe)
    work()
    ret = open_return(client, key, order)
    original, looks = store._page, []

    def late(rows, query):  # the first look after the lost answer does not see it yet
        looks.append(1)
        reply = original(rows, query)
        if len(looks) == 3 and isinstance(reply.body, list):
            reply.body[:] = []
        return reply

    monkeypatch.setattr(store, "_page", late)
    store.lost_answers = ["POST refunds"]
    approve_and_receive(client, key, ret["id"])
    work()
    refund = db.scalar(select(Refund))
    assert len(store.refunds[order["id"]]) == 1 and refund.shop_refund_gid == str(store.refunds[order["id"]][0]["id"])


def test_an_older_order_updated_never_overwrites_a_newer_snapshot(client, hooked, store, stripe, work, db):
    order = order_in_store(store, stripe)
    work()
    old_body = dict(order)
    store.admin_refund(order["id"], "19.90", {order["line_items"][1]["id"]: 1})  # newer: order.updated sent and applied
    work()
    newer = db.scalar(select(Order)).platform_updated_at
    from tests.woocommerce.test_receiver import headers
    from sandbox.woocommerce import php_json

    body = php_json({**old_body, "status": "cancelled"})  # a late, older delivery
    shop = hooked[0]
    assert client.post(f"/webhooks/woocommerce/{shop.webhook_key}", data=body, headers=headers(body)).status_code == 200
    work()
    db.expire_all()
    stored = db.scalar(select(Order))
    assert stored.platform_updated_at == newer and stored.cancelled_at is None
