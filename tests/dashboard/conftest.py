"""Fixtures of the dashboard tests: shops registered through the real use case, orders and returns built as rows
and opened through `open_return`, and a browser-like client that signs in with a one-time link and posts forms
with their CSRF token."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from integration.models import Order, OrderLine, Payment, Shop, utcnow
from integration.returns import Actor
from integration.services.context import Ctx
from integration.services.returns import ItemRequest, open_return

OTHER_DOMAIN = "other-shop.myshopify.com"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """The Flask test client as a person uses the dashboard: pages fetched, forms posted with their CSRF token."""

    def __init__(self, client):
        self.client = client

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def token(self, page: str = "/dashboard/returns") -> str:
        found = CSRF.search(self.client.get(page).get_data(as_text=True))
        assert found, f"no CSRF token on {page}"
        return found[1]

    def post(self, path: str, data: dict | None = None, page: str | None = None, **kwargs):
        """POST `data` with the CSRF token of `page` (the form's own page, by default the path itself)."""
        return self.client.post(path, data={**(data or {}), "csrf_token": self.token(page or path)}, **kwargs)

    def sign_in(self, app, shop: Shop):
        """Use a fresh one-time link for `shop`: the answer of its POST."""
        token = make_link(app, shop)
        return self.post(f"/dashboard/login/{token}")


def make_link(app, shop: Shop, now=None) -> str:
    from integration.dashboard.auth import create_login

    with app.test_request_context(), app.extensions["db"].session() as session:
        token, _ = create_login(session, session.get(Shop, shop.id), now=now)
    return token


@pytest.fixture
def other_shop(register):
    return register(domain=OTHER_DOMAIN)[0]


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def signed_in(app, browser, shop):
    """A browser signed in to the test shop's dashboard."""
    answer = browser.sign_in(app, shop[0])
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return browser


@pytest.fixture
def build(app):
    """`build(shop, track=..., status=..., **return_fields)`: an order of two lines paid by card (Stripe), and a
    return of one of each opened through the use case; the return's id."""

    def _build(shop: Shop, track: str = "return", approve: bool = False, platform_order_id: str = "1001", **fields):
        with app.extensions["db"].session() as session:
            row = session.get(Shop, shop.id)
            order = _order(session, row, platform_order_id)
            ctx = Ctx(session, app.extensions["tasks"], app.extensions["providers"], app.extensions["gateways"])
            items = [ItemRequest("L1", 1, "size_too_small", "too tight"), ItemRequest("L2", 1, "defective")]
            ret = open_return(ctx, row, order, items, method="postal", source="portal", actor=Actor.CUSTOMER,
                              track=track)  # fmt: skip
            for name, value in fields.items():
                setattr(ret, name, value)
            if approve and ret.status == "requested":  # a withdrawal is approved by itself (the law's policy)
                from integration.services.returns import approve_return

                approve_return(ctx, row, ret.id, Actor.MERCHANT)
            session.commit()
            return ret.id

    return _build


def _order(session, shop: Shop, platform_order_id: str) -> Order:
    now = utcnow()
    order = Order(shop_id=shop.id, platform_order_id=platform_order_id, name=f"#{platform_order_id}",
                  email="customer@example.com", currency="EUR", shop_currency="EUR", taxes_included=True,
                  financial_status="paid", total=12480, platform_updated_at=now, processed_at=now - timedelta(days=3),
                  payments_synced_at=now)  # fmt: skip
    order.lines = [
        OrderLine(platform_line_id="L1", title="Merino jumper", sku="MERINO-M", quantity=1, unit_price=8990,
                  tax_total=1740, tax_rate=Decimal("0.24")),
        OrderLine(platform_line_id="L2", title="Wool socks", sku="SOCKS", quantity=2, unit_price=1745,
                  tax_total=675, tax_rate=Decimal("0.24")),
    ]  # fmt: skip
    order.payments = [Payment(platform_transaction_id=f"t{platform_order_id}", provider="stripe", gateway="stripe",
                              payment_id=f"pi_{platform_order_id}", kind="sale", amount=12480, currency="EUR")]  # fmt: skip
    session.add(order)
    session.flush()
    return order


@pytest.fixture(autouse=True)
def english(english_pages):
    """The pages in English: what the assertions read (tests/conftest.py english_pages)."""
