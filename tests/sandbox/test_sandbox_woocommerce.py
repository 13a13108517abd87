"""The sandbox WooCommerce store answers the product reads and the cancelling Palautus now asks of it as WooCommerce
does, statefully: Palautus's own WooCommerce adapter is the client, over OAuth 1.0a on a real socket."""
from __future__ import annotations

from datetime import datetime, timezone

from adapters.platforms import PLATFORMS
from integration.money import Money
from integration.records import RefundLineToRecord, RefundToRecord


def store_and_platform(world, name: str = "villa-woo"):
    opened = world.sandbox.open_store(name, world.url, world.stripe_key)
    return world.sandbox.stores[name], PLATFORMS["woocommerce"].connect(opened["url"], opened, world.config)


def test_the_products_of_an_order_read_back_with_their_categories_and_tags(world):
    store, platform = store_and_platform(world)
    found = {p.platform_product_id: p for p in platform.read_products(["31", "41", "51", "32", "999"])}
    assert set(found) == {"31", "41", "51"}  # a variation (32) is no product of the listing, 999 none at all
    sweater, beanie = found["31"], found["51"]
    assert (sweater.product_type, sweater.tags) == ("Sweaters", ("merino", "wool", "Sweaters"))
    assert beanie.product_type == "Hats & Caps"  # stored escaped, as WordPress keeps term names
    assert sweater.updated_at == datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc)
    del store.products[41]
    assert [p.platform_product_id for p in platform.read_products(["41"])] == []
    assert ("GET", "/products") in store.calls


def test_a_listing_honours_include_paging_and_fields(world):
    store, _ = store_and_platform(world)
    reply = store._list_products({"include": "51,31", "per_page": "1", "page": "2", "_fields": "id,name"})
    assert (reply.status, reply.body, reply.headers["X-WP-TotalPages"]) == (200, [{"id": 31, "name": "Merino wool sweater"}], "2")
    assert store._list_products({"include": "31,x"}).status == 400


def test_cancelling_an_order_notes_the_change_and_puts_back_what_no_refund_did(world):
    store, platform = store_and_platform(world)
    placed = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 2)], stripe=world.sandbox.stripe,
                                stripe_key=world.stripe_key)  # fmt: skip
    socks = next(line for line in placed["line_items"] if line["sku"] == "SOCKS-WOOL-3")
    platform.record_refund(RefundToRecord(
        platform_order_id=str(placed["id"]), idempotency_key="key-1", amount=Money(1990, "EUR"), tax=404,
        note="Palautus return TEST-0001 [palautus:key-1]", gateway="stripe",
        lines=(RefundLineToRecord(str(socks["id"]), 1, restock=True, amount=1990, tax=404),)))  # fmt: skip
    assert store.stock == {41: 1}

    platform.cancel_order(str(placed["id"]), "Palautus: the customer withdrew before delivery")
    order = store.orders[placed["id"]]
    assert order["status"] == "cancelled" and store.stock == {41: 2, 32: 1}  # one sock restocked by the refund already
    notes = [n["note"] for n in store.notes[placed["id"]]]
    assert notes.count("Order status changed from Processing to Cancelled.") == 1
    assert "Palautus: the customer withdrew before delivery" in notes

    platform.cancel_order(str(placed["id"]), "Palautus: the customer withdrew before delivery")  # done already
    assert [n["note"] for n in store.notes[placed["id"]]] == notes and store.stock == {41: 2, 32: 1}
    assert [m for m, path in store.calls if path == f"/orders/{placed['id']}" and m == "PUT"] == ["PUT"]


def test_a_status_woocommerce_does_not_register_is_refused(world):
    store, _ = store_and_platform(world)
    placed = store.create_order([("BEANIE-RED", 1)], stripe=world.sandbox.stripe, stripe_key=world.stripe_key)
    reply = store._update_order(placed, {"status": "canceled"})
    assert (reply.status, reply.body["code"]) == (400, "rest_invalid_param")
    assert store.orders[placed["id"]]["status"] == "processing" and store.notes[placed["id"]] == []
