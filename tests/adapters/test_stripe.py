"""The Stripe refunds adapter against `responses`, and against Stripe's vendored OpenAPI spec."""
from __future__ import annotations

import gzip
import json
import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.payments import PaymentRef, ProviderRefund, RefundRequest
from adapters.payments.stripe import STATUSES, StripeProvider
from integration.money import Money
from integration.refunds import RefundStatus

API = "https://stripe.test"
REFUNDS = f"{API}/v1/refunds"
SECRET = "sk_test_51PalautusSecretKeyThatMustNeverLeak"
KEY = "refund-42-attempt"
SPEC = Path(__file__).parent.parent / "contracts" / "stripe-openapi-spec3-2023-08-16.json.gz"
METADATA = {"return_code": "R-1234", "refund_id": "42", "idempotency_key": KEY}


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def stripe():
    return StripeProvider(secret_key=SECRET, api_base=API, timeout=5.0)


@pytest.fixture(scope="module")
def spec():
    with gzip.open(SPEC, "rt", encoding="utf-8") as f:
        return json.load(f)


def refund_object(**overrides):
    refund = {
        "id": "re_123",
        "object": "refund",
        "amount": 1250,
        "currency": "eur",
        "status": "succeeded",
        "payment_intent": "pi_123",
        "failure_reason": None,
        "metadata": {"palautus_idempotency_key": KEY},
    }
    return {**refund, **overrides}


def error_body(code=None, type_="invalid_request_error", message="Something went wrong."):
    return {"error": {"type": type_, "code": code, "message": message}}


def sent_form(call) -> dict[str, list[str]]:
    body = call.request.body
    return parse_qs(body.decode() if isinstance(body, bytes) else body, strict_parsing=True)


def sent_query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def request(payment_id="pi_123", amount=Money(1250, "EUR")) -> RefundRequest:
    """A refund request as the refund job builds it."""
    ref = PaymentRef("stripe", payment_id, "1001", "#1001", "stripe")
    return RefundRequest(ref, amount, KEY, metadata=dict(METADATA))


def refund(stripe, payment_id="pi_123", amount=Money(1250, "EUR")):
    return stripe.refund(request(payment_id, amount))


# The request


def test_a_refund_posts_the_documented_form_with_auth_key_and_version_headers(api, stripe):
    api.post(REFUNDS, json=refund_object())

    result = refund(stripe)

    request = api.calls[0].request
    assert sent_form(api.calls[0]) == {
        "payment_intent": ["pi_123"],
        "amount": ["1250"],
        "reason": ["requested_by_customer"],
        "metadata[return_code]": ["R-1234"],
        "metadata[refund_id]": ["42"],
        "metadata[idempotency_key]": [KEY],
        "metadata[palautus_idempotency_key]": [KEY],
    }
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Stripe-Version"] == "2023-08-16"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert result == ProviderRefund("re_123", RefundStatus.SUCCEEDED, Money(1250, "EUR"), "succeeded")


def test_a_refund_never_sends_currency_because_the_payment_fixes_it(api, stripe):
    api.post(REFUNDS, json=refund_object())
    refund(stripe)
    assert "currency" not in sent_form(api.calls[0])


@pytest.mark.parametrize("charge_id", ["ch_3Nabc", "py_3Nabc"])
def test_a_charge_id_is_sent_as_charge_not_payment_intent(api, stripe, charge_id):
    api.post(REFUNDS, json=refund_object(payment_intent=None, charge=charge_id))
    refund(stripe, payment_id=charge_id)
    form = sent_form(api.calls[0])
    assert form["charge"] == [charge_id]
    assert "payment_intent" not in form


def test_an_id_that_is_neither_intent_nor_charge_is_rejected_before_any_call(api, stripe):
    with pytest.raises(ProviderRejected) as raised:
        refund(stripe, payment_id="order_1001")
    assert raised.value.code == "payment_id_invalid"
    assert len(api.calls) == 0


def test_get_refund_reads_the_refund_by_id_with_the_pinned_version(api, stripe):
    api.get(f"{REFUNDS}/re_123", json=refund_object(status="pending"))
    result = stripe.get_refund("re_123")
    assert result.status is RefundStatus.SUBMITTED
    assert api.calls[0].request.headers["Stripe-Version"] == "2023-08-16"
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {SECRET}"


