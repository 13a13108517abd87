"""Fixtures of the merchant API tests: a known order, a client holding a shop's key, returns opened through the API."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import auth, payload
from tests.fakes import stripe_sale

ORDER_ID = "5196695273621"  # orders__create.eur_presentment.json, #1106, paid in EUR through Stripe
JACKET = "12695210000533"  # 2 bought
SOCKS = "12695210033301"  # 1 bought


class ApiClient:
    """The Flask test client, sending one shop's API key to /api/v1."""

    def __init__(self, client, key: str):
        self.client, self.key = client, key

    def get(self, path: str, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=auth(self.key), **kwargs)

    def post(self, path: str, **kwargs):
        return self.client.post(f"/api/v1{path}", headers={**auth(self.key), **kwargs.pop("headers", {})}, **kwargs)

    def put(self, path: str, **kwargs):
        return self.client.put(f"/api/v1{path}", headers={**auth(self.key), **kwargs.pop("headers", {})}, **kwargs)

    def move(self, return_id: int, *actions: str) -> dict:
        """Post each action in turn (approve, in-transit, ...), each of which must succeed; the last answer."""
        body = None
        for action in actions:
            response = self.post(f"/returns/{return_id}/{action}", json={})
            assert response.status_code in (200, 202), (action, response.get_json())
            body = response.get_json()
        return body


def count(db, model) -> int:
    """Rows of `model` as the database has them now (not as this session last saw them)."""
    db.rollback()
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def key(shop):
    """The API key of the shop the order belongs to."""
    return shop[1]


@pytest.fixture
def api(client, key):
    return ApiClient(client, key)


@pytest.fixture
def document(client):
    """The API's OpenAPI document, as the app serves it."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def order(app, shop, post_webhook, work, shopify):
    """The EUR order (#1106), in the database as the webhook job left it, with its Stripe payment read from the
    Admin API as a return's first need of it reads it (jobs.events.read_order_payments)."""
    from integration.models import Order
    from jobs.events import read_order_payments

    shopify.transactions = [stripe_sale()]
    response = post_webhook("orders/create", payload("orders__create.eur_presentment.json"), webhook_id="order-1")
    assert response.status_code == 200
    work()
    with app.extensions["db"].session() as session:
        read_order_payments(session.scalar(select(Order.id)))
    return ORDER_ID


@pytest.fixture
def open_return(api, order):
    """Open a return through the API: by default one of the two jackets and the socks."""

    def _open(items=None, **body):
        items = items or [
            {"line_id": JACKET, "quantity": 1, "reason": "size_too_small"}, {"line_id": SOCKS, "quantity": 1},
        ]  # fmt: skip
        response = api.post("/returns", json={"order_id": order, "items": items, **body})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return _open
