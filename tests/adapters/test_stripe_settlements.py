"""Stripe payouts as settlements, against `responses` and Stripe's vendored OpenAPI spec (2023-08-16).

Every body served here is checked against the spec's own schema (payout, balance_transaction, refund, charge,
dispute), so the adapter is tested on the shape Stripe documents, not on our memory of it.
"""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from jsonschema import Draft202012Validator

from adapters.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.payments import PaymentRef, RefundRequest
from adapters.payments.stripe import StripeProvider
from adapters.payments.stripe_payouts import KINDS
from integration.money import Money
from integration.records import MovementKind, Settlement, SettlementMovement

API = "https://stripe.test"
PAYOUTS = f"{API}/v1/payouts"
TRANSACTIONS = f"{API}/v1/balance_transactions"
SECRET = "sk_test_51PalautusSecretKeyThatMustNeverLeak"
KEY = "refund-42-attempt"
SPEC = Path(__file__).parent.parent / "contracts" / "stripe-openapi-spec3-2023-08-16.json.gz"
T = 1767225600  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def spec():
    with gzip.open(SPEC, "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def schemas(spec):
    """A JSON Schema validator per component of the spec (OpenAPI 3.0's `nullable` made a JSON Schema null)."""

    def convert(node):
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: convert(value) for key, value in node.items() if not key.startswith("x-")}
        return {"anyOf": [out, {"type": "null"}]} if out.pop("nullable", False) else out

    root = convert({"components": spec["components"]})
    return lambda name: Draft202012Validator({**root, "$ref": f"#/components/schemas/{name}"})


@pytest.fixture
def api(schemas):
    """`responses`, and every object a test serves is first checked against the spec."""
    with responses.RequestsMock() as mock:
        def serve(url, body, **kwargs):
            for name, item in _documented(body):
                errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in schemas(name).iter_errors(item)]
                assert errors == [], (name, errors)
            mock.get(url, json=body, **kwargs)

        mock.serve = serve
        yield mock


def _documented(body):
    if body.get("object") == "list":
        for item in body["data"]:
            yield from _documented(item)
    elif body.get("object") in ("payout", "balance_transaction", "refund", "charge", "dispute"):
        yield body["object"], body
        if isinstance(body.get("source"), dict):
            yield from _documented(body["source"])


@pytest.fixture
def stripe():
    return StripeProvider(secret_key=SECRET, api_base=API, timeout=5.0)


def payout(payout_id="po_1", amount=6680, **overrides) -> dict:
    return {
        "id": payout_id, "object": "payout", "amount": amount, "arrival_date": T + 86400, "automatic": True,
        "balance_transaction": "txn_po", "created": T, "currency": "eur", "description": "STRIPE PAYOUT",
        "destination": "ba_1", "failure_balance_transaction": None, "failure_code": None, "failure_message": None,
        "livemode": False, "metadata": {}, "method": "standard", "original_payout": None,
        "reconciliation_status": "completed", "reversed_by": None, "source_type": "card",
        "statement_descriptor": "PALAUTUS SHOP", "status": "paid", "type": "bank_account", **overrides,
    }  # fmt: skip


def bt(txn_id, type_, amount, fee=0, source=None, currency="eur", category=None, **overrides) -> dict:
    fees = [{"amount": fee, "application": None, "currency": currency, "description": "Stripe processing fees",
             "type": "stripe_fee"}] if fee else []  # fmt: skip
    return {
        "id": txn_id, "object": "balance_transaction", "amount": amount, "available_on": T, "created": T,
        "currency": currency, "description": None, "exchange_rate": None, "fee": fee, "fee_details": fees,
        "net": amount - fee, "reporting_category": category or type_, "source": source, "status": "available",
        "type": type_, **overrides,
    }  # fmt: skip


def charge(charge_id="ch_1", intent="pi_1", amount=10000, currency="eur") -> dict:
    return {
        "id": charge_id, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": 0,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None}, "captured": True,
        "created": T, "currency": currency, "disputed": False, "livemode": False, "metadata": {}, "paid": True,
        "payment_intent": intent, "refunded": False, "status": "succeeded",
    }  # fmt: skip


