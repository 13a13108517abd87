"""Reading orders, fulfillments, returns and payments from the Admin GraphQL API (2026-10): documents and pure parsers.

No HTTP here: `ShopifyAdmin._call` sends the documents, these functions read its `data`.
Every parser takes the node under `data` (`data["order"]`, `data["return"]`) and
returns our types or raises `PayloadError` naming the JSON path (never a value).
Money is the presentment money in integer minor units, as `payloads.parse_order`.

Page sizes keep each document under Shopify's 1,000-point single-query cost
(object 1, connection 2 + first x node; estimates, confirm with `extensions.cost`):
ORDER ~620 (`lineItems(first: 250)` with this selection would be ~2,800 and be refused),
FULFILLMENT_LOCATIONS ~850, RETURN_RESTOCKED ~770.

More than one page: ORDER pages its line items 50 at a time. Send it with
`{"id": gid}`, then while `next_page_variables(variables, data["order"])` returns
variables send it again, and pass every page's `data["order"]` to `parse_order_node`,
which refuses pages that end with `hasNextPage`. The fulfillment and return
documents have no cursor variables: an answer cut short by their limits raises
`PayloadError` rather than return counts that are silently too low.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from adapters import fields as f
from adapters.errors import PayloadError
from adapters.platforms.shopify.facts import graphql_facts
from integration.records import OrderLineData, OrderSnapshot

__all__ = [
    "ORDER", "FULFILLMENT_LOCATIONS", "RETURN_RESTOCKED", "ShippingData",
    "parse_order_node", "next_page_variables", "shipping_paid", "parse_shipping_node", "parse_shipping_lines",
    "parse_fulfillment_locations", "parse_return_restocked",
]  # fmt: skip

_MONEY = "presentmentMoney { amount currencyCode }"

ORDER = f"""
query Order($id: ID!, $linesAfter: String) {{
  order(id: $id) {{
    id name email currencyCode presentmentCurrencyCode taxesIncluded displayFinancialStatus
    processedAt cancelledAt updatedAt
    displayFulfillmentStatus customerLocale
    shippingAddress {{ countryCodeV2 }} billingAddress {{ countryCodeV2 }}
    fulfillmentsCount {{ count precision }}
    fulfillments(first: 20) {{ status createdAt deliveredAt displayStatus }}
    totalPriceSet {{ {_MONEY} }}
    shippingLines(first: 5) {{
      pageInfo {{ hasNextPage }}
      nodes {{
        discountedPriceSet {{ {_MONEY} }}
        taxLines {{ rate ratePercentage priceSet {{ {_MONEY} }} }}
      }}
    }}
    lineItems(first: 50, after: $linesAfter) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        id title name sku quantity isGiftCard
        product {{ id }}
        variant {{ id }}
        originalUnitPriceSet {{ {_MONEY} }}
        discountAllocations {{ allocatedAmountSet {{ {_MONEY} }} }}
        taxLines {{ rate ratePercentage priceSet {{ {_MONEY} }} }}
      }}
    }}
  }}
}}
"""

# Order.fulfillments is a plain list (no cursor); fulfillmentsCount tells a cut list apart.
FULFILLMENT_LOCATIONS = """
query FulfillmentLocations($id: ID!) {
  order(id: $id) {
    id
    fulfillmentsCount { count precision }
    fulfillments(first: 10) {
      id status
      location { id }
      fulfillmentLineItems(first: 40) {
        pageInfo { hasNextPage }
        nodes { quantity lineItem { id } }
      }
    }
  }
}
"""

RETURN_RESTOCKED = """
query ReturnRestocked($id: ID!) {
  return(id: $id) {
    id
    reverseFulfillmentOrders(first: 5) {
      pageInfo { hasNextPage }
      nodes {
        id
        lineItems(first: 30) {
          pageInfo { hasNextPage }
          nodes {
            id
            fulfillmentLineItem { lineItem { id } }
            dispositions { type quantity location { id } }
          }
        }
      }
    }
  }
}
"""

FAILED_FULFILLMENTS = {"CANCELLED", "ERROR", "FAILURE"}  # FulfillmentStatus values that shipped nothing
RESTOCKED = "RESTOCKED"  # ReverseFulfillmentOrderDispositionType
_GID = re.compile(r"gid://shopify/([A-Za-z]+)/([0-9]{1,19})(?:\?\S*)?")


@dataclass(frozen=True)
class ShippingData:
    """What the customer paid for shipping, in minor units of the order's presentment currency."""

    amount: int  # after shipping discounts; includes the tax when the order's taxes are included
    tax: int
    tax_rate: Decimal | None  # summed rate of the taxed lines; None when shipping lines disagree


