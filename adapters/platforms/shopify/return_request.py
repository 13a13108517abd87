"""A return opened in Palautus's portal, opened in Shopify too (`returnRequest`), so the merchant sees it there.

`open_return` takes four steps, each a document below (validated against the 2026-10 schema in the tests):
1. ORDER_RETURNS: `returnRequest` takes no idempotency key, so a run after a lost answer first looks for the
   return an earlier run made: one created since our return opened (less CLOCK_SKEW), linked to no other
   return of ours, with exactly our units per line. Found: its id, and nothing is sent. An order with more
   returns, or a return with more lines, than this reads is refused: never a second return on a guess.
2. RETURNABLE_FULFILLMENTS: the fulfillment line items Shopify still takes back and how many units of each
   (`returnableFulfillments(orderId:)`: units already in a return or refunded are left out). Our units are
   placed on them line by line; a line with fewer returnable units is refused ("not_returnable") unsent.
3. RETURN_REASON_DEFINITIONS: `ReturnRequestLineItemInput.returnReason` (the ReturnReason enum) is deprecated
   in 2026-10 for `returnReasonDefinitionId`, an id from Shopify's library of reasons, found by its stable
   `handle`. HANDLES lists the handles each of our reasons may have, best first. Shopify documents only a few
   handles ("arrived-late", "comfort", "too-tight", "color-too-bright", "quality"), so the others are our
   reading: a reason none of whose handles the library has goes as the deprecated enum (still accepted in
   2026-10), never as a wrong id.
4. RETURN_REQUEST: the return, REQUESTED, for the merchant to approve or decline. ReturnRequestInput has no
   notifyCustomer (Palautus sends the customer its own messages); a userError (not returnable) is a refusal.
Shopify then sends returns/request for the new return, maybe before the job that sent it has stored the answer:
integration/services/shop_returns.py links it to our return either way.
"""
from __future__ import annotations

from datetime import timedelta

from adapters import fields as f
from adapters.errors import PayloadError, ProviderRejected
from adapters.platforms.shopify.admin import PROVIDER, _malformed, _rejected
from adapters.platforms.shopify.orders import _gid
from integration.records import ReturnLineToOpen, ReturnToOpen

__all__ = ["ORDER_RETURNS", "RETURNABLE_FULFILLMENTS", "RETURN_REASON_DEFINITIONS", "RETURN_REQUEST", "HANDLES",
           "LEGACY_REASONS", "open_return", "made_before", "returnable_units", "place", "request_input"]  # fmt: skip

CLOCK_SKEW = timedelta(minutes=10)  # Shopify's clock against ours, and the job's delay: generous, never tight
NOTE_MAX = 300  # ReturnRequestLineItemInput.customerNote: "Maximum length: 300 characters."

# ~785 cost points: 10 returns x 25 lines.
ORDER_RETURNS = """
query OrderReturns($id: ID!) {
  order(id: $id) {
    id
    returns(first: 10) {
      pageInfo { hasNextPage }
      nodes {
        id status createdAt
        returnLineItems(first: 25) {
          pageInfo { hasNextPage }
          nodes { quantity ... on ReturnLineItem { fulfillmentLineItem { lineItem { id } } } }
        }
      }
    }
  }
}
"""

# ~785 cost points: 10 fulfillments x 25 lines.
RETURNABLE_FULFILLMENTS = """
query ReturnableFulfillments($orderId: ID!) {
  returnableFulfillments(orderId: $orderId, first: 10) {
    pageInfo { hasNextPage }
    nodes {
      id
      returnableFulfillmentLineItems(first: 25) {
        pageInfo { hasNextPage }
        nodes { quantity fulfillmentLineItem { id lineItem { id } } }
      }
    }
  }
}
"""

RETURN_REASON_DEFINITIONS = """
query ReturnReasonDefinitions($handles: [String!]) {
  returnReasonDefinitions(first: 50, handles: $handles) {
    nodes { id handle deleted }
  }
}
"""

RETURN_REQUEST = """
mutation ReturnRequest($input: ReturnRequestInput!) {
  returnRequest(input: $input) {
    return { id status }
    userErrors { field message code }
  }
}
"""