# Statuses


@pytest.mark.parametrize(
    "stripe_status, ours",
    [
        ("pending", RefundStatus.SUBMITTED),
        ("requires_action", RefundStatus.SUBMITTED),
        ("succeeded", RefundStatus.SUCCEEDED),
        ("failed", RefundStatus.FAILED),
        ("canceled", RefundStatus.FAILED),
    ],
)
def test_each_stripe_status_maps_to_ours_and_keeps_stripes_word(api, stripe, stripe_status, ours):
    api.get(f"{REFUNDS}/re_123", json=refund_object(status=stripe_status))
    result = stripe.get_refund("re_123")
    assert (result.status, result.provider_status) == (ours, stripe_status)


def test_a_failed_refund_carries_stripes_failure_reason(api, stripe):
    api.get(f"{REFUNDS}/re_123", json=refund_object(status="failed", failure_reason="expired_or_canceled_card"))
    assert stripe.get_refund("re_123").failure_reason == "expired_or_canceled_card"


def test_a_succeeded_refund_has_no_failure_reason(api, stripe):
    api.get(f"{REFUNDS}/re_123", json=refund_object(failure_reason="declined"))
    assert stripe.get_refund("re_123").failure_reason is None


def test_an_unknown_status_is_never_final_and_is_logged(api, stripe, caplog):
    api.get(f"{REFUNDS}/re_123", json=refund_object(status="in_review"))
    result = stripe.get_refund("re_123")
    assert (result.status, result.provider_status) == (RefundStatus.SUBMITTED, "in_review")
    assert "unknown stripe refund status" in caplog.text


# Errors


@pytest.mark.parametrize(
    "status, code, type_",
    [
        (500, None, "api_error"),
        (503, None, "api_error"),
        (429, "rate_limit", "invalid_request_error"),
        (409, "lock_timeout", "invalid_request_error"),
        (409, "idempotency_key_in_use", "idempotency_error"),
    ],
)
def test_a_server_error_rate_limit_or_lock_is_retryable(api, stripe, status, code, type_):
    headers = {"Request-Id": "req_abc", "Retry-After": "2"}
    api.post(REFUNDS, status=status, json=error_body(code, type_, "Try again later."), headers=headers)
    with pytest.raises(ProviderUnavailable) as raised:
        refund(stripe)
    error = raised.value
    assert (error.status, error.code, error.request_id, error.retry_after) == (status, code or type_, "req_abc", 2.0)
    assert error.message == "Try again later."


@pytest.mark.parametrize(
    "status, code, type_",
    [
        (400, "charge_already_refunded", "invalid_request_error"),
        (400, "amount_too_large", "invalid_request_error"),
        (404, "resource_missing", "invalid_request_error"),
        (400, None, "idempotency_error"),
        (402, "card_declined", "card_error"),
        (401, None, "invalid_request_error"),
        (403, "secret_key_required", "invalid_request_error"),
        (409, "resource_already_exists", "invalid_request_error"),
    ],
)
def test_a_validation_decline_or_auth_error_is_permanent(api, stripe, status, code, type_):
    api.post(REFUNDS, status=status, json=error_body(code, type_, "No."), headers={"Request-Id": "req_def"})
    with pytest.raises(ProviderRejected) as raised:
        refund(stripe)
    error = raised.value
    assert (error.status, error.code, error.request_id, error.message) == (status, code or type_, "req_def", "No.")
    assert not error.should_retry


def test_stripe_should_retry_true_makes_a_400_retryable(api, stripe):
    api.post(REFUNDS, status=400, json=error_body("lock_timeout"), headers={"Stripe-Should-Retry": "true"})
    with pytest.raises(ProviderUnavailable):
        refund(stripe)


@pytest.mark.parametrize("status, code", [(500, None), (429, "rate_limit"), (409, "lock_timeout")])
def test_stripe_should_retry_false_makes_any_error_permanent(api, stripe, status, code):
    api.post(REFUNDS, status=status, json=error_body(code), headers={"Stripe-Should-Retry": "false"})
    with pytest.raises(ProviderRejected):
        refund(stripe)


