"""The sandbox Stripe's payouts, read by Palautus's own Stripe adapter (adapters/payments/stripe.py) through FakeStripe.

Every body the sandbox answers is checked against the schemas of Stripe's vendored OpenAPI spec (2023-08-16), as
tests/adapters/test_stripe_settlements.py checks what it serves: the sandbox gives the shape Stripe documents.
"""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from itertools import count
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.payments import PaymentRef, RefundRequest
from adapters.payments.stripe import StripeProvider
from integration.money import Money
from integration.records import MovementKind as K
from sandbox.http import Reply
from sandbox.stripe_balance import PAYOUT_PARAMS, TRANSACTION_PARAMS, fee_of
from tests.fakes import STRIPE, FakeStripe

SPEC = Path(__file__).parent.parent / "contracts" / "stripe-openapi-spec3-2023-08-16.json.gz"
KEY = "palautus-refund-42"
T = 1767225600  # 2026-01-01T00:00:00Z
JANUARY = (datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc))
DOCUMENTED = ("payout", "balance_transaction", "refund", "charge")


@pytest.fixture(scope="module")
def spec():
    with gzip.open(SPEC, "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def schemas(spec):
    """A validator per component of the spec (OpenAPI 3.0's `nullable` made a JSON Schema null)."""

    def convert(node):
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: convert(value) for key, value in node.items() if not key.startswith("x-")}
        return {"anyOf": [out, {"type": "null"}]} if out.pop("nullable", False) else out

    root = convert({"components": spec["components"]})
    return lambda name: Draft202012Validator({**root, "$ref": f"#/components/schemas/{name}"})


def _documented(body):
    """(schema name, object) for every documented object in an answer, expanded sources included."""
    if not isinstance(body, dict):
        return
    if "error" in body:
        yield "error", body
    elif body.get("object") == "list":
        for item in body["data"]:
            yield from _documented(item)
    elif body.get("object") in DOCUMENTED:
        yield body["object"], body
        yield from _documented(body.get("source"))


@pytest.fixture
def checked(schemas):
    """`checked(sandbox)`: every answer the sandbox gives from then on is checked against the spec when the test
    ends (an object in Stripe's documented shape, or Stripe's error object)."""
    served = []

    def wrap(sandbox: FakeStripe) -> FakeStripe:
        handle = sandbox.handle

        def recorded(request):
            reply = handle(request)
            if isinstance(reply, Reply):
                served.append(reply.body)
            return reply

        sandbox.handle = recorded
        return sandbox

    yield wrap
    assert served, "the test read nothing from the sandbox"
    for body in served:
        for name, item in _documented(body):
            errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in schemas(name).iter_errors(item)]
            assert errors == [], (name, errors)


@pytest.fixture
def stripe(http, checked):
    """FakeStripe with two accounts (`ours`, `theirs`: secret keys) and a clock a minute on at every look."""
    sandbox = checked(FakeStripe(http))
    ticks = count(T, 60)
    sandbox.balance.clock = lambda: next(ticks)
    sandbox.ours, sandbox.theirs = sandbox.open_account(), sandbox.open_account()
    return sandbox


def provider(key: str) -> StripeProvider:
    return StripeProvider(secret_key=key, api_base=STRIPE, timeout=5.0)


def refund(route: StripeProvider, payment_id: str, cents: int, key: str = KEY):
    payment = PaymentRef("stripe", payment_id, "1", "#1001", "stripe")
    return route.refund(RefundRequest(payment, Money(cents, "EUR"), key))


def get(stripe, path: str, key: str | None = None, **params) -> requests.Response:
    return requests.get(f"{STRIPE}{path}", params=params, headers={"Authorization": f"Bearer {key or stripe.ours}"}, timeout=5)


