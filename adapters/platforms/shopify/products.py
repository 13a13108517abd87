"""Shopify products as the return policy's rules read them: type and tags, from webhooks and the Admin API.

- products/create and products/update bodies are the REST Product: `product_type` (the merchant's own word, ""
  when none), `tags` one comma-separated string ("example, mens, t-shirt"), `updated_at` with the shop's offset,
  `id` (exact in `admin_graphql_api_id`: the plain number may have been rounded by a JSON tool). products/update
  fires on every change, an order's inventory change included: the service keeps the newest by `updated_at`.
- PRODUCTS_BY_ID reads the products a return needs that no webhook told of (`nodes(ids:)`: a deleted product
  answers null and is skipped). `Product.tags` is a list there; `productType` a string.
Reading products and their webhooks needs the `read_products` access scope.
"""
from __future__ import annotations

from adapters import fields as f
from adapters.errors import PayloadError
from adapters.platforms.shopify.admin import _malformed
from adapters.platforms.shopify.orders import _gid
from adapters.platforms.shopify.payloads import _id
from integration.records import ProductData

__all__ = ["PRODUCTS_BY_ID", "PER_CALL", "parse_product", "parse_product_nodes", "read_products"]

PER_CALL = 50  # ids per PRODUCTS_BY_ID call: 50 objects, far under Shopify's 1,000-point limit

PRODUCTS_BY_ID = """
query ProductsById($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Product { id title productType tags updatedAt }
  }
}
"""


def parse_product(payload: object) -> ProductData:
    """A products/create or products/update body as ProductData."""
    product = f.object_(payload, "")
    tags = f.field(product, "tags", "", f.text, required=False) or ""
    return ProductData(
        platform_product_id=_id(product, "", "Product"),
        title=f.field(product, "title", "", f.note, required=False),
        product_type=f.field(product, "product_type", "", f.note, required=False),
        tags=tuple(dict.fromkeys(tag.strip() for tag in tags.split(",") if tag.strip())),
        updated_at=f.field(product, "updated_at", "", f.datetime_, required=False),
    )


def parse_product_nodes(nodes: object) -> list[ProductData]:
    """PRODUCTS_BY_ID's `nodes`: each Product as ProductData; null (deleted, or not a product) skipped."""
    found = []
    for i, node in enumerate(f.list_(nodes, "nodes")):
        if node is None or not f.object_(node, f"nodes[{i}]").get("id"):
            continue
        path = f"nodes[{i}]"
        tags = [f.text(tag, f"{path}.tags") for tag in f.field(node, "tags", path, f.list_)]
        found.append(ProductData(
            platform_product_id=f.field(node, "id", path, _gid("Product")),
            title=f.field(node, "title", path, f.note, required=False),
            product_type=f.field(node, "productType", path, f.note, required=False),
            tags=tuple(dict.fromkeys(tag.strip() for tag in tags if tag.strip())),
            updated_at=f.field(node, "updatedAt", path, f.datetime_, required=False),
        ))  # fmt: skip
    return found


def read_products(admin, platform_product_ids: list[str]) -> list[ProductData]:
    """The products Shopify has of these ids now, PER_CALL at a time; an answer we cannot read is retried."""
    ids = [f"gid://shopify/Product/{number}" for number in dict.fromkeys(platform_product_ids)]
    found = []
    for start in range(0, len(ids), PER_CALL):
        data, _ = admin.query(PRODUCTS_BY_ID, {"ids": ids[start:start + PER_CALL]})
        try:
            found += parse_product_nodes(data.get("nodes"))
        except PayloadError as e:
            raise _malformed(f"products answer not in the documented shape: {e}") from None
    return found
