"""Fixtures of the customer portal's tests: a shop with its portal address and policy, a paid and delivered
order, and a client that fills in forms as a browser does (the page's CSRF token included)."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from integration.models import Order, OrderLine, Payment, Shop, utcnow

SLUG = "palautus-test"  # register_shop's portal address for palautus-test.myshopify.com
EMAIL = "Anna.Asiakas@example.com"
POLICY = {
    "window_days": 30, "auto_approve": True, "refund_on": "received", "restocking_fee_percent": "10",
    "return_shipping_fees": {"EUR": 490}, "non_returnable_skus": ["SEALED-1"],
    "methods": [
        {"method": "drop_off", "carrier": "Posti", "drop_off_code": "PT-12345", "fee": {"EUR": 590},
         "instructions": {"fi": "Vie paketti Postin palvelupisteeseen.", "sv": "Lämna paketet hos Posti.",
                          "en": "Take the parcel to a Posti service point."}},
        "postal",
    ],
}  # fmt: skip
# (platform line id, title, units, unit price, line tax, sku, gift card)
LINES = (("L1", "Villapaita ääkkösillä", 2, 4990, 1932, "SWEATER-1", False),
         ("L2", "Sukat", 1, 1990, 385, "SOCKS-1", False),
         ("L3", "Hygieniatuote", 1, 990, 192, "SEALED-1", False))  # fmt: skip


class FormClient:
    """The test client, posting forms with the CSRF token of the page they are on, as a browser would."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def token(self, url: str) -> str:
        html = self.client.get(url).get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, f"no CSRF token on {url}"
        return found[1]

    def post(self, url: str, data: dict, page: str | None = None, **kwargs):
        """POST `data` with the token of `page` (the form's own page, `url` by default)."""
        return self.client.post(url, data={"csrf_token": self.token(page or url), **data}, **kwargs)


@pytest.fixture
def config(config):
    return {**config, "PUBLIC_URL": "https://palautus.example.fi"}


@pytest.fixture
def portal_shop(app, register):
    """The registered shop (its id), with its policy and profile."""
    shop, _key = register()
    with app.extensions["db"].session() as session:
        row = session.get(Shop, shop.id)
        row.policy, row.name = POLICY, "Kauppa Oy"
        row.profile = {"legal_name": "Kauppa Oy", "email": "asiakaspalvelu@kauppa.example",
                       "address": "Kauppakatu 1\n00100 Helsinki", "vat_id": "FI12345678"}  # fmt: skip
        session.commit()
        assert row.portal_slug == SLUG
    return shop.id


def add_order(app, shop_id: int, name: str = "#1001", email: str = EMAIL, lines=LINES, **fields) -> int:
    """A paid, delivered order taxes included (VAT 24 %), paid in full through Stripe; its id."""
    now = utcnow()
    goods = sum(units * price for _id, _t, units, price, *_ in lines)
    values = dict(shop_id=shop_id, platform_order_id=f"po-{name}", name=name, email=email, currency="EUR",
                  shop_currency="EUR", taxes_included=True, financial_status="paid", total=goods + 590,
                  shipping_total=590, shipping_tax=114, shipping_tax_rate=Decimal("0.24"),
                  processed_at=now - timedelta(days=5), fulfilled_at=now - timedelta(days=4),
                  delivered_at=now - timedelta(days=2), platform_updated_at=now, payments_synced_at=now)  # fmt: skip
    values.update(fields)
    with app.extensions["db"].session() as session:
        order = Order(**values)
        for line_id, title, units, price, tax, sku, gift in lines:
            order.lines.append(OrderLine(platform_line_id=line_id, title=title, quantity=units, unit_price=price,
                                         tax_total=tax, tax_rate=Decimal("0.24"), sku=sku, gift_card=gift))  # fmt: skip
        order.payments.append(Payment(platform_transaction_id=f"t-{name}", provider="stripe", gateway="stripe",
                                      payment_id=f"pi_{name}", kind="sale", amount=values["total"], currency="EUR"))  # fmt: skip
        session.add(order)
        session.commit()
        return order.id


@pytest.fixture
def order_id(app, portal_shop) -> int:
    return add_order(app, portal_shop)


@pytest.fixture
def forms(client) -> FormClient:
    return FormClient(client)


def line_ids(app, order_id: int) -> dict[str, int]:
    """The order's line row ids by platform line id: the item form's field names carry them."""
    with app.extensions["db"].session() as session:
        return {line.platform_line_id: line.id for line in session.get(Order, order_id).lines}


def open_order(forms, number: str = "1001", email: str = EMAIL) -> str:
    """Look the order up; the address of its item screen."""
    response = forms.post(f"/s/{SLUG}/", {"order": number, "email": email})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


@pytest.fixture(autouse=True)
def english(english_pages):
    """The pages in English: what the assertions read (tests/conftest.py english_pages)."""
