"""The sandbox shop behaves as Shopify does for Palautus's calls: Palautus's own Shopify adapter is the client,
and the webhooks it sends are signed, shaped and retried as Shopify's are."""
from __future__ import annotations

import json
import time

import pytest
import requests

from adapters.errors import ProviderRejected
from adapters.platforms import PLATFORMS
from adapters.platforms.shopify.webhooks import read_delivery, verify
from integration.money import Money
from integration.records import OrderSnapshot, RefundLineToRecord, RefundToRecord, ReturnRequestData, ShopRefundData
from tests.sandbox.conftest import SHOP


def order(world, *items):
    return world.shop.create_order(list(items) or [("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], stripe=world.sandbox.stripe, stripe_key=world.stripe_key)


def numeric(gid: str) -> str:
    return gid.rsplit("/", 1)[-1]


def settled(world, inbox, count: int):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (world.sandbox.sender.settled() and len(inbox.deliveries) >= count):
        time.sleep(0.02)
    return inbox.deliveries


def test_an_order_reads_back_through_the_admin_api_as_its_webhook_said(world):
    rest = order(world)
    snapshot = world.platform.fetch_order(numeric(rest["admin_graphql_api_id"]))
    assert isinstance(snapshot, OrderSnapshot) and snapshot.paid
    assert (snapshot.name, snapshot.total, snapshot.currency) == ("#1001", 11570, "EUR")
    assert [(line.sku, line.quantity, line.unit_price, str(line.tax_rate)) for line in snapshot.lines] == [
        ("MERINO-M-GREY", 1, 8990, "0.255"), ("SOCKS-WOOL-3", 1, 1990, "0.255")]
    [payment] = world.platform.order_payments(numeric(rest["admin_graphql_api_id"]))
    charged = world.sandbox.stripe.payments[payment.payment_id]
    assert (payment.provider, payment.amount, payment.platform_managed) == ("stripe", 11570, False)
    assert charged["amount"] == 11570


def to_record(rest, key="refund-key-1", units=1) -> RefundToRecord:
    sweater = rest["line_items"][0]
    return RefundToRecord(platform_order_id=str(rest["id"]), idempotency_key=key, amount=Money(8990 * units, "EUR"),
                          note="Return #1001-R1", lines=(RefundLineToRecord(str(sweater["id"]), units, restock=True),),
                          gateway="stripe")  # fmt: skip


def test_a_recorded_refund_is_kept_once_per_key_and_restocks_where_it_was_fulfilled(world):
    rest = order(world)
    first = world.platform.record_refund(to_record(rest))
    assert world.platform.record_refund(to_record(rest)) == first
    [refund] = world.platform.order_refunds(str(rest["id"]))
    assert isinstance(refund, ShopRefundData) and refund.platform_refund_id == first
    assert [(line.platform_line_id, line.quantity) for line in refund.lines] == [(str(rest["line_items"][0]["id"]), 1)]
    [(_, given)] = world.shop.recorded.values()
    assert given["refundLineItems"][0]["restockType"] == "RETURN"


def test_more_units_than_are_left_are_refused_as_shopify_refuses_them(world):
    rest = order(world)
    world.platform.record_refund(to_record(rest))
    with pytest.raises(ProviderRejected, match="more items than were purchased"):
        world.platform.record_refund(to_record(rest, key="refund-key-2"))
    assert len(world.shop.recorded) == 1


def test_a_wrong_access_token_is_refused_with_shopifys_401(world):
    rest = order(world)
    stranger = PLATFORMS["shopify"].connect(SHOP, {"access_token": "shpat_guessed"}, world.config)
    with pytest.raises(ProviderRejected) as refused:
        stranger.fetch_order(numeric(rest["admin_graphql_api_id"]))
    assert refused.value.status == 401


def test_a_document_the_schema_refuses_is_answered_with_errors_and_runs_nothing(world):
    answer = requests.post(f"{world.url}/shopify/{SHOP}/admin/api/2026-10/graphql.json",
                           json={"query": "mutation M { refundCreate(input: {orderId: \"x\"}) { nothing } }"},
                           headers={"X-Shopify-Access-Token": world.opened["access_token"]})  # fmt: skip
    assert answer.status_code == 200 and answer.json()["errors"]
    assert world.shop.calls == []


def test_return_moves_follow_shopifys_states_and_a_repeat_counts_as_done(world):
    rest = order(world)
    ret = world.shop.request_return(rest["admin_graphql_api_id"], [(rest["line_items"][0]["admin_graphql_api_id"], 1, "size_too_small", None)])
    with pytest.raises(ProviderRejected, match="INVALID_STATE|not OPEN"):  # a requested return cannot be closed
        world.platform.set_return_status(numeric(ret["admin_graphql_api_id"]), "CLOSED")
    world.platform.set_return_status(numeric(ret["admin_graphql_api_id"]), "OPEN")
    world.platform.set_return_status(numeric(ret["admin_graphql_api_id"]), "OPEN")  # INVALID_STATE, already OPEN: done
    assert world.shop.returns[ret["admin_graphql_api_id"]]["status"] == "open"
    world.platform.set_return_status(numeric(ret["admin_graphql_api_id"]), "CLOSED")
    assert world.shop.returns[ret["admin_graphql_api_id"]]["status"] == "closed"
    assert [topic for topic, _ in world.shop.sent][-3:] == ["returns/request", "returns/approve", "returns/close"]
    closed = world.shop.sent[-1][1]  # the documented returns/close body: no order object, the order's id
    assert set(closed) == {"id", "admin_graphql_api_id", "order_id", "status"} and closed["order_id"] == rest["id"]
    change = PLATFORMS["shopify"].interpret("returns/close", closed)
    assert (change.platform_order_id, change.status) == (str(rest["id"]), "closed")


def test_a_customer_cannot_ask_to_return_more_than_was_sold(world):
    rest = order(world, ("SOCKS-WOOL-3", 2))
    line = rest["line_items"][0]["admin_graphql_api_id"]
    world.shop.request_return(rest["admin_graphql_api_id"], [(line, 2, "unwanted", None)])
    with pytest.raises(ValueError, match="cannot be returned"):
        world.shop.request_return(rest["admin_graphql_api_id"], [(line, 1, "unwanted", None)])


def test_its_webhooks_are_signed_shaped_and_parse_as_shopifys_do(world, inbox):
    rest = order(world)
    world.shop.request_return(rest["admin_graphql_api_id"], [(rest["line_items"][0]["admin_graphql_api_id"], 1, "size_too_small", "short")])
    world.platform.record_refund(to_record(rest))
    deliveries = settled(world, inbox, 5)
    assert [d.header("X-Shopify-Topic") for d in deliveries] == [
        "orders/create", "orders/paid", "returns/request", "refunds/create", "orders/updated"]
    interpret = PLATFORMS["shopify"].interpret
    for delivery in deliveries:
        headers = read_delivery({k: v for k, v in delivery.headers.items()})
        assert headers.shop_domain == SHOP and headers.api_version == "2026-10" and headers.triggered_at is not None
        verify(delivery.body.encode(), headers.signature, world.opened["webhook_secret"])
        interpret(headers.topic, json.loads(delivery.body))  # PayloadError if not in the documented shape
    request = interpret("returns/request", json.loads(deliveries[2].body))
    assert isinstance(request, ReturnRequestData) and request.items[0].quantity == 1
    refund = interpret("refunds/create", json.loads(deliveries[3].body))
    assert (refund.amount, refund.note, refund.lines[0].quantity) == (0, "Return #1001-R1\nRefunded 89.90 EUR at stripe by Palautus; Shopify moved no money.", 1)


def test_a_webhook_not_answered_2xx_is_sent_again_with_the_same_id(world, inbox):
    inbox.statuses = {"orders/create": [500, 503]}
    order(world, ("BEANIE-RED", 1))
    deliveries = settled(world, inbox, 4)
    creates = [d for d in deliveries if d.header("X-Shopify-Topic") == "orders/create"]
    assert len(creates) == 3 and len({d.header("X-Shopify-Webhook-Id") for d in creates}) == 1
    log = {e["topic"]: e for e in world.sandbox.sender.log}
    assert (log["orders/create"]["status"], log["orders/create"]["attempts"]) == ("delivered", 3)


def test_what_it_does_not_know_it_refuses_as_shopify_does(world):
    rest = order(world)
    ghost = {**rest, "id": 1, "line_items": rest["line_items"]}
    with pytest.raises(ProviderRejected, match="Order does not exist"):
        world.platform.record_refund(to_record(ghost))
    with pytest.raises(ProviderRejected, match="Return does not exist"):
        world.platform.set_return_status("424242", "OPEN")
    assert world.platform.order_payments(str(rest["id"])) and world.shop.recorded == {}


def test_shipping_is_refunded_once(world):
    rest = order(world)
    with_shipping = RefundToRecord(**{**to_record(rest).__dict__, "shipping": 590})
    world.platform.record_refund(with_shipping)
    [refund] = world.platform.order_refunds(str(rest["id"]))
    assert refund.shipping_refunded
    again = RefundToRecord(**{**to_record(rest, key="k2").__dict__, "lines": (), "shipping": 590})
    with pytest.raises(ProviderRejected, match="Shipping has already been refunded"):
        world.platform.record_refund(again)


def test_another_api_version_is_refused_so_a_misconfiguration_shows(world):
    rest = order(world)
    other = PLATFORMS["shopify"].connect(SHOP, {"access_token": world.opened["access_token"]},
                                         {**world.config, "SHOPIFY_API_VERSION": "2024-01"})  # fmt: skip
    with pytest.raises(ProviderRejected) as refused:
        other.fetch_order(str(rest["id"]))
    assert refused.value.status == 404
