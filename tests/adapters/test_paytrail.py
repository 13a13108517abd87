"""The Paytrail Payment API refunds route against answers signed by hand, and against SandboxPaytrail behind
`responses`; Paytrail's published signature vectors; the refund callbacks' signature check."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from datetime import datetime
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
import responses

from adapters.errors import (
    PayloadError,
    ProviderMalformed,
    ProviderRejected,
    ProviderUnavailable,
    SignatureError,
)
from adapters.payments import PaymentRef, ProviderRefund, RefundRequest
from adapters.payments.paytrail import (
    CANNOT_LOOK_UP,
    CallbackOutcome,
    PaytrailProvider,
    connect,
    parse_callback,
    refund_step,
    sign,
)
from integration.errors import MissingCredentials
from integration.money import Money
from integration.refunds import RefundStatus
from sandbox.http import Request
from sandbox.paytrail import TEST_ACCOUNT, TEST_SECRET, SandboxPaytrail
from tests.fakes import as_responses

API = "https://services.paytrail.com"
ACCOUNT = "375917"
SECRET = "SAIPPUAKAUPPIAS-but-never-in-a-log"
PAYMENT = "5770642a-9a02-4ca2-8eaa-cc6260a78eb6"
REFUND_ID = "258ad3a5-9711-44c3-be65-64a0ef462ba3"
REFUND_URL = f"{API}/payments/{PAYMENT}/refund"
KEY = "palautus-12-R7K2-1"
CALLBACK = "https://palautus.example/paytrail/callbacks/shop-1"
METADATA = {"return_code": "R-7K2", "refund_id": "12"}
CHECKOUT_HEADERS = {"checkout-account", "checkout-algorithm", "checkout-method", "checkout-nonce", "checkout-timestamp",
                    "checkout-transaction-id"}  # fmt: skip


def hmac_of(params: dict, body: str | bytes, secret: str, algorithm: str = "sha256") -> str:
    """The tests' own Paytrail HMAC (docs.paytrail.com "Authentication"), independent of the route's."""
    lines = [f"{k}:{params[k]}" for k in sorted(k for k in params if k.startswith("checkout-"))]
    payload = "\n".join(lines + [body.decode() if isinstance(body, bytes) else body])
    return hmac.new(secret.encode(), payload.encode(), getattr(hashlib, algorithm)).hexdigest()


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def paytrail():
    return PaytrailProvider(ACCOUNT, SECRET, api_base=API, timeout=5.0)


def mount(http, sandbox: SandboxPaytrail, api_base: str = API) -> SandboxPaytrail:
    """The sandbox behind `responses`, as tests/fakes.py mounts every provider's."""

    def answer(request):
        return as_responses(sandbox.handle(Request.of(request.method, request.url, dict(request.headers), request.body)))

    http.add_callback("POST", re.compile(rf"{re.escape(api_base)}/payments/[^/]+/refund"), callback=answer,
                      content_type="application/json")  # fmt: skip
    return sandbox


@pytest.fixture
def sandbox(api):
    """A sandbox that knows this file's credentials; its callbacks are kept in `received`."""
    fake = mount(api, SandboxPaytrail(credentials={ACCOUNT: SECRET}))
    fake.received = []
    fake.callback = lambda url: fake.received.append(url) or 200
    return fake


def request(payment_id=PAYMENT, amount=Money(1250, "EUR"), key=KEY, metadata=None, email="erja@example.org",
            callback_url=CALLBACK) -> RefundRequest:  # fmt: skip
    """A refund request as the refund job builds it."""
    ref = PaymentRef("paytrail", payment_id, "1001", "#1001", "paytrail")
    return RefundRequest(ref, amount, key, email=email, metadata=dict(METADATA if metadata is None else metadata),
                         callback_url=callback_url)  # fmt: skip


def signed(status=201, body=None, secret=SECRET, algorithm="sha256", signature=None, extra=None, raw=None) -> dict:
    """An answer as `responses` gives it, signed as Paytrail signs answers (or with `signature` as given)."""
    text = raw if raw is not None else json.dumps(body if body is not None else created_body())
    headers = {"checkout-account": ACCOUNT, "checkout-algorithm": algorithm, "checkout-method": "POST",
               "checkout-nonce": str(uuid.uuid4()), "checkout-timestamp": "2026-01-15T10:00:00.000Z",
               "checkout-transaction-id": PAYMENT, "request-id": "req-1", **(extra or {})}  # fmt: skip
    headers["signature"] = hmac_of(headers, text, secret, algorithm) if signature is None else signature
    if signature == "":
        del headers["signature"]
    return {"status": status, "body": text, "headers": headers, "content_type": "application/json"}


def created_body(status="ok", transaction_id=REFUND_ID):
    return {"provider": "osuuspankki", "status": status, "transactionId": transaction_id}


