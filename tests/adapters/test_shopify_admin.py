"""Shopify Admin GraphQL client: documents the real schema accepts, our types out, our errors only."""
from __future__ import annotations

import json
import logging

import pytest
import requests
import responses
from graphql import execute, parse, validate
from graphql.execution.values import get_variable_values

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.platforms.shopify import admin
from adapters.platforms.shopify import graphql as documents
from adapters.platforms.shopify.admin import RefundRecord, ShopifyAdmin
from integration.money import Money
from integration.records import PaymentData

SHOP = "palautus-test.myshopify.com"
TOKEN = "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"
URL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
ORDER = "gid://shopify/Order/5512345678901"
RETURN = "gid://shopify/Return/9871234"


def graphql_documents():
    """Every GraphQL document constant the client modules define, found by looking, not by a list."""
    found = {}
    for module in (documents, admin):
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str) and value.lstrip().startswith(("query", "mutation")):
                found.setdefault(value, f"{module.__name__.rsplit('.', 1)[-1]}.{name}")
    return sorted((name, value) for value, name in found.items())


DOCUMENTS = graphql_documents()


@pytest.fixture
def client():
    return ShopifyAdmin(SHOP, TOKEN)


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def answer(api, data=None, *, status=200, headers=None, **body):
    """Queue one Shopify answer; `data` goes under "data" unless the body is given whole."""
    payload = body if body else {"data": data}
    api.add(responses.POST, URL, json=payload, status=status,
            headers={"X-Request-Id": "req-7f3a", **(headers or {})})


def sent(call) -> dict:
    return json.loads(call.request.body)


def variable_errors(schema, body: dict) -> list:
    """What the schema says about the variables a request carried: [] when they coerce."""
    operation = parse(body["query"]).definitions[0]
    defined = {d.variable.name.value for d in operation.variable_definitions}
    unknown = [f"variable ${name} is not defined by the document" for name in set(body["variables"]) - defined]
    result = get_variable_values(schema, operation.variable_definitions, body["variables"])
    return unknown + (result if isinstance(result, list) else [])


def gid_type(value, info, abstract_type) -> str:
    """Resolve an interface (Node) the way Shopify ids do: gid://shopify/<Type>/<number>."""
    return value["id"].split("/")[3]


def assert_answer_fits(schema, body: dict, data: dict):
    """The canned answer is a shape Shopify could send for this document and these variables."""
    result = execute(schema, parse(body["query"]), root_value=data, variable_values=body["variables"],
                     type_resolver=gid_type)
    assert result.errors is None, result.errors
    assert result.data == data


# --- the documents and variables against the real schema ---------------------------------------


def test_the_client_defines_all_the_documents_it_sends():
    assert len(DOCUMENTS) >= 7
    assert {"graphql.REFUND_CREATE", "graphql.ORDER_TRANSACTIONS", "graphql.TAGS_ADD"} <= {n for n, _ in DOCUMENTS}


@pytest.mark.parametrize("name, document", DOCUMENTS, ids=[name for name, _ in DOCUMENTS])
def test_every_document_validates_against_the_shopify_2026_10_schema(shopify_schema, name, document):
    assert validate(shopify_schema, parse(document)) == []


def test_the_variable_check_catches_a_misspelt_field_and_enum_value(shopify_schema):
    body = {"query": documents.REFUND_CREATE, "variables": {
        "idempotencyKey": "k",
        "input": {"orderID": ORDER, "refundLineItems": [{"lineItemId": "x", "quantity": 1, "restockType": "NONE"}]},
    }}
    messages = " ".join(str(e) for e in variable_errors(shopify_schema, body))
    assert "orderID" in messages and "NONE" in messages
    assert variable_errors(shopify_schema, {**body, "variables": {**body["variables"], "key": "x"}})


def refund_record(**overrides) -> RefundRecord:
    fields = dict(
        order_gid=ORDER,
        idempotency_key="rf_01HZX3K9Q2",
        note="Return #R1001-1",
        lines=(("gid://shopify/LineItem/111", 1), ("gid://shopify/LineItem/222", 2)),
        amount=Money(8997, "EUR"),
        parent_transaction_gid="gid://shopify/OrderTransaction/1001",
        gateway="stripe",
    )
    return RefundRecord(**{**fields, **overrides})


