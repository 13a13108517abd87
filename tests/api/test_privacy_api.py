"""/api/v1/privacy: a merchant exports or erases a customer's data, for any platform, and lists the requests."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from integration.models import Order, PrivacyRequest, Return, WebhookEvent
from integration.records import OrderLineData, OrderSnapshot
from integration.services.orders import upsert_order
from integration.services.privacy import REDACTED_BODY
from integration.services.shops import register_shop
from tests.api.conftest import JACKET, ORDER_ID, ApiClient
from tests.conftest import payload

EMAIL = "aino.virtanen@example.com"
NOTE = "The zip broke on the first day"


@pytest.fixture
def noted_return(open_return):
    return open_return(customer_note=NOTE, items=[{"line_id": JACKET, "quantity": 1, "note": "zip"}])


@pytest.fixture
def other_shop(register, client):
    _, key = register("another-shop.myshopify.com")
    return ApiClient(client, key)


def test_an_export_by_email_holds_the_customers_order_return_notes_and_deliveries(api, noted_return):
    answer = api.post("/privacy/exports", json={"email": EMAIL.upper()})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert (body["kind"], body["source"], body["status"], body["email"]) == (
        "customer_data_request", "merchant_api", "done", EMAIL.upper())
    export = body["export"]
    assert [o["order_id"] for o in export["orders"]] == [ORDER_ID]
    [ret] = export["returns"]
    assert (ret["id"], ret["customer_note"], ret["items"][0]["reason_note"]) == (noted_return["id"], NOTE, "zip")
    assert [e["topic"] for e in export["inbox_events"]] == ["orders/create"]
    assert export["inbox_events"][0]["body"]["email"] == EMAIL


def test_an_export_by_order_id_alone_finds_the_same_order(api, noted_return):
    export = api.post("/privacy/exports", json={"order_ids": [ORDER_ID]}).get_json()["export"]
    assert [o["email"] for o in export["orders"]] == [EMAIL]


def test_an_export_for_someone_unknown_is_empty_not_an_error(api, noted_return):
    answer = api.post("/privacy/exports", json={"email": "nobody@example.com", "customer_id": "42"})
    assert answer.status_code == 201
    export = answer.get_json()["export"]
    assert (export["orders"], export["returns"], export["inbox_events"]) == ([], [], [])


def test_a_redaction_erases_the_customers_data_and_keeps_the_order_and_return(api, noted_return, db):
    answer = api.post("/privacy/redactions", json={"email": EMAIL})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert (body["kind"], body["status"], body["email"]) == ("customer_redact", "done", None)
    assert body["export"]["erased"]["orders"] == 1 and body["export"]["erased"]["returns"] == 1
    db.expire_all()
    order = db.scalar(select(Order))
    ret = db.scalar(select(Return))
    assert (order.email, order.platform_order_id, ret.customer_note, ret.items[0].reason_note) == (None, ORDER_ID, None, None)
    assert db.scalar(select(WebhookEvent)).body == REDACTED_BODY
    shown = api.get(f"/returns/{ret.id}").get_json()
    assert shown["customer_note"] is None and shown["status"] == "requested"
    # Nothing about her is left to export.
    export = api.post("/privacy/exports", json={"email": EMAIL}).get_json()["export"]
    assert export["orders"] == [] and EMAIL not in json.dumps(export["inbox_events"])


def test_the_requests_are_listed_newest_first_paginated_and_by_kind(api, noted_return):
    first = api.post("/privacy/exports", json={"email": EMAIL}).get_json()["id"]
    one = api.get(f"/privacy/requests/{first}")
    assert one.status_code == 200 and one.get_json()["export"]["orders"][0]["order_id"] == ORDER_ID
    second = api.post("/privacy/redactions", json={"order_ids": [ORDER_ID]}).get_json()["id"]
    listed = api.get("/privacy/requests")
    assert listed.status_code == 200
    assert [r["id"] for r in listed.get_json()] == [second, first]
    assert "export" not in listed.get_json()[0]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 2
    assert [r["id"] for r in api.get("/privacy/requests?page_size=1&page=2").get_json()] == [first]
    assert [r["id"] for r in api.get("/privacy/requests?kind=customer_redact").get_json()] == [second]
    # The erasure that followed took the e-mail and the export off the earlier request too.
    again = api.get(f"/privacy/requests/{first}").get_json()
    assert (again["status"], again["email"], again["export"]) == ("done", None, None)


def test_another_shops_request_is_not_found(api, other_shop, noted_return):
    request_id = api.post("/privacy/exports", json={"email": EMAIL}).get_json()["id"]
    assert other_shop.get(f"/privacy/requests/{request_id}").status_code == 404
    assert other_shop.get("/privacy/requests").get_json() == []
    assert api.get("/privacy/requests/2147483647").status_code == 404


def test_another_shops_customer_is_neither_exported_nor_erased(api, other_shop, noted_return, db):
    export = other_shop.post("/privacy/exports", json={"email": EMAIL}).get_json()["export"]
    assert export["orders"] == [] and export["inbox_events"] == []
    assert other_shop.post("/privacy/redactions", json={"email": EMAIL, "order_ids": [ORDER_ID]}).status_code == 201
    db.expire_all()
    assert db.scalar(select(Order)).email == EMAIL and db.scalar(select(Return)).customer_note == NOTE


@pytest.mark.parametrize("body", [
    {}, {"email": ""}, {"email": "no-at-sign"}, {"email": "two@@example.com"}, {"email": None}, {"order_ids": []},
    {"order_ids": [""]}, {"order_ids": "5196695273621"}, {"customer_id": ""}, {"name": "Aino"}, [], "x",
    {"email": "a@b\x00.com"},
])  # fmt: skip
@pytest.mark.parametrize("path", ["/privacy/exports", "/privacy/redactions"])
def test_a_request_naming_nobody_or_in_a_wrong_shape_is_400(api, path, body, db):
    answer = api.post(path, json=body)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"] == "bad_request"
    assert db.scalar(select(PrivacyRequest)) is None


def test_no_body_is_400_and_an_unknown_kind_is_400(api):
    assert api.post("/privacy/exports").status_code == 400
    assert api.get("/privacy/requests?kind=everything").status_code == 400


def test_without_an_api_key_it_is_401(client):
    assert client.post("/api/v1/privacy/exports", json={"email": EMAIL}).status_code == 401
    assert client.get("/api/v1/privacy/requests").status_code == 401


def test_the_document_says_at_least_one_of_the_three(document):
    body = document["paths"]["/api/v1/privacy/exports"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    subject = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert subject["minProperties"] == 1 and subject["additionalProperties"] is False
    assert set(subject["properties"]) == {"email", "customer_id", "order_ids"}
    assert subject["properties"]["order_ids"]["minItems"] == 1


def test_a_woocommerce_store_exports_and_erases_through_the_same_api(app, client, db):
    """The services name no platform: a WooCommerce store's order and return, found and erased the same way."""
    with app.extensions["db"].session() as session:
        shop, key = register_shop(session, app.extensions["vault"], platform="woocommerce", domain="https://store.example",
                                  credentials={"consumer_key": "ck_x", "consumer_secret": "cs_x"}, currency="EUR")  # fmt: skip
        upsert_order(session, shop.id, OrderSnapshot(
            platform_order_id="727", name="#727", currency="EUR", shop_currency="EUR", taxes_included=True,
            updated_at=datetime(2026, 11, 2, tzinfo=timezone.utc), email="Matti.Meikalainen@example.com",
            lines=(OrderLineData("11", "Hat", 1, 2990, tax_total=579),), total=2990,
        ))  # fmt: skip
        session.commit()
    woo = ApiClient(client, key)
    opened = woo.post("/returns", json={"order_id": "727", "items": [{"line_id": "11", "quantity": 1}],
                                        "customer_note": "Too small for Matti"})  # fmt: skip
    assert opened.status_code == 201, opened.get_json()
    export = woo.post("/privacy/exports", json={"email": "matti.meikalainen@example.com"}).get_json()["export"]
    assert export["shop"]["platform"] == "woocommerce"
    assert [r["customer_note"] for r in export["returns"]] == ["Too small for Matti"]
    assert woo.post("/privacy/redactions", json={"order_ids": ["727"]}).status_code == 201
    db.expire_all()
    order = db.scalar(select(Order).where(Order.platform_order_id == "727"))
    assert order.email is None and db.scalar(select(Return).where(Return.order_id == order.id)).customer_note is None