def test_a_timeout_is_retryable(api, stripe):
    api.post(REFUNDS, body=requests.Timeout())
    with pytest.raises(ProviderUnavailable) as raised:
        refund(stripe)
    assert raised.value.code == "timeout"


def test_a_dropped_connection_is_retryable(api, stripe):
    api.post(REFUNDS, body=requests.ConnectionError("connection reset"))
    with pytest.raises(ProviderUnavailable) as raised:
        refund(stripe)
    assert raised.value.code == "connection_error"


def test_a_2xx_that_is_not_json_is_retryable_and_says_so(api, stripe):
    api.post(REFUNDS, body="<html>proxy</html>", status=200, content_type="text/html")
    with pytest.raises(ProviderUnavailable, match="not a JSON object") as raised:
        refund(stripe)
    assert raised.value.code == "unexpected_response"


@pytest.mark.parametrize("missing", ["id", "status"])
def test_a_2xx_refund_without_id_or_status_is_retryable(api, stripe, missing):
    body = refund_object()
    del body[missing]
    api.post(REFUNDS, json=body)
    with pytest.raises(ProviderUnavailable, match="without id or status"):
        refund(stripe)


def test_a_502_with_an_html_body_is_retryable_without_a_code(api, stripe):
    api.post(REFUNDS, body="<html>Bad gateway</html>", status=502, content_type="text/html")
    with pytest.raises(ProviderUnavailable) as raised:
        refund(stripe)
    assert (raised.value.status, raised.value.code) == (502, None)


# Amounts


@pytest.mark.parametrize(
    "money, sent",
    [
        (Money(1250, "EUR"), "1250"),
        (Money(500, "JPY"), "500"),  # zero-decimal: as is
        (Money(5, "ISK"), "500"),  # ISO 0 decimals, Stripe keeps ISK two-decimal
        (Money(5000, "UGX"), "500000"),  # same special case as ISK
        (Money(123456, "HUF"), "123456"),  # two-decimal for charges and refunds
        (Money(5120, "KWD"), "5120"),  # three-decimal, last digit 0
        (Money(1200, "MGA"), "12"),  # ISO 2 decimals, Stripe zero-decimal
    ],
)
def test_amounts_go_out_in_stripes_unit_and_come_back_in_ours(api, stripe, money, sent):
    api.post(REFUNDS, json=refund_object(amount=int(sent), currency=money.currency.lower()))
    result = refund(stripe, amount=money)
    assert sent_form(api.calls[0])["amount"] == [sent]
    assert result.amount == money


@pytest.mark.parametrize("money", [Money(5124, "KWD"), Money(1250, "MGA"), Money(0, "EUR"), Money(-5, "EUR")])
def test_an_amount_stripe_cannot_take_is_rejected_before_any_call(api, stripe, money):
    with pytest.raises(ProviderRejected) as raised:
        refund(stripe, amount=money)
    assert raised.value.code == "amount_invalid"
    assert len(api.calls) == 0


def test_a_fractional_isk_amount_from_stripe_is_an_unexpected_answer(api, stripe):
    api.get(f"{REFUNDS}/re_123", json=refund_object(amount=4010, currency="isk"))
    with pytest.raises(ProviderUnavailable, match="not expressible in ISK"):
        stripe.get_refund("re_123")


# find_refund


def list_page(refunds, has_more):
    return {"object": "list", "url": "/v1/refunds", "data": refunds, "has_more": has_more}


def test_find_refund_follows_pages_until_the_key_matches(api, stripe):
    other = refund_object(id="re_1", metadata={"palautus_idempotency_key": "another"})
    untagged = refund_object(id="re_2", metadata={})
    wanted = refund_object(id="re_3", status="pending")
    api.get(REFUNDS, json=list_page([other, untagged], has_more=True))
    api.get(REFUNDS, json=list_page([wanted], has_more=False))

    result = stripe.find_refund(request("pi_123"))

    assert (result.provider_refund_id, result.status) == ("re_3", RefundStatus.SUBMITTED)
    assert sent_query(api.calls[0]) == {"payment_intent": ["pi_123"], "limit": ["100"]}
    assert sent_query(api.calls[1]) == {"payment_intent": ["pi_123"], "limit": ["100"], "starting_after": ["re_2"]}