USER_ERROR = [{"field": ["id"], "message": "Return is not requested", "code": "INVALID_STATE"}]
CALLS = {
    "order_payments": (lambda c: c.order_payments(ORDER), [{"order": {"id": ORDER, "checkoutToken": None, "transactions": []}}]),
    "record_refund": (lambda c: c.record_refund(refund_record()),
                      [{"refundCreate": {"refund": {"id": "gid://shopify/Refund/77"}, "userErrors": []}}]),
    "approve_return": (lambda c: c.approve_return(RETURN),
                       [{"returnApproveRequest": {"return": None, "userErrors": USER_ERROR}},
                        {"return": {"id": RETURN, "status": "OPEN"}}]),
    "decline_return": (lambda c: c.decline_return(RETURN, "final sale", "Swimwear cannot be returned."),
                       [{"returnDeclineRequest": {"return": {"id": RETURN, "status": "DECLINED"}, "userErrors": []}}]),
    "close_return": (lambda c: c.close_return(RETURN),
                     [{"returnClose": {"return": {"id": RETURN, "status": "CLOSED"}, "userErrors": []}}]),
    "cancel_return": (lambda c: c.cancel_return(RETURN),
                      [{"returnCancel": {"return": {"id": RETURN, "status": "CANCELED"}, "userErrors": []}}]),
    "add_tags": (lambda c: c.add_tags(ORDER, ["palautus", "refunded"]),
                 [{"tagsAdd": {"node": {"id": ORDER}, "userErrors": []}}]),
}


@pytest.mark.parametrize("method", CALLS)
def test_every_call_sends_variables_the_schema_accepts_and_reads_answers_it_could_send(
        shopify_schema, api, client, method):
    call, answers = CALLS[method]
    for data in answers:
        answer(api, data)
    call(client)
    assert len(api.calls) == len(answers)
    for request, data in zip(api.calls, answers):
        body = sent(request)
        assert variable_errors(shopify_schema, body) == []
        assert_answer_fits(shopify_schema, body, data)


# --- request shape --------------------------------------------------------------------------------


def test_a_call_posts_the_document_to_the_versioned_endpoint_with_the_token_header(api, client):
    answer(api, {"order": {"id": ORDER, "transactions": []}})
    client.order_payments(ORDER)
    request = api.calls[0].request
    assert request.url == URL
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert sent(api.calls[0]) == {"query": documents.ORDER_TRANSACTIONS, "variables": {"id": ORDER}}


def test_the_api_base_and_version_can_point_elsewhere():
    client = ShopifyAdmin(SHOP, TOKEN, api_base="http://shopify.test/{shop}/", api_version="2026-07")
    assert client.url == f"http://shopify.test/{SHOP}/admin/api/2026-07/graphql.json"


def test_a_shop_domain_that_could_redirect_the_token_elsewhere_is_refused():
    with pytest.raises(ValueError):
        ShopifyAdmin("evil.example/steal?x=", TOKEN)


# --- payments -------------------------------------------------------------------------------------


def transaction(number, kind="SALE", status="SUCCESS", gateway="stripe", payment_id=None, amount="10.00",
                receipt=None, parent=None, authorization=None):
    return {
        "id": f"gid://shopify/OrderTransaction/{number}", "kind": kind, "status": status, "gateway": gateway,
        "paymentId": payment_id, "authorizationCode": authorization, "receiptJson": receipt, "parentTransaction": parent,
        "amountSet": {"presentmentMoney": {"amount": amount, "currencyCode": "EUR"}},
    }


ORDER_ANSWER = {"order": {"id": ORDER, "checkoutToken": None, "transactions": [
    transaction(1001, payment_id="pi_3PqRsT2eZvKYlo2C1abcDEF0", amount="49.9",
                receipt=json.dumps({"id": "pi_3PqRsT2eZvKYlo2C1abcDEF0", "object": "payment_intent"})),
    transaction(1002, kind="CAPTURE", gateway="Stripe", payment_id="c31337.1", amount="20.00",
                receipt=json.dumps({"id": "ch_3PqRsU2eZvKYlo2C0xyz", "object": "charge",
                                    "payment_intent": "pi_3PqRsU2eZvKYlo2C0Ghi"}),
                parent={"id": "gid://shopify/OrderTransaction/1000", "paymentId": "c31337.1", "authorizationCode": None}),
    transaction(1003, gateway="shopify_payments", payment_id="rX7pQ2mZkL9sT4vW8yB1", amount="15.50"),
    transaction(1004, gateway="Paytrail", payment_id="d1c1ef9a-6a6b-11ef-9b2f-2f6b5f0d1e01", amount="5.00"),
    transaction(1005, gateway="Cash on Delivery (COD)", amount="3.00"),
    transaction(1006, status="FAILURE", payment_id="pi_3PqRsV2eZvKYlo2C0Fail", amount="49.90"),
    transaction(1007, kind="REFUND", payment_id="re_3PqRsT2eZvKYlo2C1ref", amount="10.00",
                parent={"id": "gid://shopify/OrderTransaction/1001", "paymentId": "pi_3PqRsT2eZvKYlo2C1abcDEF0",
                        "authorizationCode": None}),
    transaction(1008, kind="AUTHORIZATION", gateway="shopify_payments", amount="99.00"),
]}}


