"""Klarna payouts read as settlements, against Settlements API answers in the documented shape (Klarna
Settlements API 1.0.0-rc2: Payout, PayoutCollection, TransactionCollection; example values from its schema)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from adapters.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.payments.klarna import KlarnaProvider
from adapters.payments.settling import net_of
from integration.money import Money
from integration.records import MovementKind, PaymentRef, RefundRequest

API = "https://klarna.test"
PAYOUTS = f"{API}/settlements/v1/payouts"
TRANSACTIONS = f"{API}/settlements/v1/transactions"
REFERENCE = "XISA93DJ"  # the schema's example payment_reference
ORDER = "ce17b4cb-147f-48b7-b8e6-dde2fa397f04"
CAPTURE = "33db6f16-9f43-43fa-a587-cc51411c98e4"
REFUND = "ef1baa1f-b42e-44be-b9e4-4b94510b53e5"
OTHER_ORDER = "f3392f8b-6116-4073-ab96-e330819e2c07"
OTHER_REFUND = "b2cb4f2e-2781-4359-80ad-555735ebb8d8"
KEY = "palautus-3-R7K2-1"
JAN = datetime(2026, 1, 1, tzinfo=timezone.utc)
FEB = datetime(2026, 2, 1, tzinfo=timezone.utc)


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def klarna():
    return KlarnaProvider(username="user", password="klarna-password", api_base=API, timeout=5.0)


def totals(settlement_amount, **amounts):
    """The Payout's `totals`: every amount the schema requires, zero unless given."""
    names = ("commission_amount", "repay_amount", "sale_amount", "holdback_amount", "tax_amount", "settlement_amount",
             "fee_correction_amount", "reversal_amount", "release_amount", "return_amount", "fee_amount",
             "charge_amount", "credit_amount", "fee_refund_amount", "tax_refund_amount", "deposit_amount",
             "opening_debt_balance_amount", "closing_debt_balance_amount")  # fmt: skip
    return {name: 0 for name in names} | amounts | {"settlement_amount": settlement_amount}


def payout(reference=REFERENCE, date="2026-01-14T07:52:26Z", net=6900, currency="EUR"):
    return {
        "totals": totals(net, sale_amount=10000, return_amount=2500, fee_amount=600),
        "payment_reference": reference, "payout_date": date, "currency_code": currency,
        "currency_code_of_registration_country": "EUR", "merchant_settlement_type": "NET", "merchant_id": "N100123",
        "transactions": f"https://api.klarna.com/settlements/v1/transactions?payment_reference={reference}",
    }  # fmt: skip


def transaction(type_, amount, order_id=ORDER, **extra):
    return {"amount": amount, "type": type_, "order_id": order_id, "currency_code": "EUR", "purchase_country": "FI",
            "sale_date": "2026-01-10T10:00:00Z", "capture_date": "2026-01-12T11:30:00Z",
            "payment_reference": REFERENCE, "short_order_id": "shortrid", **extra}  # fmt: skip


SALE = transaction("SALE", 10000, capture_id=CAPTURE, detailed_type="PURCHASE", merchant_reference1="#1001")
FEE = transaction("FEE", 600, capture_id=CAPTURE, detailed_type="PURCHASE_FEE_PERCENTAGE", vat_amount=0, vat_rate=0)
RETURN = transaction("RETURN", 2500, capture_id="", refund_id=REFUND, detailed_type="PURCHASE_RETURN",
                     merchant_refund_reference=KEY, capture_date="2026-01-13T09:00:00Z")  # fmt: skip


def collection(key, items, total, offset=0):
    return {key: items, "pagination": {"count": len(items), "total": total, "offset": offset}}


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_payouts_in_the_window_are_listed_oldest_first_over_every_page(api, klarna):
    first = [payout("LATE", "2026-01-20T08:00:00Z"), payout("EARLY", "2026-01-05T08:00:00Z")]
    second = [payout("EDGE", "2026-02-01T00:00:00Z")]  # on the window's end: the next window's
    api.get(PAYOUTS, json=collection("payouts", first, total=3))
    api.get(PAYOUTS, json=collection("payouts", second, total=3, offset=2))

    assert klarna.settlements(JAN, FEB) == ["EARLY", "LATE"]

    one, two = api.calls
    assert query(one) == {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z",
                          "size": "500", "offset": "0"}  # fmt: skip
    assert query(two)["offset"] == "2"
    assert one.request.headers["Authorization"].startswith("Basic ")


