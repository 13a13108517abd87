"""The Klarna Order Management refunds adapter against documented answers written by hand, and against
SandboxKlarna behind `responses`."""
from __future__ import annotations

import json
import logging
import re
import uuid
from base64 import b64encode
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import responses

from adapters.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.payments.klarna import KlarnaProvider, connect, refund_step
from integration.errors import MissingCredentials
from integration.money import Money
from integration.records import PaymentRef, ProviderRefund, RefundLine, RefundRequest
from integration.refunds import RefundStatus
from sandbox.http import Request
from sandbox.klarna import SandboxKlarna
from tests.fakes import as_responses

API = "https://klarna.test"
USERNAME = "0b1d9815-165e-42e2-8867-35bc03789e00"
PASSWORD = "klarna_test_api_PasswordThatMustNeverLeak"
BASIC = "Basic " + b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
ORDER_ID = "f3392f8b-6116-4073-ab96-e330819e2c07"
REFUND_ID = "b2cb4f2e-2781-4359-80ad-555735ebb8d8"
ORDER_URL = f"{API}/ordermanagement/v1/orders/{ORDER_ID}"
REFUNDS_URL = f"{ORDER_URL}/refunds"
KEY = "refund-42-attempt"
# uuid5 of KEY in the adapter's namespace, written out: a changed namespace would refund twice within 24 h.
KLARNA_KEY = "2c6d356e-c5fe-50ba-b964-c13a937bbb27"
AMOUNT = Money(1250, "EUR")
CORRELATION = "66782175-ae05-44fc-9eb3-eeceadbad271"
METADATA = {"return_code": "R-1234", "refund_id": "42", "order": "#1001", "shop": "shop.example"}

SHIRTS = RefundLine("11", "Shirt", "SHIRT-M", 2, 5980, 1215, "0.255")
SOCKS = RefundLine("12", "Socks", None, 3, 1000, 203, "0.255")  # 1000 does not split into 3 units


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def klarna():
    return KlarnaProvider(username=USERNAME, password=PASSWORD, api_base=API, timeout=5.0)


@pytest.fixture
def sandbox():
    """SandboxKlarna behind `responses` at API, as tests/fakes.py puts the sandboxes."""
    fake = SandboxKlarna()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:

        def answer(r):
            return as_responses(fake.handle(Request.of(r.method, r.url, dict(r.headers), r.body)))

        orders = re.escape(f"{API}/ordermanagement/v1/orders/")
        mock.add_callback("POST", re.compile(rf"{orders}[^/]+/refunds"), callback=answer)
        mock.add_callback("GET", re.compile(rf"{orders}.*"), callback=answer)
        yield fake


def request(amount=AMOUNT, lines=(), shipping=0, shipping_tax=0, order_id=ORDER_ID, key=KEY,
            metadata=METADATA) -> RefundRequest:  # fmt: skip
    """A refund request as the refund job builds it."""
    ref = PaymentRef("klarna", order_id, "1001", "#1001", "klarna")
    return RefundRequest(ref, amount, key, lines=tuple(lines), metadata=dict(metadata), shipping=shipping,
                         shipping_tax=shipping_tax)  # fmt: skip


def created(refund_id=REFUND_ID, order_id=ORDER_ID, **headers):
    """Klarna's 201: the id in the headers, the body empty."""
    location = f"{API}/ordermanagement/v1/orders/{order_id}/refunds/{refund_id}"
    return {"status": 201, "body": "", "headers": {"Refund-Id": refund_id, "Location": location, **headers}}


def klarna_error(code, message="Something went wrong.", correlation=CORRELATION):
    return {"error_code": code, "error_messages": [message], "correlation_id": correlation}


def order(refunds, currency="EUR", **fields):
    """A getOrder answer (MerchantOrderDto), trimmed to what matters here."""
    refunded = sum(r["refunded_amount"] for r in refunds if isinstance(r.get("refunded_amount"), int))
    return {"order_id": ORDER_ID, "status": "CAPTURED", "purchase_currency": currency, "order_amount": 10000,
            "captured_amount": 10000, "refunded_amount": refunded, "captures": [], "refunds": refunds,
            **fields}  # fmt: skip