def callback_query(secret=SECRET, algorithm="sha256", key=KEY, drop=(), **extra) -> dict:
    """A refund callback's query string as Paytrail sends it to a URL of ours, signed with `secret`."""
    params = {"checkout-account": ACCOUNT, "checkout-algorithm": algorithm, "checkout-amount": "1250",
              "checkout-stamp": KEY, "checkout-reference": "R-7K2", "checkout-transaction-id": REFUND_ID,
              "checkout-status": "ok", "checkout-provider": "osuuspankki", **extra}  # fmt: skip
    params = {k: v for k, v in params.items() if k not in drop}
    params["signature"] = hmac_of(params, "", secret, algorithm)
    if key is not None:
        params["palautus_refund"] = key  # ours, in the URL Palautus gave: never signed
    return params


# --- Paytrail's published signature vectors --------------------------------------------------------


def test_the_published_post_vector_is_reproduced_over_the_body_exactly_as_sent():
    # docs/examples.md "HMAC calculation (node.js)" and "(PHP)": expected 3708f649...74f6.
    headers = {"checkout-account": "375917", "checkout-algorithm": "sha256", "checkout-method": "POST",
               "checkout-nonce": "564635208570151", "checkout-timestamp": "2018-07-06T10:01:31.904Z",
               "content-type": "application/json; charset=utf-8"}  # fmt: skip
    body = {"stamp": "unique-identifier-for-merchant", "reference": "3759170", "amount": 1525, "currency": "EUR",
            "language": "FI", "items": [{"unitPrice": 1525, "units": 1, "vatPercentage": 24, "productCode": "#1234",
                                         "deliveryDate": "2018-09-01"}],
            "customer": {"email": "test.customer@example.com"},
            "redirectUrls": {"success": "https://ecom.example.com/cart/success",
                             "cancel": "https://ecom.example.com/cart/cancel"}}  # fmt: skip
    raw = json.dumps(body, separators=(",", ":"))
    expected = "3708f6497ae7cc55a2e6009fc90aa10c3ad0ef125260ee91b19168750f6d74f6"
    assert sign(headers, raw, "SAIPPUAKAUPPIAS") == expected == sign(headers, raw.encode(), "SAIPPUAKAUPPIAS")
    assert sign(headers, json.dumps(body), "SAIPPUAKAUPPIAS") != expected  # other bytes, another signature


def test_the_published_get_vector_is_reproduced_with_an_empty_body():
    # docs/examples.md "Get": expected 4d84e3ae...b8b2.
    headers = {"checkout-account": "375917", "checkout-algorithm": "sha256", "checkout-method": "GET",
               "checkout-timestamp": "2019-11-01T08:48:50.832Z",
               "checkout-transaction-id": "681538c4-fc84-11e9-83bc-2ffcef4c3453",
               "checkout-nonce": "87ac41e1-e6e6-4789-b8e0-c83930cfc447"}  # fmt: skip
    assert sign(headers, "", "SAIPPUAKAUPPIAS") == "4d84e3aedaa847b23e672ff3bc9c57ae5d1c1e84aec251ce39914eaf250bb8b2"


def test_the_documented_callback_example_passes_and_our_own_param_stays_out_of_the_signature():
    # docs/README.md "Redirect and callback URL parameters": the example URL, signed with the test secret.
    documented = ("checkout-account=375917&checkout-algorithm=sha256&checkout-amount=2964&checkout-stamp=15336332710015"
                  "&checkout-reference=192387192837195&checkout-transaction-id=4b300af6-9a22-11e8-9184-abb6de7fd2d0"
                  "&checkout-status=ok&checkout-provider=nordea"
                  "&signature=b2d3ecdda2c04563a4638fcade3d4e77dfdc58829b429ad2c2cb422d0fc64080")  # fmt: skip
    query = dict(parse_qsl(documented), palautus_refund=KEY)
    assert parse_callback(query, "SAIPPUAKAUPPIAS", "success") == CallbackOutcome(
        refund_key=KEY, succeeded=True, status="ok", refund_transaction_id="4b300af6-9a22-11e8-9184-abb6de7fd2d0",
        amount=2964, settlement_reference=None, stamp="15336332710015", reference="192387192837195", provider="nordea",
    )  # fmt: skip
    with pytest.raises(SignatureError):
        parse_callback({**query, "checkout-amount": "2965"}, "SAIPPUAKAUPPIAS", "success")


# --- the request ---------------------------------------------------------------------------------