def test_order_payments_keep_successful_sales_and_captures_and_say_who_holds_the_money(
        shopify_schema, api, client):
    answer(api, ORDER_ANSWER)
    payments = client.order_payments(ORDER)
    assert_answer_fits(shopify_schema, sent(api.calls[0]), ORDER_ANSWER)
    assert payments == [
        # 10.00 of it refunded by Shopify (transaction 1007): money Palautus must learn of before refunding.
        PaymentData("1001", "stripe", "stripe", "pi_3PqRsT2eZvKYlo2C1abcDEF0", 4990, "EUR", "sale", False, refunded=1000),
        # Shopify's checkout processed this one (it has a Shopify payment id): Shopify's to refund.
        PaymentData("1002", "stripe", "Stripe", "c31337.1", 2000, "EUR", "capture", True),
        PaymentData("1003", "shopify_payments", "shopify_payments", "rX7pQ2mZkL9sT4vW8yB1", 1550, "EUR",
                    "sale", True),
        PaymentData("1004", "paytrail", "Paytrail", "d1c1ef9a-6a6b-11ef-9b2f-2f6b5f0d1e01", 500, "EUR",
                    "sale", True),
        PaymentData("1005", "cash on delivery (cod)", "Cash on Delivery (COD)", None, 300, "EUR", "sale", False),
    ]


def test_a_stripe_receipt_with_only_a_charge_id_gives_the_charge():
    payment = admin._payment(transaction(1, receipt={"id": "ch_3Pabc", "object": "charge"}), False)
    assert (payment.payment_id, payment.platform_managed) == ("ch_3Pabc", False)


def test_an_unreadable_receipt_leaves_a_stripe_payment_without_an_id_and_not_ours_to_refund():
    payment = admin._payment(transaction(1, receipt="not json"), False)
    assert (payment.payment_id, payment.platform_managed) == (None, True)


def test_an_external_stripe_payment_of_a_headless_checkout_is_refunded_at_stripe():
    # orderCreate keeps the provider's id in authorizationCode; Shopify gives it no payment id of its own.
    payment = admin._payment(transaction(1, authorization="pi_3PqRsT2eZvKYlo2C1abcDEF0"), False)
    assert (payment.provider, payment.payment_id, payment.platform_managed) == ("stripe", "pi_3PqRsT2eZvKYlo2C1abcDEF0", False)


@pytest.mark.parametrize("case", ["shopify's checkout made the order", "shopify gave it a payment id"])
def test_a_stripe_payment_shopify_s_checkout_processed_is_never_refunded_at_stripe_directly(case):
    # Stripe Card Payments is a payments app: Shopify moved the money and must move it back.
    from_checkout = case == "shopify's checkout made the order"
    payment_id = None if from_checkout else "c25048437719.1"
    payment = admin._payment(transaction(1, payment_id=payment_id, authorization="pi_3PqRsT2eZvKYlo2C1abc"), from_checkout)
    assert payment.provider == "stripe" and payment.platform_managed is True


def test_a_missing_order_is_a_permanent_rejection(api, client):
    answer(api, {"order": None})
    with pytest.raises(ProviderRejected) as e:
        client.order_payments(ORDER)
    assert e.value.code == "not_found" and e.value.request_id == "req-7f3a"


# --- recording a refund ---------------------------------------------------------------------------


def test_recording_a_refund_is_idempotent_restocks_nothing_and_moves_no_money(api, client):
    answer(api, {"refundCreate": {"refund": {"id": "gid://shopify/Refund/77"}, "userErrors": []}})
    assert client.record_refund(refund_record()) == "gid://shopify/Refund/77"
    body = sent(api.calls[0])
    assert "refundCreate(input: $input) @idempotent(key: $idempotencyKey)" in body["query"]
    assert body["variables"]["idempotencyKey"] == admin.refund_idempotency_key(refund_record())
    refund = body["variables"]["input"]
    assert "transactions" not in refund and "refundMethods" not in refund and "shipping" not in refund
    assert refund["orderId"] == ORDER and refund["notify"] is False and refund["currency"] == "EUR"
    assert refund["refundLineItems"] == [
        {"lineItemId": "gid://shopify/LineItem/111", "quantity": 1, "restockType": "NO_RESTOCK"},
        {"lineItemId": "gid://shopify/LineItem/222", "quantity": 2, "restockType": "NO_RESTOCK"},
    ]
    assert refund["note"].startswith("Return #R1001-1\n") and "89.97 EUR at stripe" in refund["note"]


