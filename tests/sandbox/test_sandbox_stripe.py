"""The sandbox Stripe behaves as Stripe does for Palautus's calls: Palautus's own Stripe adapter is the client."""
from __future__ import annotations

import pytest
import requests

from adapters.errors import ProviderRejected
from adapters.payments import ROUTES, PaymentRef, RefundRequest
from integration.money import Money
from integration.refunds import RefundStatus


def request(payment_id: str, cents: int, key: str = "key-1") -> RefundRequest:
    payment = PaymentRef(provider="stripe", payment_id=payment_id, platform_transaction_id="1", order_reference="#1001",
                         gateway="stripe")  # fmt: skip
    return RefundRequest(payment=payment, amount=Money(cents, "EUR"), idempotency_key=key)


def test_a_refund_takes_money_off_its_charge_and_reads_back(world):
    payment = world.sandbox.stripe.charge(11570, "EUR", account_key=world.stripe_key)
    made = world.route.refund(request(payment["id"], 8990))
    assert (made.status, made.amount) == (RefundStatus.SUCCEEDED, Money(8990, "EUR"))
    assert world.route.get_refund(made.provider_refund_id) == made
    assert world.route.find_refund(request(payment["id"], 8990)) == made
    charge = requests.get(f"{world.url}/stripe/v1/charges/{payment['latest_charge']}",
                          headers={"Authorization": f"Bearer {world.stripe_key}"}).json()  # fmt: skip
    assert (charge["amount_refunded"], charge["refunded"]) == (8990, False)


def test_the_same_key_replays_the_first_refund_and_moves_no_more_money(world):
    payment = world.sandbox.stripe.charge(11570, "EUR", account_key=world.stripe_key)
    first = world.route.refund(request(payment["id"], 8990))
    again = world.route.refund(request(payment["id"], 8990))
    assert again.provider_refund_id == first.provider_refund_id
    assert world.sandbox.stripe.money_moved == 8990


def test_more_than_is_left_is_refused_as_stripe_words_it(world):
    payment = world.sandbox.stripe.charge(11570, "EUR", account_key=world.stripe_key)
    world.route.refund(request(payment["id"], 8990, key="first"))
    with pytest.raises(ProviderRejected) as refused:
        world.route.refund(request(payment["id"], 8990, key="second"))
    assert "greater than unrefunded amount on charge (€25.80)" in str(refused.value)
    world.route.refund(request(payment["id"], 2580, key="rest"))
    with pytest.raises(ProviderRejected, match="has already been refunded"):
        world.route.refund(request(payment["id"], 1, key="after"))
    assert world.sandbox.stripe.money_moved == 11570


def test_a_payment_it_never_took_cannot_be_refunded(world):
    with pytest.raises(ProviderRejected, match="No such payment_intent"):
        world.route.refund(request("pi_3NeverTaken", 100))
    assert world.sandbox.stripe.refunds == {}


def test_a_failed_refund_gives_its_money_back_to_the_charge(world):
    stripe = world.sandbox.stripe
    payment = stripe.charge(5000, "EUR", account_key=world.stripe_key)
    stripe.status = "pending"
    made = world.route.refund(request(payment["id"], 5000))
    assert made.status == RefundStatus.SUBMITTED
    stripe.settle("failed")
    assert world.route.get_refund(made.provider_refund_id).status == RefundStatus.FAILED
    stripe.status = "succeeded"
    assert world.route.refund(request(payment["id"], 5000, key="again")).status == RefundStatus.SUCCEEDED


@pytest.mark.parametrize("key", ["sk_live_51RealMoneyKey", "sk_test_notAnAccountOfThisSandbox", ""])
def test_only_its_own_test_keys_are_taken_and_none_is_echoed(world, key):
    answer = requests.post(f"{world.url}/stripe/v1/refunds", data={"payment_intent": "pi_x", "amount": "1"},
                           headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert answer.status_code == 401
    assert answer.headers["X-Palautus-Sandbox"] == "1"
    assert (key or "no key") not in answer.text
    assert world.sandbox.stripe.posts == []


def test_a_key_used_with_other_parameters_is_refused_and_nothing_moves(world):
    payment = world.sandbox.stripe.charge(11570, "EUR", account_key=world.stripe_key)
    world.route.refund(request(payment["id"], 8990))
    with pytest.raises(Exception, match="idempotent|parameters"):
        world.route.refund(request(payment["id"], 1990))
    assert world.sandbox.stripe.money_moved == 8990


def test_each_account_sees_only_its_own_payments_refunds_and_keys(world):
    other_key = world.sandbox.stripe.open_account()
    other = ROUTES["stripe"].connect({"secret_key": other_key}, world.config)
    theirs = world.sandbox.stripe.charge(5000, "EUR", account_key=other_key)
    with pytest.raises(ProviderRejected, match="No such payment_intent"):
        world.route.refund(request(theirs["id"], 100))
    made = other.refund(request(theirs["id"], 100))
    with pytest.raises(ProviderRejected):
        world.route.get_refund(made.provider_refund_id)
    mine = world.sandbox.stripe.charge(5000, "EUR", account_key=world.stripe_key)
    assert world.route.refund(request(mine["id"], 100)).provider_refund_id != made.provider_refund_id  # same key, own account


def test_listing_is_bounded_and_an_unknown_cursor_is_an_error_not_an_empty_page(world):
    headers = {"Authorization": f"Bearer {world.stripe_key}"}
    too_many = requests.get(f"{world.url}/stripe/v1/refunds", params={"limit": 101}, headers=headers)
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "limit"
    unknown = requests.get(f"{world.url}/stripe/v1/refunds", params={"starting_after": "re_nope"}, headers=headers)
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "starting_after"


def test_a_fault_it_does_not_know_is_a_mistake_in_the_test_not_a_quiet_success():
    from sandbox.stripe import SandboxStripe

    stripe = SandboxStripe(open_book=True)
    stripe.faults = ["idempotency_eror"]
    with pytest.raises(ValueError, match="unknown fault"):
        stripe._create(None, "k", {"payment_intent": "pi_1", "amount": "1"}, {})
