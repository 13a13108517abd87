"""Shopify's mandatory compliance webhooks, acted on: through the real receiver, the inbox and an rq worker.

After an erasure the database itself is searched, every text, JSON and binary
column of every table, for the customer's e-mail and the notes they (and the
merchant about them) wrote; the refunds' amounts and VAT must still be there.
"""
from __future__ import annotations

import importlib
import json
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from integration.config import load_config
from integration.models import (
    Base, Order, PrivacyRequest, PrivacyTombstone, Refund, Return, ReturnEvent, Shop, WebhookEvent, utcnow,
)  # fmt: skip
from integration.secrets import hash_api_key
from integration.services.privacy import REDACTED_BODY, RETENTION_BODY
from integration.services.shops import uninstall_shop
from jobs.privacy import purge_inbox
from tests.conftest import SHOP_DOMAIN, STRIPE_KEY, auth, payload
from tests.jobs.helpers import ORDER, RETURN_REQUEST, shopify_return

EMAIL = "aino.virtanen@example.com"  # orders__create.eur_presentment.json
ORDER_ID = "5196695273621"
CUSTOMER_NOTE = "The sleeves are too short for me."  # returns__request.two_items.json
REASON_NOTE = "Ordered a second pack by mistake"
MERCHANT_NOTE = "Phoned Aino: keeps the socks' tag, fine"
TOTAL, PAID = 19560, 18970  # the order's total; the Stripe sale the fake lists for it (stripe_sale)
AMOUNT, VAT = 8490 + 1990, {"0.24": 1643 + 385}  # see test_return_to_refund.py

OTHER_EMAIL = "other.customer@example.com"
OTHER_ORDER_ID = "5196695279999"
PERSONAL = (EMAIL, CUSTOMER_NOTE, REASON_NOTE, MERCHANT_NOTE, "Aino")


def sample(topic: str, **changes) -> dict:
    """Shopify's documented sample for a compliance topic, sent for our shop, with `changes` on top."""
    body = payload(f"{topic.replace('/', '__')}.sample.json")
    body["shop_domain"] = SHOP_DOMAIN
    body.update(changes)
    return body


def about_aino(topic: str, **changes) -> dict:
    key = "orders_requested" if topic == "customers/data_request" else "orders_to_redact"
    return sample(topic, customer={"id": 207119551, "email": EMAIL, "phone": "+358401234567"},
                  **{key: [int(ORDER_ID)]}, **changes)  # fmt: skip


def other_customers_order() -> dict:
    body = payload(ORDER)
    body["id"], body["admin_graphql_api_id"] = int(OTHER_ORDER_ID), f"gid://shopify/Order/{OTHER_ORDER_ID}"
    body["name"], body["order_number"] = "#1107", 1107
    body["email"] = body["contact_email"] = OTHER_EMAIL
    body["customer"] = {**(body.get("customer") or {}), "id": 115310627314723954, "email": OTHER_EMAIL,
                        "first_name": "Other", "last_name": "Customer"}  # fmt: skip
    text = json.dumps(body).replace("Aino", "Otto").replace("Virtanen", "Muu")
    return json.loads(text)


@pytest.fixture
def refunded(client, shop, post_webhook, work, shopify, stripe, db):
    """Aino's order, her return (her notes), the merchant's note, the goods received and Stripe's refund paid;
    and another customer's order in the same shop."""
    _, key = shop
    ret = shopify_return(post_webhook, work, shopify, db)
    for action, body in (("approve", {"note": MERCHANT_NOTE}), ("receive", {})):
        answer = client.post(f"/api/v1/returns/{ret.id}/{action}", json=body, headers=auth(key))
        assert answer.status_code == 200, answer.get_json()
    work()
    assert post_webhook("orders/create", other_customers_order(), webhook_id="order-2").status_code == 200
    work()
    db.expire_all()
    refund = db.scalar(select(Refund))
    assert (refund.status, refund.amount, refund.vat) == ("succeeded", AMOUNT, VAT)
    return ret


def every_value(db):
    """(table, column, text) for every text, JSON and binary value in the database."""
    db.expire_all()
    for table in Base.metadata.sorted_tables:
        for row in db.execute(table.select()).mappings():
            for column, value in row.items():
                if isinstance(value, bytes):
                    yield table.name, column, value.decode("utf-8", "replace")
                elif isinstance(value, (dict, list)):
                    yield table.name, column, json.dumps(value, ensure_ascii=False)
                elif isinstance(value, str):
                    yield table.name, column, value


# Sealed columns (Fernet tokens: random base64) hold no personal data, and a short name such as "Aino" turns up in
# one by chance about once in five thousand tokens, case-insensitively: they are not searched.
SEALED = {("shops", "credentials")}


