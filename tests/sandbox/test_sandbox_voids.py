"""Voiding an authorization at the sandbox payment providers: each holds only money it took, so each answers a void
as the real API answers it for a paid payment, and nothing changes. Palautus's own routes are the clients."""
from __future__ import annotations

import base64

import pytest
import requests

from adapters.errors import ProviderRejected
from adapters.payments import ROUTES, PaymentRef, VoidOutcome
from sandbox.knobs import RateLimits


def ref(provider: str, payment_id: str) -> PaymentRef:
    return PaymentRef(provider=provider, payment_id=payment_id, platform_transaction_id="1", order_reference="#1001",
                      gateway=provider)  # fmt: skip


def test_stripe_says_a_paid_intent_was_captured_and_refuses_to_cancel_it(world):
    stripe = world.sandbox.stripe
    payment = stripe.charge(11570, "EUR", account_key=world.stripe_key)
    assert world.route.void(ref("stripe", payment["id"])) == VoidOutcome.CAPTURED
    headers = {"Authorization": f"Bearer {world.stripe_key}"}
    cancel = requests.post(f"{world.url}/stripe/v1/payment_intents/{payment['id']}/cancel",
                           data={"cancellation_reason": "requested_by_customer"}, headers=headers)  # fmt: skip
    body = cancel.json()["error"]
    assert (cancel.status_code, body["code"], body["payment_intent"]["status"]) == (400, "payment_intent_unexpected_state", "succeeded")
    assert "because it has a status of succeeded" in body["message"]
    assert stripe.payment(payment["id"])["charge"]["amount_refunded"] == 0 and stripe.money_moved == 0
    wrong = requests.post(f"{world.url}/stripe/v1/payment_intents/{payment['id']}/cancel",
                          data={"cancellation_reason": "changed_mind"}, headers=headers)  # fmt: skip
    assert (wrong.status_code, wrong.json()["error"]["param"]) == (400, "cancellation_reason")


def test_stripe_knows_no_intent_of_another_account(world):
    other = world.sandbox.stripe.open_account()
    theirs = world.sandbox.stripe.charge(500, "EUR", account_key=other)
    cancel = requests.post(f"{world.url}/stripe/v1/payment_intents/{theirs['id']}/cancel",
                           headers={"Authorization": f"Bearer {world.stripe_key}"})  # fmt: skip
    assert (cancel.status_code, cancel.json()["error"]["code"]) == (404, "resource_missing")


def test_a_cancel_is_its_own_operation_under_the_rate_limit_knob(world):
    world.sandbox.limits = limits = RateLimits()
    payment = world.sandbox.stripe.charge(500, "EUR", account_key=world.stripe_key)
    requests.post(f"{world.url}/stripe/v1/payment_intents/{payment['id']}/cancel",
                  headers={"Authorization": f"Bearer {world.stripe_key}"})  # fmt: skip
    assert limits.summary()["stripe"]["answered"] == {"POST /v1/payment_intents/{id}/cancel": 1}


def test_klarna_says_a_captured_order_was_captured_and_refuses_to_cancel_or_release_it(world):
    klarna = world.sandbox.klarna
    username, password = klarna.open_account()
    order_id = klarna.order(11570, username=username)
    route = ROUTES["klarna"].connect({"username": username, "password": password},
                                     {**world.config, "KLARNA_API_BASE": f"{world.url}/klarna"})  # fmt: skip
    assert route.void(ref("klarna", order_id)) == VoidOutcome.CAPTURED
    auth = {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}
    base = f"{world.url}/klarna/ordermanagement/v1/orders"
    cancel = requests.post(f"{base}/{order_id}/cancel", headers=auth)
    release = requests.post(f"{base}/{order_id}/release-remaining-authorization", headers=auth)
    assert (cancel.status_code, cancel.json()["error_code"]) == (403, "CANCEL_NOT_ALLOWED")
    assert (release.status_code, release.json()["error_code"]) == (403, "NOT_ALLOWED")
    assert requests.post(f"{base}/no-such-order/cancel", headers=auth).status_code == 404
    assert klarna.orders[order_id]["status"] == "CAPTURED" and klarna.money_moved == 0


def test_paypal_has_no_authorization_to_void(world):
    paypal = world.sandbox.paypal
    client_id, secret = paypal.open_account()
    capture = paypal.capture(11570, client_id=client_id)
    route = ROUTES["paypal"].connect({"client_id": client_id, "client_secret": secret},
                                     {**world.config, "PAYPAL_API_BASE": f"{world.url}/paypal"})  # fmt: skip
    with pytest.raises(ProviderRejected) as refused:
        route.void(ref("paypal", capture))
    assert refused.value.status == 404
    token = requests.post(f"{world.url}/paypal/v1/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(client_id, secret)).json()["access_token"]  # fmt: skip
    void = requests.post(f"{world.url}/paypal/v2/payments/authorizations/{capture}/void", json={},
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert (void.status_code, void.json()["name"]) == (404, "RESOURCE_NOT_FOUND")
    assert paypal.captures[capture]["refunded"] == 0