def test_a_refund_posts_the_documented_body_signed_over_the_exact_bytes_sent(api, paytrail):
    api.post(REFUND_URL, **signed())

    result = paytrail.refund(request())

    (call,) = api.calls
    sent = call.request
    assert (sent.method, sent.url) == ("POST", REFUND_URL)
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert {k for k in headers if k.startswith("checkout-")} == CHECKOUT_HEADERS
    assert (headers["checkout-account"], headers["checkout-algorithm"], headers["checkout-method"]) == (ACCOUNT, "sha256", "POST")
    assert headers["checkout-transaction-id"] == PAYMENT
    assert uuid.UUID(headers["checkout-nonce"]).version == 4
    assert datetime.fromisoformat(headers["checkout-timestamp"].replace("Z", "+00:00")).tzinfo is not None
    assert headers["platform-name"] == "Palautus"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert isinstance(sent.body, bytes)  # serialized once: these bytes are the ones signed
    assert headers["signature"] == hmac_of(headers, sent.body, SECRET)
    assert json.loads(sent.body) == {
        "amount": 1250,
        "refundStamp": KEY,
        "refundReference": "R-7K2",
        "email": "erja@example.org",
        "callbackUrls": {"success": f"{CALLBACK}/success?palautus_refund={KEY}",
                         "cancel": f"{CALLBACK}/cancel?palautus_refund={KEY}"},
    }  # fmt: skip
    assert SECRET not in sent.body.decode() and SECRET not in json.dumps(headers)
    assert result == ProviderRefund(REFUND_ID, RefundStatus.SUBMITTED, Money(1250, "EUR"), "ok")


def test_each_request_has_its_own_nonce_and_a_body_that_is_not_ascii_is_signed_as_sent(api, paytrail):
    api.post(REFUND_URL, **signed())
    api.post(REFUND_URL, **signed())
    paytrail.refund(request())
    paytrail.refund(request(metadata={"return_code": "Palautus-ÄÖ-€"}))
    first, second = (call.request for call in api.calls)
    assert first.headers["checkout-nonce"] != second.headers["checkout-nonce"]
    assert second.body.isascii() and json.loads(second.body)["refundReference"] == "Palautus-ÄÖ-€"
    assert second.headers["signature"] == hmac_of({k.lower(): v for k, v in second.headers.items()}, second.body, SECRET)


def test_without_a_return_code_or_email_the_reference_is_the_key_and_no_email_is_sent(api, paytrail):
    api.post(REFUND_URL, **signed())
    paytrail.refund(request(metadata={}, email=None))
    body = json.loads(api.calls[0].request.body)
    assert body["refundReference"] == KEY and "email" not in body and "items" not in body


def test_the_key_is_quoted_into_the_callback_urls_and_the_payment_id_into_the_path(api, paytrail):
    api.post(f"{API}/payments/odd%2Fid/refund", **signed())
    paytrail.refund(request(payment_id="odd/id", key="k 1/&x", callback_url=CALLBACK + "/"))
    sent = api.calls[0].request
    urls = json.loads(sent.body)["callbackUrls"]
    assert urls["success"] == f"{CALLBACK}/success?palautus_refund=k%201%2F%26x"
    assert parse_qs(urlsplit(urls["cancel"]).query) == {"palautus_refund": ["k 1/&x"]}
    assert sent.headers["checkout-transaction-id"] == "odd/id"


@pytest.mark.parametrize("req, code", [
    (request(amount=Money(1250, "SEK")), "currency_invalid"),
    (request(amount=Money(0, "EUR")), "amount_invalid"),
    (request(amount=Money(100_000_000, "EUR")), "amount_invalid"),
    (request(callback_url=None), "callback_url_missing"),
    (request(callback_url="  "), "callback_url_missing"),
    (request(callback_url=CALLBACK + "?shop=1"), "callback_url_invalid"),
    (request(callback_url="https://palautus.example/" + "p" * 260), "callback_url_invalid"),
    (request(key="k" * 201), "idempotency_key_invalid"),
    (request(payment_id=None), "payment_id_invalid"),
])  # fmt: skip
def test_what_paytrail_cannot_take_is_refused_before_anything_is_sent(api, paytrail, req, code):
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(req)
    assert raised.value.code == code and len(api.calls) == 0
    assert not paytrail.outcome_unknown(raised.value)


def test_a_refund_without_a_callback_url_says_why_it_is_never_sent(paytrail):
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request(callback_url=None))
    assert "callback" in raised.value.message


# --- the answer's signature ----------------------------------------------------------------------


def test_an_answer_signed_with_sha512_and_more_checkout_headers_than_we_sent_is_taken(api, paytrail):
    api.post(REFUND_URL, **signed(algorithm="sha512", extra={"checkout-something-new": "x"}))
    assert paytrail.refund(request()).provider_refund_id == REFUND_ID


@pytest.mark.parametrize("answer", [
    signed(signature=""),  # none
    signed(signature="0" * 64),  # wrong
    signed(secret="another-merchants-secret"),
    signed(algorithm="md5", signature="0" * 32),  # an algorithm Paytrail does not name
    {**signed(), "body": json.dumps(created_body(transaction_id="f" * 36))},  # the body changed after signing
])  # fmt: skip
def test_a_2xx_whose_signature_is_missing_or_wrong_is_malformed_and_leaves_the_outcome_open(api, paytrail, answer):
    api.post(REFUND_URL, **answer)
    with pytest.raises(ProviderMalformed) as raised:
        paytrail.refund(request())
    assert (raised.value.status, raised.value.code) == (201, "signature_invalid")
    assert paytrail.outcome_unknown(raised.value) and raised.value.should_retry


