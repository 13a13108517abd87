"""PayPal days read as settlements, against Transaction Search answers in the documented shape
(reporting_transactions_v1.json: search_response, transaction_detail, transaction_info; T-codes from
"Transaction event codes")."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from adapters.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.payments import PaymentRef, RefundRequest
from adapters.payments.paypal import PayPalProvider, forget_tokens
from adapters.payments.settling import net_of
from integration.money import Money
from integration.records import MovementKind

API = "https://api-m.paypal.com"
TOKEN_URL = f"{API}/v1/oauth2/token"
SEARCH = f"{API}/v1/reporting/transactions"
TOKEN = "A21AAPalautusAccessTokenThatMustNeverLeak"
KEY = "palautus-12-R7K2-1"
CAPTURE = "5TY05013RG002845M"
REFUND = "1JU08902781691411"
REFRESHED = "2026-03-01T06:59:59+0000"  # long after every day below: PayPal has reported them whole


@pytest.fixture(autouse=True)
def fresh_tokens():
    forget_tokens()
    yield
    forget_tokens()


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, json={"access_token": TOKEN, "token_type": "Bearer", "expires_in": 32400})
        yield mock


@pytest.fixture
def paypal():
    return PayPalProvider("AbPalautusTestClientId", "EPalautusClientSecret", api_base=API, timeout=5.0)


def info(code, amount, fee=None, when="2026-01-15T10:03:52+0000", transaction_id="9TA2576831804805W",
         currency="EUR", **extra) -> dict:  # fmt: skip
    """A transaction_info as the spec's schema has it (amounts signed strings, dates with an offset)."""
    row = {"paypal_account_id": "6STWC2LSUYYYE", "transaction_id": transaction_id, "transaction_event_code": code,
           "transaction_initiation_date": when, "transaction_updated_date": when,
           "transaction_amount": {"currency_code": currency, "value": amount}, "transaction_status": "S",
           "protection_eligibility": "01", **extra}  # fmt: skip
    if fee is not None:
        row["fee_amount"] = {"currency_code": currency, "value": fee}
    return row


def search_answer(infos, page=1, total_pages=1, refreshed=REFRESHED) -> dict:
    body = {"transaction_details": [{"transaction_info": row} for row in infos], "account_number": "XZXSPECPDZHZU",
            "start_date": "2026-01-15T00:00:00+0000", "end_date": "2026-01-16T00:00:00+0000", "page": page,
            "total_items": len(infos), "total_pages": total_pages,
            "links": [{"href": f"{SEARCH}?page={page}", "rel": "self", "method": "GET"}]}  # fmt: skip
    if refreshed:
        body["last_refreshed_datetime"] = refreshed
    return body


