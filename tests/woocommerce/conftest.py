"""A WooCommerce store (the sandbox store behind `responses`) registered in Palautus, its webhooks set up."""
from __future__ import annotations

import pytest

from tests.conftest import STRIPE_KEY
from tests.fakes import FakeWooCommerce

STORE_URL = "https://store.example"
PUBLIC_URL = "https://palautus.example"
CONSUMER_KEY = "ck_0123456789abcdef0123456789abcdef01234567"
CONSUMER_SECRET = "cs_0123456789abcdef0123456789abcdef01234567"
WEBHOOK_SECRET = "whsec_palautus_made_this_for_the_store"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    """A lost answer is looked for at once: the sandbox store has saved it by then."""
    monkeypatch.setattr("adapters.platforms.woocommerce.platform.LOST_ANSWER_WAITS", (0, 0, 0))


@pytest.fixture
def config(config):
    return {**config, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def store(http, client):
    """The store: its REST API answers through `responses`, its webhooks reach the app."""
    return FakeWooCommerce(http, STORE_URL, client=client, consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)


@pytest.fixture
def woo_shop(app, store):
    """The store registered in Palautus with its REST key and a webhook secret; (shop, api_key)."""
    from integration.services.shops import register_shop

    credentials = {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET, "webhook_secret": WEBHOOK_SECRET,
                   "payments": {"stripe": {"secret_key": STRIPE_KEY}}}  # fmt: skip
    with app.extensions["db"].session() as session:
        shop, key = register_shop(session, app.extensions["vault"], platform="woocommerce", domain=STORE_URL,
                                  credentials=credentials, currency="EUR")  # fmt: skip
        session.expunge(shop)
    return shop, key


@pytest.fixture
def hooked(app, store, woo_shop):
    """The store's webhooks created by Palautus, as registration does."""
    from adapters.platforms import platform_adapter
    from integration.models import Shop
    from integration.services.delivery import delivery_url, set_up_webhooks

    with app.app_context(), app.extensions["db"].session() as session:
        shop = session.get(Shop, woo_shop[0].id)
        adapter = platform_adapter("woocommerce")
        platform = adapter.connect(shop.domain, app.extensions["vault"].open(shop.credentials), app.config)
        set_up_webhooks(platform, delivery_url(app.config, shop, adapter.delivery_path), shop, WEBHOOK_SECRET)
        session.commit()
    return woo_shop
