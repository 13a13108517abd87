"""Uninstalling: the platform's tokens are forgotten at once; a refund not yet sent is stopped; one already with a
provider is followed to its end with the provider's key, and then that key is forgotten too."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from integration.models import Shop
from jobs.sweep import sweep
from tests.fakes import shopify_payments_sale
from tests.jobs.helpers import SOCKS, SWEATER, klarna_sale, later, received_return, refund_of, the_order_arrives

UNINSTALLED = {"id": 690933842, "name": "Palautus Test", "email": "owner@example.com", "domain": "palautus-test.myshopify.com"}


def credentials(app, db) -> dict:
    db.expire_all()
    return app.extensions["vault"].open(db.scalar(select(Shop)).credentials)


def uninstall(post_webhook, work, shopify) -> None:
    """The merchant removes the app: Shopify revokes its token, then sends app/uninstalled."""
    shopify.access_token = "shpat_revoked_by_the_uninstall"
    assert post_webhook("app/uninstalled", UNINSTALLED, webhook_id="uninstalled-1").status_code == 200
    work()


def test_an_uninstall_forgets_the_platform_s_tokens_at_once_and_the_shop_s_api_key_stops_working(
    app, client, register, post_webhook, work, shopify, db
):
    _, key = register(refresh_token="shprt_old", access_token_expires_at="2026-12-01T20:00:00+00:00")
    uninstall(post_webhook, work, shopify)
    kept = credentials(app, db)
    assert not {"access_token", "refresh_token", "access_token_expires_at"} & set(kept)
    assert kept["payments"]["stripe"]["secret_key"]  # kept while a refund may still be with the provider
    from tests.conftest import auth

    assert client.get("/api/v1/returns", headers=auth(key)).status_code == 401
    sweep()  # nothing on its way: the provider's key goes as well
    assert "payments" not in credentials(app, db)


def test_a_refund_already_with_the_provider_is_followed_to_its_end_and_then_the_provider_key_is_forgotten(
    app, client, shop, post_webhook, work, shopify, stripe, db
):
    stripe.status = "pending"
    the_order_arrives(post_webhook, work, shopify)
    received_return(client, shop[1], {SWEATER: 1, SOCKS: 1})
    work()
    assert refund_of(db).status == "submitted"
    uninstall(post_webhook, work, shopify)
    later(db)
    sweep()
    work()
    assert refund_of(db).status == "submitted" and credentials(app, db)["payments"]["stripe"]["secret_key"]
    stripe.settle("succeeded")
    later(db)
    sweep()
    work()
    assert refund_of(db).status == "succeeded" and len(stripe.posts) == 1
    sweep()  # nothing is on its way any more: the provider's key goes too
    assert "payments" not in credentials(app, db)


def test_a_queued_refund_of_a_shop_that_uninstalled_stops_before_anything_is_sent(
    app, client, shop, post_webhook, work, shopify, stripe, db, redis_down
):
    the_order_arrives(post_webhook, work, shopify)
    with redis_down():  # written, not yet run (its enqueue failed: the sweeper runs it later)
        received_return(client, shop[1], {SWEATER: 1})
    uninstall(post_webhook, work, shopify)
    later(db)
    sweep()
    work()
    refund = refund_of(db)
    assert refund.status == "failed" and "uninstalled Palautus before the refund was sent" in refund.last_error
    assert stripe.posts == []


def test_a_refund_through_shopify_s_own_gateway_of_a_shop_that_uninstalled_is_left_as_it_is_not_asked_again(
    app, client, shop, post_webhook, work, shopify, db
):
    the_order_arrives(post_webhook, work, shopify, [klarna_sale(1001, "189.70")])
    received_return(client, shop[1], {SWEATER: 1})
    work()
    assert refund_of(db).status == "submitted"  # pending at the payments app
    uninstall(post_webhook, work, shopify)
    later(db)
    assert sweep()["refunds"] == 0  # nobody can ask Shopify any more: it stays submitted, shown in the API
    assert refund_of(db).status == "submitted"


def test_a_gateway_refund_that_paid_before_the_uninstall_is_kept_as_paid(app, client, shop, post_webhook, work, shopify, db):
    the_order_arrives(post_webhook, work, shopify, [shopify_payments_sale()])
    received_return(client, shop[1], {SWEATER: 1})
    work()
    uninstall(post_webhook, work, shopify)
    assert refund_of(db).status == "succeeded"


def test_a_replayed_app_uninstalled_while_the_shop_still_lets_palautus_in_forgets_nothing(
    app, register, post_webhook, work, shopify, db
):
    register()
    assert post_webhook("app/uninstalled", UNINSTALLED, webhook_id="replayed").status_code == 200  # stored, answered
    work()
    db.expire_all()
    shop = db.scalar(select(Shop))
    assert shop.uninstalled_at is None and credentials(app, db)["access_token"]
    from integration.models import WebhookEvent

    assert "not believed" in db.scalar(select(WebhookEvent)).error
    assert "uninstall" in shop.alerts


def test_a_merchant_s_disconnect_forgets_the_platform_s_keys_and_the_api_key_stops_working(app, client, register, db):
    from tests.conftest import auth

    _, key = register()
    answer = client.post("/api/v1/shop/disconnect", headers=auth(key))
    assert answer.status_code == 200 and answer.get_json()["domain"]
    assert "access_token" not in credentials(app, db) and db.scalar(select(Shop)).uninstalled_at is not None
    assert client.get("/api/v1/shop", headers=auth(key)).status_code == 401


def test_an_app_uninstalled_body_naming_another_shop_forgets_nothing(app, register, post_webhook, work, shopify, db):
    register()
    shopify.access_token = "shpat_revoked"  # even were our access gone, a body about another shop is not this one's
    other = {**UNINSTALLED, "myshopify_domain": "someone-else.myshopify.com"}
    assert post_webhook("app/uninstalled", other, webhook_id="replayed-elsewhere").status_code == 200
    work()
    db.expire_all()
    from integration.models import WebhookEvent

    assert db.scalar(select(Shop)).uninstalled_at is None and credentials(app, db)["access_token"]
    assert "someone-else.myshopify.com" in db.scalar(select(WebhookEvent)).error


def test_an_app_uninstalled_while_shopify_is_down_is_not_taken_for_one_and_is_tried_again(
    app, register, post_webhook, work, shopify, db
):
    register()
    shopify.faults_for["ShopPing"] = [503] * 10  # the check cannot say whether the app is still installed
    assert post_webhook("app/uninstalled", UNINSTALLED, webhook_id="during-outage").status_code == 200
    work()
    db.expire_all()
    assert db.scalar(select(Shop)).uninstalled_at is None and credentials(app, db)["access_token"]
    shopify.faults_for["ShopPing"] = []
    shopify.access_token = "shpat_revoked_by_the_uninstall"  # Shopify answers again: the app is gone
    from integration.models import WebhookEvent

    event = db.scalar(select(WebhookEvent))
    assert event.status == "retrying" and "503" in event.error
    event.next_attempt_at = event.enqueued_at = event.received_at = event.received_at - timedelta(hours=2)
    db.commit()
    sweep()
    work()
    db.expire_all()
    assert db.scalar(select(Shop)).uninstalled_at is not None and "access_token" not in credentials(app, db)


def test_an_uninstall_that_lands_while_the_refund_job_reads_the_order_stops_the_refund_before_it_is_sent(
    app, client, shop, post_webhook, work, shopify, stripe, db, monkeypatch
):
    """The job checked the shop before reading the order's payments and refunds (calls to Shopify); the uninstall
    commits meanwhile. The decision to send is made again under the shop's row, so nothing is sent."""
    import jobs.refunds as refunds_job
    from integration.services.shops import uninstall_shop

    the_order_arrives(post_webhook, work, shopify)
    reconcile = refunds_job._reconcile

    def uninstalled_meanwhile(jc, shop_row, refund):
        reconcile(jc, shop_row, refund)
        with app.extensions["db"].session() as other:  # the app/uninstalled job, in its own transaction
            uninstall_shop(other, app.extensions["vault"], other.get(Shop, shop_row.id))

    monkeypatch.setattr(refunds_job, "_reconcile", uninstalled_meanwhile)
    received_return(client, shop[1], {SWEATER: 1})
    work()
    refund = refund_of(db)
    assert refund.status == "failed" and "uninstalled Palautus before the refund was sent" in refund.last_error
    assert stripe.posts == []