def paged(api, pages: list[dict]):
    """Transaction Search answering each `page` with its own body, and every call kept for its query."""
    seen = []

    def answer(request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        seen.append(params)
        return 200, {}, json.dumps(pages[int(params["page"]) - 1])

    api.add_callback("GET", SEARCH, callback=answer, content_type="application/json")
    return seen


SALE = info("T0006", "465.00", "-13.79", transaction_id=CAPTURE, invoice_id="#1001")
OUR_REFUND = info("T1107", "-12.50", "0.29", transaction_id=REFUND, paypal_reference_id=CAPTURE,
                  paypal_reference_id_type="TXN", invoice_id=KEY, custom_field=KEY)  # fmt: skip


def test_a_day_is_read_whole_with_every_movement_kind_fees_on_their_own_rows(api, paypal):
    rows = [SALE, OUR_REFUND,
            info("T0106", "-16.00", transaction_id="2TA64279JC8313330", paypal_reference_id="63J34064G5584560B"),
            info("T1108", "0.29", transaction_id="3TA64279JC8313330"),
            info("T1201", "-100.00", transaction_id="63J34064G5584560B", paypal_reference_id=CAPTURE),
            info("T0200", "-5.00", transaction_id="4TA64279JC8313330"),
            info("T0400", "-300.00", transaction_id="5TA64279JC8313330"),
            info("T0006", "10.00", "-0.65", when="2026-01-16T00:00:00+0000", transaction_id="NEXTDAY00000000AA")]  # fmt: skip
    seen = paged(api, [search_answer(rows[:4], 1, 2), search_answer(rows[4:], 2, 2)])

    day = paypal.settlement("2026-01-15:EUR")

    assert [params["page"] for params in seen] == ["1", "2"]
    assert seen[0] | {"page": "1"} == {
        "start_date": "2026-01-15T00:00:00Z", "end_date": "2026-01-16T00:00:00Z", "fields": "transaction_info",
        "balance_affecting_records_only": "Y", "page_size": "500", "page": "1", "transaction_currency": "EUR"}
    found = {m.provider_type: m for m in day.movements}
    assert set(found) == {"T0006", "T1107", "T0106", "T1108", "T1201", "T0200", "T0400"}  # not the next day's
    assert (found["T0006"].kind, found["T0006"].amount, found["T0006"].fee, found["T0006"].payment_id) == (
        MovementKind.CHARGE, 46500, 1379, CAPTURE)
    assert (found["T1107"].kind, found["T1107"].amount, found["T1107"].fee) == (MovementKind.REFUND, -1250, -29)
    assert (found["T0106"].kind, found["T0106"].amount, found["T0106"].fee) == (MovementKind.FEE, -1600, 0)
    assert (found["T1108"].kind, found["T1108"].amount, found["T1108"].fee) == (MovementKind.FEE, 29, 0)
    assert (found["T1201"].kind, found["T1201"].amount, found["T1201"].payment_id) == (MovementKind.DISPUTE, -10000, CAPTURE)
    assert (found["T0200"].kind, found["T0400"].kind) == (MovementKind.ADJUSTMENT, MovementKind.PAYOUT)
    assert day.net == net_of(day.movements) == 46500 - 1379 - 1250 + 29 - 1600 + 29 - 10000 - 500
    assert (day.provider, day.settlement_id, day.currency, day.status) == ("paypal", "2026-01-15:EUR", "EUR", "complete")
    assert found["T1107"].occurred_at == datetime(2026, 1, 15, 10, 3, 52, tzinfo=timezone.utc)
    assert api.calls[-1].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_refund_row_names_our_refund_by_the_id_paypal_answered_and_by_our_key(api, paypal):
    api.post(f"{API}/v2/payments/captures/{CAPTURE}/refund", status=201, json={
        "id": REFUND, "status": "COMPLETED", "amount": {"value": "12.50", "currency_code": "EUR"},
        "invoice_id": KEY, "custom_id": KEY})  # fmt: skip
    made = paypal.refund(RefundRequest(PaymentRef("paypal", CAPTURE, "1001", "#1001", "paypal"), Money(1250, "EUR"), KEY))
    custom_only = info("T1107", "-3.00", transaction_id="8MC585209K746392H", paypal_reference_id=CAPTURE,
                       custom_field="palautus-12-R7K2-2")  # fmt: skip
    paged(api, [search_answer([SALE, OUR_REFUND, custom_only])])

    ours, second = [m for m in paypal.settlement("2026-01-15:EUR").movements if m.kind == MovementKind.REFUND]

    assert (ours.provider_refund_id, ours.reference, ours.payment_id) == (made.provider_refund_id, KEY, CAPTURE)
    assert (second.provider_refund_id, second.reference) == ("8MC585209K746392H", "palautus-12-R7K2-2")


def test_days_that_moved_money_are_listed_per_currency_oldest_first(api, paypal):
    rows = [info("T0006", "1.00", when="2026-01-16T08:00:00+0000", transaction_id="A"),
            info("T0006", "1.00", when="2026-01-15T23:59:59-0800", transaction_id="B"),  # the 16th in UTC
            info("T0006", "100.00", when="2026-01-15T01:00:00+0000", transaction_id="C", currency="SEK"),
            info("T1107", "-1.00", when="2026-01-15T09:00:00+0000", transaction_id="D")]  # fmt: skip
    seen = paged(api, [search_answer(rows)])

    ids = paypal.settlements(datetime(2026, 1, 15, tzinfo=timezone.utc), datetime(2026, 1, 17, tzinfo=timezone.utc))

    assert ids == ["2026-01-15:EUR", "2026-01-15:SEK", "2026-01-16:EUR"]
    assert (seen[0]["start_date"], seen[0]["end_date"]) == ("2026-01-15T00:00:00Z", "2026-01-17T00:00:00Z")
    assert "transaction_currency" not in seen[0]


def test_a_long_window_is_searched_31_days_at_a_time_and_only_whole_days_starting_in_it(api, paypal):
    seen = paged(api, [search_answer([])])

    assert paypal.settlements(datetime(2026, 1, 1, 12, tzinfo=timezone.utc), datetime(2026, 3, 1, tzinfo=timezone.utc)) == []

    spans = [(params["start_date"], params["end_date"]) for params in seen]
    assert spans == [("2026-01-02T00:00:00Z", "2026-02-02T00:00:00Z"), ("2026-02-02T00:00:00Z", "2026-03-01T00:00:00Z")]


def test_a_day_paypal_has_not_reported_whole_is_not_listed_and_reads_as_incomplete(api, paypal):
    rows = [info("T0006", "1.00", when="2026-01-15T08:00:00+0000"), info("T0006", "2.00", when="2026-01-16T08:00:00+0000")]
    paged(api, [search_answer(rows, refreshed="2026-01-16T02:00:00+0000")])

    listed = paypal.settlements(datetime(2026, 1, 15, tzinfo=timezone.utc), datetime(2026, 1, 17, tzinfo=timezone.utc))

    assert listed == ["2026-01-15:EUR"]
    assert paypal.settlement("2026-01-16:EUR").status == "incomplete"


@pytest.mark.parametrize("settlement_id", ["2026-01-15", "2026-01-15:eur", "yesterday:EUR", "2026-02-30:EUR", ""])
def test_an_id_that_names_no_day_and_currency_is_refused_before_any_call(api, paypal, settlement_id):
    with pytest.raises(ProviderRejected) as raised:
        paypal.settlement(settlement_id)

    assert raised.value.code == "settlement_id_invalid"
    assert not [call for call in api.calls if "reporting" in call.request.url]


def test_a_server_error_is_retryable_and_a_missing_permission_is_refused(api, paypal):
    api.get(SEARCH, status=503, json={"name": "SERVICE_UNAVAILABLE", "message": "Service Unavailable.",
                                      "debug_id": "90957fca61718"})  # fmt: skip
    with pytest.raises(ProviderUnavailable) as raised:
        paypal.settlement("2026-01-15:EUR")
    assert raised.value.request_id == "90957fca61718"

    api.replace(responses.GET, SEARCH, status=403, json={"name": "NOT_AUTHORIZED", "debug_id": "d",
                                                          "message": "Authorization failed due to insufficient permissions."})
    with pytest.raises(ProviderRejected) as refused:
        paypal.settlement("2026-01-15:EUR")
    assert refused.value.code == "NOT_AUTHORIZED"


@pytest.mark.parametrize("answer", [
    {"transaction_details": "none", "total_pages": 1},
    {"transaction_details": [{"payer_info": {}}], "total_pages": 1},
    search_answer([info("T0006", "4.5.0")]),
    search_answer([info("T0006", "4.50", fee="-0.1", currency="EUR") | {"fee_amount": {"currency_code": "USD", "value": "-0.10"}}]),
    search_answer([{**info("T0006", "4.50"), "transaction_initiation_date": "15.1.2026"}]),
    search_answer([{**info("T0006", "4.50"), "transaction_event_code": None}]),
    search_answer([]) | {"total_pages": "many"},
])  # fmt: skip
def test_an_answer_not_in_the_documented_shape_is_malformed(api, paypal, answer):
    paged(api, [answer])

    with pytest.raises(ProviderMalformed):
        paypal.settlement("2026-01-15:EUR")
