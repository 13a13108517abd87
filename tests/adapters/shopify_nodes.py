"""A webhook's REST order as the ORDER document answers it: the fake's node, with what ORDER reads for the
return policy (fulfillments, the customer's language, gift card lines), the way the Admin API gives it."""
from __future__ import annotations

from tests.fakes import graphql_order as fake_node
from tests.fakes import utc

# REST fulfillment_status -> OrderDisplayFulfillmentStatus; REST shipment_status -> FulfillmentDisplayStatus
DISPLAY_STATUS = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED", None: "UNFULFILLED"}
SHIPMENT_STATUS = {"delivered": "DELIVERED", "in_transit": "IN_TRANSIT", "picked_up": "PICKED_UP", None: "FULFILLED"}


def graphql_order(rest: dict, lines: slice = slice(None), cursor: str | None = None, delivered_at: dict | None = None) -> dict:
    """ORDER's `order` for `rest`; `delivered_at` gives a fulfillment's (REST id) carrier time, else its updated_at."""
    node = fake_node(rest, lines, cursor)
    gift = {line["admin_graphql_api_id"]: line.get("gift_card", False) for line in rest["line_items"]}
    for line in node["lineItems"]["nodes"]:
        line["isGiftCard"] = gift[line["id"]]
    fulfillments = [_fulfillment(row, (delivered_at or {}).get(row["id"])) for row in rest.get("fulfillments") or []]
    return {**node, "displayFulfillmentStatus": DISPLAY_STATUS.get(rest.get("fulfillment_status"), "UNFULFILLED"),
            "customerLocale": rest.get("customer_locale"), "fulfillments": fulfillments,
            "shippingAddress": _address(rest.get("shipping_address")), "billingAddress": _address(rest.get("billing_address")),
            "fulfillmentsCount": {"count": len(fulfillments), "precision": "EXACT"}}  # fmt: skip


def _fulfillment(row: dict, delivered_at: str | None) -> dict:
    shipment = SHIPMENT_STATUS.get(row.get("shipment_status"), "FULFILLED")
    delivered = shipment in ("DELIVERED", "PICKED_UP")
    return {"status": row["status"].upper(), "createdAt": utc(row["created_at"]),
            "deliveredAt": (delivered_at or utc(row["updated_at"])) if delivered else None,
            "displayStatus": "CANCELED" if row["status"] == "cancelled" else shipment}  # fmt: skip


def _address(rest: dict | None) -> dict | None:
    return {"countryCodeV2": rest.get("country_code")} if rest else None
