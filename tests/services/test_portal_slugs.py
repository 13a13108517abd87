"""Each shop's customer pages live at /s/<slug>/: a slug made from its domain or store address, never shared."""
from __future__ import annotations

from integration.services.shops import register_shop


def test_a_shop_s_portal_address_is_its_domain_and_a_second_shop_of_the_same_name_is_numbered(app, db):
    vault = app.extensions["vault"]
    made = [register_shop(db, vault, platform=platform, domain=domain, credentials={})[0].portal_slug
            for platform, domain in (("shopify", "kauppa.myshopify.com"), ("woocommerce", "https://store.example"),
                                     ("woocommerce", "http://store.example"), ("woocommerce", "https://Kauppa.fi/"))]  # fmt: skip
    assert made == ["kauppa", "store-example", "store-example-2", "kauppa-fi"]
