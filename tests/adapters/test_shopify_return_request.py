"""A portal return opened in Shopify (returnRequest): documents the 2026-10 schema accepts, variables it coerces,
answers it could give, our units placed on fulfillment line items, reasons as definitions (else the enum), and
never a second return: an earlier run's is found first, and what cannot be told for sure is refused unsent."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import responses
from graphql import execute, parse, validate
from graphql.execution.values import get_variable_values

from adapters.errors import ProviderRejected
from adapters.platforms.shopify import return_request as rr
from adapters.platforms.shopify.admin import ShopifyAdmin
from integration.records import ReturnLineToOpen, ReturnToOpen
from integration.returns import Reason

SHOP = "palautus-test.myshopify.com"
URL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
ORDER = "gid://shopify/Order/5196695273621"
SWEATER, SOCKS = "12695210000533", "12695210033301"
OPENED = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
DOCUMENTS = {"ORDER_RETURNS": rr.ORDER_RETURNS, "RETURNABLE_FULFILLMENTS": rr.RETURNABLE_FULFILLMENTS,
             "RETURN_REASON_DEFINITIONS": rr.RETURN_REASON_DEFINITIONS, "RETURN_REQUEST": rr.RETURN_REQUEST}  # fmt: skip


def request(*lines, linked=()) -> ReturnToOpen:
    lines = lines or (ReturnLineToOpen(SWEATER, 2, "size_too_small", "Merino wool sweater", "Too tight " * 40),
                      ReturnLineToOpen(SOCKS, 1, "arrived_late", "Wool socks"))
    return ReturnToOpen("5196695273621", "AB2C-DE3F", lines, OPENED, linked)


def shopify_return(number, lines, created="2026-11-20T10:00:05Z", status="REQUESTED") -> dict:
    return {"id": f"gid://shopify/Return/{number}", "status": status, "createdAt": created, "returnLineItems": {
        "pageInfo": {"hasNextPage": False},
        "nodes": [{"__typename": "ReturnLineItem", "quantity": q,
                   "fulfillmentLineItem": {"lineItem": {"id": f"gid://shopify/LineItem/{line}"}}} for line, q in lines]}}


def returns_answer(*returns, more=False) -> dict:
    return {"order": {"id": ORDER, "returns": {"pageInfo": {"hasNextPage": more}, "nodes": list(returns)}}}


def returnable(*fulfillments) -> dict:
    """[(fulfillment line item number, line, units), ...] per fulfillment."""
    return {"returnableFulfillments": {"pageInfo": {"hasNextPage": False}, "nodes": [
        {"id": f"gid://shopify/ReturnableFulfillment/{n}", "returnableFulfillmentLineItems": {
            "pageInfo": {"hasNextPage": False},
            "nodes": [{"quantity": q, "fulfillmentLineItem": {"id": f"gid://shopify/FulfillmentLineItem/{fli}",
                                                              "lineItem": {"id": f"gid://shopify/LineItem/{line}"}}}
                      for fli, line, q in rows]}}
        for n, rows in enumerate(fulfillments, 1)]}}  # fmt: skip


DEFINITIONS = {"returnReasonDefinitions": {"nodes": [
    {"id": "gid://shopify/ReturnReasonDefinition/11", "handle": "too-small", "deleted": True},
    {"id": "gid://shopify/ReturnReasonDefinition/12", "handle": "size-too-small", "deleted": False},
]}}  # fmt: skip
CREATED = {"returnRequest": {"return": {"id": "gid://shopify/Return/3547267999", "status": "REQUESTED"}, "userErrors": []}}


class Shop:
    """Shopify's Admin API for these tests: canned answers in order, every request kept."""

    def __init__(self, api, *answers):
        self.bodies: list[dict] = []
        for data in answers:
            api.add_callback(responses.POST, URL, callback=self._answer(data))

    def _answer(self, data):
        def reply(req):
            self.bodies.append(json.loads(req.body))
            return 200, {"X-Request-Id": "req-1"}, json.dumps({"data": data})
        return reply

    def operations(self) -> list[str]:
        return [parse(body["query"]).definitions[0].name.value for body in self.bodies]


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def opened(api, *answers):
    shop = Shop(api, *answers)
    return rr.open_return(ShopifyAdmin(SHOP, "shpat_test"), request()), shop


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_document_validates_against_the_shopify_2026_10_schema(shopify_schema, name):
    assert validate(shopify_schema, parse(DOCUMENTS[name])) == []


def test_every_reason_of_ours_has_a_handle_and_an_enum_value_the_schema_has(shopify_schema):
    values = set(shopify_schema.get_type("ReturnReason").values)
    assert set(rr.HANDLES) == set(rr.LEGACY_REASONS) == {reason.value for reason in Reason}
    assert set(rr.LEGACY_REASONS.values()) <= values
    deprecated = shopify_schema.get_type("ReturnRequestLineItemInput").fields["returnReason"].deprecation_reason
    assert "returnReasonDefinitionId" in deprecated  # why the definitions come first