@pytest.mark.parametrize("answer", [
    signed(raw="<html>ok</html>"),
    signed(raw=json.dumps([created_body()])),
    signed(body={"status": "ok", "provider": "osuuspankki"}),
    signed(body={"transactionId": REFUND_ID}),
])  # fmt: skip
def test_a_signed_2xx_we_cannot_read_is_malformed_never_failed(api, paytrail, answer):
    api.post(REFUND_URL, **answer)
    with pytest.raises(ProviderMalformed) as raised:
        paytrail.refund(request())
    assert raised.value.code == "unexpected_response" and paytrail.outcome_unknown(raised.value)


# --- status mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize("word, ours", [
    ("ok", RefundStatus.SUBMITTED), ("pending", RefundStatus.SUBMITTED), ("fail", RefundStatus.FAILED),
])  # fmt: skip
def test_ok_and_pending_wait_for_the_callback_and_fail_is_final(api, paytrail, word, ours):
    api.post(REFUND_URL, **signed(body=created_body(status=word)))
    result = paytrail.refund(request(amount=Money(777, "EUR")))
    assert (result.status, result.provider_status, result.amount) == (ours, word, Money(777, "EUR"))
    assert (result.failure_reason is not None) == (ours is RefundStatus.FAILED)


def test_a_failed_refund_names_paytrail_and_the_provider(api, paytrail):
    api.post(REFUND_URL, **signed(body=created_body(status="fail")))
    assert paytrail.refund(request()).failure_reason == "Paytrail refused the refund (status fail, provider osuuspankki)"


def test_an_unknown_status_is_never_final_and_is_logged(api, paytrail, caplog):
    api.post(REFUND_URL, **signed(body=created_body(status="delayed")))
    assert paytrail.refund(request()).status is RefundStatus.SUBMITTED
    assert "unknown paytrail refund status" in caplog.text


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, code", [
    (400, "invalid_request"), (401, "unauthorized"), (404, "not_found"), (422, "refund_not_supported"),
])  # fmt: skip
def test_a_refusal_carries_paytrails_message_and_request_id_and_leaves_nothing_open(api, paytrail, status, code):
    api.post(REFUND_URL, status=status, json={"status": "error", "message": "No can do", "meta": ["amount: too big"]},
             headers={"request-id": "req-9"})  # unsigned: Paytrail does not document signing errors
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request())
    error = raised.value
    assert (error.status, error.code, error.request_id) == (status, code, "req-9")
    assert "No can do: amount: too big" in error.message
    assert not error.should_retry and not paytrail.outcome_unknown(error)


def test_a_422_says_the_payment_method_cannot_refund_by_api(api, paytrail):
    api.post(REFUND_URL, **signed(422, {"status": "error", "message": "Used payment method provider does not support refunds"}))
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request())
    assert raised.value.message.startswith("the payment method cannot refund through Paytrail's API")
    assert "does not support refunds" in raised.value.message


def test_a_rate_limit_is_retryable_and_leaves_nothing_open(api, paytrail):
    api.post(REFUND_URL, status=429, json={"status": "error", "message": "Slow down"}, headers={"Retry-After": "3"})
    with pytest.raises(ProviderUnavailable) as raised:
        paytrail.refund(request())
    error = raised.value
    assert (error.status, error.code, error.retry_after) == (429, "rate_limited", 3.0)
    assert not isinstance(error, ProviderMalformed) and not paytrail.outcome_unknown(error)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_retryable_and_leaves_the_outcome_open(api, paytrail, status):
    api.post(REFUND_URL, status=status, body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(ProviderUnavailable) as raised:
        paytrail.refund(request())
    assert raised.value.message == f"Paytrail answered HTTP {status}" and paytrail.outcome_unknown(raised.value)


@pytest.mark.parametrize("failure, code", [(requests.ReadTimeout(), "timeout"), (requests.ConnectionError(), "connection_error")])
def test_no_answer_leaves_the_outcome_open(api, paytrail, failure, code):
    api.post(REFUND_URL, body=failure)
    with pytest.raises(ProviderUnavailable) as raised:
        paytrail.refund(request())
    assert raised.value.code == code and paytrail.outcome_unknown(raised.value)


def test_an_error_signed_with_a_secret_we_do_not_have_is_still_judged_by_its_status_and_logged(api, paytrail, caplog):
    # A wrong secret key: Paytrail's 401 is signed with the real one, so its signature cannot hold for us.
    api.post(REFUND_URL, **signed(401, {"status": "error", "message": "Invalid signature"}, secret="the-real-one"))
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request())
    assert raised.value.status == 401 and not paytrail.outcome_unknown(raised.value)
    assert "merchant id and secret key" in raised.value.message
    assert "signature does not match" in caplog.text