def found(db, *texts) -> list[tuple[str, str, str]]:
    """Where in the database any of `texts` appears (case-insensitive), but the sealed columns."""
    wanted = [t.lower() for t in texts]
    return [(table, column, text) for table, column, text in every_value(db) for t in wanted
            if t in text.lower() and (table, column) not in SEALED]  # fmt: skip


def event(db, topic: str) -> WebhookEvent:
    db.expire_all()
    return db.scalars(select(WebhookEvent).where(WebhookEvent.topic == topic).order_by(WebhookEvent.id.desc())).first()


def requests_(db) -> list[PrivacyRequest]:
    db.expire_all()
    return list(db.scalars(select(PrivacyRequest).order_by(PrivacyRequest.id)))


def uninstall(app, db) -> None:
    """The merchant removed the app (as the app/uninstalled job records it)."""
    uninstall_shop(db, app.extensions["vault"], db.scalar(select(Shop)))


# --- customers/redact ------------------------------------------------------------------------------------------------


def test_customers_redact_erases_the_customers_personal_data_and_keeps_the_books(refunded, post_webhook, work, db):
    assert found(db, *PERSONAL)  # before: in the order, the return, its timeline, the inbox
    reasons = [i.reason for i in refunded.items]
    answer = post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    assert answer.status_code == 200
    work()

    assert event(db, "customers/redact").status == "processed"
    assert found(db, *PERSONAL) == []
    refund = db.scalar(select(Refund))
    assert (refund.status, refund.amount, refund.tax, refund.vat) == ("succeeded", AMOUNT, 2028, VAT)
    assert refund.provider_refund_id and refund.provider == "stripe"
    ret = db.get(Return, refunded.id)
    assert (ret.status, ret.customer_note, [i.reason_note for i in ret.items]) == ("closed", None, [None, None])
    assert [i.reason for i in ret.items] == reasons and reasons[0] == "size_too_small"
    order = db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID))
    assert (order.email, order.total, order.name) == (None, TOTAL, "#1106")
    approved = next(e for e in ret.events if e.kind == "approved")
    assert approved.data == {"redacted": True}
    # Every delivery about her is a stub now, rows and statuses kept; the other customer's order is untouched.
    for topic in ("orders/create", "returns/request", "customers/redact"):
        rows = [e for e in db.scalars(select(WebhookEvent).where(WebhookEvent.topic == topic))
                if e.delivery_id != "order-2"]  # fmt: skip
        assert rows and all(e.body == REDACTED_BODY and e.status == "processed" for e in rows), topic
    other = db.scalar(select(WebhookEvent).where(WebhookEvent.delivery_id == "order-2"))
    assert OTHER_EMAIL in other.body.decode()
    assert db.scalar(select(Order.email).where(Order.platform_order_id == OTHER_ORDER_ID)) == OTHER_EMAIL
    [request] = requests_(db)
    assert (request.kind, request.source, request.status) == ("customer_redact", "shopify", "done")
    assert (request.customer_email, request.platform_customer_id, request.orders) == (None, "207119551", [ORDER_ID])
    assert request.export["erased"]["orders"] == 1 and request.export["erased"]["inbox_bodies"] >= 2


def test_a_second_customers_redact_changes_nothing_more(refunded, post_webhook, work, db):
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    before = sorted(every_value(db))
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-2")
    work()
    assert event(db, "customers/redact").status == "processed"
    second = requests_(db)[-1]
    assert second.status == "done"
    assert {k: v for k, v in second.export["erased"].items() if v} == {"inbox_bodies": 1}  # its own body, no more
    changed = set(every_value(db)) - set(before)
    assert {table for table, _, _ in changed} <= {"privacy_requests", "webhook_events", "shops"}


def test_a_customer_named_only_by_order_ids_is_found_by_them(refunded, post_webhook, work, db):
    body = sample("customers/redact", customer={"id": 207119551, "email": None, "phone": None},
                  orders_to_redact=[int(ORDER_ID)])  # fmt: skip
    post_webhook("customers/redact", body, webhook_id="redact-ids")
    work()
    assert event(db, "customers/redact").status == "processed"
    assert found(db, *PERSONAL) == []
    assert db.scalar(select(Refund)).amount == AMOUNT


def test_a_delivery_still_waiting_keeps_its_body_until_it_is_applied(refunded, post_webhook, work, db):
    waiting = db.scalar(select(WebhookEvent).where(WebhookEvent.topic == "orders/create", WebhookEvent.delivery_id == "order-1"))
    waiting.status = "retrying"
    db.commit()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    db.expire_all()
    assert db.get(WebhookEvent, waiting.id).body != REDACTED_BODY
    assert requests_(db)[-1].export["erased"]["inbox_events_waiting"] == 1


# --- customers/data_request ------------------------------------------------------------------------------------------


