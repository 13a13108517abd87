"""The PayPal refunds route against `responses`, by hand and with SandboxPayPal behind it."""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
from urllib.parse import parse_qs

import pytest
import requests
import responses

from adapters.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.payments import PaymentRef, ProviderRefund, RefundRequest
from adapters.payments import paypal as paypal_module
from adapters.payments.paypal import KEY_LIFETIME, STATUSES, PayPalProvider, connect, forget_tokens, refund_step
from integration.errors import MissingCredentials
from integration.money import Money
from integration.refunds import RefundStatus
from sandbox.http import Request
from sandbox.paypal import SandboxPayPal
from tests.fakes import as_responses

API = "https://api-m.paypal.com"
TOKEN_URL = f"{API}/v1/oauth2/token"
CLIENT_ID = "AbPalautusTestClientId"
SECRET = "EPalautusClientSecretThatMustNeverLeak"
TOKEN = "A21AAPalautusAccessTokenThatMustNeverLeak"
KEY = "palautus-12-R7K2-1"
CAPTURE = "2GG279541U471931P"
REFUND_URL = f"{API}/v2/payments/captures/{CAPTURE}/refund"
METADATA = {"return_code": "R-7K2", "refund_id": "12"}


@pytest.fixture(autouse=True)
def fresh_tokens():
    forget_tokens()
    yield
    forget_tokens()


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def mount(http, sandbox: SandboxPayPal, api_base: str = API) -> SandboxPayPal:
    """The sandbox behind `responses`, as tests/fakes.py mounts every provider's."""

    def answer(request):
        return as_responses(sandbox.handle(Request.of(request.method, request.url, dict(request.headers), request.body)))

    http.add_callback("POST", f"{api_base}/v1/oauth2/token", callback=answer, content_type="application/json")
    http.add_callback("POST", re.compile(rf"{re.escape(api_base)}/v2/payments/captures/[^/]+/refund"), callback=answer,
                      content_type="application/json")  # fmt: skip
    http.add_callback("GET", re.compile(rf"{re.escape(api_base)}/v2/.*"), callback=answer, content_type="application/json")
    return sandbox


@pytest.fixture
def sandbox(api):
    return mount(api, SandboxPayPal())


@pytest.fixture
def paypal():
    return PayPalProvider(CLIENT_ID, SECRET, api_base=API, timeout=5.0)


def request(capture_id=CAPTURE, amount=Money(1250, "EUR"), key=KEY, metadata=None) -> RefundRequest:
    """A refund request as the refund job builds it."""
    ref = PaymentRef("paypal", capture_id, "1001", "#1001", "paypal", kind="capture")
    return RefundRequest(ref, amount, key, metadata=dict(METADATA if metadata is None else metadata))