# Our Reason code -> ReturnReasonDefinition handles, best first (see step 3 above).
HANDLES: dict[str, tuple[str, ...]] = {
    "size_too_small": ("size-too-small", "too-small"), "size_too_large": ("size-too-large", "too-large"),
    "changed_mind": ("changed-my-mind", "unwanted"), "not_as_described": ("not-as-described",),
    "defective": ("defective", "damaged-or-defective"), "damaged_in_transit": ("damaged-in-transit", "defective"),
    "wrong_item": ("wrong-item", "received-wrong-item"), "style": ("style",), "color": ("color",),
    "arrived_late": ("arrived-late",), "other": ("other",), "unknown": ("unknown",),
}  # fmt: skip
# Our Reason code -> the ReturnReason enum value (2026-10, deprecated) it goes as when no definition is found.
LEGACY_REASONS: dict[str, str] = {
    "size_too_small": "SIZE_TOO_SMALL", "size_too_large": "SIZE_TOO_LARGE", "changed_mind": "UNWANTED",
    "not_as_described": "NOT_AS_DESCRIBED", "defective": "DEFECTIVE", "damaged_in_transit": "DEFECTIVE",
    "wrong_item": "WRONG_ITEM", "style": "STYLE", "color": "COLOR", "arrived_late": "OTHER", "other": "OTHER",
    "unknown": "UNKNOWN",
}  # fmt: skip


def open_return(admin, request: ReturnToOpen) -> str:
    """The numeric id of Shopify's return for `request`: one an earlier run made, else a new return request."""
    order_gid = f"gid://shopify/Order/{request.platform_order_id}"
    data, request_id = admin.query(ORDER_RETURNS, {"id": order_gid})
    if data.get("order") is None:
        raise ProviderRejected("order not found", provider=PROVIDER, code="not_found", request_id=request_id)
    found = _read(made_before, data["order"], request)
    if found is not None:
        return found
    data, _ = admin.query(RETURNABLE_FULFILLMENTS, {"orderId": order_gid})
    placed = place(request.lines, _read(returnable_units, data.get("returnableFulfillments")))
    reasons = _reason_ids(admin, {line.reason for _, _, line in placed})
    data, request_id = admin.query(RETURN_REQUEST, {"input": request_input(order_gid, placed, reasons)})
    payload = data.get("returnRequest") if isinstance(data.get("returnRequest"), dict) else {}
    if payload.get("userErrors"):
        raise _rejected(payload["userErrors"], request_id)
    if not isinstance(payload.get("return"), dict):
        raise _malformed("returnRequest answered with neither a return nor userErrors")
    return _read(lambda ret: f.field(ret, "id", "return", _gid("Return")), payload["return"])


def made_before(order: object, request: ReturnToOpen) -> str | None:
    """ORDER_RETURNS' `order`: the id of a return made for `request` by an earlier run, or None."""
    connection = f.field(f.object_(order, "order"), "returns", "order", f.object_)
    _whole(connection, "order.returns")
    wanted = units(request.lines)
    for path, node in f.each(connection, "nodes", "order.returns", required=True):
        number = f.field(node, "id", path, _gid("Return"))
        if number in request.linked or f.field(node, "createdAt", path, f.datetime_) < request.opened_at - CLOCK_SKEW:
            continue
        if _return_units(node, path) == wanted:
            return number
    return None


def _return_units(node: dict, path: str) -> dict[str, int] | None:
    """Units per order line of one of the order's returns; None when a line is not one of its fulfilled lines."""
    lines = f.field(node, "returnLineItems", path, f.object_)
    _whole(lines, f"{path}.returnLineItems")
    found: dict[str, int] = {}
    for p, row in f.each(lines, "nodes", f"{path}.returnLineItems", required=True):
        fulfilled = f.field(row, "fulfillmentLineItem", p, f.object_, required=False)
        if fulfilled is None:
            return None  # an unverified line: not one Palautus asks for
        line = f.field(f.field(fulfilled, "lineItem", f"{p}.fulfillmentLineItem", f.object_), "id",
                       f"{p}.fulfillmentLineItem.lineItem", _gid("LineItem"))  # fmt: skip
        found[line] = found.get(line, 0) + f.field(row, "quantity", p, f.quantity)
    return found