def test_customers_data_request_keeps_an_export_of_everything_held_on_the_customer_and_nothing_on_others(
    refunded, post_webhook, work, db, client, shop
):
    _, key = shop
    answer = post_webhook("customers/data_request", about_aino("customers/data_request"), webhook_id="data-1")
    assert answer.status_code == 200
    work()
    assert event(db, "customers/data_request").status == "processed"
    [request] = requests_(db)
    assert (request.kind, request.source, request.status) == ("customer_data_request", "shopify", "done")
    assert (request.platform_request_id, request.customer_email, request.orders) == ("9999", EMAIL, [ORDER_ID])
    export = request.export
    assert json.loads(json.dumps(export)) == export  # JSON as it is
    assert export["generated_at"] and export["request"] == {"email": EMAIL, "customer_id": "207119551",
                                                            "order_ids": [ORDER_ID]}  # fmt: skip
    [order] = export["orders"]
    assert (order["order_id"], order["email"], order["total"]) == (ORDER_ID, EMAIL, TOTAL)
    assert {line["line_id"] for line in order["lines"]} >= {"12695210000533", "12695210033301"}
    assert [(p["provider"], p["amount"]) for p in order["payments"]] == [("stripe", PAID)]
    [ret] = export["returns"]
    assert ret["customer_note"] == CUSTOMER_NOTE
    assert REASON_NOTE in [item["reason_note"] for item in ret["items"]]
    assert any(entry["data"].get("note") == MERCHANT_NOTE for entry in ret["timeline"])
    [refund] = ret["refunds"]
    assert (refund["amount"], refund["tax"], refund["vat"], refund["status"]) == (AMOUNT, 2028, VAT, "succeeded")
    assert refund["provider_refund_id"]
    topics = [e["topic"] for e in export["inbox_events"]]
    assert "orders/create" in topics and "returns/request" in topics
    assert all(isinstance(e["body"], dict) for e in export["inbox_events"])
    text = json.dumps(export)
    assert OTHER_EMAIL not in text and OTHER_ORDER_ID not in text and "Otto" not in text
    assert "sk_test" not in text and "shpat_" not in text  # no secret of the shop
    # The merchant is told where the export is, and fetching it clears the alert.
    alerts = db.get(Shop, request.shop_id).alerts
    assert f"privacy request {request.id}" in alerts and EMAIL not in json.dumps(alerts)
    fetched = client.get(f"/api/v1/privacy/requests/{request.id}", headers=auth(key))
    assert fetched.status_code == 200 and fetched.get_json()["export"]["orders"][0]["order_id"] == ORDER_ID
    db.expire_all()
    assert f"privacy request {request.id}" not in db.get(Shop, request.shop_id).alerts


def test_the_same_data_request_delivered_twice_is_answered_once(refunded, post_webhook, work, db):
    post_webhook("customers/data_request", about_aino("customers/data_request"), webhook_id="data-1")
    post_webhook("customers/data_request", about_aino("customers/data_request"), webhook_id="data-1-again")
    work()
    assert [r.platform_request_id for r in requests_(db)] == ["9999"]


def test_a_redact_after_a_data_request_erases_the_export_too(refunded, post_webhook, work, db):
    post_webhook("customers/data_request", about_aino("customers/data_request"), webhook_id="data-1")
    work()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    data_request, redaction = requests_(db)
    assert (data_request.status, data_request.export, data_request.customer_email) == ("done", None, None)
    assert redaction.status == "done"
    assert found(db, *PERSONAL) == []


# --- the receiver and the shop check ---------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["customers/data_request", "customers/redact", "shop/redact"])
def test_a_compliance_webhook_with_a_bad_signature_is_401_and_not_stored(shop, post_webhook, db, topic):
    answer = post_webhook(topic, sample(topic), webhook_id="forged", secret="not-the-app-secret")
    assert answer.status_code == 401
    assert db.scalar(select(WebhookEvent)) is None


@pytest.mark.parametrize("topic", ["customers/data_request", "customers/redact", "shop/redact"])
def test_a_body_naming_another_shop_changes_nothing_and_its_event_fails_saying_why(refunded, post_webhook, work, db, app,
                                                                                  topic):
    if topic == "shop/redact":
        uninstall(app, db)
    before = sorted(every_value(db))
    body = about_aino(topic) if topic != "shop/redact" else sample(topic)
    body["shop_domain"] = "someone-else.myshopify.com"
    assert post_webhook(topic, body, webhook_id="replayed").status_code == 200
    work()
    failed = event(db, topic)
    assert failed.status == "failed"
    assert "someone-else.myshopify.com" in failed.error and SHOP_DOMAIN in failed.error
    assert requests_(db) == []
    changed = {(t, c) for t, c, _ in set(every_value(db)) - set(before)}
    assert changed <= {("webhook_events", "body"), ("webhook_events", "topic"), ("webhook_events", "delivery_id"),
                       ("webhook_events", "status"), ("webhook_events", "error"), ("webhook_events", "platform"),
                       ("webhook_events", "event_id"), ("webhook_events", "api_version"),
                       ("webhook_events", "correlation_id")}  # only the new event
    assert found(db, EMAIL)


