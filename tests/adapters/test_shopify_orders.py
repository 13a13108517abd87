"""Reading orders, fulfillments, returns and payments: documents the 2026-10 schema accepts, answers in its shape.

Every canned answer here is first run through the real schema (`fits`): executing
the document over it must give it back unchanged, so a misspelt key, a missing
field or a wrong type in a fixture fails before any parser sees it.
"""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from graphql import execute, parse, validate

from adapters.errors import PayloadError
from adapters.platforms.shopify import orders
from adapters.platforms.shopify.orders import (
    ShippingData, next_page_variables, parse_fulfillment_locations, parse_order_node, parse_return_restocked,
    parse_shipping_lines, parse_shipping_node,
)  # fmt: skip
from adapters.platforms.shopify.payloads import parse_order
from tests.adapters.shopify_nodes import graphql_order  # the REST -> GraphQL order, with the policy's facts
from tests.fakes import bag, taxes, utc  # noqa: F401

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "shopify"
EUR_ORDER = "orders__create.eur_presentment.json"
SAMPLE_ORDER = "orders__create.sample.json"
ORDER_GID = "gid://shopify/Order/5196695273621"
RETURN_GID = "gid://shopify/Return/9871234"
SWEATER, SOCKS = "gid://shopify/LineItem/12695210000533", "gid://shopify/LineItem/12695210033301"
HELSINKI, TAMPERE = "gid://shopify/Location/61001", "gid://shopify/Location/61002"
DOCUMENTS = sorted(
    (name, value) for name, value in vars(orders).items()
    if name.isupper() and isinstance(value, str) and value.lstrip().startswith(("query", "mutation"))
)  # fmt: skip


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def resolve_type(value, info, abstract_type) -> str:
    """Abstract types the way Shopify answers them: `__typename`, else the type in the gid."""
    return value.get("__typename") or value["id"].split("/")[3]


def fits(schema, document: str, data: dict, variables: dict) -> dict:
    """The answer is one Shopify could send for this document: executing the document over it gives it back."""
    result = execute(schema, parse(document), root_value=data, variable_values=variables, type_resolver=resolve_type)
    assert result.errors is None, result.errors
    assert result.data == data
    return data


# --- REST webhook body -> the same order as the ORDER document answers it ------------------------


@pytest.fixture
def eur_node(shopify_schema):
    node = graphql_order(load(EUR_ORDER))
    return fits(shopify_schema, orders.ORDER, {"order": node}, {"id": ORDER_GID})["order"]


# --- the documents against the real schema -------------------------------------------------------


def test_the_module_defines_the_three_read_documents():
    assert {name for name, _ in DOCUMENTS} == {"ORDER", "FULFILLMENT_LOCATIONS", "RETURN_RESTOCKED"}


@pytest.mark.parametrize("name, document", DOCUMENTS, ids=[name for name, _ in DOCUMENTS])
def test_every_document_validates_against_the_shopify_2026_10_schema(shopify_schema, name, document):
    assert validate(shopify_schema, parse(document)) == []


def test_the_check_rejects_a_field_the_schema_does_not_have(shopify_schema):
    wrong = orders.RETURN_RESTOCKED.replace("dispositions {", "disposition {")
    assert validate(shopify_schema, parse(wrong))


def test_every_display_financial_status_becomes_a_word_the_webhooks_use(shopify_schema):
    rest_words = {"pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided",
                  "expired"}  # fmt: skip
    for value in shopify_schema.get_type("OrderDisplayFinancialStatus").values:
        node = {**graphql_order(load(EUR_ORDER)), "displayFinancialStatus": value}
        assert parse_order_node(node).financial_status in rest_words


# --- ORDER: the same OrderSnapshot as the webhook ------------------------------------------------


@pytest.mark.parametrize("name", [EUR_ORDER, SAMPLE_ORDER])
def test_an_order_read_by_graphql_equals_the_same_order_from_its_webhook(shopify_schema, name):
    rest = load(name)
    node = fits(shopify_schema, orders.ORDER, {"order": graphql_order(rest)}, {"id": rest["admin_graphql_api_id"]})

    assert parse_order_node(node["order"]) == as_read(parse_order(rest))