def refund_object(refund_id=REFUND_ID, amount=1250, reference=KEY):
    return {"refund_id": refund_id, "refunded_amount": amount, "refunded_at": "2025-12-04T15:17:40Z",
            "description": "Return R-1234", "reference": reference, "order_lines": []}  # fmt: skip


def sent(call) -> dict:
    return json.loads(call.request.body)


# The request


def test_a_refund_posts_the_documented_body_with_basic_auth_and_a_key_derived_from_ours(api, klarna):
    api.post(REFUNDS_URL, **created())

    result = klarna.refund(request())

    call = api.calls[0]
    assert (call.request.method, call.request.url) == ("POST", REFUNDS_URL)
    assert sent(call) == {"refunded_amount": 1250, "reference": KEY, "description": "Return R-1234"}
    assert call.request.headers["Authorization"] == BASIC
    assert call.request.headers["Klarna-Idempotency-Key"] == KLARNA_KEY
    assert call.request.headers["Content-Type"] == "application/json"
    assert result == ProviderRefund(f"{ORDER_ID}:{REFUND_ID}", RefundStatus.SUCCEEDED, Money(1250, "EUR"), "refunded")


def test_every_retry_sends_the_same_version_5_key_and_another_refund_another_one(api, klarna):
    api.post(REFUNDS_URL, status=503, json=klarna_error("TEMPORARILY_UNAVAILABLE"))
    api.post(REFUNDS_URL, **created())
    api.post(REFUNDS_URL, **created(refund_id="c0ffee00-0000-4000-8000-000000000001"))

    with pytest.raises(ProviderUnavailable):
        klarna.refund(request())
    klarna.refund(request())
    klarna.refund(request(key="refund-43-attempt"))

    keys = [call.request.headers["Klarna-Idempotency-Key"] for call in api.calls]
    assert keys[0] == keys[1] == KLARNA_KEY and keys[2] != KLARNA_KEY
    assert uuid.UUID(keys[2]).version == 5


def test_the_order_id_is_quoted_into_the_path(api, klarna):
    api.post(f"{API}/ordermanagement/v1/orders/odd%2Fid%3F/refunds", **created(order_id="odd%2Fid%3F"))
    assert klarna.refund(request(order_id="odd/id?")).provider_refund_id == f"odd/id?:{REFUND_ID}"


@pytest.mark.parametrize("amount, order_id, code", [
    (Money(0, "EUR"), ORDER_ID, "amount_invalid"),
    (Money(-5, "EUR"), ORDER_ID, "amount_invalid"),
    (Money(200_000_001, "EUR"), ORDER_ID, "amount_invalid"),  # over refunded_amount's documented maximum
    (Money(1250, "EUR"), None, "payment_id_invalid"),
    (Money(1250, "EUR"), "", "payment_id_invalid"),
])  # fmt: skip
def test_what_klarna_cannot_take_is_rejected_before_any_call(api, klarna, amount, order_id, code):
    with pytest.raises(ProviderRejected) as raised:
        klarna.refund(request(amount=amount, order_id=order_id))
    assert raised.value.code == code
    assert len(api.calls) == 0


def test_without_a_return_code_the_customer_sees_the_order_and_a_long_one_is_cut_to_255(api, klarna):
    api.post(REFUNDS_URL, **created())
    api.post(REFUNDS_URL, **created())
    klarna.refund(request(metadata={}))
    klarna.refund(request(metadata={"return_code": "R" * 300}))
    assert sent(api.calls[0])["description"] == "Refund for order #1001"
    assert sent(api.calls[1])["description"] == "Return " + "R" * 248


# The answer to a create


@pytest.mark.parametrize("location", [
    f"{API}/ordermanagement/v1/orders/{ORDER_ID}/refunds/{REFUND_ID}",
    f"/ordermanagement/v1/orders/{ORDER_ID}/refunds/{REFUND_ID}/",
])  # fmt: skip
def test_without_a_refund_id_header_the_id_is_the_locations_last_segment(api, klarna, location):
    api.post(REFUNDS_URL, status=201, body="", headers={"Location": location})
    assert klarna.refund(request()).provider_refund_id == f"{ORDER_ID}:{REFUND_ID}"


def test_the_201_body_is_never_read(api, klarna):
    api.post(REFUNDS_URL, status=201, body="<html>not json</html>", headers={"Refund-Id": REFUND_ID})
    assert klarna.refund(request()).provider_refund_id == f"{ORDER_ID}:{REFUND_ID}"