def test_a_payout_is_read_with_every_transaction_signed_by_its_type(api, klarna):
    api.get(f"{PAYOUTS}/{REFERENCE}", json=payout())
    api.get(TRANSACTIONS, json=collection("transactions", [SALE, FEE], total=3))
    api.get(TRANSACTIONS, json=collection("transactions", [RETURN], total=3, offset=2))

    found = klarna.settlement(REFERENCE)

    assert (found.provider, found.settlement_id, found.reference, found.currency) == ("klarna", REFERENCE, REFERENCE, "EUR")
    assert (found.net, found.status, found.paid_out_at) == (6900, "paid", datetime(2026, 1, 14, 7, 52, 26, tzinfo=timezone.utc))
    sale, fee, refund = found.movements
    assert (sale.kind, sale.amount, sale.fee, sale.payment_id) == (MovementKind.CHARGE, 10000, 0, ORDER)
    assert (fee.kind, fee.amount, fee.fee, fee.description) == (MovementKind.FEE, -600, 0, "PURCHASE_FEE_PERCENTAGE")
    assert (refund.kind, refund.amount, refund.fee, refund.provider_type) == (MovementKind.REFUND, -2500, 0, "RETURN")
    assert refund.occurred_at == datetime(2026, 1, 13, 9, 0, tzinfo=timezone.utc)
    assert net_of(found.movements) == found.net
    assert query(api.calls[1]) == {"payment_reference": REFERENCE, "size": "500", "offset": "0"}
    assert query(api.calls[2])["offset"] == "2"


def test_a_return_names_our_refund_by_its_stored_id_and_by_the_reference_we_sent(api, klarna):
    # klarna.py stores "<order_id>:<refund_id>" and sends our key as the refund's `reference`.
    api.post(f"{API}/ordermanagement/v1/orders/{ORDER}/refunds", status=201, body="",
             headers={"Refund-Id": REFUND, "Location": f"{API}/ordermanagement/v1/orders/{ORDER}/refunds/{REFUND}"})
    made = klarna.refund(RefundRequest(PaymentRef("klarna", ORDER, "1001", "#1001", "klarna"), Money(2500, "EUR"), KEY))
    sent = api.calls[0].request.body
    unreferenced = transaction("RETURN", 700, order_id=OTHER_ORDER, refund_id=OTHER_REFUND, capture_id="")
    api.get(f"{PAYOUTS}/{REFERENCE}", json=payout(net=6200))
    api.get(TRANSACTIONS, json=collection("transactions", [SALE, FEE, RETURN, unreferenced], total=4))

    ours, other = [m for m in klarna.settlement(REFERENCE).movements if m.kind == MovementKind.REFUND]

    assert json.loads(sent)["reference"] == KEY
    assert (ours.provider_refund_id, ours.reference) == (made.provider_refund_id, KEY)
    assert (other.provider_refund_id, other.reference) == (f"{OTHER_ORDER}:{OTHER_REFUND}", None)


def test_a_merchant_who_configured_signed_amounts_reads_the_same(api, klarna):
    signed = [SALE, {**FEE, "amount": -600}, {**RETURN, "amount": -2500}]
    api.get(f"{PAYOUTS}/{REFERENCE}", json=payout())
    api.get(TRANSACTIONS, json=collection("transactions", signed, total=3))

    amounts = [(m.amount, m.fee) for m in klarna.settlement(REFERENCE).movements]

    assert amounts == [(10000, 0), (-600, 0), (-2500, 0)]


@pytest.mark.parametrize("row, kind, amount, fee", [
    (transaction("REVERSAL", 900, capture_id="", reversal_reference="krn:klarna:eu1:dispute:x:1"), MovementKind.DISPUTE, -900, 0),
    (transaction("REVERSAL_MERCHANT_PROTECTION", 900), MovementKind.DISPUTE, 900, 0),
    (transaction("FEE_REFUND", 80, detailed_type="PURCHASE_FEE_PERCENTAGE_REFUND"), MovementKind.FEE, 80, 0),
    (transaction("TAX", 150), MovementKind.FEE, -150, 0),
    (transaction("COMMISSION", 300), MovementKind.ADJUSTMENT, 300, 0),
    (transaction("COMMISSION", 300, detailed_type="COMMISSION_RETURN"), MovementKind.ADJUSTMENT, -300, 0),
    (transaction("CHARGE", 400, detailed_type="LATE_RETURN_FEE"), MovementKind.ADJUSTMENT, -400, 0),
    (transaction("CREDIT", 400), MovementKind.ADJUSTMENT, 400, 0),
    (transaction("HOLDBACK", 1000, detailed_type="ROLLING_RESERVE"), MovementKind.ADJUSTMENT, -1000, 0),
    (transaction("RELEASE", 1000), MovementKind.ADJUSTMENT, 1000, 0),
    (transaction("CORRECTION", -250), MovementKind.ADJUSTMENT, -250, 0),
    (transaction("SOMETHING_NEW", 5), MovementKind.ADJUSTMENT, 5, 0),
])  # fmt: skip
def test_every_documented_type_has_its_kind_and_direction(api, klarna, row, kind, amount, fee):
    api.get(f"{PAYOUTS}/{REFERENCE}", json=payout(net=amount - fee))
    api.get(TRANSACTIONS, json=collection("transactions", [row], total=1))

    (movement,) = klarna.settlement(REFERENCE).movements

    assert (movement.kind, movement.amount, movement.fee, movement.provider_type) == (kind, amount, fee, row["type"])


