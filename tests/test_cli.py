"""The operators' command line: register a shop, replace its credentials, find and re-run failed events."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Shop, WebhookEvent
from integration.services.inbox import EventStatus
from tests.conftest import SHOP_DOMAIN, payload


def run(app, *args, env=None):
    return app.test_cli_runner().invoke(args=list(args), env=env or {}, catch_exceptions=False)


def credentials(app, db) -> dict:
    db.expire_all()
    return app.extensions["vault"].open(db.scalar(select(Shop)).credentials)


def test_register_takes_credentials_from_the_environment_and_never_prints_them(app, db):
    env = {"SHOP_ACCESS_TOKEN": "shpat_from_env", "SHOP_STRIPE_SECRET_KEY": "sk_test_from_env"}
    result = run(app, "shops", "register", "--domain", "https://New-Shop.myshopify.com/", "--currency", "eur", env=env)
    assert result.exit_code == 0, result.output
    assert "Registered shopify shop new-shop.myshopify.com" in result.output
    assert "shpat_from_env" not in result.output and "sk_test_from_env" not in result.output
    assert credentials(app, db) == {"access_token": "shpat_from_env", "payments": {"stripe": {"secret_key": "sk_test_from_env"}}}


def test_set_credentials_replaces_only_what_is_given_and_names_it_without_its_value(app, db, shop):
    result = run(app, "shops", "set-credentials", "--domain", SHOP_DOMAIN, "--credential", "stripe.secret_key=sk_test_rotated")
    assert result.exit_code == 0, result.output
    assert "stripe.secret_key" in result.output and "sk_test_rotated" not in result.output
    stored = credentials(app, db)
    assert stored["payments"]["stripe"]["secret_key"] == "sk_test_rotated"
    assert stored["access_token"]  # untouched


def test_an_unknown_credential_field_or_shop_is_a_clear_error(app, shop):
    wrong_field = run(app, "shops", "set-credentials", "--domain", SHOP_DOMAIN, "--credential", "paypal.key=x")
    assert wrong_field.exit_code != 0 and "FIELD one of access_token" in wrong_field.output
    nothing = run(app, "shops", "set-credentials", "--domain", SHOP_DOMAIN)
    assert nothing.exit_code != 0 and "no credentials given" in nothing.output
    unknown = run(app, "shops", "set-credentials", "--domain", "other.myshopify.com", "--credential", "access_token=x")
    assert unknown.exit_code != 0 and "no installed shopify shop" in unknown.output


def test_failed_events_are_listed_with_their_reason_and_can_be_run_again(app, db, shop, post_webhook, work):
    broken = {**payload("orders__create.sample.json"), "line_items": "not a list"}
    assert post_webhook("orders/create", broken, webhook_id="broken-1").status_code == 200
    work()
    listed = run(app, "events", "list")
    assert listed.exit_code == 0 and "orders/create" in listed.output and "line_items: expected a list" in listed.output

    [event] = db.scalars(select(WebhookEvent)).all()
    again = run(app, "events", "retry", str(event.id))
    assert again.exit_code == 0, again.output
    db.expire_all()
    event = db.get(WebhookEvent, event.id)
    assert (event.status, event.attempts) == (EventStatus.RETRYING.value, 0)
    not_failed = run(app, "events", "retry", str(event.id))
    assert not_failed.exit_code != 0 and "is not a failed event" in not_failed.output


def test_failed_events_of_a_time_range_are_run_again_and_one_can_be_ignored_with_a_reason(app, db, shop, post_webhook, work):
    from datetime import timedelta

    broken = {**payload("orders__create.sample.json"), "line_items": "not a list"}
    for n in range(3):
        post_webhook("orders/create", broken, webhook_id=f"broken-{n}")
    work()
    first, second, third = db.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
    first.received_at -= timedelta(days=2)  # an older outage's deliveries
    db.commit()
    since = (third.received_at - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert run(app, "events", "retry").exit_code != 0  # neither ids nor a range: refused
    again = run(app, "events", "retry", "--since", since, "--error", "line_items")
    assert again.exit_code == 0 and "2 event(s)" in again.output, again.output
    db.expire_all()
    assert [e.status for e in db.scalars(select(WebhookEvent).order_by(WebhookEvent.id))] == ["failed", "retrying", "retrying"]
    ignored = run(app, "events", "ignore", str(first.id), "--reason", "a test order, deleted")
    assert ignored.exit_code == 0, ignored.output
    db.expire_all()
    event = db.get(WebhookEvent, first.id)
    assert event.status == "ignored" and "a test order, deleted" in event.error
    assert run(app, "events", "ignore", str(first.id), "--reason", "again").exit_code != 0


def test_stuck_refunds_are_listed_and_pushed_and_failed_jobs_requeued(app, db, client, shop, post_webhook, work, shopify, stripe, redis_down):
    from integration.models import Refund
    from tests.jobs.helpers import stuck_refund

    refund = stuck_refund(client, shop[1], post_webhook, work, shopify, db, redis_down)
    listed = run(app, "refunds", "stuck", "--older-than", "60")
    assert listed.exit_code == 0 and f"{refund.id}\t{SHOP_DOMAIN}\tpending" in listed.output, listed.output
    pushed = run(app, "refunds", "push", str(refund.id))
    assert pushed.exit_code == 0, pushed.output
    work()
    db.expire_all()
    assert db.get(Refund, refund.id).status == "succeeded" and len(stripe.posts) == 1
    assert run(app, "refunds", "push", str(refund.id)).exit_code != 0  # not on its way any more

    app.extensions["tasks"]._enqueue("integration.models.utcnow", "an argument it does not take", retry=False)
    work()
    found = run(app, "jobs", "requeue", "--function", "integration.models.utcnow", "--dry-run")
    assert found.exit_code == 0 and "1 failed job(s) found" in found.output and "TypeError" in found.output
    assert app.extensions["tasks"].queue().count == 0
    assert "0 failed job(s)" in run(app, "jobs", "requeue", "--error", "no such error").output
    requeued = run(app, "jobs", "requeue", "--function", "integration.models.utcnow")
    assert requeued.exit_code == 0 and "1 failed job(s) requeued" in requeued.output
    assert app.extensions["tasks"].queue().count == 1