@pytest.mark.parametrize("headers", [{}, {"Refund-Id": "  "}, {"Location": ORDER_URL}])
def test_a_201_without_the_refunds_id_is_malformed_and_leaves_the_outcome_to_look_up(api, klarna, headers):
    api.post(REFUNDS_URL, status=201, json={"refund_id": REFUND_ID}, headers=headers)  # the body does not count
    with pytest.raises(ProviderMalformed) as raised:
        klarna.refund(request())
    assert (raised.value.status, raised.value.code) == (201, "unexpected_response")
    assert klarna.outcome_unknown(raised.value)


# Errors


@pytest.mark.parametrize("status, code, message", [
    (403, "REFUND_NOT_ALLOWED", "Over refund is not allowed. Refund not possible."),
    (403, "REFUND_NOT_ALLOWED", "Order has no captures. Refund not possible"),
    (404, "NO_SUCH_ORDER", "No such order"),
    (400, "BAD_VALUE", "Invalid order_lines"),
    (401, "UNAUTHORIZED", "Bad credentials"),
    (413, "REQUEST_TOO_LARGE", "Too large"),
    (422, "UNPROCESSABLE_ENTITY", "Unprocessable"),
])  # fmt: skip
def test_a_refusal_is_permanent_and_carries_klarnas_code_message_and_correlation_id(api, klarna, status, code, message):
    api.post(REFUNDS_URL, status=status, json=klarna_error(code, message))
    with pytest.raises(ProviderRejected) as raised:
        klarna.refund(request())
    error = raised.value
    assert (error.status, error.code, error.message, error.request_id) == (status, code, message, CORRELATION)
    assert not error.should_retry and not klarna.outcome_unknown(error)


@pytest.mark.parametrize("status, code, unknown", [
    (409, "CONFLICT", True),  # perhaps a concurrent request under the same key: unconfirmed, so looked up
    (429, "TOO_MANY_REQUESTS", False),
    (500, "INTERNAL_SERVER_ERROR", True),
    (503, "TEMPORARILY_UNAVAILABLE", True),
])  # fmt: skip
def test_a_conflict_rate_limit_or_server_error_is_retryable_after_klarnas_pause(api, klarna, status, code, unknown):
    api.post(REFUNDS_URL, status=status, json=klarna_error(code, "Try later."), headers={"Retry-After": "2"})
    with pytest.raises(ProviderUnavailable) as raised:
        klarna.refund(request())
    error = raised.value
    assert not isinstance(error, ProviderMalformed)
    assert (error.status, error.code, error.request_id, error.retry_after) == (status, code, CORRELATION, 2.0)
    assert klarna.outcome_unknown(error) is unknown


