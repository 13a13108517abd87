"""Paytrail settlements: the signed settlement list, the report request, and the signed report callback read as
a Settlement (Paytrail Payment API docs/README.md "Settlements" and "Payment report request by settlement ID";
paytrail-api.yaml SettlementIdItem and PaymentReportCallbackJSON, their examples)."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from adapters.errors import (
    PayloadError,
    ProviderMalformed,
    ProviderRejected,
    ProviderUnavailable,
    SettlementsUnsupported,
    SignatureError,
)
from adapters.payments import PaymentRef, RefundRequest
from adapters.payments.paytrail import PaytrailProvider, parse_settlement_report
from adapters.payments.settling import net_of
from integration.money import Money
from integration.records import MovementKind

API = "https://services.paytrail.com"
SETTLEMENTS = f"{API}/settlements"
ACCOUNT = "375917"
SECRET = "SAIPPUAKAUPPIAS-but-never-in-a-log"
KEY = "palautus-12-R7K2-1"
PAYMENT = "5770642a-9a02-4ca2-8eaa-cc6260a78eb6"
REFUND_TRANSACTION = "912b13eb-c8ab-4397-a21a-9e9e1419eebe"
CALLBACK = "https://palautus.example/paytrail/reports/shop-1"
JAN = datetime(2026, 1, 1, tzinfo=timezone.utc)
FEB = datetime(2026, 2, 1, tzinfo=timezone.utc)


def hmac_of(params: dict, body: str | bytes, secret: str = SECRET) -> str:
    """The tests' own Paytrail HMAC (docs.paytrail.com "Authentication"), independent of the route's."""
    lines = [f"{k}:{params[k]}" for k in sorted(k for k in params if k.startswith("checkout-"))]
    payload = "\n".join(lines + [body.decode() if isinstance(body, bytes) else body])
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed(body, status=200, secret=SECRET, method="GET", signature=None) -> dict:
    """An answer as `responses` gives it, signed as Paytrail signs every answer."""
    text = body if isinstance(body, str) else json.dumps(body)
    headers = {"checkout-account": ACCOUNT, "checkout-algorithm": "sha256", "checkout-method": method,
               "checkout-nonce": str(uuid.uuid4()), "checkout-timestamp": "2026-02-01T10:00:00.000Z",
               "request-id": "req-1"}  # fmt: skip
    headers["signature"] = hmac_of(headers, text, secret) if signature is None else signature
    return {"status": status, "body": text, "headers": headers, "content_type": "application/json"}


def item(settlement_id, created, settled="2026-01-08", reference="45667372"):
    return {"id": settlement_id, "createdAt": created, "settledAt": settled, "settlementReference": reference}


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def paytrail():
    return PaytrailProvider(ACCOUNT, SECRET, api_base=API, timeout=5.0)


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


# --- the list --------------------------------------------------------------------------------------


def test_settlement_ids_are_asked_for_with_a_signed_get_and_kept_to_the_window_oldest_first(api, paytrail):
    api.get(SETTLEMENTS, **signed([item(680, "2026-01-20T10:00:00.000Z"), item(679, "2026-02-01T00:00:00.000Z"),
                                   item(678, "2026-01-06T13:43:32.780Z"), item(677, "2025-12-31T23:59:59.000Z")]))

    assert paytrail.settlements(JAN, FEB) == ["678", "680"]

    (call,) = api.calls
    assert query(call) == {"startDate": "2025-12-31", "endDate": "2026-02-01"}  # "created after" the start day
    headers = {k.lower(): v for k, v in call.request.headers.items()}
    assert (headers["checkout-method"], headers["checkout-account"]) == ("GET", ACCOUNT)
    assert "checkout-transaction-id" not in headers and "content-type" not in headers
    assert headers["signature"] == hmac_of(headers, "")  # over the checkout- headers and an empty body
    assert call.request.body is None


def test_the_documented_example_with_its_three_digit_hour_is_kept_by_its_day(api, paytrail):
    # README "Settlements" example: {"id": 678, "createdAt": "2019-01-06T013:43:32.780Z", ...}
    api.get(SETTLEMENTS, **signed([{"id": 678, "createdAt": "2019-01-06T013:43:32.780Z", "settledAt": "2019-01-08",
                                    "settlementReference": "45667372"}]))  # fmt: skip

    assert paytrail.settlements(datetime(2019, 1, 1, tzinfo=timezone.utc), datetime(2019, 2, 1, tzinfo=timezone.utc)) == ["678"]


def test_a_full_answer_of_100_is_followed_by_one_for_the_older_days(api, paytrail):
    newest = [item(1000 - n, f"2026-01-{31 - n // 10:02d}T12:00:00Z") for n in range(100)]  # the 22nd to the 31st
    older = [item(900, "2026-01-22T09:00:00Z"), item(899, "2026-01-03T09:00:00Z")]
    api.get(SETTLEMENTS, **signed(newest))
    api.get(SETTLEMENTS, **signed([newest[-1], *older]))

    ids = paytrail.settlements(JAN, FEB)

    assert len(ids) == 102 and ids[:2] == ["899", "900"] and ids[-1] == "1000"
    assert [query(call)["endDate"] for call in api.calls] == ["2026-02-01", "2026-01-22"]


@pytest.mark.parametrize("answer", [
    signed({"settlements": []}),
    signed([{"id": "six", "createdAt": "2026-01-06T00:00:00Z"}]),
    signed([{"id": 6, "createdAt": "last week"}]),
    signed("not json"),
    signed([item(6, "2026-01-06T00:00:00Z")], signature="0" * 64),
])  # fmt: skip
def test_a_list_not_signed_or_not_in_the_documented_shape_is_malformed(api, paytrail, answer):
    api.get(SETTLEMENTS, **answer)

    with pytest.raises(ProviderMalformed):
        paytrail.settlements(JAN, FEB)


def test_a_server_error_is_retryable(api, paytrail):
    api.get(SETTLEMENTS, status=503, json={"status": "error", "message": "Service unavailable"})

    with pytest.raises(ProviderUnavailable):
        paytrail.settlements(JAN, FEB)


# --- the report ------------------------------------------------------------------------------------


def test_a_settlement_cannot_be_read_by_request_only_by_its_report(api, paytrail):
    with pytest.raises(SettlementsUnsupported, match="callback"):
        paytrail.settlement("678")

    assert not api.calls


def test_the_report_is_requested_as_json_for_our_https_callback(api, paytrail):
    api.post(f"{SETTLEMENTS}/678/payments/report", **signed({"requestId": "rq-77"}, method="POST"))

    assert paytrail.request_settlement_report("678", CALLBACK) == "rq-77"

    sent = api.calls[0].request
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert json.loads(sent.body) == {"requestType": "json", "callbackUrl": CALLBACK}
    assert headers["signature"] == hmac_of(headers, sent.body) and headers["checkout-method"] == "POST"


@pytest.mark.parametrize("settlement_id, url", [("678", "http://palautus.example/r"), ("678", ""), ("abc", CALLBACK)])
def test_a_report_request_paytrail_would_refuse_is_refused_before_any_call(api, paytrail, settlement_id, url):
    with pytest.raises(ProviderRejected):
        paytrail.request_settlement_report(settlement_id, url)

    assert not api.calls


PAID = {  # the README's callback example, as JSON
    "entryDate": "19-06-2019", "created": "22:41", "amount": 25.55, "status": "Paid and settled",
    "firstname": "Mikko", "familyname": "Mallikas", "description": "Webshop test payment", "reference": "12345-545454",
    "paymentMethod": "OP", "stamp": "11-1560973275", "address": "Mallikkaankatu 1", "postcode": "33100",
    "postoffice": "Tampere", "country": "Suomi", "checkoutReference": "1255939828", "archiveNumber": "201906195937310000",
    "payerName": "MALLIKASMIK", "originalTradeReference": None, "vatPercentage": 25.5, "vatAmount": 6.132,
    "paymentMethodFee": 0.12, "paymentMethodCommission": 0.024, "settlementId": 678, "settlementDate": "31-06-2019",
    "settlementReference": "45667372", "shopInShopCommission": 0.8, "shopInShopCommissionVatPercentage": 25.5,
    "shopInShopCommissionVatAmount": 0.192,
}  # fmt: skip
REFUNDED = {**PAID, "amount": -12.5, "stamp": KEY, "reference": "R-7K2", "originalTradeReference": "12345-545454",
            "checkoutReference": "1255939901", "paymentMethodFee": None, "paymentMethodCommission": None,
            "entryDate": "02-07-2019", "created": "09:05"}  # fmt: skip


def report_callback(rows, secret=SECRET, signature=None) -> tuple[bytes, dict]:
    body = json.dumps(rows).encode()
    headers = {"checkout-account": ACCOUNT, "checkout-algorithm": "sha256", "checkout-method": "POST",
               "checkout-nonce": "n-1", "checkout-timestamp": "2019-07-03T08:00:00.000Z", "Content-Type": "application/json"}
    headers["signature"] = hmac_of(headers, body, secret) if signature is None else signature
    return body, headers


def test_the_signed_report_reads_as_the_settlement_with_our_refund_named_by_its_stamp():
    body, headers = report_callback([PAID, REFUNDED])

    found = parse_settlement_report(body, headers, SECRET, "678")

    paid, refund = found.movements
    assert (found.provider, found.settlement_id, found.currency, found.status) == ("paytrail", "678", "EUR", "settled")
    assert found.reference == "45667372"
    assert (paid.kind, paid.amount, paid.fee, paid.reference) == (MovementKind.CHARGE, 2555, 14, None)  # 0.144 EUR
    assert paid.occurred_at == datetime(2019, 6, 19, 19, 41, tzinfo=timezone.utc)  # 22:41 Finnish summer time
    assert (refund.kind, refund.amount, refund.fee, refund.reference) == (MovementKind.REFUND, -1250, 0, KEY)
    assert refund.provider_refund_id is None  # the report carries no transaction id
    assert refund.description == "refund of payment 12345-545454, via OP"
    assert found.net == net_of(found.movements) == 2555 - 14 - 1250
    assert all("Mikko" not in (m.description or "") and "Mallikas" not in (m.description or "") for m in found.movements)


def test_the_refund_stamp_we_send_is_the_reference_the_report_names(api, paytrail):
    api.post(f"{API}/payments/{PAYMENT}/refund", **signed(
        {"provider": "osuuspankki", "status": "ok", "transactionId": REFUND_TRANSACTION}, status=201, method="POST"))
    paytrail.refund(RefundRequest(PaymentRef("paytrail", PAYMENT, "1001", "#1001", "paytrail"), Money(1250, "EUR"), KEY,
                                  metadata={"return_code": "R-7K2"}, callback_url="https://palautus.example/cb"))
    sent = json.loads(api.calls[0].request.body)
    body, headers = report_callback([{**REFUNDED, "stamp": sent["refundStamp"], "reference": sent["refundReference"]}])

    (refund,) = parse_settlement_report(body, headers, SECRET, "678").movements

    assert refund.reference == KEY


def test_repeated_payments_get_their_own_ids_and_a_refund_is_money_out_whatever_its_sign():
    body, headers = report_callback([PAID, PAID, {**REFUNDED, "amount": 12.5}])

    found = parse_settlement_report(body, headers, SECRET, "678")

    ids = [m.movement_id for m in found.movements]
    assert len(set(ids)) == 3 and ids[0] == "checkoutReference:1255939828"
    assert found.movements[-1].amount == -1250


@pytest.mark.parametrize("signed_with, signature, checked_with", [
    ("another-secret", None, SECRET), (SECRET, "0" * 64, SECRET), (SECRET, None, ""),
])  # fmt: skip
def test_a_report_not_signed_with_the_shops_secret_is_refused(signed_with, signature, checked_with):
    body, headers = report_callback([PAID], secret=signed_with, signature=signature)

    with pytest.raises(SignatureError):
        parse_settlement_report(body, headers, checked_with, "678")


@pytest.mark.parametrize("rows", [
    {"payments": []},
    [{**PAID, "settlementId": 679}],
    [{**PAID, "amount": None}],
    [{**PAID, "amount": "lots"}],
    [{**PAID, "paymentMethodFee": [0.12]}],
    ["a payment"],
])  # fmt: skip
def test_a_report_not_in_the_documented_shape_is_refused(rows):
    body, headers = report_callback(rows)

    with pytest.raises(PayloadError):
        parse_settlement_report(body, headers, SECRET, "678")


def test_a_report_that_is_not_json_is_refused():
    headers = report_callback([])[1]
    headers["signature"] = hmac_of(headers, b"<html>")

    with pytest.raises(PayloadError):
        parse_settlement_report(b"<html>", headers, SECRET, "678")