def test_a_signed_error_answer_is_judged_by_its_status(api, paytrail):
    api.post(REFUND_URL, **signed(404, {"status": "error", "message": "Payment not found"}))
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request())
    assert (raised.value.status, raised.value.message) == (404, "Payment not found")


@pytest.mark.parametrize("error, unknown", [
    (ProviderUnavailable("x", provider="paytrail", status=500), True),
    (ProviderUnavailable("x", provider="paytrail", status=503), True),
    (ProviderUnavailable("x", provider="paytrail", code="timeout"), True),
    (ProviderUnavailable("x", provider="paytrail", code="connection_error"), True),
    (ProviderMalformed("x", provider="paytrail", status=201, code="signature_invalid"), True),
    (ProviderMalformed("x", provider="paytrail", code="unexpected_response"), True),
    (ProviderUnavailable("x", provider="paytrail", status=429, code="rate_limited"), False),
    (ProviderRejected("x", provider="paytrail", status=400), False),
    (ProviderRejected("x", provider="paytrail", status=401), False),
    (ProviderRejected("x", provider="paytrail", status=404), False),
    (ProviderRejected("x", provider="paytrail", status=422), False),
    (ProviderRejected("x", provider="paytrail", code="cannot_look_up"), False),
    (ValueError("boom"), False),
])  # fmt: skip
def test_outcome_unknown_after_a_5xx_no_answer_or_an_answer_we_cannot_trust(error, unknown):
    assert PaytrailProvider.outcome_unknown(error) is unknown


# --- looking up: there is no way --------------------------------------------------------------------


def test_get_refund_and_find_refund_cannot_look_and_send_nothing(api, paytrail):
    for look in (lambda: paytrail.get_refund(REFUND_ID), lambda: paytrail.find_refund(request())):
        with pytest.raises(ProviderRejected) as raised:
            look()
        assert (raised.value.code, raised.value.message) == ("cannot_look_up", CANNOT_LOOK_UP)
        assert raised.value.provider == "paytrail"
    assert len(api.calls) == 0


def test_keys_never_expire_refunds_go_by_the_cent_and_the_route_is_named_paytrail(paytrail):
    assert paytrail.key_lifetime is None and paytrail.name == "paytrail"
    assert refund_step("EUR") == paytrail.refund_step("EUR") == 1


# --- the callbacks ----------------------------------------------------------------------------------


def test_a_signed_success_callback_says_the_refund_succeeded():
    assert parse_callback(callback_query(), SECRET, "success") == CallbackOutcome(
        refund_key=KEY, succeeded=True, status="ok", refund_transaction_id=REFUND_ID, amount=1250,
        settlement_reference=None, stamp=KEY, reference="R-7K2", provider="osuuspankki",
    )  # fmt: skip


def test_a_cancel_callback_says_it_failed_and_a_semantic_failure_names_no_transaction():
    outcome = parse_callback(callback_query(drop=("checkout-transaction-id",), **{"checkout-status": "fail"}), SECRET,
                             "cancel")  # fmt: skip
    assert (outcome.succeeded, outcome.status, outcome.refund_transaction_id) == (False, "fail", None)


@pytest.mark.parametrize("status", ["pending", "delayed", "fail"])
def test_a_success_callback_without_a_final_ok_settles_nothing(status):
    assert parse_callback(callback_query(**{"checkout-status": status}), SECRET, "success").succeeded is None


def test_sha512_callbacks_and_settlement_references_are_read():
    query = callback_query(algorithm="sha512", **{"checkout-settlement-reference": "RF123"})
    outcome = parse_callback(query, SECRET, "success")
    assert outcome.settlement_reference == "RF123" and outcome.succeeded is True


def test_a_checkout_param_paytrail_adds_later_is_part_of_the_signature():
    query = callback_query(**{"checkout-brand-new": "1"})
    assert parse_callback(query, SECRET, "success").succeeded is True
    with pytest.raises(SignatureError):
        parse_callback({**query, "checkout-brand-new": "2"}, SECRET, "success")
    with pytest.raises(SignatureError):
        parse_callback({k: v for k, v in query.items() if k != "checkout-brand-new"}, SECRET, "success")