def test_what_the_totals_hold_beyond_the_rows_is_one_adjustment_and_repeated_rows_get_their_own_ids(api, klarna):
    api.get(f"{PAYOUTS}/{REFERENCE}", json=payout(net=9000))  # the rows say 10000 - 600 - 600: 200 not itemised
    api.get(TRANSACTIONS, json=collection("transactions", [SALE, FEE, FEE], total=3))

    found = klarna.settlement(REFERENCE)

    ids = [m.movement_id for m in found.movements]
    assert len(set(ids)) == len(ids) == 4
    rest = found.movements[-1]
    assert (rest.kind, rest.amount, rest.provider_type, rest.movement_id) == (
        MovementKind.ADJUSTMENT, 200, "UNITEMISED", f"{REFERENCE}:unitemised")
    assert net_of(found.movements) == 9000


def test_an_empty_payout_page_ends_the_paging_even_without_a_total(api, klarna):
    api.get(f"{PAYOUTS}/{REFERENCE}", json=payout(net=10000))
    api.get(TRANSACTIONS, json={"transactions": [SALE], "pagination": {"count": 1}})

    assert [m.amount for m in klarna.settlement(REFERENCE).movements] == [10000]
    assert len(api.calls) == 2  # a page shorter than `size`: the last


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_klarnas_retryable_unavailable(api, klarna, status):
    api.get(PAYOUTS, status=status, json={"error_code": "INTERNAL_SERVER_ERROR", "error_messages": ["oops"],
                                          "correlation_id": "2fe0311b-adc5-45e5-ac2b-963dac83c88b"})  # fmt: skip

    with pytest.raises(ProviderUnavailable) as raised:
        klarna.settlements(JAN, FEB)

    assert raised.value.request_id == "2fe0311b-adc5-45e5-ac2b-963dac83c88b"


def test_an_unknown_payout_is_refused(api, klarna):
    api.get(f"{PAYOUTS}/NOPE", status=404, json={"error_code": "NOT_FOUND", "error_messages": ["Payout not found"],
                                                 "correlation_id": "c"})  # fmt: skip

    with pytest.raises(ProviderRejected):
        klarna.settlement("NOPE")


@pytest.mark.parametrize("payout_body, rows", [
    ("not json", {"transactions": [], "pagination": {"count": 0}}),
    ({**payout(), "totals": {}}, {"transactions": [], "pagination": {"count": 0}}),
    (payout(), {"transactions": "none", "pagination": {"count": 0}}),
    (payout(), {"transactions": [{**SALE, "amount": "100.00"}], "pagination": {"count": 1, "total": 1}}),
    (payout(), {"transactions": [{**SALE, "type": None}], "pagination": {"count": 1, "total": 1}}),
    ({**payout(), "payout_date": "yesterday"}, {"transactions": [], "pagination": {"count": 0}}),
])  # fmt: skip
def test_an_answer_not_in_the_documented_shape_is_malformed(api, klarna, payout_body, rows):
    if isinstance(payout_body, str):
        api.get(f"{PAYOUTS}/{REFERENCE}", body=payout_body)
    else:
        api.get(f"{PAYOUTS}/{REFERENCE}", json=payout_body)
    api.get(TRANSACTIONS, json=rows)

    with pytest.raises(ProviderMalformed):
        klarna.settlement(REFERENCE)


def test_a_payout_list_without_its_collection_is_malformed(api, klarna):
    api.get(PAYOUTS, json={"pagination": {"count": 0}})

    with pytest.raises(ProviderMalformed):
        klarna.settlements(JAN, FEB)
