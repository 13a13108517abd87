"""The whole path: Shopify webhooks -> inbox -> real rq worker -> return -> API -> Stripe once -> Shopify."""
from __future__ import annotations


from sqlalchemy import select

from integration.models import Refund, Return
from tests.conftest import auth, payload
from tests.fakes import stripe_sale

ORDER = "orders__create.eur_presentment.json"
RETURN_REQUEST = "returns__request.two_items.json"
# 1 of 2 jackets (89.90 each, 10.00 discount on the line, VAT 24 % included: 32.86)
# -> (179.80 - 10.00) / 2 = 84.90, VAT 16.43; plus the 19.90 socks, VAT 3.85.
EXPECTED_AMOUNT = 8490 + 1990
EXPECTED_VAT = {"0.24": 1643 + 385}


def open_shopify_return(post_webhook, work, shopify):
    shopify.transactions = [stripe_sale()]
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()
    assert post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1").status_code == 200
    work()


def test_a_shopify_return_becomes_one_stripe_refund_recorded_back_in_shopify(
    client, shop, post_webhook, work, shopify, stripe, db
):
    _, key = shop
    open_shopify_return(post_webhook, work, shopify)
    listed = client.get("/api/v1/returns", headers=auth(key)).get_json()
    assert [(r["status"], r["source"], r["order_id"]) for r in listed] == [("requested", "shopify", "5196695273621")]
    return_id = listed[0]["id"]

    approved = client.post(f"/api/v1/returns/{return_id}/approve", json={"note": "ok"}, headers=auth(key))
    assert approved.status_code == 200, approved.get_json()
    work()
    assert shopify.operations("ReturnApproveRequest") == [
        {"input": {"id": "gid://shopify/Return/3547267221", "notifyCustomer": False}}
    ]
    received = client.post(f"/api/v1/returns/{return_id}/receive", json={}, headers=auth(key))
    assert received.status_code == 200, received.get_json()
    work()

    assert len(stripe.posts) == 1
    headers, params = stripe.posts[0]
    refund = db.scalar(select(Refund))
    assert params["payment_intent"] == "pi_3PalautusTest0001"
    assert params["amount"] == str(EXPECTED_AMOUNT)
    assert params["metadata[return_code]"] == refund.ret.code
    assert headers["Idempotency-Key"] == refund.idempotency_key
    assert (refund.status, refund.amount, refund.vat) == ("succeeded", EXPECTED_AMOUNT, EXPECTED_VAT)
    assert stripe.money_moved == EXPECTED_AMOUNT

    [recorded] = shopify.operations("RefundCreate")
    assert recorded["input"]["orderId"] == "gid://shopify/Order/5196695273621"
    assert "transactions" not in recorded["input"]  # Shopify records it and moves no money
    assert sorted((l["lineItemId"], l["quantity"]) for l in recorded["input"]["refundLineItems"]) == [
        ("gid://shopify/LineItem/12695210000533", 1), ("gid://shopify/LineItem/12695210033301", 1)
    ]
    assert shopify.operations("TagsAdd")[0]["tags"] == ["palautus-refunded"]
    assert shopify.operations("ReturnClose") == [{"id": "gid://shopify/Return/3547267221"}]
    shown = client.get(f"/api/v1/returns/{return_id}", headers=auth(key)).get_json()
    assert shown["status"] == "closed"
    assert shown["refunds"][0]["shop_synced_at"] is not None
    assert [e["kind"] for e in shown["timeline"]] == [
        "requested", "approved", "received", "refund_started", "refund_succeeded", "refunded", "closed"
    ]


def two_items_on_the_jacket_line(quantity: int) -> dict:
    """A return request with the jacket line twice, as Shopify sends for two fulfillments of one line."""
    body = payload(RETURN_REQUEST)
    first = body["return_line_items"][0]
    second = {**first, "id": 6200524951, "admin_graphql_api_id": "gid://shopify/ReturnLineItem/6200524951",
              "quantity": quantity}
    body["return_line_items"] = [{**first, "quantity": quantity}, second]
    return body


def test_two_items_on_one_line_share_its_units_and_are_refunded_once(client, shop, post_webhook, work, shopify, stripe, db):
    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("returns/request", two_items_on_the_jacket_line(1), webhook_id="return-1")
    work()
    ret = db.scalar(select(Return))
    assert not any(r.startswith("more units") for r in ret.decision["reasons"])  # (the window has passed: a note)
    for action in ("approve", "receive"):
        client.post(f"/api/v1/returns/{ret.id}/{action}", json={}, headers=auth(shop[1]))
    work()
    assert [p["amount"] for _, p in stripe.posts] == [str(2 * 8990 - 1000)]  # both jackets, the whole line


def test_two_items_on_one_line_asking_for_more_units_than_it_has_are_not_eligible(post_webhook, work, shopify, shop, db):
    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("returns/request", two_items_on_the_jacket_line(2), webhook_id="return-1")
    work()
    decision = db.scalar(select(Return)).decision
    assert decision["eligible"] is False
    assert "more units than can still be returned: Merino wool sweater" in decision["reasons"]