def as_read(snapshot):
    """A webhook's order as the Admin API read gives it: ORDER does not ask for the customer (reading it would
    take the read_customers scope), whose id a webhook's order carries."""
    assert snapshot.platform_customer_id is not None
    return replace(snapshot, platform_customer_id=None)


def test_the_eur_order_keeps_presentment_money_in_minor_units(eur_node):
    order = parse_order_node(eur_node)

    assert (order.currency, order.shop_currency, order.total, order.financial_status) == ("EUR", "USD", 19560, "paid")
    sweater = order.lines[0]
    assert (sweater.platform_line_id, sweater.quantity, sweater.unit_price) == ("12695210000533", 2, 8990)
    assert (sweater.discount_total, sweater.tax_total, sweater.tax_rate) == (1000, 3286, Decimal("0.24"))
    assert (sweater.product_id, sweater.variant_id, sweater.sku) == ("8112233445566", "44556677889900", "MERINO-M-GREY")
    assert order.platform_gid == ORDER_GID


def test_line_items_on_two_pages_give_the_whole_order(shopify_schema):
    rest = load(EUR_ORDER)
    variables = {"id": ORDER_GID}
    first = fits(shopify_schema, orders.ORDER, {"order": graphql_order(rest, slice(0, 1), "eyJsYXN0IjoxfQ==")},
                 variables)["order"]  # fmt: skip
    variables = next_page_variables(variables, first)
    assert variables == {"id": ORDER_GID, "linesAfter": "eyJsYXN0IjoxfQ=="}
    second = fits(shopify_schema, orders.ORDER, {"order": graphql_order(rest, slice(1, None))}, variables)["order"]

    assert next_page_variables(variables, second) is None
    assert parse_order_node(first, second) == as_read(parse_order(rest))


def test_an_order_missing_its_last_pages_is_refused(eur_node):
    first = {**eur_node, "lineItems": {**eur_node["lineItems"], "pageInfo": {"hasNextPage": True, "endCursor": "c"}}}

    with pytest.raises(PayloadError, match=r"^order\.lineItems\.pageInfo\.hasNextPage"):
        parse_order_node(first)


def test_a_page_of_another_order_is_refused(eur_node):
    other = {**eur_node, "id": "gid://shopify/Order/1"}

    with pytest.raises(PayloadError, match=r"pages\[1\]\.order\.id"):
        parse_order_node(eur_node, other)


def test_a_tax_line_without_a_rate_falls_back_to_its_percentage(eur_node):
    node = copy.deepcopy(eur_node)
    node["lineItems"]["nodes"][0]["taxLines"][0]["rate"] = None

    assert parse_order_node(node).lines[0].tax_rate == Decimal("0.24")


@pytest.mark.parametrize("mutate, path", [
    (lambda n: n["lineItems"]["nodes"][0]["originalUnitPriceSet"]["presentmentMoney"].update(currencyCode="USD"),
     "order.lineItems.nodes[0].originalUnitPriceSet.presentmentMoney.currencyCode"),
    (lambda n: n["lineItems"]["nodes"][1]["product"].update(id="gid://shopify/ProductVariant/1"),
     "order.lineItems.nodes[1].product.id"),
    (lambda n: n["lineItems"]["nodes"][0]["discountAllocations"][0]["allocatedAmountSet"]["presentmentMoney"]
     .update(amount="10.001"), "order.lineItems.nodes[0].discountAllocations[0].allocatedAmountSet"),
    (lambda n: n.update(email=["aino.virtanen@example.com"]), "order.email"),
    (lambda n: n.update(updatedAt="2026-03-02T14:06:40"), "order.updatedAt"),
    (lambda n: n["lineItems"].update(nodes=None), "order.lineItems.nodes"),
    (lambda n: n["lineItems"]["nodes"][0].update(quantity=0), "order.lineItems.nodes[0].quantity"),
])  # fmt: skip
def test_a_wrong_shape_names_its_json_path_and_never_the_value(eur_node, mutate, path):
    node = copy.deepcopy(eur_node)
    mutate(node)

    with pytest.raises(PayloadError) as caught:
        parse_order_node(node)
    assert str(caught.value).startswith(path)
    assert "aino" not in str(caught.value)


def test_an_order_that_is_not_there_is_a_payload_error():
    with pytest.raises(PayloadError, match="^order: expected an object, got null"):
        parse_order_node(None)