def test_a_body_in_the_wrong_shape_fails_its_event_naming_the_path(shop, post_webhook, work, db):
    body = sample("customers/redact", customer="john@example.com")
    post_webhook("customers/redact", body, webhook_id="bad-shape")
    work()
    failed = event(db, "customers/redact")
    assert failed.status == "failed" and "customer: expected an object" in failed.error
    assert "john@example.com" not in failed.error


# --- shop/redact -----------------------------------------------------------------------------------------------------


def test_shop_redact_for_a_shop_still_installed_is_refused(refunded, post_webhook, work, db, client, shop):
    _, key = shop
    post_webhook("shop/redact", sample("shop/redact"), webhook_id="shop-redact")
    work()
    refused = event(db, "shop/redact")
    assert refused.status == "failed" and "still installed" in refused.error
    [request] = requests_(db)
    assert (request.kind, request.status) == ("shop_redact", "failed") and "still installed" in request.error
    assert found(db, EMAIL, CUSTOMER_NOTE)
    assert client.get("/api/v1/shop", headers=auth(key)).status_code == 200


def test_shop_redact_after_uninstall_erases_everything_but_the_books(refunded, post_webhook, work, db, app, shop):
    shop_row, key = shop
    uninstall(app, db)
    post_webhook("shop/redact", sample("shop/redact"), webhook_id="shop-redact")
    work()

    assert event(db, "shop/redact").status == "processed"
    assert found(db, *PERSONAL, OTHER_EMAIL, "Otto") == []
    assert all(e.body == REDACTED_BODY for e in db.scalars(select(WebhookEvent)))
    refund = db.scalar(select(Refund))
    assert (refund.status, refund.amount, refund.tax, refund.vat) == ("succeeded", AMOUNT, 2028, VAT)
    assert refund.provider_refund_id and refund.idempotency_key
    # The refunded return and its order stay (amounts, lines, the payment the refund came from); the other
    # customer's order, with no return, is gone.
    [order] = db.scalars(select(Order)).all()
    assert (order.platform_order_id, order.email, order.total, len(order.lines)) == (ORDER_ID, None, TOTAL, 2)
    assert refund.payment is not None and refund.payment.amount == PAID
    assert db.get(Return, refunded.id) is not None
    shop_now = db.get(Shop, shop_row.id)
    assert app.extensions["vault"].open(shop_now.credentials) == {}
    assert shop_now.api_key_hash != hash_api_key(key)
    # Its old delivery address stops working; a reinstall gets a working one (never a URL ending in /None).
    assert shop_now.webhook_key not in (None, shop_row.webhook_key)
    assert (shop_now.domain, shop_now.uninstalled_at is not None) == (SHOP_DOMAIN, True)
    [request] = requests_(db)
    assert (request.kind, request.status) == ("shop_redact", "done")
    assert request.export["erased"]["orders_deleted"] == 1

    # Idempotent: the same request again erases nothing more.
    before = {(t, c, v) for t, c, v in every_value(db) if t not in ("shops", "webhook_events", "privacy_requests")}
    post_webhook("shop/redact", sample("shop/redact"), webhook_id="shop-redact-again")
    work()
    assert event(db, "shop/redact").status == "processed"
    after = {(t, c, v) for t, c, v in every_value(db) if t not in ("shops", "webhook_events", "privacy_requests")}
    assert after == before
    assert requests_(db)[-1].export["erased"]["orders_deleted"] == 0


def test_shop_redact_fails_the_deliveries_not_yet_applied(refunded, post_webhook, work, db, app):
    uninstall(app, db)
    waiting = event(db, "returns/request")
    waiting.status, waiting.next_attempt_at = "retrying", utcnow() + timedelta(hours=1)
    db.commit()
    post_webhook("shop/redact", sample("shop/redact"), webhook_id="shop-redact")
    work()
    db.expire_all()
    row = db.get(WebhookEvent, waiting.id)
    assert (row.status, row.body) == ("failed", REDACTED_BODY) and "shop redact" in row.error


# --- inbox retention -------------------------------------------------------------------------------------------------


def _inbox(db, shop_id: int, delivery: str, status: str, age: timedelta) -> int:
    row = WebhookEvent(shop_id=shop_id, platform="shopify", topic="orders/updated", delivery_id=delivery,
                       body=json.dumps({"email": EMAIL}).encode(), status=status, received_at=utcnow() - age)  # fmt: skip
    db.add(row)
    db.commit()
    return row.id


