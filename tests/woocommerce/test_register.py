"""Registering a WooCommerce store from the command line creates its webhooks; running it again repairs them."""
from __future__ import annotations

from sqlalchemy import select

from adapters.platforms.woocommerce.platform import TOPICS
from integration.models import Shop
from tests.woocommerce.conftest import CONSUMER_KEY, CONSUMER_SECRET, PUBLIC_URL

ENV = {"SHOP_CONSUMER_KEY": CONSUMER_KEY, "SHOP_CONSUMER_SECRET": CONSUMER_SECRET}


def run(app, *args, env=ENV):
    return app.test_cli_runner().invoke(args=list(args), env=env, catch_exceptions=False)


def register(app, domain="https://Store.example/"):
    return run(app, "shops", "register", "--platform", "woocommerce", "--domain", domain, "--currency", "EUR")


def test_registering_a_store_creates_its_webhooks_with_a_secret_of_its_own(app, db, store):
    result = register(app)
    assert result.exit_code == 0, result.output
    shop = db.scalar(select(Shop))
    assert (shop.platform, shop.domain) == ("woocommerce", "https://store.example")
    secret = app.extensions["vault"].open(shop.credentials)["webhook_secret"]
    assert len(secret) >= 40 and secret not in result.output and CONSUMER_SECRET not in result.output
    url = f"{PUBLIC_URL}/webhooks/woocommerce/{shop.webhook_key}"
    hooks = sorted(store.webhooks.values(), key=lambda w: w["topic"])
    assert [(w["topic"], w["delivery_url"], w["status"], w["secret"]) for w in hooks] == [
        (topic, url, "active", secret) for topic in sorted(TOPICS)]
    assert {"order.created", "order.deleted", "order.restored", "order.updated", "product.created",
            "product.updated"} == set(TOPICS)  # fmt: skip
    assert f"Webhooks deliver to {url}:" in result.output and result.output.count(" created") == len(TOPICS)
    assert [status for _, status in store.pings] == [200] * len(TOPICS)  # each ping answered exactly 200


def test_registering_it_again_repairs_a_disabled_webhook_and_duplicates_nothing(app, db, store):
    register(app)
    hook = next(w for w in store.webhooks.values() if w["topic"] == "order.updated")
    hook["status"] = "disabled"
    del store.webhooks[next(i for i, w in store.webhooks.items() if w["topic"] == "order.deleted")]
    result = register(app)
    assert result.exit_code == 0, result.output
    assert "already registered" in result.output and "API key" not in result.output
    assert "order.updated" in result.output and "reactivated" in result.output and result.output.count(" created") == 1
    assert sorted(w["topic"] for w in store.webhooks.values()) == sorted(TOPICS)
    assert all(w["status"] == "active" for w in store.webhooks.values())
    assert len(db.scalars(select(Shop)).all()) == 1


def test_a_store_that_refuses_the_key_is_a_clear_error_and_registers_nothing(app, db, store):
    result = run(app, "shops", "register", "--platform", "woocommerce", "--domain", "https://store.example",
                 env={"SHOP_CONSUMER_KEY": CONSUMER_KEY, "SHOP_CONSUMER_SECRET": "cs_wrong"})  # fmt: skip
    assert result.exit_code != 0 and "refused" in result.output and "cs_wrong" not in result.output
    assert db.scalar(select(Shop)) is None and store.webhooks == {}


def test_without_a_public_url_the_store_is_registered_and_told_what_to_set(app, db, store):
    app.config["PUBLIC_URL"] = ""
    result = register(app)
    assert result.exit_code != 0 and "set PUBLIC_URL" in result.output and "shops webhooks" in result.output
    assert db.scalar(select(Shop)) is not None and store.webhooks == {}


def test_a_url_that_is_no_store_is_refused(app, db):
    result = register(app, "ftp://store.example")
    assert result.exit_code != 0 and "not a store URL" in result.output and db.scalar(select(Shop)) is None