def token_ok(api, token=TOKEN, expires_in=32400):
    api.post(TOKEN_URL, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def refund_object(**overrides):
    refund = {"id": "1JU08902781691411", "status": "COMPLETED", "amount": {"value": "12.50", "currency_code": "EUR"},
              "invoice_id": KEY, "custom_id": KEY}  # fmt: skip
    return {**refund, **overrides}


def error_body(name="UNPROCESSABLE_ENTITY", issue=None, message="The requested action could not be performed.",
               debug_id="dbg123"):  # fmt: skip
    body = {"name": name, "message": message, "debug_id": debug_id}
    if issue:
        body["details"] = [{"issue": issue, "description": f"about {issue}"}]
    return body


def api_calls(api, path_part: str) -> list:
    return [call for call in api.calls if path_part in call.request.url]


def sent_json(call) -> dict:
    return json.loads(call.request.body)


# --- the request ---------------------------------------------------------------------------------


def test_a_refund_posts_the_documented_body_and_headers(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, json=refund_object(), status=201)

    result = paypal.refund(request())

    call = api_calls(api, "/refund")[0]
    assert call.request.url == REFUND_URL
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.headers["PayPal-Request-Id"] == KEY
    assert call.request.headers["Prefer"] == "return=representation"
    assert call.request.headers["Content-Type"] == "application/json"
    assert sent_json(call) == {
        "amount": {"value": "12.50", "currency_code": "EUR"},
        "invoice_id": KEY,
        "custom_id": KEY,
        "note_to_payer": "Return R-7K2",
    }
    assert result == ProviderRefund("1JU08902781691411", RefundStatus.SUCCEEDED, Money(1250, "EUR"), "COMPLETED")


def test_the_token_is_asked_for_with_basic_auth_and_client_credentials(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, json=refund_object(), status=201)
    paypal.refund(request())

    call = api_calls(api, "/oauth2/token")[0]
    assert call.request.headers["Authorization"] == "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert call.request.headers["Accept"] == "application/json"
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(call.request.body) == {"grant_type": ["client_credentials"]}


def test_the_capture_id_is_quoted_into_the_path(api, paypal):
    token_ok(api)
    api.post(f"{API}/v2/payments/captures/AB%2F..%2F12/refund", json=refund_object(), status=201)
    paypal.refund(request(capture_id="AB/../12"))
    assert api_calls(api, "/refund")[0].request.url == f"{API}/v2/payments/captures/AB%2F..%2F12/refund"


def test_without_a_return_code_no_note_to_payer_is_sent(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, json=refund_object(), status=201)
    paypal.refund(request(metadata={}))
    assert "note_to_payer" not in sent_json(api_calls(api, "/refund")[0])


@pytest.mark.parametrize("req, code", [
    (request(capture_id=""), "payment_id_invalid"),
    (request(capture_id=None), "payment_id_invalid"),
    (request(key="k" * 109), "idempotency_key_invalid"),
    (request(amount=Money(0, "EUR")), "amount_invalid"),
    (request(amount=Money(-5, "EUR")), "amount_invalid"),
    (request(amount=Money(123450, "HUF")), "amount_invalid"),  # 1234.50 HUF: PayPal takes whole forints
])  # fmt: skip
def test_a_refund_paypal_cannot_take_is_rejected_before_any_call(api, paypal, req, code):
    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(req)
    assert raised.value.code == code
    assert len(api.calls) == 0


@pytest.mark.parametrize("money, sent", [
    (Money(1250, "EUR"), "12.50"),
    (Money(5, "USD"), "0.05"),
    (Money(500, "JPY"), "500"),  # ISO and PayPal: no decimals
    (Money(123500, "HUF"), "1235"),  # ISO two decimals, PayPal none
    (Money(10000, "TWD"), "100"),
])  # fmt: skip
def test_amounts_go_out_as_strings_in_paypal_decimals_and_come_back_in_our_minor_units(api, paypal, money, sent):
    token_ok(api)
    api.post(REFUND_URL, status=201,
             json=refund_object(amount={"value": sent, "currency_code": money.currency}))  # fmt: skip
    result = paypal.refund(request(amount=money))
    assert sent_json(api_calls(api, "/refund")[0])["amount"] == {"value": sent, "currency_code": money.currency}
    assert result.amount == money


@pytest.mark.parametrize(("currency", "step"), [("EUR", 1), ("USD", 1), ("JPY", 1), ("HUF", 100), ("TWD", 100), ("huf", 100)])
def test_the_smallest_refund_paypal_takes_is_declared_per_currency_for_planning(currency, step):
    assert refund_step(currency) == step
    assert PayPalProvider.refund_step(currency) == step


def test_paypal_keeps_a_request_id_for_45_days_and_we_count_on_44():
    assert PayPalProvider.key_lifetime == KEY_LIFETIME and KEY_LIFETIME.days == 44


# --- the access token ----------------------------------------------------------------------------


def test_a_token_is_fetched_once_and_reused_across_calls(sandbox, paypal):
    first = paypal.refund(request(capture_id=sandbox.capture(5000), amount=Money(100, "EUR"), key="k-1"))
    paypal.refund(request(capture_id=sandbox.capture(5000), amount=Money(200, "EUR"), key="k-2"))
    paypal.get_refund(first.provider_refund_id)
    assert sandbox.token_requests == 1
    assert len(sandbox.tokens) == 1


def test_a_token_is_shared_by_providers_with_the_same_credentials_and_no_others(sandbox):
    capture = sandbox.capture(5000)
    PayPalProvider(CLIENT_ID, SECRET, api_base=API).refund(request(capture, Money(100, "EUR"), key="k-1"))
    PayPalProvider(CLIENT_ID, SECRET, api_base=API).refund(request(capture, Money(100, "EUR"), key="k-2"))
    assert sandbox.token_requests == 1
    PayPalProvider(CLIENT_ID, SECRET + "-rotated", api_base=API).refund(request(capture, Money(100, "EUR"), key="k-3"))
    PayPalProvider("another-client", SECRET, api_base=API).refund(request(capture, Money(100, "EUR"), key="k-4"))
    assert sandbox.token_requests == 3


def test_the_cache_never_keeps_the_secret_itself():
    paypal = PayPalProvider(CLIENT_ID, SECRET, api_base=API)
    assert SECRET not in repr(paypal._token_key) and len(paypal._token_key[2]) == 64


def test_a_token_is_used_until_five_minutes_before_it_expires(api, paypal, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(paypal_module.TOKENS, "clock", lambda: now[0])
    api.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 3600})
    api.post(TOKEN_URL, json={"access_token": "tok-2", "expires_in": 3600})
    api.get(f"{API}/v2/payments/refunds/R1", json=refund_object(id="R1"))

    paypal.get_refund("R1")
    now[0] += 3600 - 300 - 1
    paypal.get_refund("R1")
    assert len(api_calls(api, "/oauth2/token")) == 1
    now[0] += 1
    paypal.get_refund("R1")
    assert len(api_calls(api, "/oauth2/token")) == 2
    assert api_calls(api, "/refunds/R1")[-1].request.headers["Authorization"] == "Bearer tok-2"


def test_a_token_that_lasts_less_than_the_margin_is_not_reused(api, paypal):
    token_ok(api, expires_in=200)
    api.get(f"{API}/v2/payments/refunds/R1", json=refund_object(id="R1"))
    paypal.get_refund("R1")
    paypal.get_refund("R1")
    assert len(api_calls(api, "/oauth2/token")) == 2


def test_a_401_drops_the_token_and_repeats_the_call_once_with_a_new_one(sandbox, paypal):
    capture = sandbox.capture(5000)
    paypal.refund(request(capture, Money(100, "EUR"), key="k-1"))
    sandbox.expire_tokens()

    result = paypal.refund(request(capture, Money(200, "EUR"), key="k-2"))

    assert result.status is RefundStatus.SUCCEEDED
    assert sandbox.token_requests == 2
    assert sandbox.money_moved == 300 and len(sandbox.refunds) == 2