# --- shipping: both paths agree ------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    (EUR_ORDER, ShippingData(amount=590, tax=114, tax_rate=Decimal("0.24"))),  # 5.90 EUR, tax included
    (SAMPLE_ORDER, ShippingData(amount=0, tax=0, tax_rate=Decimal(0))),  # 10.00 discounted to 0.00
])  # fmt: skip
def test_shipping_paid_is_the_same_from_the_webhook_and_from_graphql(shopify_schema, name, expected):
    rest = load(name)
    node = fits(shopify_schema, orders.ORDER, {"order": graphql_order(rest)}, {"id": rest["admin_graphql_api_id"]})

    assert parse_shipping_lines(rest) == expected
    assert parse_shipping_node(node["order"]) == expected


def test_removed_shipping_lines_count_for_nothing_and_differing_rates_give_no_single_rate():
    rest = load(EUR_ORDER)
    line = rest["shipping_lines"][0]
    untaxed_rate = copy.deepcopy(line)
    untaxed_rate["tax_lines"][0]["rate"] = 0.14
    rest["shipping_lines"] += [{**copy.deepcopy(line), "is_removed": True}, untaxed_rate]

    assert parse_shipping_lines(rest) == ShippingData(amount=1180, tax=228, tax_rate=None)


def test_shipping_in_a_foreign_currency_without_its_presentment_set_is_refused():
    rest = load(EUR_ORDER)
    del rest["shipping_lines"][0]["discounted_price_set"]

    with pytest.raises(PayloadError, match=r"^shipping_lines\[0\]\.discounted_price_set: missing"):
        parse_shipping_lines(rest)


def test_more_shipping_lines_than_one_page_are_refused(eur_node):
    node = copy.deepcopy(eur_node)
    node["shippingLines"]["pageInfo"]["hasNextPage"] = True

    with pytest.raises(PayloadError, match=r"^order\.shippingLines\.pageInfo\.hasNextPage"):
        parse_shipping_node(node)


# --- FULFILLMENT_LOCATIONS -----------------------------------------------------------------------


def fulfillment(number: int, status: str, location: str | None, *lines: tuple[str, int]) -> dict:
    return {
        "id": f"gid://shopify/Fulfillment/{number}", "status": status,
        "location": {"id": location} if location else None,
        "fulfillmentLineItems": {"pageInfo": {"hasNextPage": False},
                                 "nodes": [{"quantity": n, "lineItem": {"id": gid}} for gid, n in lines]},
    }  # fmt: skip


def fulfillments_answer(schema, *items: dict) -> dict:
    node = {"id": ORDER_GID, "fulfillmentsCount": {"count": len(items), "precision": "EXACT"},
            "fulfillments": list(items)}  # fmt: skip
    return fits(schema, orders.FULFILLMENT_LOCATIONS, {"order": node}, {"id": ORDER_GID})["order"]


def test_each_line_maps_to_the_location_it_shipped_from(shopify_schema):
    node = fulfillments_answer(
        shopify_schema,
        fulfillment(1, "SUCCESS", HELSINKI, (SWEATER, 2)),
        fulfillment(2, "CANCELLED", HELSINKI, (SOCKS, 1)),
        fulfillment(3, "SUCCESS", TAMPERE, (SOCKS, 1)),
    )

    assert parse_fulfillment_locations(node) == {"12695210000533": HELSINKI, "12695210033301": TAMPERE}


def test_a_line_split_over_locations_maps_to_where_most_units_left(shopify_schema):
    node = fulfillments_answer(
        shopify_schema,
        fulfillment(1, "SUCCESS", HELSINKI, (SWEATER, 1), (SOCKS, 1)),
        fulfillment(2, "SUCCESS", TAMPERE, (SWEATER, 2), (SOCKS, 1)),
        fulfillment(3, "SUCCESS", None, (SOCKS, 5)),
    )

    assert parse_fulfillment_locations(node) == {"12695210000533": TAMPERE, "12695210033301": HELSINKI}


def test_an_unfulfilled_order_maps_nothing(shopify_schema):
    assert parse_fulfillment_locations(fulfillments_answer(shopify_schema)) == {}