def refund(refund_id="re_1", amount=2500, currency="eur", key=KEY, intent="pi_1", charge_id="ch_1") -> dict:
    return {
        "id": refund_id, "object": "refund", "amount": amount, "charge": charge_id, "created": T, "currency": currency,
        "metadata": {"palautus_idempotency_key": key} if key else {}, "payment_intent": intent, "status": "succeeded",
    }  # fmt: skip


def dispute(dispute_id="dp_1") -> dict:
    return {
        "id": dispute_id, "object": "dispute", "amount": 10000, "balance_transactions": [], "charge": "ch_1",
        "created": T, "currency": "eur", "evidence": {},
        "evidence_details": {"has_evidence": False, "past_due": False, "submission_count": 0},
        "is_charge_refundable": False, "livemode": False, "metadata": {}, "payment_intent": "pi_1",
        "reason": "fraudulent", "status": "lost",
    }  # fmt: skip


def page(items, has_more=False, url="/v1/balance_transactions") -> dict:
    return {"object": "list", "data": items, "has_more": has_more, "url": url}


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def serve_payout(api, transactions, **overrides):
    api.serve(f"{PAYOUTS}/po_1", payout(**overrides))
    api.serve(TRANSACTIONS, page(transactions))


# --- which payouts a period holds ---------------------------------------------------------------------------


def test_the_period_s_automatic_payouts_are_listed_over_every_page_oldest_first(api, stripe):
    api.serve(PAYOUTS, page([payout("po_3", arrival_date=T + 3 * 86400), payout("po_2", arrival_date=T + 2 * 86400)],
                            has_more=True, url="/v1/payouts"))  # fmt: skip
    api.serve(PAYOUTS, page([payout("po_m", automatic=False, reconciliation_status="not_applicable"),
                             payout("po_1", arrival_date=T + 86400)], url="/v1/payouts"))  # fmt: skip

    ids = stripe.settlements(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc))

    assert ids == ["po_1", "po_2", "po_3"]  # the manual payout cannot be itemised: not a settlement
    first, second = query(api.calls[0]), query(api.calls[1])
    assert first == {"arrival_date[gte]": [str(T)], "arrival_date[lt]": [str(T + 31 * 86400)], "limit": ["100"]}
    assert second["starting_after"] == ["po_2"]


def test_the_period_is_half_open_to_the_second_and_a_naive_time_is_utc(api, stripe):
    api.serve(PAYOUTS, page([], url="/v1/payouts"))
    stripe.settlements(datetime(2026, 1, 1, 0, 0, 0, 500), datetime(2026, 1, 2))
    sent = query(api.calls[0])
    assert (sent["arrival_date[gte]"], sent["arrival_date[lt]"]) == ([str(T + 1)], [str(T + 86400)])


def test_the_listing_sends_only_documented_parameters(api, stripe, spec):
    api.serve(PAYOUTS, page([payout("po_2")], has_more=True, url="/v1/payouts"))
    api.serve(PAYOUTS, page([], url="/v1/payouts"))
    stripe.settlements(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc))
    documented = {p["name"] for p in spec["paths"]["/v1/payouts"]["get"]["parameters"] if p["in"] == "query"}
    assert {name.split("[")[0] for name in query(api.calls[1])} <= documented


# --- one payout, movement by movement -----------------------------------------------------------------------