def test_a_second_401_is_a_refusal_after_exactly_one_retry(api, paypal):
    api.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 32400})
    api.post(TOKEN_URL, json={"access_token": "tok-2", "expires_in": 32400})
    api.post(REFUND_URL, status=401, json={"error": "invalid_token", "error_description": "Token signature verification failed"})

    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(request())

    posts = api_calls(api, "/refund")
    assert [call.request.headers["Authorization"] for call in posts] == ["Bearer tok-1", "Bearer tok-2"]
    assert [call.request.headers["PayPal-Request-Id"] for call in posts] == [KEY, KEY]
    assert (raised.value.status, raised.value.code) == (401, "invalid_token")


def test_a_401_from_the_token_endpoint_is_a_refusal_of_the_credentials(api):
    sandbox = mount(api, SandboxPayPal())
    client_id, _ = sandbox.open_account()
    with pytest.raises(ProviderRejected) as raised:
        PayPalProvider(client_id, "not-the-secret", api_base=API).get_refund("R1")
    assert (raised.value.status, raised.value.code) == (401, "invalid_client")
    assert "client credentials" in raised.value.message
    assert api_calls(api, "/v2/") == []  # no API call without a token


def test_an_opened_account_s_own_credentials_get_a_token(api):
    sandbox = mount(api, SandboxPayPal())
    client_id, secret = sandbox.open_account()
    capture = sandbox.capture(5000, client_id=client_id)
    result = PayPalProvider(client_id, secret, api_base=API).refund(request(capture, Money(100, "EUR")))
    assert sandbox.refunds[result.provider_refund_id]["account"] == client_id


@pytest.mark.parametrize("status", [429, 503])
def test_a_token_endpoint_that_is_down_is_unavailable(api, paypal, status):
    api.post(TOKEN_URL, status=status, json={"error": "temporarily_unavailable"}, headers={"Retry-After": "3"})
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.get_refund("R1")
    assert (raised.value.status, raised.value.retry_after) == (status, 3.0)


def test_a_token_answer_without_an_access_token_is_malformed(api, paypal):
    api.post(TOKEN_URL, json={"token_type": "Bearer"})
    with pytest.raises(ProviderMalformed):
        paypal.get_refund("R1")


def test_concurrent_callers_in_one_process_fetch_one_token(api):
    got: list[str] = []
    fetched: list[int] = []
    other = threading.Thread(target=lambda: got.append(PayPalProvider(CLIENT_ID, SECRET, api_base=API)._access_token()))

    def token_answer(_request):
        fetched.append(1)
        if len(fetched) == 1:  # while this fetch is under way, another caller asks
            other.start()
            other.join(0.05)  # it waits for this fetch (without the lock it would fetch its own, nested)
        return 200, {}, json.dumps({"access_token": f"tok-{len(fetched)}", "expires_in": 32400})

    api.add_callback("POST", TOKEN_URL, callback=token_answer)
    first = PayPalProvider(CLIENT_ID, SECRET, api_base=API)._access_token()
    other.join(5)
    assert (first, got, len(fetched)) == ("tok-1", ["tok-1"], 1)


# --- statuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("paypal_status, ours", [
    ("COMPLETED", RefundStatus.SUCCEEDED),
    ("PENDING", RefundStatus.SUBMITTED),
    ("FAILED", RefundStatus.FAILED),
    ("CANCELLED", RefundStatus.FAILED),
])  # fmt: skip
def test_each_paypal_status_maps_to_ours_and_keeps_paypals_word(api, paypal, paypal_status, ours):
    token_ok(api)
    api.get(f"{API}/v2/payments/refunds/R1", json=refund_object(id="R1", status=paypal_status))
    result = paypal.get_refund("R1")
    assert (result.status, result.provider_status) == (ours, paypal_status)


def test_the_status_map_knows_exactly_the_documented_statuses():
    assert set(STATUSES) == {"CANCELLED", "FAILED", "PENDING", "COMPLETED"}  # PP-OAS refund_status enum


def test_a_failed_refund_carries_paypals_reason(api, paypal):
    token_ok(api)
    api.get(f"{API}/v2/payments/refunds/R1", json=refund_object(status="FAILED", status_details={"reason": "ECHECK"}))
    assert paypal.get_refund("R1").failure_reason == "ECHECK"


def test_a_failed_refund_without_a_reason_and_a_pending_one_with_a_reason_carry_none(api, paypal):
    token_ok(api)
    api.get(f"{API}/v2/payments/refunds/R1", json=refund_object(status="FAILED"))
    api.get(f"{API}/v2/payments/refunds/R2", json=refund_object(status="PENDING", status_details={"reason": "ECHECK"}))
    assert paypal.get_refund("R1").failure_reason is None
    assert paypal.get_refund("R2").failure_reason is None


def test_an_unknown_status_is_never_final_and_is_logged(api, paypal, caplog):
    token_ok(api)
    api.get(f"{API}/v2/payments/refunds/R1", json=refund_object(status="UNDER_REVIEW"))
    result = paypal.get_refund("R1")
    assert (result.status, result.provider_status) == (RefundStatus.SUBMITTED, "UNDER_REVIEW")
    assert "unknown paypal refund status" in caplog.text


def test_a_minimal_answer_is_completed_with_a_read_of_the_refund(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, status=201, json={"id": "R9", "status": "PENDING", "links": []})
    api.get(f"{API}/v2/payments/refunds/R9", json=refund_object(id="R9", status="PENDING"))
    result = paypal.refund(request())
    assert (result.provider_refund_id, result.status, result.amount) == ("R9", RefundStatus.SUBMITTED, Money(1250, "EUR"))
    assert len(api_calls(api, "/refunds/R9")) == 1


