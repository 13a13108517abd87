"""The mandatory compliance webhooks' bodies become records, or a PayloadError naming the JSON path: nothing else."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.errors import PayloadError
from adapters.platforms.shopify.events import interpret
from adapters.platforms.shopify.payloads import parse_customer_data_request, parse_customer_redact, parse_shop_redact
from integration.records import CustomerDataRequest, CustomerRedact, ShopRedact

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "shopify"
DATA_REQUEST, REDACT, SHOP_REDACT = "customers__data_request.sample.json", "customers__redact.sample.json", "shop__redact.sample.json"
ORDERS = ("299938", "280263", "220458")


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def test_shopifys_data_request_sample_parses():
    assert parse_customer_data_request(load(DATA_REQUEST)) == CustomerDataRequest(
        platform_request_id="9999", customer_email="john@example.com", platform_customer_id="191167",
        platform_order_ids=ORDERS, shop_domain="{shop}.myshopify.com",
    )  # fmt: skip


def test_shopifys_customer_redact_sample_parses():
    assert parse_customer_redact(load(REDACT)) == CustomerRedact(
        customer_email="john@example.com", platform_customer_id="191167", platform_order_ids=ORDERS,
        shop_domain="{shop}.myshopify.com",
    )  # fmt: skip


def test_shopifys_shop_redact_sample_parses():
    assert parse_shop_redact(load(SHOP_REDACT)) == ShopRedact(shop_domain="{shop}.myshopify.com")


@pytest.mark.parametrize(("topic", "name", "record"), [
    ("customers/data_request", DATA_REQUEST, CustomerDataRequest), ("customers/redact", REDACT, CustomerRedact),
    ("shop/redact", SHOP_REDACT, ShopRedact),
])  # fmt: skip
def test_the_three_topics_are_interpreted(topic, name, record):
    assert isinstance(interpret(topic, load(name)), record)


def test_ids_sent_as_strings_are_read_exactly_and_a_customer_gid_wins():
    # The samples' numbers went through JavaScript: a 64-bit id may come as a string, kept exact.
    body = load(REDACT)
    body["orders_to_redact"] = ["9007199254740993", 5]
    body["customer"] = {"id": 9007199254740992, "admin_graphql_api_id": "gid://shopify/Customer/9007199254740993",
                        "email": "john@example.com"}  # fmt: skip
    parsed = parse_customer_redact(body)
    assert (parsed.platform_order_ids, parsed.platform_customer_id) == (("9007199254740993", "5"), "9007199254740993")


def test_a_customer_record_with_only_an_email_or_only_an_id_is_enough():
    only_email = load(REDACT)
    only_email["customer"] = {"email": "john@example.com"}
    only_email["orders_to_redact"] = []
    assert parse_customer_redact(only_email).platform_customer_id is None
    only_id = load(DATA_REQUEST)
    only_id["customer"] = {"id": 191167, "email": None, "phone": None}
    assert parse_customer_data_request(only_id).customer_email is None


def test_an_order_named_twice_is_listed_once():
    body = load(DATA_REQUEST)
    body["orders_requested"] = [1, "1", 2]
    assert parse_customer_data_request(body).platform_order_ids == ("1", "2")


def edited(name: str, **changes) -> dict:
    body = load(name)
    for key, value in changes.items():
        if value is DELETE:
            del body[key]
        else:
            body[key] = value
    return body


DELETE = object()

WRONG_SHAPES = [
    (parse_customer_data_request, edited(DATA_REQUEST, customer="john@example.com"), "^customer: expected an object, got a string$"),
    (parse_customer_data_request, edited(DATA_REQUEST, customer=DELETE), "^customer: missing$"),
    (parse_customer_data_request, edited(DATA_REQUEST, orders_requested={"0": 1}), "^orders_requested: expected a list"),
    (parse_customer_data_request, edited(DATA_REQUEST, orders_requested=[1, "x"]), r"^orders_requested\[1\]: expected a positive"),
    (parse_customer_data_request, edited(DATA_REQUEST, data_request={"id": "#9"}), r"^data_request\.id: expected a positive"),
    (parse_customer_data_request, edited(DATA_REQUEST, data_request=[9999]), "^data_request: expected an object"),
    (parse_customer_data_request, edited(DATA_REQUEST, shop_domain=DELETE), "^shop_domain: missing$"),
    (parse_customer_data_request, edited(DATA_REQUEST, shop_id="shop"), "^shop_id: expected a positive"),
    (parse_customer_redact, edited(REDACT, customer={"id": 1.5}), r"^customer\.id: expected a positive"),
    (parse_customer_redact, edited(REDACT, customer={"email": ["john@example.com"]}), r"^customer\.email: expected a string"),
    (parse_customer_redact, edited(REDACT, customer={"phone": 5556251199}), r"^customer\.phone: expected a string"),
    (parse_customer_redact, edited(REDACT, customer={}, orders_to_redact=[]), "^customer: no id or email, and orders_to_redact"),
    (parse_customer_redact, edited(REDACT, shop_domain=954889), "^shop_domain: expected a string"),
    (parse_shop_redact, edited(SHOP_REDACT, shop_domain=None), "^shop_domain: missing$"),
    (parse_shop_redact, [], "^body: expected an object, got a list$"),
]  # fmt: skip


@pytest.mark.parametrize(("parse", "body", "message"), WRONG_SHAPES)
def test_a_wrong_shape_raises_payload_error_naming_the_path(parse, body, message):
    with pytest.raises(PayloadError, match=message):
        parse(body)


def test_a_value_in_a_wrong_shape_is_not_echoed_in_the_message():
    body = load(REDACT)
    body["customer"]["email"] = {"address": "john@example.com"}
    with pytest.raises(PayloadError) as raised:
        parse_customer_redact(body)
    assert "john" not in str(raised.value)


PARSERS = [(parse_customer_data_request, DATA_REQUEST), (parse_customer_redact, REDACT), (parse_shop_redact, SHOP_REDACT)]
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=10)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data(), which=st.sampled_from(range(len(PARSERS))))
def test_any_value_anywhere_gives_a_record_or_payload_error(data, which):
    parse, name = PARSERS[which]
    body = copy.deepcopy(load(name))
    key = data.draw(st.sampled_from(sorted(body)))
    if isinstance(body[key], dict) and body[key] and data.draw(st.booleans()):
        inner = data.draw(st.sampled_from(sorted(body[key])))
        body[key][inner] = data.draw(json_values)
    elif data.draw(st.booleans()):
        del body[key]
    else:
        body[key] = data.draw(json_values)
    try:
        parse(body)
    except PayloadError:
        pass
