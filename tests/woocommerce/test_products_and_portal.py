"""WooCommerce: the order facts the return policy needs, products for its type and tag rules (webhooks and the
read a return asks for), and a portal return shown to the merchant as a private order note, once."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest
import responses
from sqlalchemy import select

from adapters.platforms.woocommerce.client import WooClient
from adapters.platforms.woocommerce.events import interpret
from adapters.platforms.woocommerce.orders import parse_order
from adapters.platforms.woocommerce.platform import WooCommercePlatform
from integration.models import Order, Product, Return, Shop
from integration.records import ProductData
from integration.returns import Actor
from integration.services.returns import ItemRequest, open_return
from jobs.context import new_ctx
from jobs.shop_returns import open_shop_return
from tests.woocommerce.test_orders import ORDER

UTC = timezone.utc
# A product as GET /wc/v3/products/{id} and the product.* webhooks give it (the fields Palautus reads, and a few).
PRODUCT = {
    "id": 31, "name": "Merino wool sweater", "slug": "merino-wool-sweater", "type": "variable", "status": "publish",
    "date_modified": "2026-03-01T10:00:00", "date_modified_gmt": "2026-03-01T08:00:00", "sku": "MERINO",
    "categories": [{"id": 15, "name": "Knitwear &amp; Wool", "slug": "knitwear"}, {"id": 16, "name": "Outlet", "slug": "outlet"}],
    "tags": [{"id": 40, "name": "final-sale", "slug": "final-sale"}], "variations": [32, 33],
}  # fmt: skip


# --- the order's facts ----------------------------------------------------------------------------------------


def test_a_completed_order_was_fulfilled_when_it_was_completed_and_its_delivery_is_unknown():
    order = parse_order({**ORDER, "status": "completed", "date_completed_gmt": "2026-03-03T09:30:00"})
    assert (order.fulfilled_at, order.delivered_at) == (datetime(2026, 3, 3, 9, 30, tzinfo=UTC), None)
    assert not any(line.gift_card for line in order.lines)


def test_an_order_not_completed_has_no_fulfillment_date_and_no_language_without_a_multilingual_plugin():
    order = parse_order({**ORDER, "date_completed_gmt": "2026-03-03T09:30:00"})  # still processing
    assert (order.fulfilled_at, order.delivered_at, order.locale) == (None, None, None)


@pytest.mark.parametrize("value, kept", [("fi", "fi"), ("pt-br", "pt-br"), ("", None), (["fi"], None), ("f i", None)])
def test_wpml_s_order_language_is_the_locale(value, kept):
    order = copy.deepcopy(ORDER)
    order["meta_data"].append({"id": 9, "key": "wpml_language", "value": value})
    assert parse_order(order).locale == kept


def test_an_unreadable_completion_date_leaves_it_unknown_and_the_order_is_still_read():
    assert parse_order({**ORDER, "status": "completed", "date_completed_gmt": "yesterday"}).fulfilled_at is None


# --- products -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["product.created", "product.updated"])
def test_a_product_webhook_gives_its_first_category_as_type_and_every_category_as_a_tag(topic):
    assert interpret(topic, PRODUCT) == ProductData(
        "31", "Merino wool sweater", "Knitwear & Wool", ("final-sale", "Knitwear & Wool", "Outlet"),
        datetime(2026, 3, 1, 8, 0, tzinfo=UTC))  # fmt: skip


def test_a_variation_s_body_makes_no_product_and_one_without_categories_has_no_type():
    assert interpret("product.updated", {**PRODUCT, "id": 32, "type": "variation"}) is None
    bare = interpret("product.updated", {**PRODUCT, "categories": [], "tags": []})
    assert (bare.product_type, bare.tags) == (None, ())


def test_the_products_a_return_needs_are_read_by_id_with_only_the_fields_used():
    platform = WooCommercePlatform(WooClient("https://store.example", "ck_x", "cs_y"))
    with responses.RequestsMock() as api:
        api.add(responses.GET, "https://store.example/wp-json/wc/v3/products",
                json=[PRODUCT, {**PRODUCT, "id": 32, "type": "variation"}])  # fmt: skip
        found = platform.read_products(["31", "41", "31"])
        query = api.calls[0].request.params
    assert (query["include"], query["per_page"], query["_fields"]) == ("31,41", "100", "id,name,type,tags,categories,date_modified_gmt")
    assert [p.platform_product_id for p in found] == ["31"]


def test_product_webhooks_from_the_store_keep_the_newest(app, hooked, store, work, db):
    store._announce("product.updated", {**PRODUCT, "date_modified_gmt": "2026-03-02T08:00:00", "tags": []})
    store._announce("product.updated", PRODUCT)  # an older change, delivered late
    work()
    row = db.scalar(select(Product))
    assert (row.platform_product_id, row.product_type, row.tags) == ("31", "Knitwear & Wool", ["Knitwear & Wool", "Outlet"])


# --- a portal return, noted on the order ------------------------------------------------------------------------


def test_a_portal_return_is_noted_on_the_order_for_the_merchant_once(app, hooked, store, stripe, work, db):
    placed = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], stripe=stripe)
    work()
    with app.extensions["db"].session() as session:
        order = session.scalar(select(Order))
        line = next(row for row in order.lines if row.sku == "MERINO-M-GREY")
        ret = open_return(new_ctx(app, session), session.get(Shop, order.shop_id), order,
                          [ItemRequest(line.platform_line_id, 1, "size_too_small")], method="drop_off", source="portal",
                          actor=Actor.CUSTOMER)  # fmt: skip
        return_id, code = ret.id, ret.code
    work()
    open_shop_return(return_id)  # run again: no second note
    notes = [n for n in store.notes[placed["id"]] if n["note"].startswith(f"Palautus return {code}")]
    assert [(n["note"], n["customer_note"]) for n in notes] == [
        (f"Palautus return {code} was opened in the return portal: 1 x Merino wool sweater - M (size too small).", False)]
    ret = db.get(Return, return_id)
    assert ret.platform_return_id is None and [e.kind for e in ret.events].count("shop_noted") == 1