def test_a_new_request_places_units_on_the_fulfillments_and_sends_what_the_schema_takes(shopify_schema, api):
    answers = [returns_answer(), returnable([(71, SWEATER, 1)], [(72, SWEATER, 1), (73, SOCKS, 1)]), DEFINITIONS, CREATED]
    number, shop = opened(api, *answers)

    assert number == "3547267999"
    assert shop.operations() == ["OrderReturns", "ReturnableFulfillments", "ReturnReasonDefinitions", "ReturnRequest"]
    for body, data in zip(shop.bodies, answers):
        assert_fits(shopify_schema, body, data)
    items = shop.bodies[3]["variables"]["input"]["returnLineItems"]
    assert shop.bodies[3]["variables"]["input"]["orderId"] == ORDER
    assert [(i["fulfillmentLineItemId"].rsplit("/", 1)[1], i["quantity"]) for i in items] == [("71", 1), ("72", 1), ("73", 1)]
    assert items[0]["returnReasonDefinitionId"] == "gid://shopify/ReturnReasonDefinition/12"  # the live one first
    assert "returnReason" not in items[0] and items[2]["returnReason"] == "OTHER"  # no "arrived-late" in this library
    assert len(items[0]["customerNote"]) == rr.NOTE_MAX and "customerNote" not in items[2]
    assert set(shop.bodies[2]["variables"]["handles"]) >= {"size-too-small", "arrived-late"}


def test_a_return_an_earlier_run_made_is_found_and_nothing_is_sent(shopify_schema, api):
    ours = shopify_return(3547267999, [(SWEATER, 1), (SOCKS, 1), (SWEATER, 1)], status="OPEN")
    number, shop = opened(api, returns_answer(ours))
    assert number == "3547267999" and shop.operations() == ["OrderReturns"]
    assert_fits(shopify_schema, shop.bodies[0], returns_answer(ours))


@pytest.mark.parametrize("other", [
    shopify_return(1, [(SWEATER, 2), (SOCKS, 1)], created="2026-11-20T09:40:00Z"),  # made before ours was opened
    shopify_return(2, [(SWEATER, 2)]),  # other units
    shopify_return(3, [(SWEATER, 2), (SOCKS, 1)]),  # linked to another return of ours already (below)
])  # fmt: skip
def test_another_return_of_the_order_is_never_taken_for_ours(api, other):
    shop = Shop(api, returns_answer(other), returnable([(71, SWEATER, 2), (73, SOCKS, 1)]), DEFINITIONS, CREATED)
    assert rr.open_return(ShopifyAdmin(SHOP, "shpat_test"), request(*request().lines, linked=("3",))) == "3547267999"
    assert "ReturnRequest" in shop.operations()


def test_units_shopify_will_not_take_back_are_refused_before_anything_is_sent(api):
    with pytest.raises(ProviderRejected, match=f"line {SWEATER}: Shopify can take back 1 of 2") as caught:
        opened(api, returns_answer(), returnable([(71, SWEATER, 1), (73, SOCKS, 1)]))
    assert caught.value.code == "not_returnable" and len(api.calls) == 2


def test_shopify_s_refusal_is_a_rejection_with_its_code(api):
    refused = {"returnRequest": {"return": None, "userErrors": [
        {"field": ["input", "returnLineItems", "0", "quantity"], "message": "Quantity is not returnable", "code": "INVALID"}]}}
    with pytest.raises(ProviderRejected, match="Quantity is not returnable") as caught:
        opened(api, returns_answer(), returnable([(71, SWEATER, 2), (73, SOCKS, 1)]), DEFINITIONS, refused)
    assert caught.value.code == "INVALID"


def test_more_returns_than_one_read_sees_is_refused_rather_than_risk_a_second_one(api):
    with pytest.raises(ProviderRejected) as caught:
        opened(api, returns_answer(more=True))
    assert caught.value.code == "too_many" and len(api.calls) == 1


def test_a_library_of_reasons_that_cannot_be_read_leaves_every_reason_as_the_enum(api):
    unreadable = {"returnReasonDefinitions": None}
    number, shop = opened(api, returns_answer(), returnable([(71, SWEATER, 2), (73, SOCKS, 1)]), unreadable, CREATED)
    items = shop.bodies[3]["variables"]["input"]["returnLineItems"]
    assert [i["returnReason"] for i in items] == ["SIZE_TOO_SMALL", "OTHER"] and number == "3547267999"


def assert_fits(schema, body: dict, data: dict) -> None:
    """The variables coerce to the document's types, and the answer is one Shopify could send for them."""
    operation = parse(body["query"]).definitions[0]
    coerced = get_variable_values(schema, operation.variable_definitions, body["variables"])
    assert not isinstance(coerced, list), coerced
    result = execute(schema, parse(body["query"]), root_value=data, variable_values=body["variables"],
                     type_resolver=lambda value, info, abstract: value.get("__typename") or value["id"].split("/")[3])
    assert result.errors is None, result.errors
    assert result.data == _without_typenames(data)


def _without_typenames(value):
    if isinstance(value, dict):
        return {k: _without_typenames(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [_without_typenames(v) for v in value]
    return value