@pytest.mark.parametrize(("status", "age", "purged"), [
    ("processed", timedelta(days=31), True), ("ignored", timedelta(days=31), True), ("failed", timedelta(days=40), True),
    ("processed", timedelta(days=29), False), ("retrying", timedelta(days=60), False), ("received", timedelta(days=60), False),
])  # fmt: skip
def test_the_retention_purge_stubs_done_bodies_older_than_the_setting_and_keeps_the_rows(app, shop, db, status, age, purged):
    event_id = _inbox(db, shop[0].id, "delivery-1", status, age)
    assert purge_inbox() == (1 if purged else 0)
    db.expire_all()
    row = db.get(WebhookEvent, event_id)
    assert (row.body == RETENTION_BODY) == purged
    assert (row.status, row.delivery_id, row.topic) == (status, "delivery-1", "orders/updated")
    assert purge_inbox() == 0  # a stub is not purged again


def test_the_retention_is_the_inbox_retention_days_setting(app, shop, db):
    young = _inbox(db, shop[0].id, "young", "processed", timedelta(days=3))
    old = _inbox(db, shop[0].id, "old", "processed", timedelta(days=8))
    app.config["INBOX_RETENTION_DAYS"] = 7
    assert purge_inbox() == 1
    db.expire_all()
    assert db.get(WebhookEvent, old).body == RETENTION_BODY and db.get(WebhookEvent, young).body != RETENTION_BODY


def test_the_retention_setting_defaults_to_30_days_and_is_read_as_a_number():
    assert load_config(environ={})["INBOX_RETENTION_DAYS"] == 30
    assert load_config(environ={"INBOX_RETENTION_DAYS": "7"})["INBOX_RETENTION_DAYS"] == 7


def test_the_clock_runs_the_purge_every_hour(monkeypatch):
    registered = []
    monkeypatch.setattr("rq.cron.register", lambda func, **kwargs: registered.append((func, kwargs)))
    monkeypatch.delitem(sys.modules, "jobs.cron", raising=False)
    importlib.import_module("jobs.cron")
    monkeypatch.delitem(sys.modules, "jobs.cron")
    [(_, kwargs)] = [(f, k) for f, k in registered if f is purge_inbox]
    assert kwargs["interval"] == 3600


def test_the_timeline_keeps_its_kinds_and_statuses_after_an_erasure(refunded, post_webhook, work, db):
    kinds = [(e.kind, e.from_status, e.to_status) for e in db.scalars(select(ReturnEvent).order_by(ReturnEvent.id))]
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    db.expire_all()
    assert [(e.kind, e.from_status, e.to_status) for e in db.scalars(select(ReturnEvent).order_by(ReturnEvent.id))] == kinds


def test_shop_redact_keeps_only_the_providers_keys_while_a_refund_is_still_on_its_way(refunded, post_webhook, work, db, app):
    address = db.scalar(select(Shop)).webhook_key  # where the provider reports the refund's outcome
    refund = db.scalar(select(Refund))
    refund.status = "submitted"  # Stripe has not said yet
    db.commit()
    uninstall(app, db)
    post_webhook("shop/redact", sample("shop/redact"), webhook_id="shop-redact")
    work()
    db.expire_all()
    assert event(db, "shop/redact").status == "processed"
    credentials = app.extensions["vault"].open(db.scalar(select(Shop)).credentials)
    assert credentials == {"payments": {"stripe": {"secret_key": STRIPE_KEY}}}
    assert found(db, *PERSONAL) == []  # nothing is held for the refund: the shop is gone
    assert requests_(db)[-1].export["erased"]["refunds_in_flight"] == 1
    assert db.scalar(select(Shop)).webhook_key == address  # the provider's callback still finds the shop



# --- what was erased stays erased: deliveries applied after the erasure ----------------------------------------------

SHOPIFY_CUSTOMER_ID = "7029431102139"  # the order's customer (orders__create.eur_presentment.json)


def order_update(minutes: int = 10, **changes) -> dict:
    """Aino's order as an orders/updated body, changed `minutes` after the sample's last change."""
    body = payload(ORDER)
    body["updated_at"] = "2026-03-02T14:%02d:40+02:00" % (6 + minutes)
    body.update(changes)
    return body


def held_back(app, db, post_webhook, topic: str, body: dict, delivery: str) -> WebhookEvent:
    """A delivery stored in the inbox whose job has not run yet (the queue is behind)."""
    assert post_webhook(topic, body, webhook_id=delivery).status_code == 200
    app.extensions["tasks"].queue().empty()
    stored = event(db, topic)
    assert stored.status == "received"
    return stored


def run(app, work, event_id: int) -> None:
    """The held-back delivery's job runs now."""
    app.extensions["tasks"].process_webhook(event_id)
    work()


