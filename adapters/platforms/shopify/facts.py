"""What the return policy needs of a Shopify order besides its money: when it was fulfilled and delivered, and the
customer's language. Pure functions over a webhook body (REST) or the ORDER document's `order` (GraphQL).

The rules, the same from both sources:
- fulfilled_at: when the last item was fulfilled, and only once the whole order is (REST `fulfillment_status`
  "fulfilled", GraphQL `displayFulfillmentStatus` FULFILLED): the latest `created_at` of its successful
  fulfillments (status success / SUCCESS; cancelled, failed and errored ones shipped nothing).
- delivered_at: when the last shipment reached the customer, and only once every successful fulfillment did
  (carrier status delivered, or picked up by the customer): the latest delivery time. GraphQL has the carrier's
  own time (`Fulfillment.deliveredAt`). A webhook's REST fulfillment has none, only `shipment_status` and
  `updated_at`; the `updated_at` of a delivered fulfillment stands in for it. The approximation: that is when the
  fulfillment last changed, at or after its delivered event (a later edit moves it later still), so a window
  counted from it is never shorter than the true one, at most longer: in the customer's favour. The Admin API
  read (catch-up, an order no webhook told of) gives the exact time.
- locale: `customer_locale` / `customerLocale` ("en", "fr-CA"), kept only when it looks like a language tag.
- tax_country: where the goods went, for the VAT of the sale (distance sales in the EU are taxed where they
  arrive): the shipping address's country (REST `shipping_address.country_code`, GraphQL
  `shippingAddress.countryCodeV2`), else the billing address's (an order with nothing to ship).
Facts that cannot be read (a shape we do not know, more fulfillments than the read sees) are unknown (None):
they never fail the order, whose money matters more.
"""
from __future__ import annotations

import re
from datetime import datetime

from adapters import fields as f
from adapters.errors import PayloadError

__all__ = ["rest_facts", "graphql_facts", "locale"]

SHIPPED_REST, SHIPPED_GRAPHQL = "success", "SUCCESS"  # a fulfillment's status once its items left
DELIVERED_REST = ("delivered", "picked_up")  # Fulfillment.shipment_status (REST)
DELIVERED_GRAPHQL = ("DELIVERED", "PICKED_UP")  # FulfillmentDisplayStatus
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}")
UNKNOWN = {"fulfilled_at": None, "delivered_at": None}


def locale(value: object) -> str | None:
    """A language tag as the platform gives it ("fi", "fr-CA"), or None for anything else (16 characters at most)."""
    return value if isinstance(value, str) and len(value) <= 16 and _LOCALE.fullmatch(value) else None


def rest_facts(order: dict) -> dict:
    """The OrderSnapshot's fulfilled_at, delivered_at, locale and tax_country from an orders/* webhook body."""
    try:
        dates = _rest_dates(order)
    except PayloadError:
        dates = UNKNOWN
    where = f.country(order.get("shipping_address"), order.get("billing_address"), key="country_code")
    return {**dates, "locale": locale(order.get("customer_locale")), "tax_country": where}


def _rest_dates(order: dict) -> dict:
    if f.field(order, "fulfillment_status", "", f.text, required=False) != "fulfilled":
        return UNKNOWN
    shipped = [(p, row) for p, row in f.each(order, "fulfillments", "")
               if f.field(row, "status", p, f.text, required=False) == SHIPPED_REST]  # fmt: skip
    created = [f.field(row, "created_at", p, f.datetime_) for p, row in shipped]
    delivered = [f.field(row, "updated_at", p, f.datetime_) for p, row in shipped
                 if f.field(row, "shipment_status", p, f.text, required=False) in DELIVERED_REST]  # fmt: skip
    return _dates(created, delivered)


def graphql_facts(order: dict) -> dict:
    """The OrderSnapshot's fulfilled_at, delivered_at, locale and tax_country from ORDER's `order` node."""
    try:
        dates = _graphql_dates(order)
    except PayloadError:
        dates = UNKNOWN
    where = f.country(order.get("shippingAddress"), order.get("billingAddress"), key="countryCodeV2")
    return {**dates, "locale": locale(order.get("customerLocale")), "tax_country": where}


def _graphql_dates(order: dict) -> dict:
    if order.get("displayFulfillmentStatus") != "FULFILLED":
        return UNKNOWN
    rows = f.each(order, "fulfillments", "order", required=True)
    counted = f.field(order, "fulfillmentsCount", "order", f.object_)
    if counted.get("precision") != "EXACT" or not isinstance(counted.get("count"), int) or counted["count"] > len(rows):
        return UNKNOWN  # some fulfillments are beyond what was read: which one was last is not known
    shipped = [(p, row) for p, row in rows if row.get("status") == SHIPPED_GRAPHQL]
    created = [f.field(row, "createdAt", p, f.datetime_) for p, row in shipped]
    delivered = [f.field(row, "deliveredAt", p, f.datetime_) for p, row in shipped
                 if row.get("displayStatus") in DELIVERED_GRAPHQL and row.get("deliveredAt") is not None]  # fmt: skip
    return _dates(created, delivered)


def _dates(created: list[datetime], delivered: list[datetime]) -> dict:
    """The last fulfillment's time, and the last delivery's once every shipment was delivered."""
    if not created:
        return UNKNOWN
    return {"fulfilled_at": max(created), "delivered_at": max(delivered) if len(delivered) == len(created) else None}
