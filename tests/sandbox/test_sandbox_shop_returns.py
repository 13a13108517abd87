"""The sandbox shop answers the Admin API documents added for returns opened in Palautus, products, cancelling and
the ORDER document's fulfilment facts as Shopify does, statefully: Palautus's own Shopify adapter is the client."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from adapters.errors import ProviderError, ProviderRejected
from adapters.platforms import PLATFORMS
from adapters.platforms.shopify import graphql as gql
from adapters.platforms.shopify import products as shopify_products
from adapters.platforms.shopify import return_request as rr
from adapters.platforms.shopify.orders import ORDER
from integration.records import ReturnLineToOpen, ReturnRequestData, ReturnToOpen
from sandbox.knobs import RateLimits, query_cost
from sandbox.shopify import refund_node
from sandbox.stripe import stripe_sale
from tests.sandbox.test_sandbox_shopify import numeric, order, settled


def lines(rest) -> dict:
    return {line["sku"]: str(line["id"]) for line in rest["line_items"]}


def to_open(rest, *wanted, code: str = "R-0001") -> ReturnToOpen:
    ids = lines(rest)
    return ReturnToOpen(platform_order_id=str(rest["id"]), code=code, opened_at=datetime.now(timezone.utc),
                        lines=tuple(ReturnLineToOpen(ids[sku], units, reason, note=note) for sku, units, reason, note in wanted))  # fmt: skip


def query(world, document: str, variables: dict) -> dict:
    data, _ = world.platform.admin.query(document, variables)
    return data


def test_the_order_document_has_its_fulfilment_facts_as_the_webhook_has_them(world):
    rest = order(world)
    snapshot = world.platform.fetch_order(numeric(rest["admin_graphql_api_id"]))
    from_webhook = PLATFORMS["shopify"].interpret("orders/create", json.loads(json.dumps(rest)))
    assert snapshot.fulfilled_at is not None and snapshot.delivered_at is None and snapshot.locale == "fi"
    assert (snapshot.fulfilled_at, snapshot.delivered_at, snapshot.locale) == (
        from_webhook.fulfilled_at, from_webhook.delivered_at, from_webhook.locale)
    assert [line.gift_card for line in snapshot.lines] == [False, False]
    node = query(world, ORDER, {"id": rest["admin_graphql_api_id"]})["order"]
    assert (node["displayFulfillmentStatus"], node["fulfillmentsCount"]) == ("FULFILLED", {"count": 1, "precision": "EXACT"})
    assert node["fulfillments"] == [{"status": "SUCCESS", "createdAt": node["processedAt"], "deliveredAt": None,
                                     "displayStatus": "FULFILLED"}]  # fmt: skip


def test_a_delivered_fulfilment_reads_back_delivered(world):
    rest = order(world)
    rest["fulfillments"][0].update(shipment_status="delivered", updated_at="2026-12-03T12:00:00+02:00")
    snapshot = world.platform.fetch_order(str(rest["id"]))
    assert snapshot.delivered_at == datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)


def test_the_products_of_its_lines_read_back_and_one_it_no_longer_has_is_left_out(world):
    rest = order(world)
    ids = [str(line["product_id"]) for line in rest["line_items"]]
    found = {p.platform_product_id: p for p in world.platform.read_products([*ids, "424242"])}
    assert set(found) == set(ids)
    sweater = found[ids[0]]
    assert (sweater.title, sweater.product_type, sweater.tags) == ("Merino wool sweater", "Sweaters", ("merino", "wool"))
    assert sweater.updated_at == datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc)
    del world.shop.products[f"gid://shopify/Product/{ids[0]}"]  # the merchant deleted it
    assert [p.platform_product_id for p in world.platform.read_products(ids)] == [ids[1]]
    assert world.shop.operations("ProductsById")[-1] == {"ids": [f"gid://shopify/Product/{i}" for i in ids]}


def test_a_portal_return_is_requested_in_the_shop_once_and_announced_as_shopify_does(world, inbox):
    rest = order(world)
    request = to_open(rest, ("MERINO-M-GREY", 1, "size_too_small", "The sleeves are too short"),
                      ("SOCKS-WOOL-3", 1, "arrived_late", None))  # fmt: skip
    number = world.platform.open_return(request)
    gid = f"gid://shopify/Return/{number}"
    assert world.shop.returns[gid]["status"] == "requested"
    [sent] = world.shop.operations("ReturnRequest")
    reasons = [(i.get("returnReason"), i.get("returnReasonDefinitionId")) for i in sent["input"]["returnLineItems"]]
    arrived_late = next(d["id"] for d in world.shop.reason_definitions if d["handle"] == "arrived-late")
    assert reasons == [("SIZE_TOO_SMALL", None), (None, arrived_late)]  # the library has only "arrived-late" of ours

    assert world.platform.open_return(request) == number  # run again: found, nothing sent
    assert len(world.shop.operations("ReturnRequest")) == 1 and len(world.shop.returns) == 1

    deliveries = settled(world, inbox, 3)
    [delivery] = [d for d in deliveries if d.header("X-Shopify-Topic") == "returns/request"]
    echo = PLATFORMS["shopify"].interpret("returns/request", json.loads(delivery.body))
    assert isinstance(echo, ReturnRequestData) and echo.platform_return_id == number
    assert [(i.platform_line_id, i.quantity, i.reason) for i in echo.items] == [
        (lines(rest)["MERINO-M-GREY"], 1, "size_too_small"), (lines(rest)["SOCKS-WOOL-3"], 1, "other")]
    assert json.loads(delivery.body)["return_line_items"][0]["customer_note"] == "The sleeves are too short"


def test_order_returns_list_each_return_with_its_status_time_and_units(world):
    rest = order(world, ("SOCKS-WOOL-3", 3))
    socks = rest["line_items"][0]["admin_graphql_api_id"]
    mine = world.shop.request_return(rest["admin_graphql_api_id"], [(socks, 2, "unwanted", None)])
    world.platform.set_return_status(str(mine["id"]), "OPEN")
    [node] = query(world, rr.ORDER_RETURNS, {"id": rest["admin_graphql_api_id"]})["order"]["returns"]["nodes"]
    assert (node["id"], node["status"]) == (mine["admin_graphql_api_id"], "OPEN")
    assert abs(datetime.fromisoformat(node["createdAt"].replace("Z", "+00:00")) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert node["returnLineItems"]["nodes"] == [{"quantity": 2, "fulfillmentLineItem": {"lineItem": {"id": socks}}}]
    assert query(world, rr.ORDER_RETURNS, {"id": "gid://shopify/Order/1"}) == {"order": None}


def test_returnable_units_leave_out_what_is_in_a_live_return_or_refunded(world):
    rest = order(world, ("SOCKS-WOOL-3", 3), ("BEANIE-RED", 1))
    socks, beanie = rest["line_items"]
    world.shop.request_return(rest["admin_graphql_api_id"], [(socks["admin_graphql_api_id"], 1, "unwanted", None)])
    answer = query(world, rr.RETURNABLE_FULFILLMENTS, {"orderId": rest["admin_graphql_api_id"]})["returnableFulfillments"]
    assert rr.returnable_units(answer) == [
        (f"gid://shopify/FulfillmentLineItem/{socks['id'] + 1}", str(socks["id"]), 2),
        (f"gid://shopify/FulfillmentLineItem/{beanie['id'] + 1}", str(beanie["id"]), 1)]
    world.shop.refund_nodes.append(refund_node(555, {str(beanie["id"]): 1}, {}, "2026-12-01T09:00:00Z"))  # refunded in the admin
    answer = query(world, rr.RETURNABLE_FULFILLMENTS, {"orderId": rest["admin_graphql_api_id"]})["returnableFulfillments"]
    assert [(line, units) for _, line, units in rr.returnable_units(answer)] == [(str(socks["id"]), 2)]

    with pytest.raises(ProviderRejected) as refused:  # the adapter places what is left, and refuses unsent
        world.platform.open_return(to_open(rest, ("SOCKS-WOOL-3", 3, "unwanted", None)))
    assert refused.value.code == "not_returnable" and world.shop.operations("ReturnRequest") == []


def test_return_request_refuses_what_shopify_refuses_and_makes_nothing(world):
    rest = order(world, ("SOCKS-WOOL-3", 2))
    fli = f"gid://shopify/FulfillmentLineItem/{rest['line_items'][0]['id'] + 1}"

    def ask(*items, order_gid=rest["admin_graphql_api_id"]):
        payload = query(world, rr.RETURN_REQUEST, {"input": {"orderId": order_gid, "returnLineItems": list(items)}})
        return payload["returnRequest"]

    too_many = ask({"fulfillmentLineItemId": fli, "quantity": 1, "returnReason": "UNWANTED"},
                   {"fulfillmentLineItemId": fli, "quantity": 2, "returnReason": "UNWANTED"})  # fmt: skip
    assert too_many["return"] is None and too_many["userErrors"][0]["code"] == "INVALID"
    assert ask({"fulfillmentLineItemId": "gid://shopify/FulfillmentLineItem/1", "quantity": 1})["userErrors"][0]["code"] == "NOT_FOUND"
    assert ask({"fulfillmentLineItemId": fli, "quantity": 1, "returnReasonDefinitionId": "gid://shopify/ReturnReasonDefinition/9"}
               )["userErrors"][0]["field"][-1] == "returnReasonDefinitionId"  # fmt: skip
    assert ask({"fulfillmentLineItemId": fli, "quantity": 1}, order_gid="gid://shopify/Order/1")["userErrors"][0]["code"] == "NOT_FOUND"
    assert world.shop.returns == {}
    made = ask({"fulfillmentLineItemId": fli, "quantity": 2, "returnReason": "DEFECTIVE", "customerNote": "torn"})
    assert made["userErrors"] == [] and made["return"]["status"] == "REQUESTED"
    assert [topic for topic, _ in world.shop.sent][-1] == "returns/request"


def test_reason_definitions_are_found_by_handle(world):
    nodes = query(world, rr.RETURN_REASON_DEFINITIONS, {"handles": ["too-tight", "size-too-small"]})["returnReasonDefinitions"]["nodes"]
    assert [(n["handle"], n["deleted"]) for n in nodes] == [("too-tight", False)] and set(nodes[0]) == {"id", "handle", "deleted"}


def test_a_lost_answer_made_the_return_and_the_next_run_finds_it(world):
    rest = order(world)
    request = to_open(rest, ("MERINO-M-GREY", 1, "size_too_small", None))
    world.shop.op_faults["ReturnRequest"] = ["lost_answer"]
    with pytest.raises(ProviderError):
        world.platform.open_return(request)
    [(gid, _)] = world.shop.returns.items()
    assert world.platform.open_return(request) == numeric(gid)
    assert len(world.shop.operations("ReturnRequest")) == 1


def test_cancelling_marks_the_order_cancelled_once_and_announces_it(world, inbox):
    rest = order(world)
    world.platform.cancel_order(str(rest["id"]), "Palautus: the customer withdrew before delivery")
    gid = rest["admin_graphql_api_id"]
    assert world.shop.orders[gid]["cancelled_at"] and world.shop.orders[gid]["cancel_reason"] == "customer"
    assert world.shop.cancellations[gid]["staffNote"] == "Palautus: the customer withdrew before delivery"
    assert world.platform.fetch_order(str(rest["id"])).cancelled_at is not None
    world.platform.cancel_order(str(rest["id"]), "again")  # cancelled already: done, nothing sent
    assert len(world.shop.operations("OrderCancel")) == 1
    again = query(world, gql.ORDER_CANCEL, {"orderId": gid, "reason": "CUSTOMER", "restock": True})["orderCancel"]
    assert again["job"] is None and again["orderCancelUserErrors"][0]["code"] == "INVALID"

    deliveries = settled(world, inbox, 4)
    topics = [d.header("X-Shopify-Topic") for d in deliveries]
    assert topics == ["orders/create", "orders/paid", "orders/cancelled", "orders/updated"]
    cancelled = PLATFORMS["shopify"].interpret("orders/cancelled", json.loads(deliveries[2].body))
    assert cancelled.cancelled_at is not None and cancelled.paid  # nothing was refunded by cancelling


def test_an_order_with_a_return_in_progress_or_a_refund_asked_is_not_cancelled(world):
    rest = order(world)
    gid = rest["admin_graphql_api_id"]
    refund = query(world, gql.ORDER_CANCEL, {"orderId": gid, "reason": "CUSTOMER", "restock": True,
                                             "refundMethod": {"originalPaymentMethodsRefund": True}})["orderCancel"]  # fmt: skip
    assert refund["orderCancelUserErrors"][0]["code"] == "INVALID"
    world.shop.request_return(gid, [(rest["line_items"][0]["admin_graphql_api_id"], 1, "unwanted", None)])
    with pytest.raises(ProviderRejected, match="returns in progress"):
        world.platform.cancel_order(str(rest["id"]), "withdrawn")
    assert world.shop.orders[gid]["cancelled_at"] is None and "orders/cancelled" not in [t for t, _ in world.shop.sent]
    missing = query(world, gql.ORDER_CANCEL, {"orderId": "gid://shopify/Order/1", "reason": "CUSTOMER", "restock": True})
    assert missing["orderCancel"]["orderCancelUserErrors"][0]["code"] == "NOT_FOUND"


def test_cancelling_voids_what_was_only_authorized(world):
    rest = world.shop.create_order([("BEANIE-RED", 1)], gateway="shopify_payments")
    gid = rest["admin_graphql_api_id"]
    held = {**stripe_sale(4242, rest["total_price"]), "kind": "AUTHORIZATION", "gateway": "shopify_payments",
            "paymentId": "shopify-pay-4242", "authorizationCode": None}  # fmt: skip
    world.shop.order_transactions[gid] = [held]
    assert len(world.platform.order_authorizations(str(rest["id"]))) == 1
    world.platform.cancel_order(str(rest["id"]), "withdrawn")
    assert world.platform.order_authorizations(str(rest["id"])) == []
    assert world.shop.orders[gid]["financial_status"] == "voided"


def test_the_new_documents_are_costed_and_counted_under_the_rate_limit_knob(world):
    world.sandbox.limits = limits = RateLimits()
    rest = order(world)
    world.platform.read_products([str(line["product_id"]) for line in rest["line_items"]])
    world.platform.open_return(to_open(rest, ("MERINO-M-GREY", 1, "changed_mind", None)))
    world.platform.cancel_order(str(world.shop.create_order([("BEANIE-RED", 1)])["id"]), "withdrawn")
    answered = limits.summary()["shopify"]["answered"]
    assert {op: answered.get(op) for op in ("ProductsById", "OrderReturns", "ReturnableFulfillments",
                                             "ReturnReasonDefinitions", "ReturnRequest", "OrderCancelled", "OrderCancel")} == {
        "ProductsById": 1, "OrderReturns": 1, "ReturnableFulfillments": 1, "ReturnReasonDefinitions": 1,
        "ReturnRequest": 1, "OrderCancelled": 1, "OrderCancel": 1}  # fmt: skip
    ids = {"ids": ["gid://shopify/Product/8112233445566", "gid://shopify/Product/1"]}
    data = query(world, shopify_products.PRODUCTS_BY_ID, ids)
    requested = query_cost(world.shop.schema, shopify_products.PRODUCTS_BY_ID, ids)
    assert query_cost(world.shop.schema, shopify_products.PRODUCTS_BY_ID, ids, data) <= requested == 2
