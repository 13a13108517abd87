"""GET /api/v1/orders/{id} for a Shopify order: the same view a WooCommerce order gets (tests/woocommerce)."""
from __future__ import annotations

from tests.conftest import auth
from tests.fakes import stripe_sale
from tests.jobs.helpers import PI, SOCKS, SWEATER, shopify_return


def test_a_shopify_order_shows_its_lines_payment_route_and_return(client, shop, post_webhook, work, shopify, db):
    shopify.transactions = [stripe_sale(), {**stripe_sale(1002, "10.00"), "gateway": "shopify_payments", "paymentId": "r9Be"}]
    ret = shopify_return(post_webhook, work, shopify, db, transactions=shopify.transactions)
    view = client.get(f"/api/v1/orders/{ret.order.platform_order_id}", headers=auth(shop[1])).get_json()
    assert view["name"] == "#1106" and view["currency"] == "EUR" and view["taxes_included"] is True
    assert {line["line_id"]: line["returnable"] for line in view["lines"]} == {SWEATER: 1, SOCKS: 0}  # 1 of 2 and 1 of 1 asked back
    routes = {(p["gateway"], p["route"]) for p in view["payments"]}
    assert routes == {("stripe", "stripe"), ("shopify_payments", "shopify")}  # directly at Stripe; through Shopify
    assert next(p for p in view["payments"] if p["route"] == "stripe")["refundable"] == 18970
    assert view["refunds"] == [] and view["returns"] == [{"id": ret.id, "code": ret.code, "status": "requested"}]
    assert PI not in str(view)  # the provider's payment id is not shown: nothing customer service needs


def test_another_shops_order_is_not_found(client, shop, register, post_webhook, work, shopify, db):
    ret = shopify_return(post_webhook, work, shopify, db)
    _, other_key = register(domain="another-shop.myshopify.com")
    assert client.get(f"/api/v1/orders/{ret.order.platform_order_id}", headers=auth(other_key)).status_code == 404