def test_a_charge_and_our_refund_are_paid_out_and_read_back_movement_by_movement(stripe):
    ours = provider(stripe.ours)
    payment = stripe.charge(11570, "eur", account_key=stripe.ours)
    made = refund(ours, payment["id"], 8990)
    payout_id = stripe.pay_out(stripe.ours, arrival=T + 86400)

    assert ours.settlements(*JANUARY) == [payout_id]
    settlement = ours.settlement(payout_id)

    fee = fee_of(11570, "eur")
    assert fee == 199  # 1.5 % of 115.70 (173.55, rounded half up) and 25 cents
    assert (settlement.settlement_id, settlement.currency, settlement.net, settlement.status) == (
        payout_id, "EUR", 11570 - fee - 8990, "paid")
    assert settlement.paid_out_at == datetime(2026, 1, 2, tzinfo=timezone.utc)
    charge, back, paid = settlement.movements  # oldest first
    assert (charge.kind, charge.amount, charge.fee, charge.payment_id) == (K.CHARGE, 11570, fee, payment["id"])
    assert (back.kind, back.amount, back.fee) == (K.REFUND, -8990, 0)
    assert (back.provider_refund_id, back.reference, back.payment_id) == (made.provider_refund_id, KEY, payment["id"])
    assert (paid.kind, paid.amount) == (K.PAYOUT, -settlement.net)
    assert sum(m.amount - m.fee for m in (charge, back)) == settlement.net


def test_a_second_payout_holds_only_what_came_after_the_first(stripe):
    ours = provider(stripe.ours)
    first_payment = stripe.charge(11570, "eur", account_key=stripe.ours)
    refund(ours, first_payment["id"], 8990)
    first = stripe.pay_out(stripe.ours, arrival=T + 86400)
    assert stripe.pay_out(stripe.ours) is None  # nothing unpaid: no payout
    second_payment = stripe.charge(5000, "eur", account_key=stripe.ours)
    later = refund(ours, first_payment["id"], 2580, key="palautus-refund-43")
    second = stripe.pay_out(stripe.ours, arrival=T + 2 * 86400)

    assert ours.settlements(*JANUARY) == [first, second]  # oldest arrival first
    movements = ours.settlement(second).movements
    assert [(m.kind, m.amount) for m in movements] == [(K.CHARGE, 5000), (K.REFUND, -2580), (K.PAYOUT, -(5000 - fee_of(5000, "eur") - 2580))]
    assert (movements[0].payment_id, movements[1].provider_refund_id) == (second_payment["id"], later.provider_refund_id)
    assert len(ours.settlement(first).movements) == 3  # the first payout is as it was


def test_another_account_sees_neither_the_payouts_nor_their_transactions(stripe):
    ours, theirs = provider(stripe.ours), provider(stripe.theirs)
    payment = stripe.charge(11570, "eur", account_key=stripe.ours)
    refund(ours, payment["id"], 8990)
    payout_id = stripe.pay_out(stripe.ours, arrival=T + 86400)
    assert stripe.pay_out(stripe.theirs) is None

    assert theirs.settlements(*JANUARY) == []
    with pytest.raises(ProviderRejected) as refused:
        theirs.settlement(payout_id)
    assert (refused.value.status, refused.value.code) == (404, "resource_missing")
    assert get(stripe, "/v1/balance_transactions", stripe.theirs).json()["data"] == []
    answer = get(stripe, "/v1/balance_transactions", stripe.theirs, payout=payout_id)
    assert answer.status_code == 404 and answer.json()["error"]["message"] == f"No such payout: '{payout_id}'"


def test_a_refund_that_failed_after_succeeding_gives_its_money_back_in_the_payout(stripe):
    ours = provider(stripe.ours)
    payment = stripe.charge(11570, "eur", account_key=stripe.ours)
    made = refund(ours, payment["id"], 8990)
    stripe.fail_later(made.provider_refund_id)
    stripe.status = "pending"
    pending = refund(ours, payment["id"], 1000, key="palautus-refund-44")  # not out of the balance until it settles

    movements = ours.settlement(stripe.pay_out(stripe.ours, arrival=T + 86400)).movements
    assert [(m.kind, m.amount, m.provider_refund_id, m.reference) for m in movements[1:3]] == [
        (K.REFUND, -8990, made.provider_refund_id, KEY), (K.REFUND_FAILURE, 8990, made.provider_refund_id, KEY)]
    assert len(movements) == 4
    stripe.settle()
    later = ours.settlement(stripe.pay_out(stripe.ours, arrival=T + 86400)).movements
    assert [(m.kind, m.amount, m.provider_refund_id) for m in later] == [
        (K.REFUND, -1000, pending.provider_refund_id), (K.PAYOUT, 1000, None)]