def test_a_payout_is_read_with_all_its_balance_transactions_over_every_page(api, stripe, spec):
    api.serve(f"{PAYOUTS}/po_1", payout())
    # Stripe lists newest first; three pages of it.
    api.serve(TRANSACTIONS, page([bt("txn_po", "payout", -6680, source="po_1"), bt("txn_fee", "stripe_fee", -500)], has_more=True))
    api.serve(TRANSACTIONS, page([bt("txn_re", "refund", -2500, source=refund())], has_more=True))
    api.serve(TRANSACTIONS, page([bt("txn_ch", "charge", 10000, fee=320, source=charge())]))

    result = stripe.settlement("po_1")

    assert [c.request.url.split("?")[0] for c in api.calls] == [f"{PAYOUTS}/po_1"] + [TRANSACTIONS] * 3
    first = query(api.calls[1])
    assert first == {"payout": ["po_1"], "limit": ["100"], "expand[]": ["data.source"]}
    assert (query(api.calls[2])["starting_after"], query(api.calls[3])["starting_after"]) == (["txn_fee"], ["txn_re"])
    documented = {p["name"] for p in spec["paths"]["/v1/balance_transactions"]["get"]["parameters"] if p["in"] == "query"}
    assert {name.split("[")[0] for call in api.calls[1:] for name in query(call)} <= documented
    assert (result.provider, result.settlement_id, result.currency, result.net, result.status) == (
        "stripe", "po_1", "EUR", 6680, "paid")
    assert result.paid_out_at == datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert result.reference == "PALAUTUS SHOP"
    assert [m.movement_id for m in result.movements] == ["txn_ch", "txn_re", "txn_fee", "txn_po"]  # oldest first


def test_the_movements_other_than_the_payout_add_up_to_what_was_paid_out(api, stripe):
    serve_payout(api, [bt("txn_po", "payout", -6680, source="po_1"), bt("txn_fee", "stripe_fee", -500),
                       bt("txn_re", "refund", -2500, source=refund()),
                       bt("txn_ch", "charge", 10000, fee=320, source=charge())])  # fmt: skip
    result = stripe.settlement("po_1")
    moved = [m for m in result.movements if m.kind != MovementKind.PAYOUT]
    assert sum(m.amount - m.fee for m in moved) == result.net
    assert [m.amount for m in result.movements if m.kind == MovementKind.PAYOUT] == [-result.net]


def test_a_charge_keeps_its_gross_amount_and_its_fee_apart(api, stripe):
    serve_payout(api, [bt("txn_ch", "charge", 10000, fee=320, source=charge())])
    (movement,) = stripe.settlement("po_1").movements
    assert movement == SettlementMovement(
        movement_id="txn_ch", kind=MovementKind.CHARGE, amount=10000, fee=320, currency="EUR",
        occurred_at=datetime(2026, 1, 1, tzinfo=timezone.utc), payment_id="pi_1", provider_type="charge",
    )  # fmt: skip


def test_our_refund_is_matched_back_by_the_id_refund_returned_and_by_our_key(api, stripe):
    ours = refund("re_3OurRefund", key=KEY)
    api.add(responses.POST, f"{API}/v1/refunds", json=ours)
    made = stripe.refund(RefundRequest(PaymentRef("stripe", "pi_1", "1001", "#1001", "stripe"), Money(2500, "EUR"), KEY))
    serve_payout(api, [bt("txn_re", "refund", -2500, fee=0, source=ours)])

    (movement,) = stripe.settlement("po_1").movements

    assert (movement.kind, movement.amount, movement.fee) == (MovementKind.REFUND, -2500, 0)
    assert movement.provider_refund_id == made.provider_refund_id == "re_3OurRefund"
    assert (movement.reference, movement.payment_id) == (KEY, "pi_1")


def test_a_refund_that_came_back_is_a_refund_failure_of_the_same_refund(api, stripe):
    serve_payout(api, [bt("txn_rf", "refund_failure", 2500, source=refund("re_9", key=KEY))])
    (movement,) = stripe.settlement("po_1").movements
    assert (movement.kind, movement.amount, movement.provider_refund_id, movement.reference) == (
        MovementKind.REFUND_FAILURE, 2500, "re_9", KEY)


def test_a_refund_whose_source_was_not_expanded_still_gives_its_id(api, stripe):
    serve_payout(api, [bt("txn_re", "refund", -2500, source="re_5")])
    (movement,) = stripe.settlement("po_1").movements
    assert (movement.provider_refund_id, movement.reference, movement.payment_id) == ("re_5", None, None)


def test_a_refund_made_elsewhere_carries_no_key_and_a_charge_without_intent_gives_the_charge(api, stripe):
    serve_payout(api, [bt("txn_re", "refund", -900, source=refund("re_7", key=None, intent=None, charge_id="ch_old"))])
    (movement,) = stripe.settlement("po_1").movements
    assert (movement.provider_refund_id, movement.reference, movement.payment_id) == ("re_7", None, "ch_old")