def test_an_order_update_stored_before_the_redaction_and_applied_after_it_brings_nothing_back(
    refunded, app, post_webhook, work, db
):
    update = held_back(app, db, post_webhook, "orders/updated", order_update(), "update-1")
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    assert requests_(db)[-1].export["erased"]["inbox_events_waiting"] == 1

    run(app, work, update.id)

    db.expire_all()
    order = db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID))
    assert order.email is None and order.snapshot_changes == 1  # the update itself was applied
    row = db.get(WebhookEvent, update.id)
    assert (row.status, row.body) == ("processed", REDACTED_BODY)  # applied, and its body gone with it
    assert found(db, *PERSONAL) == []
    assert db.scalar(select(Order.email).where(Order.platform_order_id == OTHER_ORDER_ID)) == OTHER_EMAIL


def test_an_order_and_its_return_request_waiting_when_the_customer_is_erased_by_e_mail_keep_nothing_of_theirs(
    shop, app, post_webhook, work, shopify, db
):
    from tests.fakes import stripe_sale

    shopify.transactions = [stripe_sale()]
    created = held_back(app, db, post_webhook, "orders/create", payload(ORDER), "order-1")
    request = held_back(app, db, post_webhook, "returns/request", payload(RETURN_REQUEST), "return-1")
    # Palautus has not seen her order yet: only her e-mail (and the customer id the shop has) name her.
    body = sample("customers/redact", customer={"id": int(SHOPIFY_CUSTOMER_ID), "email": EMAIL.upper(), "phone": None},
                  orders_to_redact=[])  # fmt: skip
    post_webhook("customers/redact", body, webhook_id="redact-1")
    work()
    # The order's delivery names her; the return request names only her order, which nobody knew was hers yet.
    assert requests_(db)[-1].export["erased"]["inbox_events_waiting"] == 1

    run(app, work, created.id)
    run(app, work, request.id)

    db.expire_all()
    ret = db.scalar(select(Return))
    assert ret is not None and [i.reason for i in ret.items] == ["size_too_small", "other"]  # the books' part
    assert (ret.customer_note, [i.reason_note for i in ret.items]) == (None, [None, None])
    assert db.scalar(select(Order.email)) is None
    assert [(db.get(WebhookEvent, e.id).status, db.get(WebhookEvent, e.id).body) for e in (created, request)] \
        == [("processed", REDACTED_BODY)] * 2  # fmt: skip
    assert found(db, EMAIL, CUSTOMER_NOTE, REASON_NOTE, "Aino") == []


def test_a_late_delivery_about_an_erased_order_brings_nothing_back(refunded, app, post_webhook, work, db):
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    # Shopify retries an update made before the erasure, and then sends a newer one: both still carry her e-mail.
    post_webhook("orders/updated", order_update(10), webhook_id="late-update",
                 **{"X-Shopify-Triggered-At": "2026-03-02T12:16:40Z"})  # fmt: skip
    post_webhook("orders/updated", order_update(20), webhook_id="newer-update")
    work()
    db.expire_all()
    assert [e.status for e in db.scalars(select(WebhookEvent).where(WebhookEvent.topic == "orders/updated"))] \
        == ["processed", "processed"]  # fmt: skip
    assert db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID)).snapshot_changes == 2
    assert found(db, *PERSONAL) == []


def test_a_return_request_for_an_erased_order_made_before_the_erasure_keeps_no_notes(shop, app, post_webhook, work,
                                                                                     shopify, db):  # fmt: skip
    from tests.fakes import stripe_sale

    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    # Delivered (retried by Shopify) after the erasure: the customer asked before it.
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1",
                 **{"X-Shopify-Triggered-At": "2026-03-05T10:00:00Z"})  # fmt: skip
    work()
    db.expire_all()
    ret = db.scalar(select(Return))
    assert ret is not None and (ret.customer_note, [i.reason_note for i in ret.items]) == (None, [None, None])
    assert found(db, *PERSONAL) == []


def test_an_order_the_customer_places_after_their_erasure_is_new_and_kept(refunded, post_webhook, work, db):
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    body = payload(ORDER)
    new_id = 5196695270001
    body["id"], body["admin_graphql_api_id"], body["name"] = new_id, f"gid://shopify/Order/{new_id}", "#1200"
    placed = (utcnow() + timedelta(minutes=1)).isoformat()
    body["processed_at"] = body["created_at"] = body["updated_at"] = placed
    post_webhook("orders/create", body, webhook_id="order-new")
    work()
    db.expire_all()
    assert db.scalar(select(Order.email).where(Order.platform_order_id == str(new_id))) == EMAIL
    assert db.scalar(select(Order.email).where(Order.platform_order_id == ORDER_ID)) is None


def test_a_customer_erased_by_their_customer_id_alone_is_recognised_in_an_order_that_comes_later(
    shop, client, post_webhook, work, shopify, db
):
    from tests.fakes import stripe_sale

    _, key = shop
    erased = client.post("/api/v1/privacy/redactions", json={"customer_id": SHOPIFY_CUSTOMER_ID}, headers=auth(key))
    assert erased.status_code == 201, erased.get_json()
    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")  # placed before the erasure
    work()
    db.expire_all()
    assert db.scalar(select(Order.email).where(Order.platform_order_id == ORDER_ID)) is None
    assert found(db, EMAIL) == []