def test_a_manual_payout_cannot_be_itemised_and_one_still_being_itemised_is_asked_again_later(stripe):
    ours = provider(stripe.ours)
    stripe.charge(5000, "eur", account_key=stripe.ours)
    manual = stripe.pay_out(stripe.ours, arrival=T + 86400, automatic=False)
    stripe.charge(6000, "eur", account_key=stripe.ours)
    in_progress = stripe.pay_out(stripe.ours, arrival=T + 2 * 86400, reconciled=False)

    assert ours.settlements(*JANUARY) == [in_progress]  # Stripe itemises no manual payout
    with pytest.raises(ProviderRejected) as refused:
        ours.settlement(manual)
    assert refused.value.code == "payout_not_itemised"
    answer = get(stripe, "/v1/balance_transactions", payout=manual)
    assert (answer.status_code, answer.json()["error"]["message"]) == (
        400, "Balance transaction history can only be filtered on automatic transfers, not manual.")
    with pytest.raises(ProviderUnavailable) as later:
        ours.settlement(in_progress)
    assert (later.value.code, later.value.should_retry) == ("reconciliation_in_progress", True)


def test_a_refund_of_a_payment_the_sandbox_never_took_is_still_paid_out(http, checked):
    stripe = checked(FakeStripe(http))  # open book, no accounts: the test suite's FakeStripe as the job tests use it
    route = provider("sk_test_51PalautusAnyKey")
    made = refund(route, "pi_3NeverTakenHere", 2500)
    settlement = route.settlement(stripe.pay_out())
    assert settlement.net == -2500
    assert [(m.kind, m.provider_refund_id, m.reference) for m in settlement.movements] == [
        (K.REFUND, made.provider_refund_id, KEY), (K.PAYOUT, None, None)]


def test_the_lists_page_check_their_limit_and_take_only_documented_parameters(stripe, spec):
    for amount in (1000, 2000, 3000):
        stripe.charge(amount, "eur", account_key=stripe.ours)
        stripe.pay_out(stripe.ours, arrival=T + amount)
    first = get(stripe, "/v1/payouts", limit=2).json()
    assert (len(first["data"]), first["has_more"], first["url"]) == (2, True, "/v1/payouts")
    rest = get(stripe, "/v1/payouts", limit=2, starting_after=first["data"][-1]["id"]).json()
    assert [p["amount"] for p in first["data"] + rest["data"]] == [3000 - 70, 2000 - 55, 1000 - 40]  # newest first
    assert rest["has_more"] is False
    window = get(stripe, "/v1/payouts", **{"arrival_date[gte]": T + 2000, "arrival_date[lt]": T + 3000}).json()["data"]
    assert [p["arrival_date"] for p in window] == [T + 2000]
    for limit, message in ((0, "greater than or equal to 1"), (101, "less than or equal to 100")):
        answer = get(stripe, "/v1/balance_transactions", limit=limit)
        assert answer.status_code == 400 and message in answer.json()["error"]["message"]
    unknown = get(stripe, "/v1/payouts", arrival="tomorrow")
    assert (unknown.status_code, unknown.json()["error"]["message"]) == (400, "Received unknown parameter: arrival")
    plain = get(stripe, "/v1/balance_transactions", type="charge").json()["data"]
    assert [t["source"] for t in plain] == [p["charge"] for p in reversed(list(stripe.payments.values()))]  # ids, not expanded
    missing = get(stripe, "/v1/payouts/po_nope")
    assert missing.status_code == 404 and missing.json() == {"error": {
        "type": "invalid_request_error", "code": "resource_missing", "message": "No such payout: 'po_nope'"}}
    for path, names in (("/v1/payouts", PAYOUT_PARAMS), ("/v1/balance_transactions", TRANSACTION_PARAMS)):
        assert names <= {p["name"] for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"}


def test_the_sandbox_server_pays_out_on_its_control_api_and_serves_the_payout(world):
    payment = world.sandbox.stripe.charge(11570, "EUR", account_key=world.stripe_key)
    made = refund(world.route, payment["id"], 8990)
    control = f"{world.url}/sandbox/stripe/payouts"
    paid = requests.post(control, json={"secret_key": world.stripe_key}, timeout=5)
    assert paid.status_code == 201
    movements = world.route.settlement(paid.json()["id"]).movements
    assert [(m.kind, m.provider_refund_id) for m in movements] == [(K.CHARGE, None), (K.REFUND, made.provider_refund_id), (K.PAYOUT, None)]
    assert requests.post(control, json={"secret_key": world.stripe_key}, timeout=5).status_code == 409  # nothing unpaid
    assert requests.post(control, json={"secret_key": "sk_test_unknown"}, timeout=5).status_code == 400
