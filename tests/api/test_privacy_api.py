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