@pytest.mark.parametrize("query, secret", [
    ({k: v for k, v in callback_query().items() if k != "signature"}, SECRET),  # missing
    ({**callback_query(), "signature": "0" * 64}, SECRET),  # wrong
    ({**callback_query(), "signature": "ä" * 64}, SECRET),  # not even hex
    (callback_query(), "another-secret"),
    ({**callback_query(), "checkout-amount": "99999"}, SECRET),  # tampered
    ({**callback_query(), "checkout-algorithm": "md5"}, SECRET),  # an algorithm Paytrail does not name
    ({k: v for k, v in callback_query().items() if k != "checkout-algorithm"}, SECRET),
    (callback_query(drop=("checkout-algorithm",)), SECRET),  # signed, but naming no algorithm
])  # fmt: skip
def test_a_callback_whose_signature_does_not_hold_is_refused(query, secret):
    with pytest.raises(SignatureError):
        parse_callback(query, secret, "success")


def test_a_callback_without_our_key_or_to_another_path_is_a_payload_error_even_when_signed():
    with pytest.raises(PayloadError):
        parse_callback(callback_query(key=None), SECRET, "success")
    with pytest.raises(PayloadError):
        parse_callback(callback_query(), SECRET, "refund")
    with pytest.raises(PayloadError):
        parse_callback(callback_query(**{"checkout-amount": "12.50"}), SECRET, "success")


def test_a_parse_qs_query_is_taken_and_the_key_is_not_signed():
    query = {k: [v] for k, v in callback_query().items()}
    assert parse_callback(query, SECRET, "success").refund_key == KEY
    # Our own param is outside Paytrail's signature: the caller matches the signed transaction id too.
    assert parse_callback({**callback_query(), "palautus_refund": "other"}, SECRET, "success").refund_key == "other"


# --- secrets, credentials ------------------------------------------------------------------------------


def leaky_answers():
    leak = {"status": "error", "message": f"bad secret {SECRET}"}
    yield {"status": 401, "json": leak}
    yield {"status": 500, "json": leak}
    yield {"status": 422, "json": leak}
    yield {"body": requests.ReadTimeout(f"timed out with {SECRET}")}
    yield {"body": requests.ConnectionError(f"reset with {SECRET}")}
    yield signed(raw=SECRET)
    yield signed(signature=SECRET)


@pytest.mark.parametrize("answer", list(leaky_answers()))
def test_the_secret_never_appears_in_errors_logs_or_reprs(api, paytrail, caplog, answer):
    caplog.set_level(logging.DEBUG)
    api.post(REFUND_URL, **answer)
    with pytest.raises((ProviderRejected, ProviderUnavailable)) as raised:
        paytrail.refund(request())
    error = raised.value
    for text in (str(error), repr(error), error.message, caplog.text, repr(paytrail), str(paytrail)):
        assert SECRET not in text


@pytest.mark.parametrize("credentials", [{}, {"account": ACCOUNT}, {"secret": SECRET}, {"account": "", "secret": SECRET},
                                         {"account": ACCOUNT, "secret": ""}])  # fmt: skip
def test_connect_needs_both_merchant_id_and_secret(credentials):
    with pytest.raises(MissingCredentials) as raised:
        connect(credentials, {"PAYTRAIL_API_BASE": API, "HTTP_TIMEOUT": 5.0})
    assert raised.value.data == {"provider": "paytrail"} and SECRET not in raised.value.message


def test_connect_takes_the_base_and_timeout_from_the_operators_config_and_shows_only_the_base(api):
    route = connect({"account": 375917, "secret": SECRET}, {"PAYTRAIL_API_BASE": "https://pt.test/", "HTTP_TIMEOUT": 4.0})
    assert (route.name, route.api_base, route.timeout) == ("paytrail", "https://pt.test", 4.0)
    assert repr(route) == "PaytrailProvider(api_base='https://pt.test')"
    assert connect({"account": ACCOUNT, "secret": SECRET}, {"HTTP_TIMEOUT": 4.0}).api_base == API
    api.post(f"https://pt.test/payments/{PAYMENT}/refund", **signed())
    route.refund(request())
    assert api.calls[0].request.headers["checkout-account"] == "375917"


# --- through the sandbox -------------------------------------------------------------------------


def test_a_refund_through_the_sandbox_is_pending_until_settled_and_its_callback_is_signed(sandbox, paytrail):
    payment = sandbox.payment(5000, account=ACCOUNT)
    made = paytrail.refund(request(payment_id=payment))
    assert made.status is RefundStatus.SUBMITTED and made.provider_refund_id in sandbox.refunds
    assert sandbox.money_moved == 0 and sandbox.received == []
    sandbox.settle("succeeded")
    (url,) = sandbox.received
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{CALLBACK}/success"
    outcome = parse_callback(dict(parse_qsl(parts.query)), SECRET, "success")
    assert (outcome.refund_key, outcome.succeeded, outcome.refund_transaction_id, outcome.amount, outcome.stamp) == (
        KEY, True, made.provider_refund_id, 1250, KEY)
    assert sandbox.money_moved == 1250 and sandbox.keys_sent() == {KEY}