def test_a_retried_refund_sends_the_same_key_and_input_and_another_refund_a_different_key(api, client):
    for _ in range(2):
        answer(api, {"refundCreate": {"refund": {"id": "gid://shopify/Refund/77"}, "userErrors": []}})
    client.record_refund(refund_record())
    client.record_refund(refund_record())
    assert sent(api.calls[0]) == sent(api.calls[1])
    other = admin.refund_idempotency_key(refund_record(idempotency_key="rf_01HZX3K9Q3"))
    assert other != sent(api.calls[0])["variables"]["idempotencyKey"]


def test_a_refund_record_without_an_idempotency_key_cannot_be_made():
    with pytest.raises(ValueError):
        refund_record(idempotency_key="  ")


def test_refund_user_errors_are_rejected_with_their_field_paths(api, client):
    answer(api, {"refundCreate": {"refund": None, "userErrors": [
        {"field": ["refundLineItems", "0", "quantity"], "message": "Quantity cannot refund more items than were purchased"},
        {"field": None, "message": "Order is locked"},
    ]}})
    with pytest.raises(ProviderRejected) as e:
        client.record_refund(refund_record())
    assert e.value.message == (
        "refundLineItems.0.quantity: Quantity cannot refund more items than were purchased; Order is locked")
    assert e.value.should_retry is False and e.value.request_id == "req-7f3a"


def test_a_refund_answer_with_neither_refund_nor_errors_is_retried(api, client):
    answer(api, {"refundCreate": {"refund": None, "userErrors": []}})
    with pytest.raises(ProviderUnavailable):
        client.record_refund(refund_record())


# --- returns and tags -----------------------------------------------------------------------------


def test_approving_a_return_sends_its_id_and_does_not_notify(api, client):
    answer(api, {"returnApproveRequest": {"return": {"id": RETURN, "status": "OPEN"}, "userErrors": []}})
    client.approve_return(RETURN)
    assert sent(api.calls[0])["variables"] == {"input": {"id": RETURN, "notifyCustomer": False}}
    assert len(api.calls) == 1


@pytest.mark.parametrize("method, field, status", [
    ("approve_return", "returnApproveRequest", "OPEN"),
    ("approve_return", "returnApproveRequest", "CLOSED"),
    ("decline_return", "returnDeclineRequest", "DECLINED"),
    ("close_return", "returnClose", "CLOSED"),
    ("cancel_return", "returnCancel", "CANCELED"),
])
def test_a_return_already_in_the_wanted_state_counts_as_done(api, client, method, field, status):
    answer(api, {field: {"return": None, "userErrors": USER_ERROR}})
    answer(api, {"return": {"id": RETURN, "status": status}})
    args = (RETURN, "other", None) if method == "decline_return" else (RETURN,)
    getattr(client, method)(*args)
    assert sent(api.calls[1]) == {"query": documents.RETURN_STATUS, "variables": {"id": RETURN}}


def test_declining_a_return_that_was_approved_meanwhile_is_rejected(api, client):
    answer(api, {"returnDeclineRequest": {"return": None, "userErrors": USER_ERROR}})
    answer(api, {"return": {"id": RETURN, "status": "OPEN"}})
    with pytest.raises(ProviderRejected) as e:
        client.decline_return(RETURN, "other", None)
    assert e.value.code == "INVALID_STATE" and "id: Return is not requested" in e.value.message


def test_declining_sends_a_schema_reason_and_a_note_cut_to_shopifys_limit(shopify_schema, api, client):
    answer(api, {"returnDeclineRequest": {"return": {"id": RETURN, "status": "DECLINED"}, "userErrors": []}})
    client.decline_return(RETURN, "Outside the return window", "x" * 600)
    data = sent(api.calls[0])["variables"]["input"]
    assert data["declineReason"] == "RETURN_PERIOD_ENDED" and len(data["declineNote"]) == 500
    assert data["notifyCustomer"] is False