def test_the_sample_order_is_the_one_the_fixtures_use():
    assert str(payload("orders__create.eur_presentment.json")["id"]) == ORDER_ID


# --- an address is matched only as a whole -------------------------------------------------------------------------

ANN = "ann@example.com"
LOOKALIKES = ("joann@example.com", "ann@example.com.au", "ann@example.co", "x.ann@example.com")  # other people


def _customer_order(post_webhook, work, shopify, order_id: int, email: str, note: str | None = None) -> None:
    """An order of the customer with this e-mail, paid through Stripe (a PaymentIntent of its own)."""
    from tests.fakes import stripe_sale

    shopify.transactions = [stripe_sale(number=order_id % 100000, payment_id=f"pi_{order_id}")]
    body = payload("orders__create.eur_presentment.json")
    body["id"], body["admin_graphql_api_id"] = order_id, f"gid://shopify/Order/{order_id}"
    body["name"], body["note"] = f"#{order_id % 10000}", note
    body["email"] = body["contact_email"] = email
    body["customer"] = {"id": order_id + 500000, "email": email}
    for line in body["line_items"]:
        line["id"] += order_id % 1000  # each order its own line ids
    assert post_webhook("orders/create", body, webhook_id=f"order-{order_id}").status_code == 200
    work()


@pytest.fixture
def ann_and_lookalikes(shop, post_webhook, work, shopify):
    """Ann's order, and orders of people whose addresses hold hers as a part; Ann's order id first."""
    ids = [7000000000001 + n for n in range(len(LOOKALIKES) + 1)]
    for order_id, email in zip(ids, (ANN, *LOOKALIKES)):
        _customer_order(post_webhook, work, shopify, order_id, email)
    return [str(i) for i in ids]