def test_a_tombstone_keeps_no_e_mail_or_customer_id_in_clear(refunded, post_webhook, work, db):
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    db.expire_all()
    kinds = sorted((t.kind, t.key) for t in db.scalars(select(PrivacyTombstone)))
    assert ("order", ORDER_ID) in kinds and {k for k, _ in kinds} == {"order", "email", "customer"}
    clear = [EMAIL.lower(), "207119551"]
    assert not [key for _, key in kinds if any(value in key.lower() for value in clear)]


# --- an uninstalled shop: exports, and nothing personal after shop/redact ------------------------------------------


def test_an_uninstall_drops_the_exports_nobody_can_fetch_any_more(refunded, post_webhook, work, db, app):
    post_webhook("customers/data_request", about_aino("customers/data_request"), webhook_id="data-1")
    work()
    [request] = requests_(db)
    assert request.export is not None and f"privacy request {request.id}" in db.get(Shop, request.shop_id).alerts
    uninstall(app, db)
    db.expire_all()
    request = db.get(PrivacyRequest, request.id)
    assert request.export is None and f"privacy request {request.id}" not in db.get(Shop, request.shop_id).alerts
    # A data request that comes after the uninstall makes no export, and keeps nobody's e-mail or id.
    post_webhook("customers/data_request", about_aino("customers/data_request", data_request={"id": 10000}),
                 webhook_id="data-2")  # fmt: skip
    work()
    assert event(db, "customers/data_request").status == "failed"
    late = requests_(db)[-1]
    assert (late.status, late.export, late.customer_email, late.platform_customer_id) == ("failed", None, None, None)
    assert "uninstalled" in late.error


def test_after_shop_redact_no_export_e_mail_customer_id_or_hash_of_them_remains(refunded, post_webhook, work, db, app):
    post_webhook("customers/data_request", about_aino("customers/data_request"), webhook_id="data-1")
    post_webhook("customers/redact", sample("customers/redact", customer={"id": 115310627314723954,
                 "email": OTHER_EMAIL, "phone": None}, orders_to_redact=[int(OTHER_ORDER_ID)]), webhook_id="redact-1")  # fmt: skip
    work()
    uninstall(app, db)
    post_webhook("shop/redact", sample("shop/redact"), webhook_id="shop-redact")
    work()
    assert event(db, "shop/redact").status == "processed"
    assert found(db, *PERSONAL, OTHER_EMAIL, "Otto", "207119551", "115310627314723954") == []
    assert all(r.export is None or "erased" in r.export for r in requests_(db))
    assert {t.kind for t in db.scalars(select(PrivacyTombstone))} == {"order"}
    # A customer's erasure that comes after leaves no hash of them either.
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-late")
    work()
    assert event(db, "customers/redact").status == "processed"
    assert {t.kind for t in db.scalars(select(PrivacyTombstone))} == {"order"}
    assert found(db, EMAIL, "207119551") == []


def test_a_refund_made_in_the_shop_before_the_erasure_and_delivered_after_it_keeps_no_note(shop, post_webhook, work,
                                                                                          shopify, db):  # fmt: skip
    from integration.models import ShopRefund
    from tests.fakes import stripe_sale

    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    refund = payload("refunds__create.two_lines.json")  # made in March, delivered (retried) now
    refund["note"] = "Aino phoned: refund to her sister's card"
    post_webhook("refunds/create", refund, webhook_id="refund-1")
    work()
    db.expire_all()
    row = db.scalar(select(ShopRefund))
    assert row is not None and row.amount > 0 and row.note is None
    assert event(db, "refunds/create").body == REDACTED_BODY
    assert found(db, *PERSONAL) == []


def test_a_return_the_customer_asks_for_after_their_erasure_keeps_what_they_write(shop, post_webhook, work, shopify,
                                                                                 db):  # fmt: skip
    from tests.fakes import stripe_sale

    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    later_on = (utcnow() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1", **{"X-Shopify-Triggered-At": later_on})
    work()
    db.expire_all()
    ret = db.scalar(select(Return))
    assert ret is not None and ret.customer_note == CUSTOMER_NOTE  # new: given after the erasure
    assert db.scalar(select(Order.email)) is None  # the erased order stays erased


def test_an_erasure_keeps_the_e_mail_a_refund_still_on_its_way_may_need_and_finishes_when_it_ends(
    refunded, post_webhook, work, db
):
    """Paytrail refunds a payment method it cannot refund by API to the e-mail sent with the request, and a retry
    must send the same request: the order's e-mail stays while a refund of it is on its way, then goes."""
    from integration.models import Order
    from jobs.sweep import sweep

    refund = db.scalar(select(Refund))
    refund.status = "submitted"  # the provider has not said yet
    db.commit()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    db.expire_all()
    assert db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID)).email == EMAIL
    assert found(db, CUSTOMER_NOTE, REASON_NOTE, MERCHANT_NOTE) == []  # the rest went at once
    sweep()
    db.expire_all()
    assert db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID)).email == EMAIL  # still on its way
    db.scalar(select(Refund)).status = "succeeded"
    db.commit()
    sweep()
    db.expire_all()
    assert db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID)).email is None
    assert found(db, *PERSONAL) == []


