"""Voiding an authorization at each payment route, and cancelling an order on each platform, against `responses`
with the documented shapes (Stripe: the vendored OpenAPI spec; Shopify: the vendored Admin schema)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
from graphql import parse, validate

from adapters.errors import ProviderRejected
from adapters.payments import PaymentRef, VoidOutcome
from adapters.payments.klarna import KlarnaProvider
from adapters.payments.paypal import PayPalProvider, forget_tokens
from adapters.payments.paytrail import PaytrailProvider
from adapters.payments.stripe import StripeProvider
from adapters.platforms.shopify import graphql as documents
from adapters.platforms.shopify.admin import ShopifyAdmin
from adapters.platforms.woocommerce import orders as wc
from adapters.platforms.woocommerce.client import WooClient
from adapters.platforms.woocommerce.platform import WooCommercePlatform
from tests.adapters.test_shopify_admin import assert_answer_fits, variable_errors

SPEC = Path(__file__).parent.parent / "contracts" / "stripe-openapi-spec3-2023-08-16.json.gz"
STRIPE, KLARNA, PAYPAL = "https://api.stripe.com", "https://api.klarna.com", "https://api-m.paypal.com"
PI, KLARNA_ORDER, AUTHORIZATION = "pi_3PalautusHeld0001", "c1e3b1c2-0f4b-4d57-9cda-4d1b5f0b6a11", "0VF52814937998046"


def ref(payment_id: str, provider: str = "stripe") -> PaymentRef:
    return PaymentRef(provider, payment_id, "1000", "#1106", provider, "5196695273621", "authorization")


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


# --- Stripe: POST /v1/payment_intents/{intent}/cancel for an intent that requires_capture -------------------


def intent(status: str) -> dict:
    return {"id": PI, "object": "payment_intent", "amount": 19560, "capture_method": "manual", "created": 1764583200,
            "confirmation_method": "automatic", "currency": "eur", "livemode": False,
            "payment_method_types": ["card"], "status": status}  # fmt: skip


@pytest.fixture
def stripe():
    return StripeProvider("sk_test_withdrawals")


def test_stripe_cancels_an_intent_waiting_for_capture_with_a_form_its_spec_documents(api, stripe):
    api.get(f"{STRIPE}/v1/payment_intents/{PI}", json=intent("requires_capture"))
    api.post(f"{STRIPE}/v1/payment_intents/{PI}/cancel", json=intent("canceled"))
    assert stripe.void(ref(PI)) == VoidOutcome.VOIDED
    spec = json.load(gzip.open(SPEC, "rt"))["paths"]["/v1/payment_intents/{intent}/cancel"]["post"]
    documented = spec["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    form = parse_qs(api.calls[1].request.body)
    assert set(form) <= set(documented) and form["cancellation_reason"][0] in documented["cancellation_reason"]["enum"]
    assert api.calls[1].request.headers["Idempotency-Key"] == f"palautus-void-{PI}"


@pytest.mark.parametrize("status, outcome", [
    ("canceled", VoidOutcome.VOIDED), ("succeeded", VoidOutcome.CAPTURED), ("requires_payment_method", VoidOutcome.NOTHING),
])  # fmt: skip
def test_stripe_sends_no_cancel_for_an_intent_released_paid_or_never_authorized(api, stripe, status, outcome):
    api.get(f"{STRIPE}/v1/payment_intents/{PI}", json=intent(status))
    assert stripe.void(ref(PI)) == outcome and len(api.calls) == 1


def test_stripe_reads_the_intent_again_when_the_cancel_is_refused_because_it_was_captured_meanwhile(api, stripe):
    api.get(f"{STRIPE}/v1/payment_intents/{PI}", json=intent("requires_capture"))
    api.post(f"{STRIPE}/v1/payment_intents/{PI}/cancel", status=400,
             json={"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state", "message": "x"}})
    api.get(f"{STRIPE}/v1/payment_intents/{PI}", json=intent("succeeded"))
    assert stripe.void(ref(PI)) == VoidOutcome.CAPTURED


def test_stripe_voids_only_payment_intents(api, stripe):
    with pytest.raises(ProviderRejected, match="PaymentIntent"):
        stripe.void(ref("ch_3Palautus"))


# --- Klarna: POST .../orders/{id}/cancel, or .../release-remaining-authorization when part-captured ------------


def klarna_order(status: str, captured: int = 0) -> dict:
    return {"order_id": KLARNA_ORDER, "status": status, "purchase_currency": "EUR", "order_amount": 19560,
            "captured_amount": captured, "refunds": []}  # fmt: skip


@pytest.mark.parametrize("status, captured, action, outcome", [
    ("AUTHORIZED", 0, "cancel", VoidOutcome.VOIDED),
    ("PART_CAPTURED", 8490, "release-remaining-authorization", VoidOutcome.CAPTURED),
    ("CANCELLED", 0, None, VoidOutcome.VOIDED), ("CAPTURED", 19560, None, VoidOutcome.CAPTURED),
    ("EXPIRED", 0, None, VoidOutcome.NOTHING),
])  # fmt: skip
def test_klarna_releases_what_an_order_still_holds(api, status, captured, action, outcome):
    base = f"{KLARNA}/ordermanagement/v1/orders/{KLARNA_ORDER}"
    api.get(base, json=klarna_order(status, captured))
    if action:
        api.post(f"{base}/{action}", status=204)
    assert KlarnaProvider("K100001", "secret", api_base=KLARNA).void(ref(KLARNA_ORDER, "klarna")) == outcome
    assert [c.request.method for c in api.calls] == (["GET", "POST"] if action else ["GET"])


# --- PayPal: POST /v2/payments/authorizations/{id}/void --------------------------------------------------------


@pytest.fixture
def paypal(api):
    forget_tokens()
    api.post(f"{PAYPAL}/v1/oauth2/token", json={"access_token": "A21-token", "token_type": "Bearer", "expires_in": 32400})
    yield PayPalProvider("client", "secret", api_base=PAYPAL)
    forget_tokens()


@pytest.mark.parametrize("status, voided, outcome", [
    ("CREATED", True, VoidOutcome.VOIDED), ("PARTIALLY_CAPTURED", True, VoidOutcome.CAPTURED),
    ("VOIDED", False, VoidOutcome.VOIDED), ("CAPTURED", False, VoidOutcome.CAPTURED), ("EXPIRED", False, VoidOutcome.NOTHING),
])  # fmt: skip
def test_paypal_voids_an_authorization_that_still_holds_money(api, paypal, status, voided, outcome):
    path = f"{PAYPAL}/v2/payments/authorizations/{AUTHORIZATION}"
    api.get(path, json={"id": AUTHORIZATION, "status": status})
    if voided:
        api.post(f"{path}/void", json={"id": AUTHORIZATION, "status": "VOIDED"})
    assert paypal.void(ref(AUTHORIZATION, "paypal")) == outcome
    posts = [c.request for c in api.calls if c.request.url.endswith("/void")]
    assert len(posts) == int(voided)
    if voided:
        assert posts[0].headers["PayPal-Request-Id"] == f"palautus-void-{AUTHORIZATION}"
        assert posts[0].headers["Prefer"] == "return=representation"


def test_paytrail_has_no_authorization_to_release_so_its_money_goes_back_as_a_refund(api):
    assert PaytrailProvider("375917", "SAIPPUAKAUPPIAS").void(ref("a3b5cbd2", "paytrail")) == VoidOutcome.CAPTURED
    assert len(api.calls) == 0


# --- Shopify: orderCancel, validated against the vendored 2026-10 schema ------------------------------------


SHOP = "palautus-test.myshopify.com"
URL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
ORDER = "gid://shopify/Order/5196695273621"


def shopify_answers(api, *datas):
    for data in datas:
        api.post(URL, json={"data": data})


def test_the_order_cancel_document_and_its_query_are_valid_in_the_2026_10_schema(shopify_schema):
    assert validate(shopify_schema, parse(documents.ORDER_CANCEL)) == []
    assert validate(shopify_schema, parse(documents.ORDER_CANCELLED)) == []


def test_cancelling_on_shopify_refunds_nothing_restocks_and_tells_no_one_in_variables_the_schema_takes(
        api, shopify_schema):  # fmt: skip
    answers = [{"order": {"id": ORDER, "cancelledAt": None}},
               {"orderCancel": {"job": {"id": "gid://shopify/Job/1", "done": False}, "orderCancelUserErrors": []}}]
    shopify_answers(api, *answers)
    ShopifyAdmin(SHOP, "shpat_x").cancel_order(ORDER, "x" * 300)
    for call, data in zip(api.calls, answers):
        body = json.loads(call.request.body)
        assert variable_errors(shopify_schema, body) == []
        assert_answer_fits(shopify_schema, body, data)
    variables = json.loads(api.calls[1].request.body)["variables"]
    assert variables["refundMethod"] == {"originalPaymentMethodsRefund": False} and "refund" not in variables
    assert (variables["restock"], variables["notifyCustomer"], variables["reason"]) == (True, False, "CUSTOMER")
    assert len(variables["staffNote"]) == 255


def test_an_order_cancelled_already_is_not_cancelled_again(api):
    shopify_answers(api, {"order": {"id": ORDER, "cancelledAt": "2026-12-01T10:00:00Z"}})
    ShopifyAdmin(SHOP, "shpat_x").cancel_order(ORDER, "note")
    assert len(api.calls) == 1


def test_a_refused_cancel_is_done_if_the_order_turns_out_cancelled_and_a_refusal_otherwise(api):
    refused = {"orderCancel": {"job": None, "orderCancelUserErrors": [
        {"field": ["orderId"], "message": "Cannot cancel an order with fulfillments", "code": "INVALID"}]}}
    shopify_answers(api, {"order": {"id": ORDER, "cancelledAt": None}}, refused, {"order": {"id": ORDER, "cancelledAt": None}})
    with pytest.raises(ProviderRejected, match="fulfillments"):
        ShopifyAdmin(SHOP, "shpat_x").cancel_order(ORDER, "note")


def test_only_authorizations_no_capture_or_void_closed_are_still_held(api):
    from tests.fakes import stripe_sale

    def tx(number, kind, parent=None, **extra):
        parent_tx = {"id": f"gid://shopify/OrderTransaction/{parent}", "paymentId": None, "authorizationCode": PI} if parent else None
        return {**stripe_sale(number, payment_id=PI), "kind": kind, "parentTransaction": parent_tx, **extra}

    transactions = [tx(1, "AUTHORIZATION"), tx(2, "AUTHORIZATION"), tx(3, "CAPTURE", 2), tx(4, "AUTHORIZATION"),
                    tx(5, "VOID", 4), tx(6, "AUTHORIZATION", status="FAILURE")]  # fmt: skip
    shopify_answers(api, {"order": {"id": ORDER, "checkoutToken": None, "transactions": transactions}})
    [held] = ShopifyAdmin(SHOP, "shpat_x").order_authorizations(ORDER)
    assert (held.platform_transaction_id, held.kind, held.provider, held.payment_id, held.platform_managed) == (
        "1", "authorization", "stripe", PI, False)


# --- WooCommerce: PUT /wp-json/wc/v3/orders/{id} {"status": "cancelled"} --------------------------------------


STORE = "https://store.example"


def woo_order(status: str = "on-hold", captured: str = "no") -> dict:
    return {"id": 4321, "status": status, "payment_method": "stripe", "transaction_id": "ch_3Palautus",
            "meta_data": [{"id": 1, "key": "_stripe_intent_id", "value": PI},
                          {"id": 2, "key": "_stripe_charge_captured", "value": captured}]}  # fmt: skip


def test_woocommerce_cancels_by_setting_the_orders_status_and_notes_why_once(api):
    base = f"{STORE}/wp-json/wc/v3/orders/4321"
    api.get(base, json=woo_order("processing"))
    api.put(base, json=woo_order("cancelled"))
    api.get(f"{base}/notes", json=[])
    api.post(f"{base}/notes", json={"id": 9}, status=201)
    WooCommercePlatform(WooClient(STORE, "ck_x", "cs_x")).cancel_order("4321", "the customer withdrew")
    put = next(c.request for c in api.calls if c.request.method == "PUT")
    assert json.loads(put.body) == {"status": "cancelled"}


def test_woocommerce_refuses_plainly_when_the_store_keeps_the_order_from_cancelling(api):
    base = f"{STORE}/wp-json/wc/v3/orders/4321"
    api.get(base, json=woo_order("processing"))
    api.put(base, json=woo_order("processing"))
    with pytest.raises(ProviderRejected, match="did not cancel"):
        WooCommercePlatform(WooClient(STORE, "ck_x", "cs_x")).cancel_order("4321", "the customer withdrew")


def test_a_woocommerce_stripe_payment_not_captured_is_an_authorization_of_its_intent():
    held = wc.authorization_of(woo_order(), "4321", "EUR", 19560)
    assert (held.kind, held.provider, held.payment_id, held.amount) == ("authorization", "stripe", PI, 19560)
    assert wc.authorization_of(woo_order(captured="yes"), "4321", "EUR", 19560) is None
