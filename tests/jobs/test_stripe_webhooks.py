"""Stripe's webhooks: a refund that changes after it was made is noticed without waiting for the sweeper.

The shop's endpoint is created through Stripe's API with Palautus's pinned API
version (`shops stripe-webhook`); its signing secret is sealed with the shop's
credentials; every delivery is verified (Stripe-Signature, timestamp tolerance),
stored, and its refund's final word recorded once.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import select

from integration.models import Refund, ReturnEvent, Shop, WebhookEvent
from tests.conftest import SHOP_DOMAIN
from tests.jobs.helpers import SOCKS, SWEATER, received_return, refund_of, the_order_arrives

PUBLIC_URL = "https://palautus.example"


@pytest.fixture
def config(config):
    return {**config, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def hooked(app, shop, stripe, client):
    """The shop's Stripe endpoint made by the CLI; Stripe's events reach the app."""
    result = app.test_cli_runner().invoke(args=["shops", "stripe-webhook", "--domain", SHOP_DOMAIN])
    assert result.exit_code == 0, result.output
    stripe.deliver_to(client)
    return shop


def signed(body: bytes, secret: str, at: int | None = None) -> dict:
    stamp = int(time.time()) if at is None else at
    v1 = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v0=ignored,v1={v1}"}


def secret_of(app, shop_id: int) -> dict:
    with app.extensions["db"].session() as session:
        return app.extensions["vault"].open(session.get(Shop, shop_id).credentials)["payments"]["stripe"]


def test_the_endpoint_is_made_with_our_api_version_and_refund_events_and_its_secret_sealed(app, hooked, stripe):
    [endpoint] = stripe.endpoints.values()
    assert endpoint["url"] == f"{PUBLIC_URL}/webhooks/payments/stripe/{hooked[0].webhook_key}"
    assert endpoint["api_version"] == "2023-08-16" and endpoint["enabled_events"] == ["charge.refund.updated", "refund.updated"]
    keys = secret_of(app, hooked[0].id)
    assert keys["webhook_secret"] == endpoint["secret"] and keys["webhook_endpoint"] == endpoint["id"]
    # Made again (a rotation): the secret it replaces is still accepted while Stripe signs with both.
    assert app.test_cli_runner().invoke(args=["shops", "stripe-webhook", "--domain", SHOP_DOMAIN]).exit_code == 0
    rotated = secret_of(app, hooked[0].id)
    assert rotated["previous_webhook_secret"] == endpoint["secret"] != rotated["webhook_secret"]


def test_a_pending_refund_that_stripe_settles_is_recorded_from_the_event_at_once(
    client, hooked, post_webhook, work, shopify, stripe, db
):
    stripe.status = "pending"
    the_order_arrives(post_webhook, work, shopify)
    received_return(client, hooked[1], {SWEATER: 1, SOCKS: 1})
    work()
    assert refund_of(db).status == "submitted"
    stripe.settle("succeeded")  # Stripe sends charge.refund.updated
    assert stripe.answers == [200]
    work()
    refund = refund_of(db)
    assert (refund.status, refund.provider_status) == ("succeeded", "succeeded") and len(stripe.posts) == 1
    assert db.scalar(select(WebhookEvent).where(WebhookEvent.platform == "stripe")).status == "processed"


def test_a_refund_stripe_fails_in_the_end_is_failed_with_its_reason(client, hooked, post_webhook, work, shopify, stripe, db):
    stripe.status = "pending"
    the_order_arrives(post_webhook, work, shopify)
    received_return(client, hooked[1], {SWEATER: 1})
    work()
    stripe.settle("failed")
    work()
    refund = refund_of(db)
    assert refund.status == "failed" and refund.last_error == "lost_or_stolen_card" and stripe.money_moved == 0
    # The shop is told where the merchant looks: the order is tagged, once.
    assert refund.shop_synced_at is not None
    assert [tags for tags in shopify.tags.values()] == [["palautus-refund-failed"]]


def test_a_refund_that_fails_after_it_succeeded_stays_booked_and_a_person_is_told(
    client, hooked, post_webhook, work, shopify, stripe, db
):
    the_order_arrives(post_webhook, work, shopify)
    received_return(client, hooked[1], {SWEATER: 1})
    work()
    refund = refund_of(db)
    assert refund.status == "succeeded"
    stripe.fail_later(refund.provider_refund_id)
    work()
    refund = refund_of(db)
    assert refund.status == "succeeded"  # a booked refund never moves back: the money is not ours to re-book
    kinds = [e.kind for e in db.scalars(select(ReturnEvent).where(ReturnEvent.return_id == refund.return_id))]
    assert "refund_failed_after_success" in kinds
    alerts = db.get(Shop, hooked[0].id).alerts
    assert "not paid back" in alerts[f"refund {refund.id}"]["message"]


def test_a_delivery_is_stored_once_and_a_repeat_is_acknowledged(client, hooked, app):
    secret = secret_of(app, hooked[0].id)["webhook_secret"]
    body = json.dumps({"id": "evt_1", "type": "charge.refund.updated", "data": {"object": {}}}).encode()
    path = f"/webhooks/payments/stripe/{hooked[0].webhook_key}"
    first = client.post(path, data=body, headers=signed(body, secret))
    again = client.post(path, data=body, headers=signed(body, secret))
    assert (first.status_code, first.get_json()["status"]) == (200, "accepted")
    assert (again.status_code, again.get_json()["status"]) == (200, "duplicate")


@pytest.mark.parametrize("case", ["no header", "wrong secret", "stale", "body changed", "v0 only"])
def test_a_delivery_stripe_did_not_sign_now_is_refused_401_and_stores_nothing(client, hooked, app, db, case):
    secret = secret_of(app, hooked[0].id)["webhook_secret"]
    body = json.dumps({"id": "evt_2", "type": "charge.refund.updated", "data": {"object": {}}}).encode()
    headers = {
        "no header": {"Content-Type": "application/json"},
        "wrong secret": signed(body, "whsec_not_the_shops"),
        "stale": signed(body, secret, at=int(time.time()) - 301),
        "body changed": signed(body + b" ", secret),
        "v0 only": {"Stripe-Signature": f"t={int(time.time())},v0=" + signed(body, secret)["Stripe-Signature"].rsplit("=", 1)[1]},
    }[case]
    answer = client.post(f"/webhooks/payments/stripe/{hooked[0].webhook_key}", data=body, headers=headers)
    assert answer.status_code == 401 and secret not in answer.get_data(as_text=True)
    assert db.scalars(select(WebhookEvent)).all() == []


def test_the_secret_it_replaced_is_still_accepted_during_a_rotation(client, hooked, app, db):
    old = secret_of(app, hooked[0].id)["webhook_secret"]
    assert app.test_cli_runner().invoke(args=["shops", "stripe-webhook", "--domain", SHOP_DOMAIN]).exit_code == 0
    body = json.dumps({"id": "evt_3", "type": "refund.updated", "data": {"object": {}}}).encode()
    assert client.post(f"/webhooks/payments/stripe/{hooked[0].webhook_key}", data=body, headers=signed(body, old)).status_code == 200


def test_an_unknown_shop_is_404_and_a_signed_body_that_is_no_event_is_400(client, hooked, app, db):
    body = b'{"id": "evt_4", "type": "refund.updated"}'
    assert client.post("/webhooks/payments/stripe/no-such-key", data=body, headers=signed(body, "whsec_x")).status_code == 404
    secret = secret_of(app, hooked[0].id)["webhook_secret"]
    for bad in (b'{"type": "refund.updated"}', b"[1, 2]", b"{not json"):
        answer = client.post(f"/webhooks/payments/stripe/{hooked[0].webhook_key}", data=bad, headers=signed(bad, secret))
        assert answer.status_code == 400 and answer.get_json()["message"]
    assert db.scalars(select(WebhookEvent)).all() == []


def test_an_event_about_a_refund_palautus_did_not_make_changes_nothing(client, hooked, app, work, db):
    secret = secret_of(app, hooked[0].id)["webhook_secret"]
    refund = {"id": "re_made_in_the_dashboard", "object": "refund", "amount": 500, "currency": "eur", "status": "failed",
              "metadata": {}, "failure_reason": "declined"}  # fmt: skip
    body = json.dumps({"id": "evt_5", "type": "charge.refund.updated", "data": {"object": refund}}).encode()
    assert client.post(f"/webhooks/payments/stripe/{hooked[0].webhook_key}", data=body, headers=signed(body, secret)).status_code == 200
    work()
    assert db.scalars(select(Refund)).all() == []
    assert db.scalar(select(WebhookEvent)).status == "processed"