def test_get_refund_reads_the_refund_by_its_quoted_id(sandbox, paypal):
    made = paypal.refund(request(sandbox.capture(5000)))
    assert paypal.get_refund(made.provider_refund_id) == made
    with pytest.raises(ProviderRejected) as raised:
        paypal.get_refund("NO/SUCH")
    assert (raised.value.status, raised.value.code) == (404, "INVALID_RESOURCE_ID")


@pytest.mark.parametrize("body, what", [
    (refund_object(id=None), "without id or status"),
    (refund_object(status=None), "without id or status"),
    (refund_object(amount={"value": 12.5, "currency_code": "EUR"}), "without amount or currency"),
    (refund_object(amount={"value": "12.505", "currency_code": "EUR"}), "not expressible"),
])  # fmt: skip
def test_a_refund_paypal_describes_badly_is_malformed_never_failed(api, paypal, body, what):
    token_ok(api)
    api.get(f"{API}/v2/payments/refunds/R1", json=body)
    with pytest.raises(ProviderMalformed, match=what):
        paypal.get_refund("R1")


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("issue", [
    "REFUND_AMOUNT_EXCEEDED", "CAPTURE_FULLY_REFUNDED", "REFUND_NOT_ALLOWED", "REFUND_TIME_LIMIT_EXCEEDED",
    "DUPLICATE_INVOICE_ID", "DECIMAL_PRECISION", "REFUND_CAPTURE_CURRENCY_MISMATCH", "PAYEE_ACCOUNT_RESTRICTED",
    # state-dependent: may pass later, but a refusal all the same (the merchant starts the refund again)
    "REFUND_FAILED_INSUFFICIENT_FUNDS", "PENDING_CAPTURE", "TRANSACTION_DISPUTED",
])  # fmt: skip
def test_a_422_is_a_refusal_coded_by_its_issue(api, paypal, issue):
    token_ok(api)
    api.post(REFUND_URL, status=422, json=error_body(issue=issue, debug_id="f00d1234"))
    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(request())
    error = raised.value
    assert (error.status, error.code, error.request_id, error.should_retry) == (422, issue, "f00d1234", False)
    assert f"about {issue}" in error.message
    # A duplicate invoice_id (our key) says a refund under our key exists: looked up, never failed.
    assert paypal.outcome_unknown(error) is (issue == "DUPLICATE_INVOICE_ID")


def test_a_state_dependent_refusal_says_it_may_pass_later(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, status=422, json=error_body(issue="REFUND_FAILED_INSUFFICIENT_FUNDS"))
    with pytest.raises(ProviderRejected, match="may try again later"):
        paypal.refund(request())