def test_a_failed_settlement_calls_the_cancel_url_and_gives_the_money_back(sandbox, paytrail):
    payment = sandbox.payment(1250, account=ACCOUNT)
    paytrail.refund(request(payment_id=payment))
    sandbox.settle("failed", with_transaction_id=False)
    (url,) = sandbox.received
    assert urlsplit(url).path.endswith("/cancel")
    outcome = parse_callback(dict(parse_qsl(urlsplit(url).query)), SECRET, "cancel")
    assert (outcome.succeeded, outcome.status, outcome.refund_transaction_id) == (False, "fail", None)
    assert sandbox.money_moved == 0 and sandbox.payments[payment]["refunded"] == 0
    paytrail.refund(request(payment_id=payment, key="second-try"))  # the money is refundable again


def test_a_callback_may_come_again_and_redeliver_repeats_the_last_one(sandbox, paytrail):
    paytrail.refund(request(payment_id=sandbox.payment(5000, account=ACCOUNT)))
    sandbox.settle("succeeded")
    assert sandbox.redeliver() == 200
    assert len(sandbox.received) == 2 and sandbox.received[0] == sandbox.received[1]
    assert sandbox.money_moved == 1250  # delivered twice, moved once


def test_auto_settle_delivers_the_success_callback_with_the_201(sandbox, paytrail):
    sandbox.auto_settle = True
    made = paytrail.refund(request(payment_id=sandbox.payment(5000, account=ACCOUNT)))
    assert sandbox.money_moved == 1250 and len(sandbox.received) == 1
    assert sandbox.refunds[made.provider_refund_id]["status"] == "ok"


def test_the_sandbox_refuses_a_repeated_stamp_as_a_validation_error_and_moves_nothing_more(sandbox, paytrail):
    payment = sandbox.payment(5000, account=ACCOUNT)
    paytrail.refund(request(payment_id=payment))
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request(payment_id=payment))
    assert raised.value.status == 400 and "refundStamp" in raised.value.message
    assert len(sandbox.refunds) == 1 and len(sandbox.posts) == 2 and sandbox.payments[payment]["refunded"] == 1250
    other = SandboxPaytrail(credentials={"999": "s"})  # stamps are each merchant's own
    assert other.stamps == set()


def test_after_a_rate_limit_the_same_stamp_goes_again_and_makes_one_refund(sandbox, paytrail):
    payment = sandbox.payment(5000, account=ACCOUNT)
    sandbox.fail_next("rate_limited")
    with pytest.raises(ProviderUnavailable) as raised:
        paytrail.refund(request(payment_id=payment))
    assert not paytrail.outcome_unknown(raised.value)
    paytrail.refund(request(payment_id=payment))
    assert len(sandbox.refunds) == 1 and sandbox.keys_sent() == {KEY} and len(sandbox.posts) == 2


@pytest.mark.parametrize("fault, made", [("lost_answer", 1), ("saved_failure", 1), ("unknown_outcome", 0),
                                         ("unavailable", 0), ("lost_request", 0)])  # fmt: skip
def test_after_an_open_outcome_the_route_says_so_and_a_repeat_could_never_be_told_apart(sandbox, paytrail, fault, made):
    payment = sandbox.payment(5000, account=ACCOUNT)
    sandbox.fail_next(fault)
    with pytest.raises(ProviderUnavailable) as raised:
        paytrail.refund(request(payment_id=payment))
    assert paytrail.outcome_unknown(raised.value)  # so the job never posts again, and holds it for the callback
    assert len(sandbox.refunds) == made


def test_a_refusal_fault_is_a_422_and_moves_nothing(sandbox, paytrail):
    sandbox.fail_next("refused")
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request(payment_id=sandbox.payment(5000, account=ACCOUNT)))
    assert raised.value.status == 422 and sandbox.refunds == {}


def test_the_sandbox_refuses_more_than_is_left_and_unknown_payments_unless_its_book_is_open(sandbox, paytrail, api):
    payment = sandbox.payment(1000, account=ACCOUNT)
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request(payment_id=payment, amount=Money(1001, "EUR")))
    assert raised.value.status == 400
    with pytest.raises(ProviderRejected) as raised:
        paytrail.refund(request(payment_id=str(uuid.uuid4())))
    assert raised.value.status == 404
    sandbox.open_book = True
    assert paytrail.refund(request(payment_id="never-seen")).status is RefundStatus.SUBMITTED


def test_the_sandbox_checks_request_signatures_and_signs_its_answers(sandbox):
    wrong = PaytrailProvider(ACCOUNT, "not-the-secret", api_base=API)
    with pytest.raises(ProviderRejected) as raised:  # its 401 is signed with the real secret: judged by status
        wrong.refund(request(payment_id=sandbox.payment(5000, account=ACCOUNT)))
    assert raised.value.status == 401
    stranger = PaytrailProvider("123456", SECRET, api_base=API)
    with pytest.raises(ProviderRejected) as raised:
        stranger.refund(request(payment_id=sandbox.payment(5000, account=ACCOUNT)))
    assert raised.value.status == 401 and sandbox.refunds == {}