@pytest.mark.parametrize("type_, amount, source, category, kind", [
    ("charge", 10000, charge(), None, MovementKind.CHARGE),
    ("payment", 10000, charge("py_1", intent="pi_2"), None, MovementKind.CHARGE),
    ("refund", -2500, refund(), None, MovementKind.REFUND),
    ("payment_refund", -2500, refund("pyr_1"), None, MovementKind.REFUND),
    ("refund_failure", 2500, refund(), None, MovementKind.REFUND_FAILURE),
    ("stripe_fee", -500, None, "fee", MovementKind.FEE),
    ("stripe_fx_fee", -12, None, "fee", MovementKind.FEE),
    ("tax_fee", -95, None, "tax", MovementKind.FEE),
    ("payout", -6680, "po_1", None, MovementKind.PAYOUT),
    ("adjustment", -10000, dispute(), "dispute", MovementKind.DISPUTE),
    ("adjustment", 10000, dispute(), "dispute_reversal", MovementKind.DISPUTE),
    ("adjustment", -150, None, "other_adjustment", MovementKind.ADJUSTMENT),
    ("payment_failure_refund", -10000, refund("pyr_2", key=None), "payment_failure_refund", MovementKind.ADJUSTMENT),
    ("payout_failure", 6680, "po_0", "payout_reversal", MovementKind.ADJUSTMENT),
    ("transfer", -300, None, "transfer", MovementKind.ADJUSTMENT),
    ("reserve_transaction", -50, None, "risk_reserved_funds", MovementKind.ADJUSTMENT),
])  # fmt: skip
def test_every_balance_transaction_type_maps_to_a_movement_kind_and_keeps_stripe_s_word(
    api, stripe, type_, amount, source, category, kind
):
    serve_payout(api, [bt("txn_1", type_, amount, source=source, category=category)])
    (movement,) = stripe.settlement("po_1").movements
    assert (movement.kind, movement.provider_type, movement.amount) == (kind, type_, amount)
    # Only a refund's own rows name a refund: a failed delayed payment is no refund anyone made.
    assert (movement.provider_refund_id is not None) == (kind in (MovementKind.REFUND, MovementKind.REFUND_FAILURE))


def test_a_dispute_and_a_payment_carry_the_payment_they_belong_to(api, stripe):
    serve_payout(api, [bt("txn_dp", "adjustment", -10000, source=dispute(), category="dispute"),
                       bt("txn_py", "payment", 5000, source=charge("py_1", intent=None))])  # fmt: skip
    movements = stripe.settlement("po_1").movements
    assert [(m.movement_id, m.payment_id) for m in movements] == [("txn_py", "py_1"), ("txn_dp", "pi_1")]


def test_our_kind_table_names_only_types_the_spec_documents(spec):
    documented = spec["components"]["schemas"]["balance_transaction"]["properties"]["type"]["enum"]
    assert set(KINDS) <= set(documented)


def test_a_converted_refund_stays_in_the_balance_s_currency_and_says_what_it_was(api, stripe):
    api.serve(f"{PAYOUTS}/po_1", payout(currency="usd", amount=1000))
    api.serve(TRANSACTIONS, page([bt("txn_re", "refund", -1234, currency="usd", source=refund(amount=1000, currency="eur"),
                                     exchange_rate=1.234, description="REFUND FOR CHARGE (#1001)")]))  # fmt: skip
    result = stripe.settlement("po_1")
    (movement,) = result.movements
    assert (result.currency, movement.currency, movement.amount) == ("USD", "USD", -1234)
    assert movement.description == "REFUND FOR CHARGE (#1001); 10.00 EUR converted to USD at 1.234"
    assert movement.provider_refund_id == "re_1"


@pytest.mark.parametrize("currency, stripe_amount, ours", [("jpy", -500, -500), ("isk", -500, -5), ("kwd", -5120, -5120)])
def test_amounts_come_back_in_our_minor_units(api, stripe, currency, stripe_amount, ours):
    api.serve(f"{PAYOUTS}/po_1", payout(currency=currency, amount=-stripe_amount))
    api.serve(TRANSACTIONS, page([bt("txn_re", "refund", stripe_amount, currency=currency, source=refund(
        amount=-stripe_amount, currency=currency))]))  # fmt: skip
    result = stripe.settlement("po_1")
    assert (result.net, result.movements[0].amount) == (-ours, ours)


