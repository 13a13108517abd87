"""Paytrail's refund callbacks: the only way a Paytrail refund ends, so each is checked, stored once, and tied
to its refund only by what Paytrail signed.

Paytrail has no idempotent replay and no way to read a refund back: Palautus posts
a refund once, and its signed GET to the success or cancel URL is the final word.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from sqlalchemy import select

from adapters.payments.paytrail import sign
from integration.models import Refund, WebhookEvent
from tests.jobs.helpers import refund_of
from tests.jobs.scenarios import _OnWooCommerce
from tests.fakes import FakePaytrail

SECRET = "SAIPPUAKAUPPIAS"


@pytest.fixture
def config(config):
    return {**config, "PUBLIC_URL": "https://palautus.example"}


@pytest.fixture
def paytrail(request):
    """A WooCommerce store whose order Paytrail took, with the shop's Paytrail keys in Palautus."""
    scenario = _OnWooCommerce(request, "paytrail", FakePaytrail)
    scenario.fake.callback = None  # the tests deliver (or forge) each callback themselves
    return scenario


def callback_url(fake, outcome: str = "success") -> str:
    [refund] = fake.refunds.values()
    return refund["callbackUrls"][outcome]


def signed_query(url: str, **params) -> str:
    """A callback as Paytrail sends it: our URL's own query plus the checkout-* parameters, signed."""
    own = dict(parse_qsl(urlsplit(url).query))
    checkout = {"checkout-account": "375917", "checkout-algorithm": "sha256", "checkout-status": "ok",
                "checkout-provider": "osuuspankki", **params}  # fmt: skip
    checkout["signature"] = sign(checkout, b"", SECRET)
    return urlsplit(url).path + "?" + urlencode({**own, **checkout})


def test_the_refund_is_posted_once_with_our_callback_urls_and_ends_only_with_the_signed_success(paytrail, client, db, work):
    refund = paytrail.received_return()
    assert refund.status == "submitted" and len(paytrail.fake.posts) == 1
    _, body = paytrail.fake.posts[0]
    assert body["refundStamp"] == refund.idempotency_key and body["callbackUrls"]["success"].startswith(
        "https://palautus.example/webhooks/payments/paytrail/")
    url = callback_url(paytrail.fake)
    answer = client.get(signed_query(url, **{"checkout-transaction-id": refund.provider_refund_id,
                                              "checkout-stamp": refund.idempotency_key}))
    assert answer.status_code == 200
    work()
    assert refund_of(db).status == "succeeded"


def test_a_cancel_callback_fails_the_refund_with_paytrail_s_word(paytrail, client, db, work):
    refund = paytrail.received_return()
    url = callback_url(paytrail.fake, "cancel")
    query = signed_query(url, **{"checkout-status": "fail", "checkout-transaction-id": refund.provider_refund_id})
    assert client.get(query).status_code == 200
    work()
    refund = refund_of(db)
    assert refund.status == "failed" and "Paytrail cancelled the refund" in refund.last_error


def test_a_callback_is_stored_once_however_often_paytrail_calls(paytrail, client, db, work):
    refund = paytrail.received_return()
    query = signed_query(callback_url(paytrail.fake), **{"checkout-transaction-id": refund.provider_refund_id})
    assert [client.get(query).status_code for _ in range(3)] == [200, 200, 200]
    work()
    events = db.scalars(select(WebhookEvent).where(WebhookEvent.platform == "paytrail")).all()
    assert len(events) == 1 and refund_of(db).status == "succeeded"


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "changed amount", "no algorithm"])
def test_a_callback_paytrail_did_not_sign_is_401_and_changes_nothing(paytrail, client, db, work, forgery):
    refund = paytrail.received_return()
    query = signed_query(callback_url(paytrail.fake), **{"checkout-transaction-id": refund.provider_refund_id,
                                                          "checkout-amount": "100"})  # fmt: skip
    if forgery == "unsigned":
        query = query.rsplit("&signature=", 1)[0]
    elif forgery == "wrong secret":
        params = dict(parse_qsl(urlsplit(query).query))
        params["signature"] = sign({k: v for k, v in params.items() if k.startswith("checkout-")}, b"", "not-the-secret")
        query = urlsplit(query).path + "?" + urlencode(params)
    elif forgery == "changed amount":
        query = query.replace("checkout-amount=100", "checkout-amount=999")
    else:
        query = query.replace("checkout-algorithm=sha256", "checkout-algorithm=md5")
    assert client.get(query).status_code == 401
    work()
    assert refund_of(db).status == "submitted" and db.scalars(select(WebhookEvent).where(WebhookEvent.platform == "paytrail")).all() == []