def _inbox(db, shop_id: int, delivery: str, body: bytes) -> int:
    row = WebhookEvent(shop_id=shop_id, platform="shopify", topic="customers/update", delivery_id=delivery, body=body,
                       status="ignored")  # fmt: skip
    db.add(row)
    db.commit()
    return row.id


def test_an_export_takes_the_customers_address_only_as_a_whole_not_one_that_holds_it(api, ann_and_lookalikes, db,
                                                                                     shop):  # fmt: skip
    mentions = {
        "free text": _inbox(db, shop[0].id, "m-1", json.dumps({"note": f"Write to {ANN.upper()}."}).encode()),
        "a name and address": _inbox(db, shop[0].id, "m-2", json.dumps({"to": f"Ann <{ANN}>"}).encode()),
        "not JSON": _inbox(db, shop[0].id, "m-3", f"email={ANN}&x=1".encode()),
    }
    others = {
        email: _inbox(db, shop[0].id, f"o-{n}", json.dumps({"note": f"Write to {email}, please"}).encode())
        for n, email in enumerate(LOOKALIKES)
    }
    others["not JSON"] = _inbox(db, shop[0].id, "o-x", f"email=jo{ANN}&x=1".encode())
    export = api.post("/privacy/exports", json={"email": ANN}).get_json()["export"]
    assert [o["order_id"] for o in export["orders"]] == [ann_and_lookalikes[0]]
    exported = {e["id"] for e in export["inbox_events"]}
    assert set(mentions.values()) <= exported
    assert not exported & set(others.values())
    assert exported - set(mentions.values()) == {
        db.scalar(select(WebhookEvent.id).where(WebhookEvent.delivery_id == f"order-{ann_and_lookalikes[0]}"))}
    text = json.dumps(export)
    assert not [order_id for order_id in ann_and_lookalikes[1:] if order_id in text]
    assert not [email for email in LOOKALIKES if email in text and email not in ANN]