def shipping_paid(shipping: ShippingData, taxes_included: bool) -> dict:
    """The OrderSnapshot's shipping fields: what the customer paid, tax included, and the VAT in it."""
    total = shipping.amount if taxes_included else shipping.amount + shipping.tax
    rate = shipping.tax_rate
    if rate is None:  # shipping lines taxed at different rates: the effective rate of the whole
        rate = (Decimal(shipping.tax) / Decimal(total - shipping.tax)).quantize(Decimal("0.000001")) if total > shipping.tax else Decimal(0)
    return {"shipping_total": total, "shipping_tax": shipping.tax, "shipping_tax_rate": rate}


def parse_order_node(node: object, *more_pages: object) -> OrderSnapshot:
    """ORDER's `order` (and the pages after it) as the OrderSnapshot parse_order builds from a webhook."""
    order = f.object_(node, "order")
    shop_currency = f.field(order, "currencyCode", "order", f.currency)
    currency = f.field(order, "presentmentCurrencyCode", "order", f.currency)
    taxes_included = f.field(order, "taxesIncluded", "order", f.bool_)
    return OrderSnapshot(
        **shipping_paid(parse_shipping_node(order), taxes_included),
        **graphql_facts(order),
        platform_order_id=f.field(order, "id", "order", _gid("Order")),
        name=f.field(order, "name", "order", f.text),
        currency=currency,
        shop_currency=shop_currency,
        taxes_included=taxes_included,
        updated_at=f.field(order, "updatedAt", "order", f.datetime_),
        lines=tuple(_line(row, path, currency) for path, row in _line_rows(order, more_pages)),
        email=f.field(order, "email", "order", f.note, required=False),
        # OrderDisplayFinancialStatus names lower-cased are the REST words: PARTIALLY_REFUNDED -> partially_refunded.
        financial_status=f.field(order, "displayFinancialStatus", "order", _lower, required=False),
        processed_at=f.field(order, "processedAt", "order", f.datetime_, required=False),
        cancelled_at=f.field(order, "cancelledAt", "order", f.datetime_, required=False),
        total=_money(order, "totalPriceSet", "order", currency),
        platform_gid=f.field(order, "id", "order", f.string),
    )


def next_page_variables(variables: dict, node: object) -> dict | None:
    """The variables for ORDER's next page of line items after this answer, or None on the last page."""
    info = _page_info(f.field(f.object_(node, "order"), "lineItems", "order", f.object_), "order.lineItems")
    if not info.get("hasNextPage"):
        return None
    return {**variables, "linesAfter": f.field(info, "endCursor", "order.lineItems.pageInfo", f.string)}


def parse_shipping_node(node: object) -> ShippingData:
    """ORDER's `order.shippingLines` as what the customer paid for shipping."""
    order = f.object_(node, "order")
    currency = f.field(order, "presentmentCurrencyCode", "order", f.currency)
    rows = _nodes(order, "shippingLines", "order")
    return _shipping([
        (_money(row, "discountedPriceSet", path, currency),
         [(_money(t, "priceSet", p, currency), _rate(t, p)) for p, t in f.each(row, "taxLines", path)])
        for path, row in rows
    ])  # fmt: skip


def parse_shipping_lines(payload: object) -> ShippingData:
    """An orders/* webhook body's `shipping_lines[]` as what the customer paid for shipping."""
    order = f.object_(payload, "")
    shop_currency = f.field(order, "currency", "", f.currency)
    currency = f.field(order, "presentment_currency", "", f.currency, required=False) or shop_currency
    rows = [(p, row) for p, row in f.each(order, "shipping_lines", "") if row.get("is_removed") is not True]
    return _shipping([
        (_rest_money(row, "discounted_price", path, currency, shop_currency),
         [(_rest_money(t, "price", p, currency, shop_currency), f.field(t, "rate", p, f.decimal, required=False)
           or Decimal(0)) for p, t in f.each(row, "tax_lines", path)])
        for path, row in rows
    ])  # fmt: skip