def raw_post(sandbox, body: dict, account=TEST_ACCOUNT, secret=TEST_SECRET, nonce=None, payment=PAYMENT,
             **changes) -> object:  # fmt: skip
    text = json.dumps(body)
    headers = {"checkout-account": account, "checkout-algorithm": "sha256", "checkout-method": "POST",
               "checkout-nonce": nonce or str(uuid.uuid4()), "checkout-timestamp": "2026-01-15T10:00:00Z",
               "checkout-transaction-id": payment, **changes}  # fmt: skip
    headers["signature"] = hmac_of(headers, text, secret)
    return sandbox.handle(Request("POST", f"/payments/{payment}/refund", headers=headers, body=text))


def refund_body(**changes) -> dict:
    return {"amount": 100, "refundStamp": str(uuid.uuid4()), "refundReference": "r",
            "callbackUrls": {"success": "https://a.example/s", "cancel": "https://a.example/c"}, **changes}  # fmt: skip


@pytest.mark.parametrize("body", [
    refund_body(amount=0), refund_body(amount="100"), refund_body(amount=True), refund_body(refundStamp="s" * 201),
    refund_body(callbackUrls={"success": "http://a.example/s", "cancel": "https://a.example/c"}),
    refund_body(callbackUrls={"success": "https://a.example/s"}),
    refund_body(callbackUrls={"success": "https://a.example/" + "s" * 300, "cancel": "https://a.example/c"}),
    refund_body(email="not-an-address"),
])  # fmt: skip
def test_the_sandbox_refuses_a_body_paytrail_does_not_allow(body):
    fake = SandboxPaytrail()
    fake.payment(5000)
    fake.payments[PAYMENT] = {**fake.payments.popitem()[1], "transactionId": PAYMENT}
    reply = raw_post(fake, body)
    assert reply.status == 400 and json.loads(reply.text())["status"] == "error" and fake.refunds == {}


def test_the_sandbox_takes_http_callbacks_on_127_0_0_1_and_signs_answers_with_the_account_s_secret():
    fake = SandboxPaytrail(open_book=True)
    reply = raw_post(fake, refund_body(callbackUrls={"success": "http://127.0.0.1:5000/s", "cancel": "http://127.0.0.1:5000/c"}))
    assert reply.status == 201 and json.loads(reply.text())["status"] == "ok"
    checkout = {k: v for k, v in reply.headers.items() if k.startswith("checkout-")}
    assert reply.headers["signature"] == hmac_of(checkout, reply.text(), TEST_SECRET)


@pytest.mark.parametrize("changes, nonce_twice", [
    ({"checkout-method": "GET"}, False), ({"checkout-transaction-id": "another"}, False), ({}, True),
])  # fmt: skip
def test_the_sandbox_refuses_signed_headers_that_do_not_fit_the_request_or_a_nonce_used_twice(changes, nonce_twice):
    fake = SandboxPaytrail(open_book=True)
    if nonce_twice:
        assert raw_post(fake, refund_body(), nonce="n-1").status == 201
    reply = raw_post(fake, refund_body(), nonce="n-1" if nonce_twice else None, **changes)
    assert reply.status == 401 and len(fake.refunds) == int(nonce_twice)


def test_with_an_account_opened_only_its_credentials_are_taken():
    fake = SandboxPaytrail(open_book=True)
    assert raw_post(fake, refund_body()).status == 201  # the published test credentials, while none is opened
    account, secret = fake.open_account()
    assert raw_post(fake, refund_body()).status == 401
    assert raw_post(fake, refund_body(), account=account, secret=secret).status == 404  # not its payment
    theirs = fake.payment(5000, account=account)
    assert raw_post(fake, refund_body(), account=account, secret=secret, payment=theirs).status == 201
    refused = raw_post(fake, refund_body(), account=account, secret="wrong", payment=theirs)
    assert refused.status == 401 and secret not in refused.text()


def test_the_sandbox_speaks_the_fake_provider_shape():
    fake = SandboxPaytrail()
    assert (fake.name, fake.key_header, fake.settles_later, fake.status, fake.auto_settle) == (
        "paytrail", None, True, "pending", False)
    assert set(fake.FAULTS) == {"unavailable", "rate_limited", "lost_request", "lost_answer", "unknown_outcome",
                                "saved_failure", "refused"}  # fmt: skip
    fake.fail_reads(401)  # nothing reads: kept for the shape
    assert fake.read_faults == [401] and fake.summary()["refunds"] == [] and fake.money_moved == 0
    with pytest.raises(KeyError):
        fake.fail_next("no-such-fault")
    with pytest.raises(LookupError):
        fake.redeliver()
    with pytest.raises(ValueError):
        fake.settle("maybe")
