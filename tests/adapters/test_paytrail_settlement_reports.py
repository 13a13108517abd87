"""Paytrail settlements that arrive later: the port's ask (`request_settlement`), the report read with and without
its signature, and a stored report interpreted as the SettlementReport the event job keeps (Paytrail Payment API
docs/README.md "Payment report request by settlement ID"; paytrail-api.yaml PaymentReportBySettlementIdRequest,
PaymentReportRequestResponse, PaymentReportCallbackJSON)."""
from __future__ import annotations

import json

import pytest
import responses

from adapters.errors import PayloadError, SignatureError
from adapters.payments import ROUTES
from adapters.payments.paytrail import (
    PaytrailProvider, interpret, parse_settlement_report, read_settlement_report, report_ids, sign,
)  # fmt: skip
from integration.records import MovementKind, ProviderRefundUpdate, SettlementReport
from tests.adapters.test_paytrail_settlements import (
    ACCOUNT, API, CALLBACK, KEY, PAID, REFUNDED, SECRET, SETTLEMENTS, hmac_of, signed,
)  # fmt: skip


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def paytrail():
    return PaytrailProvider(ACCOUNT, SECRET, api_base=API, timeout=5.0)


def posted(rows, secret=SECRET, algorithm="sha256", nonce="n-1") -> tuple[bytes, dict]:
    """A report as Paytrail POSTs it: the JSON body, and `checkout-*` headers signed with the module's own helper."""
    body = json.dumps(rows).encode()
    headers = {"checkout-account": ACCOUNT, "checkout-algorithm": algorithm, "checkout-method": "POST",
               "checkout-nonce": nonce, "checkout-timestamp": "2019-07-03T08:00:00.000Z",
               "Content-Type": "application/json"}  # fmt: skip
    headers["signature"] = sign(headers, body, secret, algorithm)
    return body, headers


def test_the_port_s_ask_sends_paytrail_a_signed_json_report_request_for_our_callback(api, paytrail):
    api.post(f"{SETTLEMENTS}/678/payments/report", **signed({"requestId": "rq-77"}, method="POST"))

    assert paytrail.request_settlement("678", CALLBACK) is None

    sent = api.calls[0].request
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert sent.url == f"{SETTLEMENTS}/678/payments/report"
    assert json.loads(sent.body) == {"requestType": "json", "callbackUrl": CALLBACK}
    assert headers["signature"] == hmac_of(headers, sent.body)  # the tests' own HMAC, not the module's
    assert headers["content-type"] == "application/json; charset=utf-8"


def test_the_module_s_signing_helper_signs_as_the_tests_own_hmac_does():
    body, headers = posted([PAID])

    assert headers["signature"] == hmac_of({k.lower(): v for k, v in headers.items()}, body)


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_a_report_signed_with_either_documented_algorithm_is_read(algorithm):
    body, headers = posted([PAID, REFUNDED], algorithm=algorithm)

    found = parse_settlement_report(body, headers, SECRET, "678")

    assert [m.kind for m in found.movements] == [MovementKind.CHARGE, MovementKind.REFUND]


def test_a_report_whose_body_changed_after_signing_is_refused():
    body, headers = posted([REFUNDED])

    with pytest.raises(SignatureError):
        parse_settlement_report(body.replace(b"-12.5", b"-125.0"), headers, SECRET, "678")


def test_the_job_reads_the_same_settlement_from_the_raw_body_or_its_json_without_a_signature():
    body, headers = posted([PAID, REFUNDED])

    checked = parse_settlement_report(body, headers, SECRET, "678")

    assert read_settlement_report(body, "678") == checked
    assert read_settlement_report(json.loads(body), "678") == checked


@pytest.mark.parametrize("body", [b"\xff[]", b"<html>", b"[" * 100_000, json.dumps({"rows": []}).encode(),
                                  json.dumps([{**PAID, "settlementId": 679}]).encode()])  # fmt: skip
def test_a_report_that_is_not_utf8_json_or_not_this_settlement_s_is_refused(body):
    with pytest.raises(PayloadError):
        read_settlement_report(body, "678")


def test_a_report_is_stored_under_its_settlement_and_once_per_body():
    body, _ = posted([PAID])

    topic, delivery = report_ids("678", body)

    assert topic == "settlement/678"
    assert report_ids("678", body) == (topic, delivery)  # Paytrail sending it again: the same delivery
    assert report_ids("678", posted([PAID, REFUNDED])[0])[1] != delivery
    assert report_ids("679", body)[1] != delivery


def test_a_stored_report_is_interpreted_as_the_settlement_to_keep_and_a_refund_callback_as_before():
    body, _ = posted([PAID, REFUNDED])

    report = ROUTES["paytrail"].interpret("settlement/678", json.loads(body))

    assert isinstance(report, SettlementReport) and report.route == "paytrail"
    assert report.settlement.settlement_id == "678"
    assert [m.reference for m in report.settlement.movements] == [None, KEY]
    callback = interpret("refund/success", {"outcome": "success", "query": {"checkout-status": "ok",
                                                                             "checkout-stamp": KEY}})  # fmt: skip
    assert isinstance(callback, ProviderRefundUpdate) and callback.idempotency_key == KEY


def test_a_stored_report_not_in_the_documented_shape_fails_its_event():
    with pytest.raises(PayloadError):
        interpret("settlement/678", {"payments": []})