def test_fulfillments_beyond_what_the_document_reads_are_refused(shopify_schema):
    node = fulfillments_answer(shopify_schema, fulfillment(1, "SUCCESS", HELSINKI, (SWEATER, 2)))
    cut = {**node, "fulfillmentsCount": {"count": 11, "precision": "EXACT"}}
    page = copy.deepcopy(node)
    page["fulfillments"][0]["fulfillmentLineItems"]["pageInfo"]["hasNextPage"] = True

    with pytest.raises(PayloadError, match=r"^order\.fulfillments"):
        parse_fulfillment_locations(cut)
    with pytest.raises(PayloadError, match=r"^order\.fulfillments\[0\]\.fulfillmentLineItems\.pageInfo"):
        parse_fulfillment_locations(page)


def test_a_location_that_is_not_a_location_gid_is_refused(shopify_schema):
    node = fulfillments_answer(shopify_schema, fulfillment(1, "SUCCESS", "gid://shopify/Shop/1", (SWEATER, 2)))

    with pytest.raises(PayloadError, match=r"^order\.fulfillments\[0\]\.location\.id"):
        parse_fulfillment_locations(node)


# --- RETURN_RESTOCKED ----------------------------------------------------------------------------


def rfo_line(number: int, line: str | None, *dispositions: tuple[str, int]) -> dict:
    return {
        "id": f"gid://shopify/ReverseFulfillmentOrderLineItem/{number}",
        "fulfillmentLineItem": {"lineItem": {"id": line}} if line else None,
        "dispositions": [{"type": kind, "quantity": n, "location": {"id": HELSINKI} if kind == "RESTOCKED" else None}
                         for kind, n in dispositions],
    }  # fmt: skip


def return_answer(schema, *rfos: list[dict]) -> dict:
    node = {"id": RETURN_GID, "reverseFulfillmentOrders": {"pageInfo": {"hasNextPage": False}, "nodes": [
        {"id": f"gid://shopify/ReverseFulfillmentOrder/{i}",
         "lineItems": {"pageInfo": {"hasNextPage": False}, "nodes": lines}}
        for i, lines in enumerate(rfos, start=1)]}}  # fmt: skip
    return fits(schema, orders.RETURN_RESTOCKED, {"return": node}, {"id": RETURN_GID})["return"]


def test_only_restocked_dispositions_count_and_across_reverse_fulfillment_orders(shopify_schema):
    node = return_answer(
        shopify_schema,
        [rfo_line(1, SWEATER, ("RESTOCKED", 1), ("NOT_RESTOCKED", 1)), rfo_line(2, SOCKS, ("RESTOCKED", 2))],
        [rfo_line(3, SOCKS, ("RESTOCKED", 1), ("MISSING", 1))],
    )

    assert parse_return_restocked(node) == {"12695210000533": 1, "12695210033301": 3}


def test_a_return_nothing_was_done_with_restocked_nothing(shopify_schema):
    node = return_answer(shopify_schema, [rfo_line(1, SWEATER), rfo_line(2, SOCKS, ("PROCESSING_REQUIRED", 1))])

    assert parse_return_restocked(node) == {"12695210000533": 0, "12695210033301": 0}


def test_restocked_units_that_cannot_be_placed_on_a_line_are_refused_not_dropped(shopify_schema):
    node = return_answer(shopify_schema, [rfo_line(1, None, ("RESTOCKED", 1))])
    harmless = return_answer(shopify_schema, [rfo_line(1, None, ("NOT_RESTOCKED", 1))])

    with pytest.raises(PayloadError, match=r"nodes\[0\]\.lineItems\.nodes\[0\]\.fulfillmentLineItem"):
        parse_return_restocked(node)
    assert parse_return_restocked(harmless) == {}


def test_a_return_with_more_lines_than_the_document_reads_is_refused(shopify_schema):
    node = return_answer(shopify_schema, [rfo_line(1, SWEATER, ("RESTOCKED", 1))])
    node["reverseFulfillmentOrders"]["nodes"][0]["lineItems"]["pageInfo"]["hasNextPage"] = True

    with pytest.raises(PayloadError, match=r"^return\.reverseFulfillmentOrders\.nodes\[0\]\.lineItems\.pageInfo"):
        parse_return_restocked(node)