@pytest.mark.parametrize("status, name, issue", [
    (400, "INVALID_REQUEST", "INVALID_PARAMETER_SYNTAX"),
    (403, "NOT_AUTHORIZED", "PERMISSION_DENIED"),
    (404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID"),
    (422, "UNPROCESSABLE_ENTITY", None),
])  # fmt: skip
def test_a_validation_permission_or_missing_capture_error_is_a_refusal(api, paypal, status, name, issue):
    token_ok(api)
    api.post(REFUND_URL, status=status, json=error_body(name, issue))
    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(request())
    assert (raised.value.status, raised.value.code) == (status, issue or name)


@pytest.mark.parametrize("status, name, issue", [
    (409, "RESOURCE_CONFLICT", "PREVIOUS_REQUEST_IN_PROGRESS"),
    (429, "RATE_LIMIT_REACHED", None),
    (500, "INTERNAL_SERVER_ERROR", None),
    (503, "SERVICE_UNAVAILABLE", None),
])  # fmt: skip
def test_a_conflict_rate_limit_or_server_error_is_unavailable_with_retry_after(api, paypal, status, name, issue):
    token_ok(api)
    api.post(REFUND_URL, status=status, json=error_body(name, issue, debug_id="beef42"), headers={"Retry-After": "7"})
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.refund(request())
    error = raised.value
    assert (error.status, error.code, error.request_id, error.retry_after) == (status, issue or name, "beef42", 7.0)
    assert error.should_retry


def test_the_debug_id_header_names_the_request_when_the_body_has_none(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, status=502, body="<html>Bad gateway</html>", content_type="text/html",
             headers={"Paypal-Debug-Id": "hdr0001"})  # fmt: skip
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.refund(request())
    assert (raised.value.status, raised.value.code, raised.value.request_id) == (502, None, "hdr0001")


@pytest.mark.parametrize("exc, code", [(requests.ReadTimeout("read timed out"), "timeout"),
                                       (requests.ConnectionError("reset"), "connection_error")])  # fmt: skip
def test_no_answer_is_unavailable_with_an_unknown_outcome(api, paypal, exc, code):
    token_ok(api)
    api.post(REFUND_URL, body=exc)
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.refund(request())
    assert raised.value.code == code
    assert paypal.outcome_unknown(raised.value)


def test_a_2xx_that_is_not_json_is_malformed(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, status=201, body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(ProviderMalformed, match="not a JSON object") as raised:
        paypal.refund(request())
    assert raised.value.code == "unexpected_response"


@pytest.mark.parametrize("error, unknown", [
    (ProviderUnavailable("x", provider="paypal", status=500), True),
    (ProviderUnavailable("x", provider="paypal", status=503), True),
    (ProviderUnavailable("x", provider="paypal", status=409, code="PREVIOUS_REQUEST_IN_PROGRESS"), True),
    (ProviderUnavailable("x", provider="paypal", code="timeout"), True),
    (ProviderUnavailable("x", provider="paypal", code="connection_error"), True),
    (ProviderUnavailable("x", provider="paypal", status=429), False),
    (ProviderRejected("x", provider="paypal", status=422, code="REFUND_AMOUNT_EXCEEDED"), False),
    (ProviderRejected("x", provider="paypal", status=401), False),
    (ProviderMalformed("x", provider="paypal", status=201, code="unexpected_response"), False),
    (ValueError("not a provider error"), False),
])  # fmt: skip
def test_outcome_unknown_after_a_5xx_a_conflict_or_no_answer(error, unknown):
    assert PayPalProvider.outcome_unknown(error) is unknown


# --- the sandbox's refusals, through the route ---------------------------------------------------


def test_over_refunding_a_capture_is_refused(sandbox, paypal):
    capture = sandbox.capture(1000)
    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(request(capture, Money(1001, "EUR")))
    assert (raised.value.status, raised.value.code) == (422, "REFUND_AMOUNT_EXCEEDED")
    assert raised.value.request_id and sandbox.money_moved == 0


def test_a_fully_refunded_capture_refuses_more(sandbox, paypal):
    capture = sandbox.capture(1000)
    paypal.refund(request(capture, Money(1000, "EUR"), key="k-1"))
    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(request(capture, Money(1, "EUR"), key="k-2"))
    assert raised.value.code == "CAPTURE_FULLY_REFUNDED"


def test_two_partial_refunds_of_a_capture_carry_their_own_invoice_ids(sandbox, paypal):
    capture = sandbox.capture(1000)
    first = paypal.refund(request(capture, Money(300, "EUR"), key="palautus-12-R7K2-1"))
    second = paypal.refund(request(capture, Money(700, "EUR"), key="palautus-13-R7K2-2"))
    assert first.provider_refund_id != second.provider_refund_id
    assert [body["invoice_id"] for _, body in sandbox.posts] == ["palautus-12-R7K2-1", "palautus-13-R7K2-2"]
    assert sandbox.money_moved == 1000


def test_an_invoice_id_used_before_on_the_capture_is_refused_as_duplicate(sandbox, paypal):
    capture = sandbox.capture(1000)
    paypal.refund(request(capture, Money(300, "EUR")))
    reply = sandbox.handle(raw_refund(capture, "3.00", request_id="another-request", invoice_id=KEY))
    assert reply.status == 422 and reply.body["details"][0]["issue"] == "DUPLICATE_INVOICE_ID"
    assert reply.body["debug_id"]
    assert sandbox.money_moved == 300


def test_a_capture_the_sandbox_never_made_is_not_found(sandbox, paypal):
    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(request("9XX00000000000000"))
    assert (raised.value.status, raised.value.code) == (404, "INVALID_RESOURCE_ID")


def test_a_refused_request_saves_nothing_under_its_request_id(sandbox, paypal):
    capture = sandbox.capture(1000)
    with pytest.raises(ProviderRejected):
        paypal.refund(request(capture, Money(2000, "EUR")))
    assert paypal.refund(request(capture, Money(1000, "EUR"))).status is RefundStatus.SUCCEEDED


def test_a_read_refused_with_401_is_repeated_with_a_new_token_and_403_is_a_refusal(sandbox, paypal):
    made = paypal.refund(request(sandbox.capture(5000)))
    sandbox.fail_reads(401)
    assert paypal.get_refund(made.provider_refund_id) == made
    assert sandbox.token_requests == 2
    sandbox.fail_reads(403)
    with pytest.raises(ProviderRejected) as raised:
        paypal.get_refund(made.provider_refund_id)
    assert (raised.value.status, raised.value.code) == (403, "NOT_AUTHORIZED")


# --- find_refund ---------------------------------------------------------------------------------


def test_find_refund_reads_the_capture_s_order_and_finds_the_refund_by_its_key(sandbox, paypal, api):
    capture = sandbox.capture(5000)
    paypal.refund(request(capture, Money(100, "EUR"), key="another-key"))
    made = paypal.refund(request(capture, Money(200, "EUR")))
    order_id = sandbox.captures[capture]["order_id"]

    found = paypal.find_refund(request(capture, Money(200, "EUR")))

    assert found == made
    reads = [call.request.url for call in api.calls if call.request.method == "GET"]
    assert reads == [f"{API}/v2/payments/captures/{capture}", f"{API}/v2/checkout/orders/{order_id}"]


def test_find_refund_returns_none_when_the_order_has_no_refund_under_the_key(sandbox, paypal):
    capture = sandbox.capture(5000)
    paypal.refund(request(capture, Money(100, "EUR"), key="another-key"))
    assert paypal.find_refund(request(capture)) is None
    assert paypal.find_refund(request(sandbox.capture(5000))) is None  # an order with no refunds at all


def test_find_refund_of_a_capture_without_an_order_cannot_look(sandbox, paypal):
    capture = sandbox.capture(5000, with_order=False)
    with pytest.raises(ProviderRejected) as raised:
        paypal.find_refund(request(capture))
    assert raised.value.code == "cannot_look_up"
    assert not raised.value.should_retry


def order_with(refunds):
    return {"id": "5O190127TN364715T", "status": "COMPLETED",
            "purchase_units": [{"reference_id": "default", "payments": {"captures": [{"id": CAPTURE}], "refunds": refunds}}]}  # fmt: skip


@pytest.mark.parametrize("field", ["invoice_id", "custom_id"])
def test_find_refund_matches_either_invoice_id_or_custom_id(api, paypal, field):
    token_ok(api)
    api.get(f"{API}/v2/payments/captures/{CAPTURE}",
            json={"id": CAPTURE, "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}}})  # fmt: skip
    wanted = {"id": "R2", "status": "PENDING", "amount": {"value": "1.00", "currency_code": "EUR"}, field: KEY}
    other = refund_object(id="R1", invoice_id="x", custom_id="x")
    api.get(f"{API}/v2/checkout/orders/5O190127TN364715T", json=order_with([other, wanted]))
    found = paypal.find_refund(request())
    assert (found.provider_refund_id, found.status, found.amount) == ("R2", RefundStatus.SUBMITTED, Money(100, "EUR"))


def test_find_refund_reads_a_found_refund_whole_when_the_order_lists_it_without_amount(api, paypal):
    token_ok(api)
    api.get(f"{API}/v2/payments/captures/{CAPTURE}",
            json={"id": CAPTURE, "supplementary_data": {"related_ids": {"order_id": "ORD1"}}})  # fmt: skip
    api.get(f"{API}/v2/checkout/orders/ORD1", json=order_with([{"id": "R3", "status": "COMPLETED", "invoice_id": KEY}]))
    api.get(f"{API}/v2/payments/refunds/R3", json=refund_object(id="R3"))
    assert paypal.find_refund(request()).amount == Money(1250, "EUR")


def test_an_order_without_purchase_units_is_malformed(api, paypal):
    token_ok(api)
    api.get(f"{API}/v2/payments/captures/{CAPTURE}",
            json={"id": CAPTURE, "supplementary_data": {"related_ids": {"order_id": "ORD1"}}})  # fmt: skip
    api.get(f"{API}/v2/checkout/orders/ORD1", json={"id": "ORD1"})
    with pytest.raises(ProviderMalformed):
        paypal.find_refund(request())


# --- secrets -------------------------------------------------------------------------------------


def leaky_answers():
    leak = error_body(message=f"bad credentials {SECRET} with token {TOKEN}", issue="REFUND_NOT_ALLOWED")
    yield {"refund": {"status": 422, "json": leak}}
    yield {"refund": {"status": 500, "json": leak}}
    yield {"refund": {"status": 401, "json": {"error": "invalid_token", "error_description": f"bad {TOKEN}"}}}
    yield {"refund": {"body": requests.ReadTimeout(f"timed out sending Bearer {TOKEN}")}}
    yield {"refund": {"body": requests.ConnectionError(f"reset with {SECRET}")}}
    yield {"refund": {"status": 201, "body": "not json"}}
    yield {"token": {"status": 401, "json": {"error": "invalid_client", "error_description": f"no {SECRET}"}}}


@pytest.mark.parametrize("answer", list(leaky_answers()))
def test_the_secret_and_the_token_never_appear_in_errors_logs_or_reprs(api, paypal, caplog, answer):
    caplog.set_level(logging.DEBUG)
    api.post(TOKEN_URL, **answer.get("token", {"json": {"access_token": TOKEN, "expires_in": 32400}}))
    if "refund" in answer:
        api.post(REFUND_URL, **answer["refund"])
    with pytest.raises((ProviderRejected, ProviderUnavailable)) as raised:
        paypal.refund(request())
    error = raised.value
    for text in (str(error), repr(error), error.message, caplog.text, repr(paypal)):
        assert SECRET not in text and TOKEN not in text


def test_a_secret_or_token_paypal_echoes_is_redacted_from_the_message(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, status=422, json=error_body(message=f"no {SECRET} nor {TOKEN}", issue="REFUND_NOT_ALLOWED"))
    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(request())
    assert raised.value.message.startswith("no [redacted] nor [redacted]")


def test_the_repr_shows_only_the_api_base():
    assert repr(PayPalProvider(CLIENT_ID, SECRET, api_base=API + "/")) == f"PayPalProvider(api_base={API!r})"


# --- connect -------------------------------------------------------------------------------------


@pytest.mark.parametrize("credentials", [{}, {"client_id": CLIENT_ID}, {"client_secret": SECRET},
                                         {"client_id": "", "client_secret": SECRET}])  # fmt: skip
def test_connect_needs_both_client_id_and_secret(credentials):
    with pytest.raises(MissingCredentials) as raised:
        connect(credentials, {"PAYPAL_API_BASE": API, "HTTP_TIMEOUT": 5.0})
    assert raised.value.data == {"provider": "paypal"}


def test_connect_takes_the_base_and_timeout_from_the_operator_s_config():
    route = connect({"client_id": CLIENT_ID, "client_secret": SECRET},
                    {"PAYPAL_API_BASE": "https://api-m.sandbox.paypal.com/", "HTTP_TIMEOUT": 4.0})  # fmt: skip
    assert (route.name, route.api_base, route.timeout) == ("paypal", "https://api-m.sandbox.paypal.com", 4.0)
    assert connect({"client_id": CLIENT_ID, "client_secret": SECRET}, {"HTTP_TIMEOUT": 4.0}).api_base == API


# --- the sandbox: idempotency, faults, settling ---------------------------------------------------


def raw_refund(capture_id, value, *, request_id=KEY, invoice_id=None, currency="EUR", prefer="return=representation",
               token=None, sandbox=None) -> Request:  # fmt: skip
    body = {"amount": {"value": value, "currency_code": currency}}
    if invoice_id:
        body["invoice_id"] = invoice_id
    headers = {"Authorization": f"Bearer {token or _token(sandbox)}", "PayPal-Request-Id": request_id, "Prefer": prefer}
    return Request.of("POST", f"{API}/v2/payments/captures/{capture_id}/refund", headers, json.dumps(body))


def _token(sandbox) -> str:
    """A token the sandbox issued (the route's cached one, or a new one for these raw requests)."""
    return paypal_module.TOKENS.get(PayPalProvider(CLIENT_ID, SECRET, api_base=API)._token_key) or _new_token(sandbox)


def _new_token(sandbox) -> str:
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    reply = sandbox.handle(Request.of("POST", TOKEN_URL, {"Authorization": f"Basic {basic}"}, "grant_type=client_credentials"))
    return reply.body["access_token"]


def test_a_lost_answer_is_replayed_under_the_same_request_id_with_the_same_refund(sandbox, paypal):
    capture = sandbox.capture(5000)
    sandbox.fail_next("lost_answer")
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.refund(request(capture))
    assert raised.value.code == "timeout" and len(sandbox.refunds) == 1  # made, the answer lost

    again = paypal.refund(request(capture))

    assert again.provider_refund_id == next(iter(sandbox.refunds))
    assert len(sandbox.refunds) == 1 and sandbox.money_moved == 1250
    assert [headers["PayPal-Request-Id"] for headers, _ in sandbox.posts] == [KEY, KEY]


def test_a_lost_request_made_nothing_and_a_retry_makes_the_refund(sandbox, paypal):
    capture = sandbox.capture(5000)
    sandbox.fail_next("lost_request")
    with pytest.raises(ProviderUnavailable):
        paypal.refund(request(capture))
    assert sandbox.refunds == {}
    assert paypal.refund(request(capture)).status is RefundStatus.SUCCEEDED
    assert sandbox.money_moved == 1250


def test_a_saved_failure_is_an_unknown_outcome_the_lookup_finds_and_a_repeat_returns(sandbox, paypal):
    capture = sandbox.capture(5000)
    sandbox.fail_next("saved_failure")
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.refund(request(capture))
    assert raised.value.status == 500 and paypal.outcome_unknown(raised.value)

    found = paypal.find_refund(request(capture))
    again = paypal.refund(request(capture))

    assert found is not None and found == again and len(sandbox.refunds) == 1 and sandbox.money_moved == 1250


@pytest.mark.parametrize("kind, status", [("unavailable", 503), ("rate_limited", 429), ("unknown_outcome", 500)])
def test_an_unavailable_provider_made_nothing(sandbox, paypal, kind, status):
    capture = sandbox.capture(5000)
    sandbox.fail_next(kind)
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.refund(request(capture))
    assert raised.value.status == status and raised.value.request_id
    assert sandbox.refunds == {} and paypal.refund(request(capture)).status is RefundStatus.SUCCEEDED


def test_a_refusal_fault_moves_nothing(sandbox, paypal):
    sandbox.fail_next("refused")
    with pytest.raises(ProviderRejected) as raised:
        paypal.refund(request(sandbox.capture(5000)))
    assert raised.value.code == "REFUND_NOT_ALLOWED" and sandbox.money_moved == 0


def test_a_previous_request_in_progress_is_unavailable_with_an_unknown_outcome(sandbox, paypal):
    sandbox.faults.append("409")
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.refund(request(sandbox.capture(5000)))
    assert (raised.value.status, raised.value.code) == (409, "PREVIOUS_REQUEST_IN_PROGRESS")
    assert paypal.outcome_unknown(raised.value)


def test_a_repeat_returns_the_latest_state_of_the_first_request_s_refund(sandbox, paypal):
    capture = sandbox.capture(5000)
    sandbox.status = "PENDING"
    first = paypal.refund(request(capture))
    assert first.status is RefundStatus.SUBMITTED
    sandbox.settle("COMPLETED")

    again = paypal.refund(request(capture, Money(999, "EUR")))  # the body of a repeat does not matter

    assert (again.provider_refund_id, again.status, again.amount) == (first.provider_refund_id, RefundStatus.SUCCEEDED,
                                                                      Money(1250, "EUR"))  # fmt: skip
    assert sandbox.money_moved == 1250


def test_a_refund_that_fails_in_the_end_gives_its_money_back(sandbox, paypal):
    capture = sandbox.capture(1000)
    sandbox.status = "pending"  # the generic word, as the fault matrix says it
    made = paypal.refund(request(capture, Money(1000, "EUR")))
    sandbox.settle("failed")
    failed = paypal.get_refund(made.provider_refund_id)
    assert (failed.status, failed.provider_status) == (RefundStatus.FAILED, "FAILED")
    assert sandbox.money_moved == 0
    sandbox.status = "COMPLETED"
    assert paypal.refund(request(capture, Money(1000, "EUR"), key="k-again")).status is RefundStatus.SUCCEEDED


def test_an_open_book_sandbox_makes_a_capture_with_an_order_for_an_unknown_id(api, paypal):
    sandbox = mount(api, SandboxPayPal(open_book=True))
    made = paypal.refund(request("3UN00000000000001"))
    assert sandbox.captures["3UN00000000000001"]["order_id"]
    assert paypal.find_refund(request("3UN00000000000001")) == made


def test_an_open_book_sandbox_knows_a_capture_a_failed_request_never_reached(api, paypal):
    sandbox = mount(api, SandboxPayPal(open_book=True))
    sandbox.fail_next("unknown_outcome")
    with pytest.raises(ProviderUnavailable):
        paypal.refund(request("3UN00000000000002"))
    assert paypal.find_refund(request("3UN00000000000002")) is None  # looked, and found none
    assert sandbox.money_moved == 0


def test_a_made_refund_whose_read_is_refused_is_never_reported_as_refused(api, paypal):
    token_ok(api)
    api.post(REFUND_URL, status=201, json={"id": "R9", "status": "COMPLETED", "links": []})
    api.get(f"{API}/v2/payments/refunds/R9", status=404, json=error_body("RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID"))
    with pytest.raises(ProviderMalformed, match="made the refund") as raised:
        paypal.refund(request())
    assert raised.value.should_retry and raised.value.request_id == "dbg123"


def test_the_sandbox_answers_minimal_unless_asked_for_the_representation(sandbox):
    capture = sandbox.capture(5000)
    minimal = sandbox.handle(raw_refund(capture, "1.00", prefer="", sandbox=sandbox))
    assert minimal.status == 201 and set(minimal.body) == {"id", "status", "links"}
    whole = sandbox.handle(raw_refund(capture, "1.00", request_id="r-2", sandbox=sandbox))
    assert whole.body["amount"] == {"value": "1.00", "currency_code": "EUR"}
    replay = sandbox.handle(raw_refund(capture, "1.00", request_id="r-2", sandbox=sandbox))
    assert (replay.status, replay.body["id"]) == (200, whole.body["id"])


@pytest.mark.parametrize("value, currency, status, issue", [
    ("12.345", "EUR", 422, "DECIMAL_PRECISION"),
    ("12.5", "HUF", 422, "DECIMALS_NOT_SUPPORTED"),
    ("12", "USD", 422, "REFUND_CAPTURE_CURRENCY_MISMATCH"),
    ("0.00", "EUR", 422, "CANNOT_BE_ZERO_OR_NEGATIVE"),
    ("12,50", "EUR", 400, "INVALID_PARAMETER_SYNTAX"),
    (12.5, "EUR", 400, "INVALID_PARAMETER_SYNTAX"),
])  # fmt: skip
def test_the_sandbox_checks_amounts_as_paypal_does(sandbox, value, currency, status, issue):
    capture = sandbox.capture(500000, "HUF" if currency == "HUF" else "EUR")
    reply = sandbox.handle(raw_refund(capture, value, currency=currency, sandbox=sandbox))
    assert (reply.status, reply.body["details"][0]["issue"]) == (status, issue)
    assert reply.headers["Paypal-Debug-Id"] == reply.body["debug_id"]


def test_the_sandbox_takes_whole_forints_and_counts_them_in_iso_minor_units(sandbox):
    capture = sandbox.capture(500000, "HUF")
    reply = sandbox.handle(raw_refund(capture, "1235", currency="HUF", sandbox=sandbox))
    assert reply.status == 201 and reply.body["amount"] == {"value": "1235", "currency_code": "HUF"}
    assert sandbox.money_moved == 123500


def test_the_sandbox_checks_the_token_on_every_call(sandbox):
    capture = sandbox.capture(5000)
    assert sandbox.handle(raw_refund(capture, "1.00", token="A21AAforged")).status == 401
    token = _new_token(sandbox)
    sandbox.expire_tokens()
    reply = sandbox.handle(raw_refund(capture, "1.00", token=token))
    assert (reply.status, reply.body["error"]) == (401, "invalid_token")
    assert sandbox.posts == [] and sandbox.refunds == {}  # refused before it counted as a refund request


def test_the_sandbox_shows_the_capture_s_order_and_refunded_state(sandbox, paypal, api):
    capture = sandbox.capture(1000)
    paypal.refund(request(capture, Money(400, "EUR")))
    token = _token(sandbox)
    shown = sandbox.handle(Request.of("GET", f"{API}/v2/payments/captures/{capture}", {"Authorization": f"Bearer {token}"}, ""))
    assert shown.body["status"] == "PARTIALLY_REFUNDED"
    order_id = shown.body["supplementary_data"]["related_ids"]["order_id"]
    order = sandbox.handle(Request.of("GET", f"{API}/v2/checkout/orders/{order_id}", {"Authorization": f"Bearer {token}"}, ""))
    payments = order.body["purchase_units"][0]["payments"]
    assert [c["id"] for c in payments["captures"]] == [capture] and payments["refunds"][0]["invoice_id"] == KEY
    assert sandbox.summary()["refunds"][0]["seller_payable_breakdown"]["total_refunded_amount"]["value"] == "4.00"


def test_the_sandbox_speaks_the_fake_provider_shape():
    sandbox = SandboxPayPal()
    assert sandbox.name == "paypal" and SandboxPayPal.key_header == "PayPal-Request-Id"
    assert set(sandbox.FAULTS) == {"unavailable", "rate_limited", "lost_request", "lost_answer", "unknown_outcome",
                                   "saved_failure", "refused"}  # fmt: skip
    sandbox.status = "succeeded"
    assert sandbox.status == "COMPLETED"
    assert sandbox.sale()["gateway"] == "paypal"
    with pytest.raises(KeyError):
        sandbox.fail_next("no-such-fault")
