"""Bearer authentication, and every query scoped to the shop the key belongs to."""
from __future__ import annotations

import pytest

from integration.models import Return, ReturnEvent, Shop
from integration.services.shops import uninstall_shop
from tests.api.conftest import JACKET, ORDER_ID, ApiClient, count
from tests.conftest import auth

OTHER_SHOP = "other-shop.myshopify.com"


def assert_401(response):
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="palautus"'
    body = response.get_json()
    assert body["error"] == "unauthorized"
    assert "Authorization: Bearer" in body["message"]


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic cGFsYXV0dXM6c2VjcmV0"},
    {"Authorization": "Token plt_unknown"},
    {"Authorization": "Bearer plt_this_key_belongs_to_nobody"},
], ids=["no header", "empty", "scheme only", "empty key", "basic", "other scheme", "unknown key"])  # fmt: skip
def test_a_request_without_a_valid_bearer_key_is_401_with_the_error_shape(client, shop, headers):
    for path in ("/api/v1/returns", "/api/v1/shop", "/api/v1/refunds"):
        assert_401(client.get(path, headers=headers))


def test_the_key_of_the_shop_works_with_any_case_of_bearer(client, key):
    response = client.get("/api/v1/shop", headers={"Authorization": f"bearer {key}"})
    assert response.status_code == 200
    assert response.get_json()["domain"] == "palautus-test.myshopify.com"


def test_a_request_without_a_key_changes_nothing(client, open_return, db):
    ret = open_return()
    response = client.post(f"/api/v1/returns/{ret['id']}/approve", json={})
    assert_401(response)
    assert db.get(Return, ret["id"]).status == "requested"


def test_the_key_of_an_uninstalled_shop_is_401(client, app, shop, db):
    shop_row, key = shop
    assert client.get("/api/v1/shop", headers=auth(key)).status_code == 200
    uninstall_shop(db, app.extensions["vault"], db.get(Shop, shop_row.id))
    assert_401(client.get("/api/v1/shop", headers=auth(key)))


@pytest.fixture
def other(client, register):
    """A second shop's API client."""
    _, key = register(domain=OTHER_SHOP)
    return ApiClient(client, key)


ROUTES = [
    ("get", ""), ("get", "/refund-plan"), ("post", "/approve"), ("post", "/reject"), ("post", "/cancel"),
    ("post", "/in-transit"), ("post", "/receive"), ("post", "/refund"), ("post", "/close"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "suffix"), ROUTES, ids=[f"{m} {s or '/'}" for m, s in ROUTES])
def test_another_shops_key_finds_no_such_return(other, open_return, db, method, suffix):
    ret = open_return()
    events = count(db, ReturnEvent)
    kwargs = {"json": {}} if method == "post" else {}
    response = getattr(other, method)(f"/returns/{ret['id']}{suffix}", **kwargs)
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "message": f"return {ret['id']} not found"}
    assert db.get(Return, ret["id"]).status == "requested"
    assert count(db, ReturnEvent) == events


def test_another_shops_key_lists_none_of_the_first_shops_returns_or_refunds(api, other, open_return):
    ret = open_return()
    api.move(ret["id"], "approve", "refund")
    assert [r["id"] for r in api.get("/returns").get_json()] == [ret["id"]]
    assert len(api.get("/refunds").get_json()) == 1
    for path in ("/returns", f"/returns?code={ret['code']}", f"/returns?order={ORDER_ID}", "/refunds"):
        response = other.get(path)
        assert response.status_code == 200
        assert response.get_json() == []


def test_another_shop_cannot_open_a_return_on_the_first_shops_order(other, order, db):
    response = other.post("/returns", json={"order_id": order, "items": [{"line_id": JACKET, "quantity": 1}]})
    assert response.status_code == 404
    assert response.get_json()["message"] == f"order {order} not found"
    assert count(db, Return) == 0


def test_another_shops_key_sees_its_own_shop_and_policy(api, other):
    other.put("/shop/policy", json={"window_days": 7})
    assert other.get("/shop").get_json()["domain"] == OTHER_SHOP
    assert api.get("/shop").get_json()["policy"]["window_days"] == 30