def returnable_units(connection: object) -> list[tuple[str, str, int]]:
    """RETURNABLE_FULFILLMENTS' `returnableFulfillments`: (FulfillmentLineItem gid, line item id, units) each."""
    connection = f.object_(connection, "returnableFulfillments")
    _whole(connection, "returnableFulfillments")
    found = []
    for path, node in f.each(connection, "nodes", "returnableFulfillments", required=True):
        items = f.field(node, "returnableFulfillmentLineItems", path, f.object_)
        at = f"{path}.returnableFulfillmentLineItems"
        _whole(items, at)
        for p, row in f.each(items, "nodes", at, required=True):
            fulfilled = f.field(row, "fulfillmentLineItem", p, f.object_)
            line = f.field(fulfilled, "lineItem", f"{p}.fulfillmentLineItem", f.object_)
            f.field(fulfilled, "id", f"{p}.fulfillmentLineItem", _gid("FulfillmentLineItem"))
            found.append((fulfilled["id"], f.field(line, "id", f"{p}.fulfillmentLineItem.lineItem", _gid("LineItem")),
                          f.field(row, "quantity", p, f.quantity)))  # fmt: skip
    return found


def place(lines: tuple[ReturnLineToOpen, ...],
          returnable: list[tuple[str, str, int]]) -> list[tuple[str, int, ReturnLineToOpen]]:
    """Our lines' units on Shopify's returnable fulfillment line items (a line shipped in two parcels takes from
    both): (FulfillmentLineItem gid, units, our line) each. ProviderRejected when Shopify has fewer units left."""
    left = {gid: units for gid, _, units in returnable}
    placed = []
    for line in lines:
        need = line.quantity
        for gid, line_id, _ in returnable:
            take = min(need, left[gid]) if line_id == line.platform_line_id else 0
            if take:
                placed.append((gid, take, line))
                left[gid] -= take
                need -= take
        if need:
            raise ProviderRejected(f"line {line.platform_line_id}: Shopify can take back {line.quantity - need} of "
                                   f"{line.quantity} units", provider=PROVIDER, code="not_returnable")  # fmt: skip
    return placed


def request_input(order_gid: str, placed: list[tuple[str, int, ReturnLineToOpen]], reason_ids: dict[str, str]) -> dict:
    """ReturnRequestInput: each placed part with its reason (a definition's id, else the deprecated enum)."""
    items = []
    for gid, units, line in placed:
        item = {"fulfillmentLineItemId": gid, "quantity": units}
        if line.reason in reason_ids:
            item["returnReasonDefinitionId"] = reason_ids[line.reason]
        else:
            item["returnReason"] = LEGACY_REASONS.get(line.reason, "OTHER")
        if line.note:
            item["customerNote"] = line.note[:NOTE_MAX]
        items.append(item)
    return {"orderId": order_gid, "returnLineItems": items}


def _reason_ids(admin, reasons: set[str]) -> dict[str, str]:
    """Our reason -> the id of the library's definition for it (a live one before a deleted one); reasons not
    found, or a library that cannot be read, are left out (they go as the enum)."""
    handles = sorted({handle for reason in reasons for handle in HANDLES.get(reason, ())})
    try:
        data, _ = admin.query(RETURN_REASON_DEFINITIONS, {"handles": handles})
        nodes = data["returnReasonDefinitions"]["nodes"]
        by_handle = {n["handle"]: n for n in nodes}
    except (ProviderRejected, KeyError, TypeError):
        return {}
    found = {}
    for reason in reasons:
        best = [by_handle[h] for h in HANDLES.get(reason, ()) if h in by_handle]
        best.sort(key=lambda n: bool(n.get("deleted")))  # stable: the table's order among live (then deleted) ones
        if best and isinstance(best[0].get("id"), str):
            found[reason] = best[0]["id"]
    return found


def units(lines) -> dict[str, int]:
    """Units per order line id of our return's lines."""
    found: dict[str, int] = {}
    for line in lines:
        found[line.platform_line_id] = found.get(line.platform_line_id, 0) + line.quantity
    return found


def _whole(connection: dict, path: str) -> None:
    info = f.field(connection, "pageInfo", path, f.object_)
    if f.field(info, "hasNextPage", f"{path}.pageInfo", f.bool_):
        raise ProviderRejected(f"{path}: more than Palautus reads at once; not opened in Shopify, so that no return "
                               "is ever opened there twice", provider=PROVIDER, code="too_many")  # fmt: skip


def _read(parse, *args):
    try:
        return parse(*args)
    except PayloadError as e:
        raise _malformed(f"answer not in the documented shape: {e}") from None