def test_a_genuine_callback_replayed_with_another_refund_s_key_in_our_own_parameter_settles_nothing(paytrail, client, db, work):
    """palautus_refund is ours, so Paytrail never signs it: only the signed transaction id or stamp picks a refund."""
    paytrail.received_return()
    query = signed_query(callback_url(paytrail.fake), **{"checkout-transaction-id": "someone-elses-refund",
                                                          "checkout-stamp": "someone-elses-stamp"})  # fmt: skip
    assert client.get(query).status_code == 200  # signed by the shop's secret: stored, as any genuine callback
    work()
    assert refund_of(db).status == "submitted"  # but it names no refund of ours by anything Paytrail signed
    # About a refund of ours (it came to our callback URL), so never dropped: kept for retries, a person told.
    from integration.models import Shop

    event = db.scalar(select(WebhookEvent).where(WebhookEvent.platform == "paytrail"))
    assert event.status in ("retrying", "received") and "no refund of this shop matches" in event.error
    alerts = db.scalar(select(Shop)).alerts
    assert any("cannot tie it to a refund of its own" in alert["message"] for alert in alerts.values())


def test_an_unknown_shop_is_404_a_shop_without_paytrail_keys_401_and_a_callback_without_our_key_400(
    paytrail, client, db, app
):
    refund = paytrail.received_return()
    query = signed_query(callback_url(paytrail.fake), **{"checkout-transaction-id": refund.provider_refund_id})
    assert client.get(query.replace("/paytrail/", "/paytrail-x/", 1)).status_code == 404
    path, _, rest = query.partition("?")
    assert client.get("/webhooks/payments/paytrail/no-such-shop/success?" + rest).status_code == 404
    without_key = path + "?" + urlencode({k: v for k, v in parse_qsl(rest) if k != "palautus_refund"})
    assert client.get(without_key).status_code == 400
    from integration.models import Shop
    from integration.services.shops import replace_credentials

    with app.extensions["db"].session() as session:
        shop = session.scalar(select(Shop))
        replace_credentials(session, app.extensions["vault"], shop, {"payments": {"paytrail": {"secret": ""}}})
    # An empty secret signs nothing: a callback "signed" with an empty key is no callback.
    checkout = {"checkout-account": "375917", "checkout-algorithm": "sha256", "checkout-status": "ok",
                "checkout-transaction-id": refund.provider_refund_id}  # fmt: skip
    forged = path + "?" + urlencode({**dict(parse_qsl(rest)), **checkout, "signature": sign(checkout, b"", "")})
    assert client.get(forged).status_code == 401
    assert db.scalars(select(Refund)).one().status == "submitted"


def test_a_lost_callback_leaves_the_refund_held_never_failed_and_paytrail_s_next_call_settles_it(paytrail, client, db, work):
    from jobs.sweep import sweep
    from tests.jobs.helpers import later

    paytrail.received_return()
    paytrail.fake.callback = lambda url: None  # Paytrail calls; the call never reaches Palautus
    paytrail.fake.settle("succeeded")
    later(db)
    sweep()
    work()
    refund = refund_of(db)
    assert refund.status == "submitted" and "callback" in refund.last_error  # waiting for Paytrail's word, not failed
    paytrail.fake.deliver_to(client)
    paytrail.fake.redeliver()  # "The URLs may be called multiple times"
    work()
    assert refund_of(db).status == "succeeded" and len(paytrail.fake.posts) == 1


def test_a_callback_that_comes_before_the_job_stored_paytrail_s_answer_is_tried_again_and_then_settles(
    paytrail, client, db, work
):
    """Paytrail's stamp in the callback need not be ours: then only the refund's own transaction id ties it."""
    from sqlalchemy import update

    from datetime import timedelta

    from integration.models import utcnow
    from jobs.sweep import sweep

    refund = paytrail.received_return()
    known = refund.provider_refund_id
    db.execute(update(Refund).values(provider_refund_id=None))  # as if the job had not stored the 201 yet
    db.commit()
    query = signed_query(callback_url(paytrail.fake), **{"checkout-transaction-id": known, "checkout-stamp": "payment-stamp"})
    assert client.get(query).status_code == 200
    work()
    assert refund_of(db).status == "submitted"  # nothing signed ties it to a refund yet: kept, not dropped
    db.execute(update(Refund).values(provider_refund_id=known))  # the job stores the answer
    past = utcnow() - timedelta(hours=3)  # and the event's next try comes due
    db.execute(update(WebhookEvent).values(next_attempt_at=past, enqueued_at=None))
    db.commit()
    assert sweep()["events"] == 1
    work()
    assert refund_of(db).status == "succeeded"
