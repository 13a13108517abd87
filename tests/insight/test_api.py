"""/api/v1/insight: products with flags (JSON and CSV), refund times, feedback; each answer as documented."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from jsonschema import Draft4Validator

from integration.models import utcnow
from tests.api.conftest import ApiClient
from tests.conftest import auth
from tests.insight import world

MARCH = "?from=2026-03-01&to=2026-03-31"


def _json_schema(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it: null is one of the types."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _json_schema(v) for k, v in node.items()}
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    return node


def documented(document, path: str, body) -> None:
    """`body` is what the document's 200 answer of GET `path` says it is."""
    schema = document["paths"][f"/api/v1{path}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    Draft4Validator(_json_schema({**schema, "components": document["components"]})).validate(body)


def test_the_products_carry_the_flags_with_their_evidence(api, document, generated):
    answer = api.get(f"/insight/products{MARCH}")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    documented(document, "/insight/products", body)
    assert {(f["product_id"], f["reason"], f["advice"]) for f in body["flags"]} == {
        (world.SOCKS, "defective", "quality"), (world.JACKET, "size_too_small", "size_chart")}
    socks = next(f for f in body["flags"] if f["product_id"] == world.SOCKS)
    assert socks["sentence"].startswith("Wool socks: 'defective' ") and socks["units"] == 300
    assert socks["p_value"] <= body["rule"]["alpha"] / socks["tests"] and socks["ratio"] >= body["rule"]["min_ratio"]
    assert body["period"] == {"from": "2026-03-01", "to": "2026-03-31"} and len(body["products"]) == 40
    assert body["units_sold"] == sum(s.sold for s in generated)
    jacket = next(p for p in body["products"] if p["product_id"] == world.JACKET)
    assert jacket["variant_id"] is None and len(jacket["variants"]) == 3


def test_the_products_download_as_rfc_4180_csv(api, generated):
    answer = api.get(f"/insight/products.csv{MARCH}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8; header=present"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="products-2026-03-01-2026-03-31.csv"'
    text = answer.get_data(as_text=True)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    records = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(records) == len(generated)  # a record per variant
    assert sum(int(r["units_returned"]) for r in records) == sum(sum(s.returned.values()) for s in generated)
    flagged = {(r["product_id"], r["flags"]) for r in records if r["flags"]}
    assert flagged == {(world.SOCKS, "defective"), (world.JACKET, "size_too_small")}


def test_refund_times_and_feedback_answer_as_documented_for_an_empty_shop_too(api, document):
    for path in ("/insight/refund-times", "/insight/feedback", "/insight/products"):
        answer = api.get(path)
        assert answer.status_code == 200, (path, answer.get_json())
        documented(document, path, answer.get_json())
    today = utcnow().date()
    assert api.get("/insight/feedback").get_json()["period"] == {"from": str(today - timedelta(days=89)), "to": str(today)}
    feedback = api.get("/insight/feedback").get_json()
    assert (feedback["count"], feedback["average"], [r["rating"] for r in feedback["distribution"]]) == (
        0, None, [5, 4, 3, 2, 1])


def test_a_period_that_ends_before_it_starts_holds_nothing_and_a_date_that_is_not_one_is_refused(api, generated):
    empty = api.get("/insight/products?from=2026-03-31&to=2026-03-01").get_json()
    assert (empty["units_sold"], empty["products"], empty["flags"]) == (0, [], [])
    assert api.get("/insight/products?from=0001-01-01&to=9999-12-31").get_json()["units_sold"] > 0
    for query in ("?from=2026-02-30", "?to=yesterday", "?shop_id=1"):
        answer = api.get(f"/insight/products{query}")
        assert answer.status_code == 400 and answer.get_json()["error"] == "bad_request", query


def test_another_shop_sees_nothing_of_this_shops_products(client, register, generated):
    other = ApiClient(client, register(domain="other-shop.myshopify.com")[1])
    body = other.get(f"/insight/products{MARCH}").get_json()
    assert (body["units_sold"], body["products"], body["flags"]) == (0, [], [])
    assert other.get(f"/insight/products.csv{MARCH}").get_data(as_text=True).count("\r\n") == 1
    assert client.get("/api/v1/insight/products", headers=auth("plt_wrong")).status_code == 401
    assert client.get("/api/v1/insight/products.csv").status_code == 401