@pytest.mark.parametrize("status, kind", [(502, ProviderUnavailable), (404, ProviderRejected)])
def test_an_error_that_is_not_json_is_still_judged_by_its_status(api, klarna, status, kind):
    api.post(REFUNDS_URL, status=status, body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(kind) as raised:
        klarna.refund(request())
    assert (raised.value.status, raised.value.code, raised.value.request_id) == (status, None, None)
    assert raised.value.message == f"Klarna answered HTTP {status}"


def test_the_correlation_id_header_stands_in_when_the_body_has_none(api, klarna):
    api.post(REFUNDS_URL, status=500, body="", headers={"Klarna-Correlation-Id": "corr-1"})
    with pytest.raises(ProviderUnavailable) as raised:
        klarna.refund(request())
    assert raised.value.request_id == "corr-1"


@pytest.mark.parametrize("failure, code", [
    (requests.Timeout(), "timeout"), (requests.ConnectionError(), "connection_error"),
])  # fmt: skip
def test_a_timeout_or_dropped_connection_is_retryable_and_leaves_the_outcome_open(api, klarna, failure, code):
    api.post(REFUNDS_URL, body=failure)
    with pytest.raises(ProviderUnavailable) as raised:
        klarna.refund(request())
    assert raised.value.code == code and klarna.outcome_unknown(raised.value)


def test_only_provider_errors_can_leave_the_outcome_open(klarna):
    assert not klarna.outcome_unknown(ValueError("boom"))
    assert not klarna.outcome_unknown(ProviderRejected("no", provider="klarna", status=403, code="REFUND_NOT_ALLOWED"))


# Order lines


def test_order_lines_carry_sku_units_tax_and_klarnas_rate_and_shipping_has_its_own_line(api, klarna):
    api.post(REFUNDS_URL, **created())
    klarna.refund(request(Money(5980 + 590, "EUR"), lines=[SHIRTS], shipping=590, shipping_tax=120))
    assert sent(api.calls[0])["order_lines"] == [
        {"type": "physical", "reference": "SHIRT-M", "name": "Shirt", "quantity": 2, "unit_price": 2990,
         "total_amount": 5980, "total_tax_amount": 1215, "tax_rate": 2550},
        {"type": "shipping_fee", "reference": "shipping", "name": "Shipping", "quantity": 1, "unit_price": 590,
         "total_amount": 590, "total_tax_amount": 120, "tax_rate": 2553},
    ]  # fmt: skip


def test_the_shipping_rate_is_the_one_its_amounts_carry_within_klarnas_tax_tolerance(api, klarna):
    api.post(REFUNDS_URL, **created())
    klarna.refund(request(Money(990, "EUR"), shipping=990, shipping_tax=193))  # 24 %
    (line,) = sent(api.calls[0])["order_lines"]
    total, tax, rate = line["total_amount"], line["total_tax_amount"], line["tax_rate"]
    assert abs(tax - (total - Decimal(total) * 10000 / (10000 + rate))) <= 1


@pytest.mark.parametrize("rate, klarnas", [
    ("0.24", 2400), ("0.255", 2550), ("0.0825", 825), ("0", 0), ("0.07125", 713),
])  # fmt: skip
def test_tax_rates_are_percent_with_two_implicit_decimals(api, klarna, rate, klarnas):
    api.post(REFUNDS_URL, **created())
    line = RefundLine("11", "Shirt", "SHIRT-M", 1, 1000, 0, rate)
    klarna.refund(request(Money(1000, "EUR"), lines=[line]))
    assert sent(api.calls[0])["order_lines"][0]["tax_rate"] == klarnas


def test_a_line_that_does_not_split_into_units_goes_as_one_unit_named_with_its_count(api, klarna):
    api.post(REFUNDS_URL, **created())
    klarna.refund(request(Money(1000, "EUR"), lines=[SOCKS]))
    (line,) = sent(api.calls[0])["order_lines"]
    assert line == {"type": "physical", "reference": "12", "name": "3 × Socks", "quantity": 1, "unit_price": 1000,
                    "total_amount": 1000, "total_tax_amount": 203, "tax_rate": 2550}  # fmt: skip


@pytest.mark.parametrize("lines, amount", [
    ([SHIRTS, SOCKS], 6480),  # a 500 fee kept: the lines add up to more than goes back
    ([SHIRTS], 5981),  # more than the lines: never seen, but the lines would not add up either
    ([RefundLine("11", "Shirt", "S", 1, 1000, 0, "a lot")], 1000),  # a rate Klarna's terms cannot say
    ([RefundLine("11", "Shirt", "S", 0, 1000, 0, "0.24")], 1000),  # no units
])  # fmt: skip
def test_lines_that_do_not_add_up_to_the_refund_or_cannot_be_said_are_left_out(api, klarna, lines, amount):
    api.post(REFUNDS_URL, **created())
    klarna.refund(request(Money(amount, "EUR"), lines=lines))
    body = sent(api.calls[0])
    assert "order_lines" not in body and body["refunded_amount"] == amount


# find_refund and get_refund


def test_find_refund_reads_the_order_and_matches_our_key_in_the_reference(api, klarna):
    api.get(ORDER_URL, json=order([refund_object("r-1", 300, reference="other"), refund_object(amount=1250)], "sek"))
    result = klarna.find_refund(request())
    assert result == ProviderRefund(f"{ORDER_ID}:{REFUND_ID}", RefundStatus.SUCCEEDED, Money(1250, "SEK"), "refunded")
    assert (api.calls[0].request.method, api.calls[0].request.url) == ("GET", ORDER_URL)
    assert api.calls[0].request.headers["Authorization"] == BASIC


@pytest.mark.parametrize("answer", [
    order([refund_object(reference="other")]),
    {k: v for k, v in order([]).items() if k != "refunds"},  # an order never refunded may leave the list out
])  # fmt: skip
def test_find_refund_returns_none_when_no_refund_carries_the_key(api, klarna, answer):
    api.get(ORDER_URL, json=answer)
    assert klarna.find_refund(request()) is None


@pytest.mark.parametrize("answer", [
    {"body": "<html>", "content_type": "text/html"},
    {"json": [order([])]},
    {"json": order([]) | {"refunds": {"refund_id": REFUND_ID}}},
    {"json": order([]) | {"refunds": ["r-1"]}},
    {"json": {k: v for k, v in order([refund_object()]).items() if k != "purchase_currency"}},
    {"json": order([refund_object()]) | {"purchase_currency": "euros"}},
    {"json": order([{k: v for k, v in refund_object().items() if k != "refund_id"}])},
    {"json": order([refund_object() | {"refunded_amount": "12.50"}])},
])  # fmt: skip
def test_an_order_not_in_the_documented_shape_is_malformed(api, klarna, answer):
    api.get(ORDER_URL, **answer)
    with pytest.raises(ProviderMalformed):
        klarna.find_refund(request())


def test_find_refund_of_an_unknown_order_is_refused(api, klarna):
    api.get(ORDER_URL, status=404, json=klarna_error("NO_SUCH_ORDER", "No such order"))
    with pytest.raises(ProviderRejected) as raised:
        klarna.find_refund(request())
    assert raised.value.code == "NO_SUCH_ORDER"


def test_get_refund_splits_the_composite_id_and_reads_the_refund_from_its_order(api, klarna):
    api.get(ORDER_URL, json=order([refund_object("r-1", 300), refund_object(amount=700)], "NOK"))
    result = klarna.get_refund(f"{ORDER_ID}:{REFUND_ID}")
    assert result == ProviderRefund(f"{ORDER_ID}:{REFUND_ID}", RefundStatus.SUCCEEDED, Money(700, "NOK"), "refunded")


def test_get_refund_of_a_refund_the_order_does_not_have_is_not_found(api, klarna):
    api.get(ORDER_URL, json=order([refund_object("r-1", 300)]))
    with pytest.raises(ProviderRejected) as raised:
        klarna.get_refund(f"{ORDER_ID}:{REFUND_ID}")
    assert raised.value.code == "not_found"


@pytest.mark.parametrize("refund_id", [REFUND_ID, f"{ORDER_ID}:", f":{REFUND_ID}"])
def test_get_refund_of_an_id_that_is_not_composite_is_refused_before_any_call(api, klarna, refund_id):
    with pytest.raises(ProviderRejected) as raised:
        klarna.get_refund(refund_id)
    assert raised.value.code == "refund_id_invalid" and len(api.calls) == 0


# Secrets, credentials, and what planning may know


def leaky_answers():
    leak = klarna_error("UNAUTHORIZED", f"Bad credentials {USERNAME}:{PASSWORD}")
    yield {"status": 401, "json": leak}
    yield {"status": 500, "json": leak}
    yield {"status": 400, "json": klarna_error("BAD_VALUE", f"Header was {BASIC}")}
    yield {"body": requests.Timeout("timed out")}
    yield {"body": requests.ConnectionError("reset")}
    yield {"status": 201, "body": PASSWORD}


@pytest.mark.parametrize("answer", list(leaky_answers()))
def test_the_password_never_appears_in_errors_or_logs(api, klarna, caplog, answer):
    caplog.set_level(logging.DEBUG)
    api.post(REFUNDS_URL, **answer)
    with pytest.raises((ProviderRejected, ProviderUnavailable)) as raised:
        klarna.refund(request())
    error = raised.value
    for text in (str(error), repr(error), error.message, caplog.text, repr(klarna)):
        assert PASSWORD not in text and BASIC.split()[1] not in text


@pytest.mark.parametrize("credentials", [
    {}, {"username": USERNAME}, {"password": PASSWORD}, {"username": "", "password": PASSWORD},
])  # fmt: skip
def test_connect_needs_both_username_and_password(credentials):
    with pytest.raises(MissingCredentials):
        connect(credentials, {"KLARNA_API_BASE": API, "HTTP_TIMEOUT": 5.0})


def test_connect_takes_the_operators_api_base_and_shows_only_it(api):
    route = connect({"username": USERNAME, "password": PASSWORD}, {"KLARNA_API_BASE": API + "/", "HTTP_TIMEOUT": 5.0})
    assert repr(route) == f"KlarnaProvider(api_base={API!r})"
    default = connect({"username": USERNAME, "password": PASSWORD}, {"HTTP_TIMEOUT": 5.0})
    assert default.api_base == "https://api.klarna.com"
    api.post(REFUNDS_URL, **created())
    route.refund(request())
    assert api.calls[0].request.headers["Authorization"] == BASIC


def test_a_password_beyond_latin_1_is_sent_as_utf_8_basic_credentials(sandbox):
    route = KlarnaProvider(username=USERNAME, password="pässwörd-€", api_base=API)
    route.refund(request(order_id=sandbox.order(10000)))
    (headers, _), = sandbox.posts
    assert headers["Authorization"] == "Basic " + b64encode(f"{USERNAME}:pässwörd-€".encode()).decode()


def test_klarna_refunds_any_minor_unit_and_keys_are_trusted_for_23_hours(klarna):
    assert [refund_step(c) for c in ("EUR", "SEK", "NOK", "DKK", "USD")] == [1] * 5
    assert klarna.refund_step("EUR") == 1 and klarna.key_lifetime == timedelta(hours=23)
    assert klarna.name == "klarna"


# Through the sandbox


def test_a_refund_through_the_sandbox_is_read_back_alike_by_id_and_by_key(sandbox, klarna):
    order_id = sandbox.order(10000)
    ask = request(Money(5980 + 1000 + 590, "EUR"), lines=[SHIRTS, SOCKS], shipping=590, shipping_tax=120,
                  order_id=order_id)  # fmt: skip
    made = klarna.refund(ask)
    assert klarna.get_refund(made.provider_refund_id) == made == klarna.find_refund(ask)
    assert sandbox.money_moved == 7570
    (refund,) = sandbox.refunds_of(order_id)
    assert (refund["reference"], len(refund["order_lines"])) == (KEY, 3)


def test_the_sandbox_replays_the_first_answer_for_a_key_whatever_the_body(sandbox, klarna):
    order_id = sandbox.order(10000)
    first = klarna.refund(request(Money(1000, "EUR"), order_id=order_id))
    again = klarna.refund(request(Money(2000, "EUR"), order_id=order_id))  # same key, another body
    assert again.provider_refund_id == first.provider_refund_id
    assert sandbox.money_moved == 1000 and len(sandbox.refunds) == 1
    assert {headers[sandbox.key_header] for headers, _ in sandbox.posts} == {KLARNA_KEY}
    assert [body["refunded_amount"] for _, body in sandbox.posts] == [1000, 2000]


def test_the_sandbox_refuses_more_than_is_left_of_the_capture(sandbox, klarna):
    order_id = sandbox.order(1000)
    klarna.refund(request(Money(600, "EUR"), order_id=order_id, key="first"))
    with pytest.raises(ProviderRejected) as raised:
        klarna.refund(request(Money(401, "EUR"), order_id=order_id, key="second"))
    error = raised.value
    over = "Over refund is not allowed. Refund not possible."
    assert (error.status, error.code, error.message) == (403, "REFUND_NOT_ALLOWED", over)
    assert uuid.UUID(error.request_id) and sandbox.money_moved == 600
    klarna.refund(request(Money(400, "EUR"), order_id=order_id, key="third"))
    assert sandbox.orders[order_id]["refunded_amount"] == 1000


@pytest.mark.parametrize("fault, moved", [("lost_answer", 1000), ("saved_failure", 1000), ("unknown_outcome", 0),
                                          ("unavailable", 0), ("lost_request", 0)])  # fmt: skip
def test_after_an_open_outcome_the_key_finds_or_replays_one_refund(sandbox, klarna, fault, moved):
    order_id = sandbox.order(10000)
    ask = request(Money(1000, "EUR"), order_id=order_id)
    sandbox.fail_next(fault)
    with pytest.raises(ProviderUnavailable) as raised:
        klarna.refund(ask)
    assert klarna.outcome_unknown(raised.value)  # a 5xx or a lost answer: only a look-up can tell
    found = klarna.find_refund(ask)
    assert sandbox.money_moved == moved and (found is not None) == bool(moved)
    retried = klarna.refund(ask)
    assert sandbox.money_moved == 1000 and len(sandbox.refunds) == 1
    assert found is None or retried == found


def test_a_refusal_fault_moves_nothing(sandbox, klarna):
    sandbox.fail_next("refused")
    with pytest.raises(ProviderRejected):
        klarna.refund(request(order_id=sandbox.order(10000)))
    assert sandbox.money_moved == 0 and len(sandbox.posts) == 1


def test_a_refused_read_is_refused_once_and_the_next_read_answers(sandbox, klarna):
    made = klarna.refund(request(order_id=sandbox.order(10000)))
    sandbox.fail_reads(401)
    with pytest.raises(ProviderRejected) as raised:
        klarna.get_refund(made.provider_refund_id)
    assert raised.value.status == 401
    assert klarna.get_refund(made.provider_refund_id) == made
    sandbox.settle("succeeded")  # nothing to settle: final already
    assert klarna.get_refund(made.provider_refund_id) == made


def handle(fake: SandboxKlarna, body, path=None, key="k", auth=BASIC):
    path = path or f"/ordermanagement/v1/orders/{ORDER_ID}/refunds"
    headers = {"Authorization": auth, "Klarna-Idempotency-Key": key}
    return fake.handle(Request("POST", path, headers=headers, body=json.dumps(body)))


@pytest.mark.parametrize("body", [
    {"refunded_amount": 0},
    {"refunded_amount": "1000"},
    {"refunded_amount": 1000, "reference": "x" * 256},
    {"refunded_amount": 1000, "order_lines": [{"name": "A", "quantity": 1, "unit_price": 900, "total_amount": 900}]},
    {"refunded_amount": 1000, "order_lines": [{"name": "A", "quantity": 2, "unit_price": 400, "total_amount": 1000}]},
    {"refunded_amount": 1000, "order_lines": [{"name": "A", "quantity": 1, "unit_price": 1000, "total_amount": 1000,
                                               "tax_rate": "25"}]},
    {"refunded_amount": 1000, "order_lines": [{"quantity": 1, "unit_price": 1000, "total_amount": 1000}]},
])  # fmt: skip
def test_the_sandbox_refuses_a_body_klarnas_refund_object_does_not_allow(body):
    fake = SandboxKlarna()
    order_id = fake.order(10000)
    reply = handle(fake, body, path=f"/ordermanagement/v1/orders/{order_id}/refunds")
    assert (reply.status, reply.body["error_code"]) == (400, "BAD_VALUE")
    assert fake.money_moved == 0


def test_the_sandbox_takes_a_discounted_line_and_knows_only_its_orders_unless_its_book_is_open():
    fake = SandboxKlarna()
    line = {"name": "A", "quantity": 2, "unit_price": 600, "total_discount_amount": 200, "total_amount": 1000}
    assert handle(fake, {"refunded_amount": 1000, "order_lines": [line]}).body["error_code"] == "NO_SUCH_ORDER"
    open_book = SandboxKlarna(open_book=True)
    reply = handle(open_book, {"refunded_amount": 1000, "order_lines": [line]})
    assert reply.status == 201 and reply.body == "" and reply.headers["Location"].endswith(reply.headers["Refund-Id"])
    assert open_book.orders[ORDER_ID]["purchase_currency"] == "EUR" and open_book.money_moved == 1000


def test_with_accounts_opened_the_sandbox_takes_only_their_credentials_and_never_echoes_a_password():
    fake = SandboxKlarna()
    username, password = fake.open_account()
    mine = "Basic " + b64encode(f"{username}:{password}".encode()).decode()
    order_id = fake.order(10000, username=username)
    path = f"/ordermanagement/v1/orders/{order_id}/refunds"
    refused = handle(fake, {"refunded_amount": 100}, path=path)  # the tests' credentials, not the account's
    assert refused.status == 401 and PASSWORD not in refused.text()
    assert handle(fake, {"refunded_amount": 100}, path=path, auth="Bearer x").status == 401
    assert handle(fake, {"refunded_amount": 100}, path=path, auth=mine).status == 201
    other, other_password = fake.open_account()
    theirs = "Basic " + b64encode(f"{other}:{other_password}".encode()).decode()
    assert handle(fake, {"refunded_amount": 100}, path=path, auth=theirs, key="k2").status == 404  # not their order