def test_an_erasure_keeps_the_note_of_a_shop_refund_still_pending_at_its_gateway_until_it_settles(
    refunded, post_webhook, work, db
):
    """A merchant's refund pending at the gateway is told apart from one the gateway cancelled by its note (the
    gateway's notes quote it): the erasure leaves that note until the refund settles."""
    from datetime import datetime, timezone

    from integration.models import Order, ShopRefund
    from jobs.sweep import sweep

    order = db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID))
    note = "Goodwill refund for Aino, agreed on the phone"
    db.add(ShopRefund(order_id=order.id, platform_refund_id="990001", amount=0, currency="EUR", lines=[],
                      parent_transaction_ids=[], refunded_by_parent={}, pending=500, note=note,
                      created_at=datetime(2026, 11, 30, tzinfo=timezone.utc)))  # fmt: skip
    db.commit()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    db.expire_all()
    assert db.scalar(select(ShopRefund).where(ShopRefund.platform_refund_id == "990001")).note == note
    row = db.scalar(select(ShopRefund).where(ShopRefund.platform_refund_id == "990001"))
    row.pending, row.amount = 0, 500  # it settled
    db.commit()
    sweep()
    db.expire_all()
    assert db.scalar(select(ShopRefund).where(ShopRefund.platform_refund_id == "990001")).note is None


def test_what_an_erasure_holds_for_a_refund_that_never_ends_goes_after_the_hold_limit(refunded, post_webhook, work, db):
    from integration.models import Order, PrivacyTombstone
    from integration.services.privacy import HOLD_LIMIT
    from jobs.sweep import sweep

    db.scalar(select(Refund)).status = "submitted"  # held with a provider that never says
    db.commit()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    sweep()
    db.expire_all()
    assert db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID)).email == EMAIL
    for tomb in db.scalars(select(PrivacyTombstone)):
        tomb.erased_at -= HOLD_LIMIT + timedelta(hours=1)
    db.commit()
    sweep()
    db.expire_all()
    assert db.scalar(select(Order).where(Order.platform_order_id == ORDER_ID)).email is None
    assert found(db, *PERSONAL) == []


def test_a_message_written_to_the_e_mail_an_erasure_holds_is_emptied_when_the_e_mail_goes(
    refunded, post_webhook, work, db
):
    """While a refund is on its way the order keeps its e-mail, and a message written meanwhile (the refund's) can
    only carry that address: it is emptied with it."""
    from integration.models import Message
    from jobs.sweep import sweep

    db.scalar(select(Refund)).status = "submitted"
    db.commit()
    post_webhook("customers/redact", about_aino("customers/redact"), webhook_id="redact-1")
    work()
    assert {m.recipient for m in db.scalars(select(Message))} == {""}  # those written before went at once
    db.add(Message(shop_id=refunded.shop_id, return_id=refunded.id, kind="refund_sent", dedupe_key="refund:held:sent",
                   recipient=EMAIL, language="fi", data={"amount": AMOUNT}, status="sent",
                   message_id="<held.1@palautus.example>"))  # fmt: skip
    db.scalar(select(Refund)).status = "succeeded"
    db.commit()
    sweep()
    db.expire_all()
    assert db.scalar(select(Message).where(Message.dedupe_key == "refund:held:sent")).recipient == ""
    assert found(db, *PERSONAL) == []


def test_shop_redact_keeps_no_provider_key_for_a_refund_through_the_platform_s_own_gateway(
    refunded, post_webhook, work, db, app
):
    from integration.services.shops import replace_credentials

    replace_credentials(db, app.extensions["vault"], db.scalar(select(Shop)),
                        {"payments": {"paypal": {"client_id": "id", "secret": "s"}}})  # fmt: skip
    address = db.scalar(select(Shop)).webhook_key
    refund = db.scalar(select(Refund))
    refund.status, refund.route = "submitted", "shopify"  # with Shopify's gateway: nothing to ask a provider
    db.commit()
    uninstall(app, db)
    post_webhook("shop/redact", sample("shop/redact"), webhook_id="shop-redact")
    work()
    db.expire_all()
    assert event(db, "shop/redact").status == "processed"
    assert app.extensions["vault"].open(db.scalar(select(Shop)).credentials) == {}
    assert db.scalar(select(Shop)).webhook_key not in (None, address)