def test_a_redaction_leaves_the_data_of_people_whose_address_holds_the_customers(api, ann_and_lookalikes, db, shop):
    other_note = _inbox(db, shop[0].id, "o-1", json.dumps({"note": f"Write to {LOOKALIKES[0]}"}).encode())
    answer = api.post("/privacy/redactions", json={"email": ANN})
    assert answer.status_code == 201, answer.get_json()
    db.expire_all()
    emails = dict(db.execute(select(Order.platform_order_id, Order.email)).all())
    assert emails == {ann_and_lookalikes[0]: None, **dict(zip(ann_and_lookalikes[1:], LOOKALIKES))}
    for order_id, email in zip(ann_and_lookalikes[1:], LOOKALIKES):
        body = db.scalar(select(WebhookEvent.body).where(WebhookEvent.delivery_id == f"order-{order_id}"))
        assert email in body.decode(), email
    assert db.get(WebhookEvent, other_note).body != REDACTED_BODY
    assert db.scalar(select(WebhookEvent.body).where(WebhookEvent.delivery_id == f"order-{ann_and_lookalikes[0]}")) \
        == REDACTED_BODY  # fmt: skip


# --- exports made earlier lose what concerns a customer erased later ------------------------------------------------

BEA = "bea.lindqvist@example.com"


def test_an_export_of_another_customer_loses_what_concerns_a_customer_erased_later(api, shop, post_webhook, work,
                                                                                  shopify, db):  # fmt: skip
    _customer_order(post_webhook, work, shopify, 7000000000001, ANN, note=f"A gift: send the invoice to {BEA}")
    _customer_order(post_webhook, work, shopify, 7000000000002, BEA)
    exported = api.post("/privacy/exports", json={"email": ANN}).get_json()
    assert BEA in json.dumps(exported["export"])  # Ann's order's delivery names Bea in its note

    assert api.post("/privacy/redactions", json={"email": BEA}).status_code == 201

    again = api.get(f"/privacy/requests/{exported['id']}").get_json()
    assert again["email"] == ANN  # Ann's request, and her export, stay ...
    assert [o["order_id"] for o in again["export"]["orders"]] == ["7000000000001"]
    assert BEA not in json.dumps(again)  # ... without Bea
    assert again["export"]["erased_since"] == {"inbox_events": 1}
    db.expire_all()
    assert not [row for row in db.scalars(select(PrivacyRequest)) if BEA in json.dumps(row.export or {})]


def test_an_export_made_before_addresses_were_matched_whole_loses_the_lookalikes_data_when_they_are_erased(
    api, ann_and_lookalikes, db, shop
):
    # Made by the earlier matcher, which took any address holding Ann's: Jo Ann's delivery is in Ann's export.
    jo_ann, jo_ann_order = LOOKALIKES[0], ann_and_lookalikes[1]
    body = db.scalar(select(WebhookEvent.body).where(WebhookEvent.delivery_id == f"order-{jo_ann_order}"))
    old = PrivacyRequest(shop_id=shop[0].id, kind="customer_data_request", source="merchant_api", status="done",
                         customer_email=ANN, orders=[], export={
                             "request": {"email": ANN, "customer_id": None, "order_ids": []}, "orders": [],
                             "returns": [], "inbox_events": [{"id": 1, "topic": "orders/create",
                                                              "body": json.loads(body)}]})  # fmt: skip
    db.add(old)
    db.commit()
    assert api.post("/privacy/redactions", json={"email": jo_ann}).status_code == 201
    db.expire_all()
    row = db.get(PrivacyRequest, old.id)
    assert row.customer_email == ANN and row.export["inbox_events"] == []
    assert jo_ann not in json.dumps(row.export)
