"""The order facts the return policy needs (fulfilled, delivered, language, gift cards), from an orders/* webhook
and from the Admin API's ORDER read: Shopify's own samples and our richer fixture."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from graphql import execute, parse

from adapters.platforms.shopify import orders
from adapters.platforms.shopify.facts import locale
from adapters.platforms.shopify.orders import parse_order_node
from adapters.platforms.shopify.payloads import parse_order
from tests.adapters.shopify_nodes import graphql_order

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "shopify"
DELIVERED = "orders__updated.delivered.json"  # two shipments (and a cancelled one), both delivered
UTC = timezone.utc


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def answered(schema, rest: dict, **kwargs) -> dict:
    """ORDER's `order` for `rest`, checked to be an answer Shopify could give to the document."""
    data = {"order": graphql_order(rest, **kwargs)}
    result = execute(schema, parse(orders.ORDER), root_value=data, variable_values={"id": rest["admin_graphql_api_id"]},
                     type_resolver=lambda value, info, abstract: value["id"].split("/")[3])  # fmt: skip
    assert result.errors is None, result.errors
    assert result.data == data
    return data["order"]


@pytest.mark.parametrize("name", ["orders__create.sample.json", "orders__updated.sample.json",
                                  "orders__paid.sample.json", "orders__cancelled.sample.json"])  # fmt: skip
def test_shopify_s_own_samples_are_unfulfilled_and_say_the_customer_s_language(name):
    order = parse_order(load(name))
    assert (order.fulfilled_at, order.delivered_at, order.locale) == (None, None, "en")
    assert not any(line.gift_card for line in order.lines)


def test_the_last_shipment_s_times_once_every_one_was_delivered_and_cancelled_ones_count_for_nothing():
    order = parse_order(load(DELIVERED))
    assert order.fulfilled_at == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # the later of the two successful ones
    assert order.delivered_at == datetime(2026, 3, 5, 11, 45, tzinfo=UTC)  # its updated_at stands in (REST)
    assert order.locale == "fi"


def test_one_shipment_still_on_its_way_leaves_the_delivery_unknown():
    rest = load(DELIVERED)
    rest["fulfillments"][2]["shipment_status"] = "in_transit"
    order = parse_order(rest)
    assert (order.fulfilled_at, order.delivered_at) == (datetime(2026, 3, 3, 8, 0, tzinfo=UTC), None)


def test_a_parcel_the_customer_picked_up_counts_as_delivered():
    rest = load(DELIVERED)
    rest["fulfillments"][1]["shipment_status"] = "picked_up"
    assert parse_order(rest).delivered_at == datetime(2026, 3, 5, 11, 45, tzinfo=UTC)


@pytest.mark.parametrize("status", ["partial", None, "restocked"])
def test_an_order_not_wholly_fulfilled_has_neither_date(status):
    rest = load(DELIVERED)
    rest["fulfillment_status"] = status
    order = parse_order(rest)
    assert (order.fulfilled_at, order.delivered_at) == (None, None)


def test_a_fulfillment_in_a_shape_we_do_not_know_leaves_the_dates_unknown_and_the_order_is_still_read():
    rest = load(DELIVERED)
    del rest["fulfillments"][1]["created_at"]
    order = parse_order(rest)
    assert (order.fulfilled_at, order.delivered_at, order.total) == (None, None, parse_order(load(DELIVERED)).total)


@pytest.mark.parametrize("value, kept", [("fi", "fi"), ("fr-CA", "fr-CA"), ("zh-Hant-TW", "zh-Hant-TW"),
                                         ("", None), (None, None), ("<script>", None), (42, None), ("x" * 17, None)])
def test_only_a_language_tag_is_kept_as_the_locale(value, kept):
    assert locale(value) == kept


def test_a_gift_card_line_says_so():
    rest = load(DELIVERED)
    rest["line_items"][1]["gift_card"] = True
    assert [line.gift_card for line in parse_order(rest).lines] == [False, True]


# --- the same facts from the Admin API (ORDER: the catch-up and an order no webhook told of) --------------


def test_the_admin_api_read_gives_the_same_facts_with_the_carrier_s_own_delivery_time(shopify_schema):
    rest = load(DELIVERED)
    rest["line_items"][1]["gift_card"] = True
    carrier = {rest["fulfillments"][2]["id"]: "2026-03-05T08:02:11Z"}
    node = answered(shopify_schema, rest, delivered_at=carrier)
    read, hook = parse_order_node(node), parse_order(rest)
    assert (read.fulfilled_at, read.locale, [line.gift_card for line in read.lines]) == (
        hook.fulfilled_at, "fi", [False, True])  # fmt: skip
    assert read.delivered_at == datetime(2026, 3, 5, 8, 2, 11, tzinfo=UTC)  # the carrier's, not updated_at


def test_the_admin_api_read_of_an_undelivered_or_unfulfilled_order_has_no_dates(shopify_schema):
    rest = load(DELIVERED)
    rest["fulfillments"][1]["shipment_status"] = "in_transit"
    assert parse_order_node(answered(shopify_schema, rest)).delivered_at is None
    rest["fulfillment_status"] = "partial"
    read = parse_order_node(answered(shopify_schema, rest))
    assert (read.fulfilled_at, read.delivered_at) == (None, None)


def test_more_fulfillments_than_the_read_sees_leave_the_dates_unknown(shopify_schema):
    node = copy.deepcopy(answered(shopify_schema, load(DELIVERED)))
    node["fulfillmentsCount"] = {"count": 21, "precision": "EXACT"}
    assert (parse_order_node(node).fulfilled_at, parse_order_node(node).delivered_at) == (None, None)
    node["fulfillmentsCount"] = {"count": 3, "precision": "AT_LEAST"}
    assert parse_order_node(node).fulfilled_at is None


def test_a_delivered_fulfillment_without_the_carrier_s_time_leaves_the_delivery_unknown(shopify_schema):
    node = copy.deepcopy(answered(shopify_schema, load(DELIVERED)))
    node["fulfillments"][2]["deliveredAt"] = None
    assert parse_order_node(node).delivered_at is None


def test_the_sample_order_s_graphql_answer_has_its_language_and_no_dates(shopify_schema):
    rest = load("orders__updated.sample.json")
    read = parse_order_node(answered(shopify_schema, rest))
    assert (read.fulfilled_at, read.delivered_at, read.locale) == (None, None, "en")


@pytest.mark.parametrize(("shipping", "billing", "country"), [
    ({"country_code": "SE"}, {"country_code": "FI"}, "SE"), (None, {"country_code": "FI"}, "FI"),
    ({"country_code": None}, None, None), (None, None, None)])  # fmt: skip
def test_the_vat_country_is_where_the_goods_went_from_the_webhook_and_from_the_admin_api(shopify_schema, shipping, billing, country):
    rest = load(DELIVERED)
    rest["shipping_address"], rest["billing_address"] = shipping, billing
    assert parse_order(rest).tax_country == country
    assert parse_order_node(answered(shopify_schema, rest)).tax_country == country
    rest["shipping_address"] = {"country_code": " se "}  # a code in another case is still the code; a name is not
    assert parse_order(rest).tax_country == "SE"
    rest["shipping_address"] = {"country_code": "Sweden"}
    assert parse_order(rest).tax_country == (billing or {}).get("country_code")