def parse_fulfillment_locations(node: object) -> dict[str, str]:
    """FULFILLMENT_LOCATIONS' `order` as {line item id: Location gid it shipped from}.

    A line shipped from several locations maps to the one that shipped most of
    its units (the earlier fulfillment on a tie); a fulfillment without a
    location, or one cancelled or failed, counts for nothing.
    """
    order = f.object_(node, "order")
    fulfillments = f.each(order, "fulfillments", "order", required=True)
    counted = f.field(order, "fulfillmentsCount", "order", f.object_)
    total = f.field(counted, "count", "order.fulfillmentsCount", _units)
    if counted.get("precision") != "EXACT" or total > len(fulfillments):
        raise PayloadError("order.fulfillments: fewer than order.fulfillmentsCount; more than this document reads")
    shipped: dict[str, dict[str, int]] = {}
    for path, fulfillment in fulfillments:
        location = _location(fulfillment, path)
        if location is None or f.field(fulfillment, "status", path, f.text) in FAILED_FULFILLMENTS:
            continue
        for p, row in _nodes(fulfillment, "fulfillmentLineItems", path):
            line = shipped.setdefault(_ref(row, "lineItem", p, "LineItem"), {})
            line[location] = line.get(location, 0) + (f.field(row, "quantity", p, _units, required=False) or 0)
    return {line: max(units, key=units.get) for line, units in shipped.items()}


def parse_return_restocked(node: object) -> dict[str, int]:
    """RETURN_RESTOCKED's `return` as {line item id: units Shopify's return processing restocked}."""
    ret = f.object_(node, "return")
    restocked: dict[str, int] = {}
    for path, rfo in _nodes(ret, "reverseFulfillmentOrders", "return"):
        for p, row in _nodes(rfo, "lineItems", path):
            dispositions = f.each(row, "dispositions", p, required=True)
            units = sum(f.field(d, "quantity", dp, _units) for dp, d in dispositions
                        if f.field(d, "type", dp, f.text) == RESTOCKED)  # fmt: skip
            fulfilled = f.field(row, "fulfillmentLineItem", p, f.object_, required=False)
            if fulfilled is None:
                if units:  # never drop restocked units: Palautus would restock them again
                    raise PayloadError(f"{p}.fulfillmentLineItem: missing on a line with restocked units")
                continue
            line = _ref(fulfilled, "lineItem", f"{p}.fulfillmentLineItem", "LineItem")
            restocked[line] = restocked.get(line, 0) + units
    return restocked


def _line_rows(order: dict, more_pages: tuple) -> list[tuple[str, dict]]:
    """The line item nodes of every page, refusing pages of another order or a last page with more after it."""
    rows = []
    for i, page in enumerate((order, *more_pages)):
        page_path = f"pages[{i}].order" if i else "order"
        page = f.object_(page, page_path)
        if page.get("id") != order.get("id"):
            raise PayloadError(f"{page_path}.id: not the order of the first page")
        path = f"{page_path}.lineItems"
        connection = f.field(page, "lineItems", page_path, f.object_)
        rows += f.each(connection, "nodes", path, required=True)
    if _page_info(connection, path).get("hasNextPage"):
        raise PayloadError(f"{path}.pageInfo.hasNextPage: true; fetch every page before parsing")
    return rows


def _line(row: dict, path: str, currency: str) -> OrderLineData:
    taxes = f.each(row, "taxLines", path)
    return OrderLineData(
        platform_line_id=f.field(row, "id", path, _gid("LineItem")),
        title=f.field(row, "title", path, f.text),
        quantity=f.field(row, "quantity", path, f.quantity),  # ordered, refunded and removed units included
        unit_price=_money(row, "originalUnitPriceSet", path, currency),
        discount_total=sum(_money(a, "allocatedAmountSet", p, currency)
                           for p, a in f.each(row, "discountAllocations", path)),  # fmt: skip
        tax_total=sum(_money(t, "priceSet", p, currency) for p, t in taxes),
        tax_rate=sum((_rate(t, p) for p, t in taxes), Decimal(0)),
        sku=f.field(row, "sku", path, f.note, required=False),
        product_id=_ref(row, "product", path, "Product", required=False),
        variant_id=_ref(row, "variant", path, "ProductVariant", required=False),
        gift_card=f.field(row, "isGiftCard", path, f.bool_, required=False) or False,
    )


