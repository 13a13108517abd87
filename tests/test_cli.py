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