# --- payouts Stripe cannot itemise, and answers we cannot read ----------------------------------------------


def test_a_manual_payout_cannot_be_itemised_and_nothing_more_is_asked(api, stripe):
    api.serve(f"{PAYOUTS}/po_1", payout(automatic=False, reconciliation_status="not_applicable"))
    with pytest.raises(ProviderRejected) as raised:
        stripe.settlement("po_1")
    assert raised.value.code == "payout_not_itemised"
    assert len(api.calls) == 1


def test_a_payout_still_being_reconciled_is_asked_again_later(api, stripe):
    api.serve(f"{PAYOUTS}/po_1", payout(reconciliation_status="in_progress", status="pending"))
    with pytest.raises(ProviderUnavailable) as raised:
        stripe.settlement("po_1")
    assert (raised.value.code, raised.value.should_retry, len(api.calls)) == ("reconciliation_in_progress", True, 1)


@pytest.mark.parametrize("url", [f"{PAYOUTS}/po_1", TRANSACTIONS])
def test_a_server_error_on_either_read_is_retryable(api, stripe, url):
    if url == TRANSACTIONS:
        api.serve(f"{PAYOUTS}/po_1", payout())
    api.add(responses.GET, url, status=503, json={"error": {"type": "api_error", "message": "Try later."}},
            headers={"Request-Id": "req_503"})  # fmt: skip
    with pytest.raises(ProviderUnavailable) as raised:
        stripe.settlement("po_1")
    assert (raised.value.status, raised.value.request_id) == (503, "req_503")
    assert not isinstance(raised.value, ProviderMalformed)


def test_a_listing_error_is_ours_and_never_requests_own(api, stripe):
    api.add(responses.GET, PAYOUTS, status=401, json={"error": {"type": "invalid_request_error", "message": "No key."}})
    with pytest.raises(ProviderRejected) as raised:
        stripe.settlements(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc))
    assert (raised.value.status, raised.value.message) == (401, "No key.")


def test_an_answer_that_is_not_json_is_malformed(api, stripe):
    api.add(responses.GET, f"{PAYOUTS}/po_1", body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(ProviderMalformed, match="not a JSON object"):
        stripe.settlement("po_1")


@pytest.mark.parametrize("broken, message", [
    (lambda t: t.pop("net"), "not an integer"),
    (lambda t: t.update(net=t["amount"]), "net is not its amount less its fee"),
    (lambda t: t.update(amount="100.00"), "not an integer"),
    (lambda t: t.pop("type"), "without its id or type"),
    (lambda t: t.update(currency=None), "without its currency"),
])  # fmt: skip
def test_a_balance_transaction_not_in_the_documented_shape_is_malformed(api, stripe, broken, message):
    api.serve(f"{PAYOUTS}/po_1", payout())
    row = bt("txn_ch", "charge", 10000, fee=320, source="ch_1")
    broken(row)
    api.add(responses.GET, TRANSACTIONS, json=page([row]))
    with pytest.raises(ProviderMalformed, match=message):
        stripe.settlement("po_1")


@pytest.mark.parametrize("body", [page("nope"), {"object": "list", "data": [{"no": "id"}], "has_more": True}])
def test_a_list_in_another_shape_is_malformed(api, stripe, body):
    api.serve(f"{PAYOUTS}/po_1", payout())
    api.add(responses.GET, TRANSACTIONS, json=body)
    with pytest.raises(ProviderMalformed):
        stripe.settlement("po_1")


def test_a_payout_without_its_amount_is_malformed(api, stripe):
    body = payout()
    del body["amount"]
    api.add(responses.GET, f"{PAYOUTS}/po_1", json=body)
    with pytest.raises(ProviderMalformed, match="amount or dates"):
        stripe.settlement("po_1")


def test_the_settlement_is_the_port_s_record(api, stripe):
    serve_payout(api, [])
    assert isinstance(stripe.settlement("po_1"), Settlement)