def _shipping(lines: list[tuple[int, list[tuple[int, Decimal]]]]) -> ShippingData:
    """Sum (amount, [(tax, rate)]) per shipping line; one rate only when every taxed line has the same."""
    rates = {sum((rate for _, rate in taxes), Decimal(0)) for _, taxes in lines if taxes}
    return ShippingData(
        amount=sum(amount for amount, _ in lines),
        tax=sum(tax for _, taxes in lines for tax, _ in taxes),
        tax_rate=Decimal(0) if not rates else rates.pop() if len(rates) == 1 else None,
    )


def _nodes(obj: dict, key: str, path: str) -> list[tuple[str, dict]]:
    """A connection's nodes; one cut short by its `first` raises instead of undercounting."""
    connection, at = f.field(obj, key, path, f.object_), f.at(path, key)
    if _page_info(connection, at).get("hasNextPage"):
        raise PayloadError(f"{at}.pageInfo.hasNextPage: true; more than this document reads at once")
    return f.each(connection, "nodes", at, required=True)


def _page_info(connection: dict, path: str) -> dict:
    info = f.field(connection, "pageInfo", path, f.object_)
    f.field(info, "hasNextPage", f"{path}.pageInfo", f.bool_)
    return info


def _money(obj: dict, key: str, path: str, currency: str) -> int:
    """Minor units of `<key>.presentmentMoney`, which must be in the order's presentment currency."""
    bag_path = f.at(path, key)
    money = f.field(f.field(obj, key, path, f.object_), "presentmentMoney", bag_path, f.object_)
    at = f"{bag_path}.presentmentMoney"
    code = f.field(money, "currencyCode", at, f.currency)
    if code != currency:
        raise PayloadError(f"{at}.currencyCode: {code}, expected {currency}")
    return f.field(money, "amount", at, f.minor_units(currency))


def _rest_money(obj: dict, key: str, path: str, currency: str, shop_currency: str) -> int:
    """REST `<key>_set.presentment_money`, or the plain `<key>` when the shop currency is the presentment one."""
    bag = f.field(obj, f"{key}_set", path, f.object_, required=False)
    if bag is None:
        if currency != shop_currency:
            raise PayloadError(f"{f.at(path, key + '_set')}: missing, and {key} is not in {currency}")
        return f.field(obj, key, path, f.minor_units(currency))
    at = f"{f.at(path, key + '_set')}.presentment_money"
    money = f.field(bag, "presentment_money", f.at(path, key + "_set"), f.object_)
    code = f.field(money, "currency_code", at, f.currency)
    if code != currency:
        raise PayloadError(f"{at}.currency_code: {code}, expected {currency}")
    return f.field(money, "amount", at, f.minor_units(currency))


def _rate(tax: dict, path: str) -> Decimal:
    """TaxLine.rate (0.24), else ratePercentage (24.0) / 100; both are nullable Floats."""
    rate = f.field(tax, "rate", path, f.decimal, required=False)
    if rate is None:
        percent = f.field(tax, "ratePercentage", path, f.decimal, required=False)
        rate = percent / 100 if percent is not None else Decimal(0)
    return rate


def _gid(kind: str):
    """A reader of `gid://shopify/<kind>/<n>` giving the number as a string, as the webhook parsers do."""

    def parse(value: object, path: str) -> str:
        match = _GID.fullmatch(value) if isinstance(value, str) else None
        if match is None or match[1] != kind or not 0 < int(match[2]) < 2**63:
            f.fail(path, f"a gid://shopify/{kind}/<id> string", value)
        return str(int(match[2]))

    return parse


def _ref(obj: dict, key: str, path: str, kind: str, *, required: bool = True) -> str | None:
    """The numeric id of `obj[key].id`; None for an optional null reference."""
    ref = f.field(obj, key, path, f.object_, required=required)
    return None if ref is None else f.field(ref, "id", f.at(path, key), _gid(kind))


def _location(obj: dict, path: str) -> str | None:
    """The Location gid, whole: refundCreate's `locationId` takes it as it is."""
    location = f.field(obj, "location", path, f.object_, required=False)
    if location is None:
        return None
    f.field(location, "id", f.at(path, "location"), _gid("Location"))
    return location["id"]


def _units(value: object, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= f.MAX_QUANTITY:
        return value
    f.fail(path, "a non-negative integer", value)


def _lower(value: object, path: str) -> str:
    return f.text(value, path).lower()


