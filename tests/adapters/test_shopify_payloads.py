"""Shopify webhook bodies become records, or a PayloadError that names the JSON path: nothing else."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.errors import PayloadError
from adapters.platforms.shopify.payloads import (
    REASONS,
    parse_order,
    parse_refund,
    parse_return_request,
    parse_return_status,
    parse_transaction,
)
from integration.records import OrderSnapshot, RefundMoneyMoved, ReturnRequestData, ReturnStatusChange, ShopRefundData
from integration.returns import Reason

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "shopify"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


# -- Shopify's own samples --------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["orders__create", "orders__updated", "orders__paid", "orders__cancelled"])
def test_shopifys_order_samples_parse(topic):
    order = parse_order(load(f"{topic}.sample.json"))

    assert order.name == "#9999"
    assert (order.currency, order.shop_currency) == ("USD", "USD")
    assert [line.unit_price for line in order.lines] == [8999, 1999, 2499, 15999, 11999]
    assert order.total == 40495


def test_the_exact_id_in_the_gid_wins_over_the_rounded_json_number():
    order = parse_order(load("orders__create.sample.json"))

    # The sample says id 820982911946154500: JavaScript rounded it to a double.
    assert order.platform_order_id == "820982911946154508"
    assert order.platform_gid == "gid://shopify/Order/820982911946154508"
    assert order.lines[0].platform_line_id == "487817672276298554"


def test_an_order_without_a_gid_uses_its_numeric_id_and_builds_the_gid():
    body = load("orders__create.sample.json")
    del body["admin_graphql_api_id"]

    order = parse_order(body)

    assert order.platform_order_id == "820982911946154500"
    assert order.platform_gid == "gid://shopify/Order/820982911946154500"


@pytest.mark.parametrize(("customer", "expected"), [
    ({"id": 7029431102139, "admin_graphql_api_id": "gid://shopify/Customer/7029431102139"}, "7029431102139"),
    ({"id": 7029431102139}, "7029431102139"), (None, None), ({}, None),
    ({"id": "not a number"}, None), ({"admin_graphql_api_id": "gid://shopify/Order/1"}, None), ("guest", None),
])  # fmt: skip
def test_an_orders_customer_id_is_read_and_a_strange_one_does_not_fail_the_order(customer, expected):
    # Used only to recognise an erased customer's order (integration/services/privacy.py).
    body = load("orders__create.eur_presentment.json")
    body["customer"] = customer

    assert parse_order(body).platform_customer_id == expected


def test_order_timestamps_are_aware_datetimes_in_utc():
    order = parse_order(load("orders__cancelled.sample.json"))

    eastern = timezone(timedelta(hours=-5))
    assert order.updated_at == datetime(2021, 12, 31, 19, 0, tzinfo=eastern)
    assert order.updated_at.utcoffset() == timedelta(0)
    assert order.cancelled_at == order.processed_at == order.updated_at


def test_shopifys_refund_sample_parses_with_its_currency_taken_from_the_line_amounts():
    refund = parse_refund(load("refunds__create.sample.json"))

    # Its transactions say "currency": null, so USD comes from the presentment money.
    assert refund.currency == "USD"
    assert refund.amount == 7500 + 1000
    assert refund.platform_refund_id == "890088186047892319"
    assert refund.lines[0].platform_line_id == "487817672276298554"
    assert [line.quantity for line in refund.lines] == [1, 1, 1, 1, 1]
    assert refund.note == "Things were damaged"
    assert refund.parent_transaction_ids == ()


def test_shopifys_return_request_sample_parses_with_no_items():
    ret = parse_return_request(load("returns__request.sample.json"))

    assert ret == ReturnRequestData(platform_return_id="123134564567890", platform_order_id="4783296544821")


@pytest.mark.parametrize(
    ("topic", "status", "reason"),
    [
        ("returns/approve", "approved", None),
        ("returns/decline", "rejected", "return_period_ended"),
        ("returns/cancel", "cancelled", None),
        ("returns/close", "closed", None),
    ],
)
def test_shopifys_return_status_samples_parse_into_our_statuses(topic, status, reason):
    change = parse_return_status(topic, load(f"{topic.replace('/', '__')}.sample.json"))

    assert change.platform_return_id == "123134564567890"
    assert change.platform_order_id == "4783296544821"
    assert (change.status, change.reason) == (status, reason)


def test_a_declined_return_carries_the_merchants_note():
    change = parse_return_status("returns/decline", load("returns__decline.sample.json"))

    assert change.note == "As discussed on the phone, the 30-day return window has ended."


# -- what real stores send --------------------------------------------------------------------


def test_an_order_paid_in_euros_in_a_dollar_shop_is_recorded_in_euros():
    order = parse_order(load("orders__create.eur_presentment.json"))

    assert (order.currency, order.shop_currency) == ("EUR", "USD")
    assert order.taxes_included is True
    assert order.total == 19560
    assert order.platform_order_id == "5196695273621"
    assert order.financial_status == "paid"
    assert order.email == "aino.virtanen@example.com"


def test_a_discounted_line_with_vat_included_keeps_price_discount_and_tax_apart():
    sweater, socks = parse_order(load("orders__create.eur_presentment.json")).lines

    assert sweater.platform_line_id == "12695210000533"
    assert sweater.quantity == 2
    assert sweater.unit_price == 8990
    assert sweater.discount_total == 1000
    assert sweater.tax_total == 3286
    assert sweater.tax_rate == Decimal("0.24")
    assert (sweater.sku, sweater.product_id, sweater.variant_id) == ("MERINO-M-GREY", "8112233445566", "44556677889900")
    assert (socks.unit_price, socks.discount_total, socks.tax_total) == (1990, 0, 385)


def test_a_line_without_discount_allocations_falls_back_to_total_discount():
    body = load("orders__create.eur_presentment.json")
    del body["line_items"][0]["discount_allocations"]

    assert parse_order(body).lines[0].discount_total == 1000


def test_a_missing_money_set_falls_back_to_the_plain_field_when_the_order_has_one_currency():
    body = load("orders__create.sample.json")
    del body["line_items"][0]["price_set"]
    body["line_items"][0]["price"] = "89.95"

    assert parse_order(body).lines[0].unit_price == 8995


def test_a_missing_money_set_is_refused_when_the_plain_field_is_in_another_currency():
    body = load("orders__create.eur_presentment.json")
    del body["line_items"][0]["price_set"]

    with pytest.raises(PayloadError, match=r"line_items\[0\]\.price_set: missing"):
        parse_order(body)


def test_an_order_without_a_presentment_currency_is_in_its_shop_currency():
    body = load("orders__create.sample.json")
    del body["presentment_currency"]

    assert parse_order(body).currency == "USD"


def test_a_refund_counts_only_the_money_that_actually_went_back():
    refund = parse_refund(load("refunds__create.two_lines.json"))

    # Two refund transactions: the first failed, only the second moved money.
    assert refund == ShopRefundData(
        platform_refund_id="1040236167317",
        platform_order_id="5196695273621",
        amount=10480,
        currency="EUR",
        created_at=datetime(2026, 3, 20, 10, 12, 3, tzinfo=timezone(timedelta(hours=2))),
        lines=refund.lines,
        note="Return #1106-R1",
        parent_transaction_ids=("7301234560000",),
        refunded_by_parent=(("7301234560000", 10480),),  # the failed attempt took nothing
        platform_return_id="3547267221",
    )
    assert [(line.platform_line_id, line.quantity) for line in refund.lines] == [
        ("12695210000533", 1),
        ("12695210033301", 1),
    ]


def test_a_refund_that_only_restocked_has_amount_zero_in_the_line_currency():
    body = load("refunds__create.two_lines.json")
    body["transactions"] = []

    refund = parse_refund(body)

    assert (refund.amount, refund.currency, refund.parent_transaction_ids) == (0, "EUR", ())


def test_a_refund_without_any_currency_is_refused():
    body = load("refunds__create.two_lines.json")
    body.update(transactions=[], refund_line_items=[], total_duties_set=None)

    with pytest.raises(PayloadError, match="no currency"):
        parse_refund(body)


def test_a_refund_mixing_currencies_is_refused():
    body = load("refunds__create.two_lines.json")
    body["transactions"][1]["currency"] = "USD"

    with pytest.raises(PayloadError, match="mixes currencies EUR, USD"):
        parse_refund(body)


def test_a_return_request_keeps_each_items_line_quantity_reason_and_note():
    ret = parse_return_request(load("returns__request.two_items.json"))

    assert (ret.platform_return_id, ret.platform_order_id, ret.name) == ("3547267221", "5196695273621", "#1106-R1")
    sweater, socks = ret.items
    assert (sweater.platform_line_id, sweater.quantity, sweater.reason) == ("12695210000533", 1, "size_too_small")
    assert sweater.reason_note is None  # Shopify sends "" when nothing was written
    assert sweater.platform_item_id == "6200524949"
    assert (socks.platform_line_id, socks.reason, socks.reason_note) == (
        "12695210033301",
        "other",
        "Ordered a second pack by mistake",
    )
    assert ret.customer_note == "The sleeves are too short for me."


@pytest.mark.parametrize(
    ("shopify", "ours"),
    [
        ("unwanted", Reason.CHANGED_MIND),
        ("defective", Reason.DEFECTIVE),
        ("unknown", Reason.UNKNOWN),
        ("SIZE_TOO_LARGE", Reason.SIZE_TOO_LARGE),
        ("a_reason_shopify_adds_next_year", Reason.OTHER),
        (None, Reason.UNKNOWN),
    ],
)
def test_shopify_return_reasons_map_to_ours(shopify, ours):
    body = load("returns__request.two_items.json")
    body["return_line_items"][0]["return_reason"] = shopify

    assert parse_return_request(body).items[0].reason == ours.value


def test_every_value_of_shopifys_return_reason_enum_has_a_mapping():
    enum = {"color", "defective", "not_as_described", "other", "size_too_large", "size_too_small", "style"}
    assert enum | {"unknown", "unwanted", "wrong_item"} == set(REASONS)


def test_a_cancelled_return_without_an_order_object_takes_order_id():
    change = parse_return_status("returns/cancel", {"id": 5, "order_id": 7, "status": "canceled"})

    assert change == ReturnStatusChange(platform_return_id="5", platform_order_id="7", status="cancelled")


# -- wrong shapes ------------------------------------------------------------------------------


DELETE = object()
ORDER = "orders__create.sample.json"
REFUND = "refunds__create.two_lines.json"
REQUEST = "returns__request.two_items.json"
PRICE = ("line_items", 1, "price_set", "presentment_money")
ROW = ("refund_line_items", 0)


def edited(name: str, changes: dict) -> dict:
    """A fixture with values set (or deleted) at the given paths."""
    body = load(name)
    for path, value in changes.items():
        parent = _at(body, path[:-1])
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return body


WRONG_SHAPES = [
    (parse_order, ORDER, {("admin_graphql_api_id",): DELETE, ("id",): DELETE}, "^id: missing$"),
    (parse_order, ORDER, {("admin_graphql_api_id",): "gid://shopify/Refund/1"}, "^admin_graphql_api_id: expected"),
    (parse_order, ORDER, {("id",): "not-a-number"}, "^id: expected a positive 64-bit integer id"),
    (parse_order, ORDER, {(*PRICE, "amount"): "12,50"},
     r"^line_items\[1\]\.price_set\.presentment_money\.amount: expected a non-negative decimal number, got a string$"),
    (parse_order, ORDER, {(*PRICE, "amount"): "12.505"}, "more decimals than USD allows"),
    (parse_order, ORDER, {(*PRICE, "currency_code"): "EUR"}, "EUR, expected USD"),
    (parse_order, ORDER, {("line_items", 0, "quantity"): 0}, r"^line_items\[0\]\.quantity: expected a positive"),
    (parse_order, ORDER, {("line_items", 0, "quantity"): True}, r"^line_items\[0\]\.quantity: .* got a boolean$"),
    (parse_order, ORDER, {("line_items", 0, "quantity"): 1.5}, r"^line_items\[0\]\.quantity: .* got a number$"),
    (parse_order, ORDER, {("line_items",): {"0": {}}}, "^line_items: expected a list, got an object$"),
    (parse_order, ORDER, {("line_items", 2): "x"}, r"^line_items\[2\]: expected an object, got a string$"),
    (parse_order, ORDER, {("updated_at",): "2021-12-31T19:00:00"}, "^updated_at: expected an ISO 8601 timestamp"),
    (parse_order, ORDER, {("taxes_included",): "false"}, "^taxes_included: expected true or false"),
    (parse_order, ORDER, {("currency",): "US"}, "^currency: expected a three-letter ISO 4217 currency code"),
    (parse_refund, REFUND, {("transactions", 1, "amount"): "-104.80"}, r"^transactions\[1\]\.amount: expected"),
    (parse_refund, REFUND, {(*ROW, "line_item"): DELETE, (*ROW, "line_item_id"): None},
     r"^refund_line_items\[0\]\.line_item_id: missing$"),
    (parse_refund, REFUND, {("order_id",): 2**64}, "^order_id: expected a positive 64-bit integer id"),
    (parse_refund, REFUND, {("transactions", 0, "status"): None}, r"^transactions\[0\]\.status: missing$"),
    (parse_return_request, REQUEST, {("return_line_items", 1, "quantity"): -1}, r"^return_line_items\[1\]\.quantity"),
    (parse_return_request, REQUEST, {("return_line_items", 0, "fulfillment_line_item"): DELETE},
     r"^return_line_items\[0\]\.fulfillment_line_item: missing$"),
    (parse_return_request, REQUEST, {("order",): DELETE}, "^order: missing$"),
]


@pytest.mark.parametrize(("parse", "name", "changes", "message"), WRONG_SHAPES)
def test_a_wrong_shape_raises_payload_error_naming_the_path(parse, name, changes, message):
    with pytest.raises(PayloadError, match=message):
        parse(edited(name, changes))


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(PayloadError, match="^body: expected an object, got a list$"):
        parse_order([])


def test_an_amount_or_id_in_a_wrong_shape_is_not_echoed_in_the_message():
    body = load("orders__create.sample.json")
    body["email"] = {"secret": "aino.virtanen@example.com"}

    with pytest.raises(PayloadError) as raised:
        parse_order(body)
    assert "aino" not in str(raised.value)


def test_a_topic_that_is_not_a_return_status_change_is_refused():
    with pytest.raises(PayloadError, match="returns/request"):
        parse_return_status("returns/request", load("returns__request.sample.json"))


def test_shopifys_transaction_sample_is_no_refund_and_a_refund_s_final_status_names_its_order():
    assert parse_transaction(load("order_transactions__create.sample.json")) is None  # an authorization
    assert parse_transaction(load("order_transactions__create.refund_failed.json")) == RefundMoneyMoved("5196695273621")
    with pytest.raises(PayloadError, match="order_id"):
        parse_transaction({**load("order_transactions__create.refund_failed.json"), "order_id": None})


# -- fuzz: any JSON in, a record or PayloadError out --------------------------------------------

KEYS = ["id", "admin_graphql_api_id", "order", "order_id", "line_items", "price", "price_set", "presentment_money",
        "amount", "currency", "currency_code", "quantity", "transactions", "refund_line_items", "return_line_items",
        "fulfillment_line_item", "line_item", "updated_at", "created_at", "decline", "return_reason", "kind", "status"]
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(
    ["gid://shopify/Order/1", "2021-12-31T19:00:00-05:00", "89.99", "USD", "refund", "success", "0", "1e3"]
)
keys = st.sampled_from(KEYS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)

PARSERS = {
    "order": (parse_order, OrderSnapshot, ["orders__create.sample.json", "orders__create.eur_presentment.json"]),
    "refund": (parse_refund, ShopRefundData, ["refunds__create.sample.json", "refunds__create.two_lines.json"]),
    "request": (parse_return_request, ReturnRequestData, ["returns__request.two_items.json"]),
    "decline": (partial(parse_return_status, "returns/decline"), ReturnStatusChange, ["returns__decline.sample.json"]),
    "approve": (partial(parse_return_status, "returns/approve"), ReturnStatusChange, ["returns__approve.sample.json"]),
    # order_transactions/create: a refund's final status asks about our refunds; other kinds give nothing (None).
    "transaction": (parse_transaction, (RefundMoneyMoved, type(None)),
                    ["order_transactions__create.sample.json", "order_transactions__create.refund_failed.json"]),
}
FIXTURES = {name: load(name) for _, _, names in PARSERS.values() for name in names}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def record_or_payload_error(kind: str, body: object):
    parse, record_type, _ = PARSERS[kind]
    try:
        result = parse(body)
    except PayloadError:
        return
    assert isinstance(result, record_type)


def paths(value, prefix=()):
    """Every position in a JSON document, the root included."""
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from paths(child, (*prefix, key))


def replaced(document, path, new):
    if not path:
        return new
    document = copy.copy(document)
    document[path[0]] = replaced(document[path[0]], path[1:], new)
    return document


@FUZZ
@given(kind=st.sampled_from(sorted(PARSERS)), body=json_values)
def test_any_json_value_gives_a_record_or_payload_error(kind, body):
    record_or_payload_error(kind, body)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(sorted(PARSERS)))
def test_a_valid_body_with_any_one_value_replaced_gives_a_record_or_payload_error(data, kind):
    document = FIXTURES[data.draw(st.sampled_from(PARSERS[kind][2]))]
    path = data.draw(st.sampled_from(list(paths(document))))
    record_or_payload_error(kind, replaced(document, path, data.draw(json_values)))


@FUZZ
@given(data=st.data(), kind=st.sampled_from(sorted(PARSERS)))
def test_a_valid_body_with_any_one_key_removed_gives_a_record_or_payload_error(data, kind):
    document = copy.deepcopy(FIXTURES[data.draw(st.sampled_from(PARSERS[kind][2]))])
    keyed = [path for path in paths(document) if path and isinstance(_at(document, path[:-1]), dict)]
    path = data.draw(st.sampled_from(keyed))
    del _at(document, path[:-1])[path[-1]]
    record_or_payload_error(kind, document)


def _at(document, path):
    for key in path:
        document = document[key]
    return document