def test_find_refund_returns_none_when_no_refund_carries_the_key(api, stripe):
    api.get(REFUNDS, json=list_page([refund_object(metadata={"palautus_idempotency_key": "x"})], has_more=True))
    api.get(REFUNDS, json=list_page([], has_more=False))
    assert stripe.find_refund(request("pi_123")) is None
    assert len(api.calls) == 2


def test_find_refund_lists_a_charges_refunds_by_charge(api, stripe):
    api.get(REFUNDS, json=list_page([], has_more=False))
    assert stripe.find_refund(request("ch_123")) is None
    assert sent_query(api.calls[0]) == {"charge": ["ch_123"], "limit": ["100"]}


# Secrets


def leaky_answers():
    leak = error_body(message=f"Invalid API Key provided: {SECRET}")
    yield {"status": 401, "json": leak}
    yield {"status": 500, "json": leak}
    yield {"body": requests.Timeout(f"timed out sending Bearer {SECRET}")}
    yield {"body": requests.ConnectionError(f"reset with {SECRET}")}
    yield {"status": 200, "body": "not json"}


@pytest.mark.parametrize("answer", list(leaky_answers()))
def test_the_secret_key_never_appears_in_errors_or_logs(api, stripe, caplog, answer):
    caplog.set_level(logging.DEBUG)
    api.post(REFUNDS, **answer)
    with pytest.raises((ProviderRejected, ProviderUnavailable)) as raised:
        refund(stripe)
    error = raised.value
    for text in (str(error), repr(error), error.message, caplog.text, repr(stripe)):
        assert SECRET not in text


# The contract: what we send is what the vendored spec documents


def post_refund_schema(spec):
    body = spec["paths"]["/v1/refunds"]["post"]["requestBody"]["content"]
    return body["application/x-www-form-urlencoded"]["schema"]["properties"]


def test_the_pinned_version_is_the_vendored_specs_version(api, stripe, spec):
    api.post(REFUNDS, json=refund_object())
    refund(stripe)
    assert api.calls[0].request.headers["Stripe-Version"] == spec["info"]["version"]


@pytest.mark.parametrize("payment_id", ["pi_123", "ch_123"])
def test_every_parameter_we_send_is_documented_for_creating_a_refund(api, stripe, spec, payment_id):
    api.post(REFUNDS, json=refund_object())
    refund(stripe, payment_id=payment_id)
    properties = post_refund_schema(spec)
    sent = {name.split("[")[0] for name in sent_form(api.calls[0])}
    assert sent <= set(properties)


def test_our_reason_is_in_the_documented_enum(api, stripe, spec):
    api.post(REFUNDS, json=refund_object())
    refund(stripe)
    assert sent_form(api.calls[0])["reason"][0] in post_refund_schema(spec)["reason"]["enum"]