@pytest.mark.parametrize("reason, expected", [
    ("FINAL_SALE", "FINAL_SALE"), ("final sale", "FINAL_SALE"), ("return-period-ended", "RETURN_PERIOD_ENDED"),
    ("outside_return_window", "RETURN_PERIOD_ENDED"), ("damaged by customer", "OTHER"), (None, "OTHER"),
])
def test_a_free_decline_reason_maps_to_a_value_of_the_schemas_enum(shopify_schema, reason, expected):
    assert admin.decline_reason(reason) == expected
    assert expected in shopify_schema.type_map["ReturnDeclineReason"].values


def test_adding_tags_sends_them_and_no_tags_sends_nothing(api, client):
    answer(api, {"tagsAdd": {"node": {"id": ORDER}, "userErrors": []}})
    client.add_tags(ORDER, [])
    client.add_tags(ORDER, ["palautus", "return-requested"])
    assert len(api.calls) == 1
    assert sent(api.calls[0])["variables"] == {"id": ORDER, "tags": ["palautus", "return-requested"]}


def test_tag_user_errors_are_rejected(api, client):
    answer(api, {"tagsAdd": {"node": None, "userErrors": [{"field": ["id"], "message": "Resource not found"}]}})
    with pytest.raises(ProviderRejected, match="id: Resource not found"):
        client.add_tags(ORDER, ["palautus"])


# --- errors ---------------------------------------------------------------------------------------

THROTTLED = {
    "errors": [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
    "extensions": {"cost": {"requestedQueryCost": 752, "actualQueryCost": None, "throttleStatus": {
        "maximumAvailable": 1000.0, "currentlyAvailable": 666, "restoreRate": 50.0}}},
}
ERRORS = {
    "429 with Retry-After": (dict(status=429, headers={"Retry-After": "2.0"}, errors="Exceeded 2 calls per second"),
                             ProviderUnavailable, dict(status=429, retry_after=2.0)),
    "THROTTLED": (THROTTLED, ProviderUnavailable, dict(code="THROTTLED", retry_after=1.72)),
    "500": (dict(status=500, errors="Internal Server Error"), ProviderUnavailable, dict(status=500)),
    "503": (dict(status=503, errors="Service Unavailable"), ProviderUnavailable, dict(status=503)),
    "401": (dict(status=401, errors="[API] Invalid API key or access token"), ProviderRejected,
            dict(status=401, code="unauthorized")),
    "402": (dict(status=402, errors="Unavailable Shop"), ProviderRejected, dict(status=402, code="shop_frozen")),
    "403": (dict(status=403, errors="Forbidden"), ProviderRejected, dict(status=403, code="forbidden")),
    "404": (dict(status=404, errors="Not Found"), ProviderRejected, dict(status=404, code="not_found")),
    "423": (dict(status=423, errors="Locked"), ProviderRejected, dict(status=423, code="shop_locked")),
    "access denied": (
        {"errors": [{"message": "Access denied for order field.", "extensions": {"code": "ACCESS_DENIED"}}]},
        ProviderRejected, dict(code="ACCESS_DENIED", message="Access denied for order field.")),
}


@pytest.mark.parametrize("case", ERRORS)
def test_each_failure_becomes_our_error_with_the_request_id_and_never_the_token(api, client, caplog, case):
    given, error, expected = ERRORS[case]
    given = dict(given)
    status, headers = given.pop("status", 200), given.pop("headers", None)
    answer(api, status=status, headers=headers, **given)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(error) as e:
        client.order_payments(ORDER)
    assert {key: getattr(e.value, key) for key in expected} == expected
    assert e.value.request_id == "req-7f3a" and e.value.provider == "shopify"
    assert TOKEN not in f"{e.value} {e.value!r} {e.value.args} {client!r} {vars(e.value)}"
    assert TOKEN not in caplog.text


def test_a_dropped_connection_is_retryable_and_no_requests_exception_escapes(api, client, caplog):
    api.add(responses.POST, URL, body=requests.ConnectionError(f"connection reset talking to {URL}"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderUnavailable) as e:
        client.order_payments(ORDER)
    assert e.value.should_retry and e.value.code == "connection_error"
    assert TOKEN not in f"{e.value} {e.value!r}" and TOKEN not in caplog.text


def test_an_answer_that_is_not_json_is_retryable(api, client):
    api.add(responses.POST, URL, body="<html>Shopify is down for maintenance</html>", status=200)
    with pytest.raises(ProviderUnavailable) as e:
        client.order_payments(ORDER)
    assert e.value.code == "bad_response"


def test_the_client_repr_shows_the_shop_and_not_the_token(client):
    assert repr(client) == f"ShopifyAdmin(shop='{SHOP}', api_version='2026-10')"
    assert TOKEN not in repr(client) and TOKEN not in str(client)
