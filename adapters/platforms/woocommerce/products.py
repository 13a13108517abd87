"""WooCommerce products as the return policy's rules read them (REST v3 product bodies: webhook or GET /products).

- WooCommerce has no product type in Shopify's sense: its `type` is the product's structure (simple, variable,
  grouped, external), no use to a returns policy. Its merchants group products in `categories`: the first
  category stands as the product type, and every category also counts as a tag (a rule on any of them matches),
  after the product's own `tags[].name`.
- Names of terms come HTML-escaped ("Hats &amp; Caps"), as WordPress stores them: unescaped here.
- A variation's body (`type` "variation") describes no product of an order line (lines name the parent as
  `product_id`): none is made of it.
- `date_modified_gmt` is UTC without an offset.
"""
from __future__ import annotations

import html

from adapters import fields as f
from adapters.platforms.woocommerce.orders import _gmt, _id
from integration.records import ProductData

__all__ = ["parse_product", "FIELDS"]

FIELDS = "id,name,type,tags,categories,date_modified_gmt"  # `_fields` of the product reads: nothing more travels


def parse_product(payload: object) -> ProductData | None:
    """A product body as ProductData; None for a variation."""
    product = f.object_(payload, "")
    if product.get("type") == "variation":
        return None
    categories = _names(product, "categories")
    return ProductData(
        platform_product_id=_id(product, "id", ""),
        title=_unescaped(f.field(product, "name", "", f.note, required=False)),
        product_type=categories[0] if categories else None,
        tags=tuple(dict.fromkeys([*_names(product, "tags"), *categories])),
        updated_at=_gmt(product, "date_modified_gmt", ""),
    )


def _names(product: dict, key: str) -> list[str]:
    names = (_unescaped(f.field(row, "name", path, f.note, required=False)) for path, row in f.each(product, key, ""))
    return [name.strip() for name in names if name and name.strip()]


def _unescaped(text: str | None) -> str | None:
    return html.unescape(text) if text else text