def test_metadata_is_a_documented_object_of_strings(spec):
    variants = post_refund_schema(spec)["metadata"]["anyOf"]
    assert {"type": "object", "additionalProperties": {"type": "string"}} in variants
    encoding = spec["paths"]["/v1/refunds"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert encoding["encoding"]["metadata"]["style"] == "deepObject"  # metadata[key]=value


def test_every_list_parameter_we_send_is_documented(api, stripe, spec):
    api.get(REFUNDS, json=list_page([refund_object(id="re_9", metadata={})], has_more=True))
    api.get(REFUNDS, json=list_page([], has_more=False))
    stripe.find_refund(request("pi_123"))
    documented = {p["name"] for p in spec["paths"]["/v1/refunds"]["get"]["parameters"] if p["in"] == "query"}
    assert set(sent_query(api.calls[1])) <= documented


def test_our_status_mapping_knows_exactly_the_statuses_the_spec_documents(spec):
    # The spec gives `status` no enum, only a description listing the words in backticks.
    status = spec["components"]["schemas"]["refund"]["properties"]["status"]
    assert "enum" not in status
    assert set(re.findall(r"`([a-z_]+)`", status["description"])) == set(STATUSES)


def test_the_refund_fields_we_read_are_documented(spec):
    properties = spec["components"]["schemas"]["refund"]["properties"]
    assert {"id", "amount", "currency", "status", "failure_reason", "metadata"} <= set(properties)
    assert properties["amount"]["type"] == "integer"


@pytest.mark.parametrize(("currency", "step"), [("EUR", 1), ("JPY", 1), ("ISK", 1), ("KWD", 10), ("BHD", 10), ("MGA", 100)])
def test_the_smallest_refund_stripe_takes_is_declared_per_currency_for_planning(currency, step):
    from adapters.payments.stripe import refund_step

    assert refund_step(currency) == step


def test_a_planned_three_decimal_amount_on_the_step_is_accepted_where_one_off_it_is_refused(api, stripe):
    api.add(responses.POST, f"{API}/v1/refunds", json=refund_object(amount=5120, currency="kwd"))
    assert refund(stripe, amount=Money(5120, "KWD")).amount == Money(5120, "KWD")
    with pytest.raises(ProviderRejected, match="whole tens"):
        refund(stripe, amount=Money(5125, "KWD"))


# --- webhooks ---------------------------------------------------------------------------------------

from adapters.errors import PayloadError, SignatureError  # noqa: E402
from adapters.payments import stripe as stripe_module  # noqa: E402

WHSEC = "whsec_test_secret_of_the_shops_endpoint"


def stripe_signature(body: bytes, secret: str, stamp: int) -> str:
    import hashlib
    import hmac

    return f"t={stamp},v1=" + hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_a_signature_is_checked_over_the_timestamp_and_raw_body_with_any_of_the_secrets():
    body, now = b'{"id":"evt_1","type":"refund.updated"}', 1_764_547_200
    header = stripe_signature(body, WHSEC, now)
    stripe_module.verify_signature(body, header, [WHSEC], now=now + 299)
    stripe_module.verify_signature(body, header, ["whsec_new", WHSEC], now=now)  # a rotation: either secret
    for bad_body, secrets, at in ((body + b" ", [WHSEC], now), (body, ["whsec_other"], now), (body, [WHSEC], now + 301),
                                  (body, [""], now)):  # fmt: skip
        with pytest.raises(SignatureError):
            stripe_module.verify_signature(bad_body, header, secrets, now=at)
    with pytest.raises(SignatureError):
        stripe_module.verify_signature(body, header.replace("v1=", "v0="), [WHSEC], now=now)


def test_a_refund_event_is_the_refund_s_new_state_with_our_key_and_other_events_are_nothing():
    refund = refund_object(status="failed", failure_reason="expired_or_canceled_card")
    update = stripe_module.interpret("charge.refund.updated", {"data": {"object": refund}})
    assert (update.provider_refund_id, update.status, update.amount, update.failure_reason, update.idempotency_key) == (
        "re_123", RefundStatus.FAILED, Money(1250, "EUR"), "expired_or_canceled_card", KEY)
    assert stripe_module.interpret("charge.succeeded", {"data": {"object": {}}}) is None
    with pytest.raises(PayloadError, match="data.object"):
        stripe_module.interpret("refund.updated", {"data": {"object": {"id": "re_1"}}})


def test_the_webhook_endpoint_is_created_with_parameters_and_events_stripe_s_spec_knows(api, stripe, spec):
    api.add(responses.POST, f"{API}/v1/webhook_endpoints", json={"id": "we_1", "object": "webhook_endpoint", "secret": WHSEC})
    assert stripe.create_webhook_endpoint("https://palautus.example/webhooks/payments/stripe/k") == ("we_1", WHSEC)
    sent = parse_qs(api.calls[0].request.body)
    schema = spec["paths"]["/v1/webhook_endpoints"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"]["schema"]
    assert {key.split("[")[0] for key in sent} <= set(schema["properties"])
    assert set(sent["enabled_events[]"]) <= set(schema["properties"]["enabled_events"]["items"]["enum"])
    assert sent["api_version"] == ["2023-08-16"]


def test_an_endpoint_answer_without_its_secret_is_malformed_never_taken(api, stripe):
    api.add(responses.POST, f"{API}/v1/webhook_endpoints", json={"id": "we_1", "object": "webhook_endpoint"})
    with pytest.raises(ProviderUnavailable):
        stripe.create_webhook_endpoint("https://palautus.example/x")
