"""Shopify webhook bodies to platform-neutral records: pure functions, no I/O.

Each parser returns a record from `integration.records` or raises `PayloadError`
naming the JSON path that is not in the documented shape; nothing else escapes.

- Money is the *presentment* money, which the customer paid and gets refunds in:
  `<field>_set.presentment_money`. The plain `<field>` is in the shop currency,
  so it is a fallback only when the two currencies are the same.
- Ids are 64-bit integers; `admin_graphql_api_id` carries the number as a string,
  safe from JSON tools that round big integers to doubles, so it wins over `id`.
- Messages name paths and JSON types, never values: bodies hold personal data.
"""
from __future__ import annotations

import re
from decimal import Decimal

from adapters import fields as f
from adapters.errors import PayloadError
from adapters.platforms.shopify.facts import rest_facts
from adapters.platforms.shopify.orders import parse_shipping_lines, shipping_paid
from integration.records import (
    CustomerDataRequest, CustomerRedact, OrderLineData, OrderSnapshot, RefundMoneyMoved, ReturnItemData, ReturnRequestData,
    ReturnStatusChange, ShopRedact, ShopRefundData, ShopRefundLine,
)
from integration.returns import Reason, ReturnStatus

__all__ = ["REASONS", "STATUS_TOPICS", "parse_order", "parse_refund", "parse_return_request", "parse_return_status",
           "parse_transaction", "parse_customer_data_request", "parse_customer_redact", "parse_shop_redact"]

# Shopify's ReturnReason enum (Admin GraphQL 2026-10), lower-cased as webhooks send it.
# "defective" displays as "Damaged or defective": Shopify does not tell transit damage apart.
REASONS: dict[str, Reason] = {
    "size_too_small": Reason.SIZE_TOO_SMALL,
    "size_too_large": Reason.SIZE_TOO_LARGE,
    "unwanted": Reason.CHANGED_MIND,
    "not_as_described": Reason.NOT_AS_DESCRIBED,
    "wrong_item": Reason.WRONG_ITEM,
    "defective": Reason.DEFECTIVE,
    "style": Reason.STYLE,
    "color": Reason.COLOR,
    "other": Reason.OTHER,
    "unknown": Reason.UNKNOWN,
}

# What each return webhook topic means in our state machine.
STATUS_TOPICS: dict[str, ReturnStatus] = {
    "returns/approve": ReturnStatus.APPROVED,
    "returns/decline": ReturnStatus.REJECTED,
    "returns/cancel": ReturnStatus.CANCELLED,
    "returns/close": ReturnStatus.CLOSED,
}

# Refund transaction statuses whose money may still go back (REST words; GraphQL's in upper case).
PENDING_STATUSES = ("pending", "awaiting_response", "unknown")

_MAX_ID = 2**63 - 1
_GID = re.compile(r"gid://shopify/([A-Za-z]+)/([0-9]{1,19})(?:\?[^\s]*)?")
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_order(payload: object) -> OrderSnapshot:
    """An orders/create, /updated, /paid or /cancelled body as an OrderSnapshot."""
    order = f.object_(payload, "")
    shop_currency = f.field(order, "currency", "", f.currency)
    currency = f.field(order, "presentment_currency", "", f.currency, required=False) or shop_currency
    order_id = _id(order, "", "Order")
    rows = f.each(order, "line_items", "", required=True)
    taxes_included = f.field(order, "taxes_included", "", f.bool_)
    return OrderSnapshot(
        **shipping_paid(parse_shipping_lines(order), taxes_included),
        **rest_facts(order),
        platform_order_id=order_id,
        name=f.field(order, "name", "", f.text),
        currency=currency,
        shop_currency=shop_currency,
        taxes_included=taxes_included,
        updated_at=f.field(order, "updated_at", "", f.datetime_),
        lines=tuple(_order_line(row, path, currency, shop_currency) for path, row in rows),
        email=f.field(order, "email", "", f.note, required=False),
        financial_status=f.field(order, "financial_status", "", f.text, required=False),
        processed_at=f.field(order, "processed_at", "", f.datetime_, required=False),
        cancelled_at=f.field(order, "cancelled_at", "", f.datetime_, required=False),
        total=_money(order, "total_price", "", currency, shop_currency),
        platform_gid=order.get("admin_graphql_api_id") or f"gid://shopify/Order/{order_id}",
        platform_customer_id=_customer_id(order),
    )


def _customer_id(order: dict) -> str | None:
    """The order's customer's id, or None (a guest, or a customer in a shape we do not know: not worth failing
    the order for, since it is used only to recognise an erased customer)."""
    customer = order.get("customer")
    if not isinstance(customer, dict):
        return None
    try:
        return _id(customer, "customer", "Customer", required=False)
    except PayloadError:
        return None


def parse_refund(payload: object) -> ShopRefundData:
    """A refunds/create body as ShopRefundData: the money from its transactions, the units from its lines."""
    refund = f.object_(payload, "")
    rows = f.each(refund, "refund_line_items", "")
    transactions = f.each(refund, "transactions", "")
    currency = _refund_currency(refund, rows, transactions)
    paid = [(path, t) for path, t in transactions if _refund_status(t, path) == "success"]
    pending = [(path, t) for path, t in transactions if _refund_status(t, path) in PENDING_STATUSES]
    amounts = [(f.field(t, "parent_id", path, _number_id, required=False), f.field(t, "amount", path, f.minor_units(currency)))
               for path, t in paid]  # fmt: skip
    return ShopRefundData(
        platform_refund_id=_id(refund, "", "Refund"),
        platform_order_id=f.field(refund, "order_id", "", _number_id),
        amount=sum(amount for _, amount in amounts),
        currency=currency,
        created_at=f.field(refund, "created_at", "", f.datetime_),
        lines=tuple(_refund_line(row, path) for path, row in rows),
        note=f.field(refund, "note", "", f.note, required=False),
        parent_transaction_ids=tuple(dict.fromkeys(parent for parent, _ in amounts if parent is not None)),
        refunded_by_parent=_by_parent(amounts),
        platform_return_id=_refund_return_id(refund),
        shipping_refunded=_refunds_shipping(refund),
        pending=sum(f.field(t, "amount", path, f.minor_units(currency)) for path, t in pending),
    )


def parse_transaction(payload: object) -> RefundMoneyMoved | None:
    """An order_transactions/create body: a REFUND transaction's final status (success, failure or error: the
    topic never fires for pending ones) means a refund through the gateway may have ended; other kinds, None."""
    transaction = f.object_(payload, "")
    kind = f.field(transaction, "kind", "", f.text)
    if kind.lower() != "refund":
        return None
    return RefundMoneyMoved(platform_order_id=f.field(transaction, "order_id", "", _number_id))


def parse_customer_data_request(payload: object) -> CustomerDataRequest:
    """A customers/data_request body (mandatory compliance webhook): who asked, about which orders, under which id."""
    body = f.object_(payload, "")
    shop_domain, email, customer_id = _privacy_subject(body)
    orders = _order_ids(body, "orders_requested")
    request = f.field(body, "data_request", "", f.object_, required=False)
    _require_someone(email, customer_id, orders, "orders_requested")
    return CustomerDataRequest(
        platform_request_id=f.field(request, "id", "data_request", _number_id) if request is not None else None,
        customer_email=email, platform_customer_id=customer_id, platform_order_ids=orders, shop_domain=shop_domain,
    )  # fmt: skip


def parse_customer_redact(payload: object) -> CustomerRedact:
    """A customers/redact body (mandatory compliance webhook): whose personal data to erase, and their orders."""
    body = f.object_(payload, "")
    shop_domain, email, customer_id = _privacy_subject(body)
    orders = _order_ids(body, "orders_to_redact")
    _require_someone(email, customer_id, orders, "orders_to_redact")
    return CustomerRedact(customer_email=email, platform_customer_id=customer_id, platform_order_ids=orders,
                          shop_domain=shop_domain)  # fmt: skip


def parse_shop_redact(payload: object) -> ShopRedact:
    """A shop/redact body (mandatory compliance webhook, 48 hours after the app was uninstalled)."""
    body = f.object_(payload, "")
    f.field(body, "shop_id", "", _number_id, required=False)
    return ShopRedact(shop_domain=f.field(body, "shop_domain", "", f.text))


def _privacy_subject(body: dict) -> tuple[str, str | None, str | None]:
    """The shop the body names, and the customer's e-mail and id (either may be missing: some customer records
    hold only an e-mail). The phone is checked for its type and not kept: Palautus stores no phone numbers."""
    f.field(body, "shop_id", "", _number_id, required=False)
    shop_domain = f.field(body, "shop_domain", "", f.text)
    customer = f.field(body, "customer", "", f.object_)
    f.field(customer, "phone", "customer", f.note, required=False)
    email = f.field(customer, "email", "customer", f.note, required=False)
    return shop_domain, email.strip() if email else None, _id(customer, "customer", "Customer", required=False)


def _order_ids(body: dict, key: str) -> tuple[str, ...]:
    """A list of order ids (numbers, or digit strings from tools that keep big integers exact), each once."""
    values = f.field(body, key, "", f.list_, required=False) or []
    return tuple(dict.fromkeys(_number_id(value, f"{key}[{i}]") for i, value in enumerate(values)))


def _require_someone(email: str | None, customer_id: str | None, orders: tuple, key: str) -> None:
    if email is None and customer_id is None and not orders:
        raise PayloadError(f"customer: no id or email, and {key} is empty: the request names nobody")


def _by_parent(amounts: list[tuple[str | None, int]]) -> tuple[tuple[str, int], ...]:
    """What a refund took back from each payment (a refund may take from two: card and gift card)."""
    totals: dict[str, int] = {}
    for parent, amount in amounts:
        if parent is not None:
            totals[parent] = totals.get(parent, 0) + amount
    return tuple(totals.items())


def _refunds_shipping(refund: dict) -> bool:
    """Did the refund give back shipping: a refund shipping line, or (older refunds) a shipping_refund adjustment?

    Only whether, not how much: Palautus never refunds shipping the shop has refunded
    itself, in whole or in part, so the amounts' tax treatment does not matter here.
    """
    if f.each(refund, "refund_shipping_lines", ""):
        return True
    adjustments = f.each(refund, "order_adjustments", "")
    return any(f.field(a, "kind", p, f.text, required=False) == "shipping_refund" for p, a in adjustments)


def _refund_return_id(refund: dict) -> str | None:
    """The return a refund was made for (`return`: {id, admin_graphql_api_id}), or None."""
    ret = f.field(refund, "return", "", f.object_, required=False)
    return _id(ret, "return", "Return") if ret is not None else None


def parse_return_request(payload: object) -> ReturnRequestData:
    """A returns/request body as ReturnRequestData; an empty return_line_items gives no items."""
    ret = f.object_(payload, "")
    rows = f.each(ret, "return_line_items", "")
    items = tuple(_return_item(row, path) for path, row in rows)
    notes = (f.field(row, "customer_note", path, f.note, required=False) for path, row in rows)
    customer_note = "\n".join(dict.fromkeys(n for n in notes if n)) or None
    return ReturnRequestData(
        platform_return_id=_id(ret, "", "Return"),
        platform_order_id=_id(f.field(ret, "order", "", f.object_), "order", "Order"),
        items=items,
        name=f.field(ret, "name", "", f.note, required=False),
        customer_note=customer_note,
    )


def parse_return_status(topic: str, payload: object) -> ReturnStatusChange:
    """A returns/approve, /decline, /cancel or /close body as a ReturnStatusChange in our statuses."""
    status = STATUS_TOPICS.get(topic) if isinstance(topic, str) else None
    if status is None:
        raise PayloadError(f"topic {topic if isinstance(topic, str) else '?'} is not a return status change")
    ret = f.object_(payload, "")
    decline = f.field(ret, "decline", "", f.object_, required=False) or {}
    rows = f.each(ret, "return_line_items", "")
    return ReturnStatusChange(
        platform_return_id=_id(ret, "", "Return"),
        platform_order_id=_status_order_id(ret),
        status=status.value,
        reason=f.field(decline, "reason", "decline", f.text, required=False),
        note=f.field(decline, "note", "decline", f.note, required=False),
        items=tuple(_return_item(row, path) for path, row in rows),
    )


def _order_line(line: dict, path: str, currency: str, shop_currency: str) -> OrderLineData:
    taxes = f.each(line, "tax_lines", path)
    return OrderLineData(
        platform_line_id=_id(line, path, "LineItem"),
        title=f.field(line, "title", path, f.text),
        quantity=f.field(line, "quantity", path, f.quantity),
        unit_price=_money(line, "price", path, currency, shop_currency),
        discount_total=_line_discount(line, path, currency, shop_currency),
        tax_total=sum(_money(t, "price", p, currency, shop_currency) for p, t in taxes),
        tax_rate=sum((f.field(t, "rate", p, f.decimal) for p, t in taxes), Decimal(0)),
        sku=f.field(line, "sku", path, f.note, required=False),
        product_id=f.field(line, "product_id", path, _number_id, required=False),
        variant_id=f.field(line, "variant_id", path, _number_id, required=False),
        gift_card=f.field(line, "gift_card", path, f.bool_, required=False) or False,
    )


def _line_discount(line: dict, path: str, currency: str, shop_currency: str) -> int:
    """Sum of the line's discount allocations; the older `total_discount` when they are absent."""
    if line.get("discount_allocations") is None:
        return _money(line, "total_discount", path, currency, shop_currency, required=False) or 0
    allocations = f.each(line, "discount_allocations", path)
    return sum(_money(a, "amount", p, currency, shop_currency) for p, a in allocations)


def _refund_line(row: dict, path: str) -> ShopRefundLine:
    """Units of one order line; the money is in the refund's transactions, which say where it went."""
    nested = f.field(row, "line_item", path, f.object_, required=False) or {}
    if nested.get("admin_graphql_api_id") is not None:
        line_id = _id(nested, f"{path}.line_item", "LineItem")
    else:
        line_id = f.field(row, "line_item_id", path, _number_id)
    return ShopRefundLine(platform_line_id=line_id, quantity=f.field(row, "quantity", path, f.quantity))


def _refund_currency(refund: dict, rows: list, transactions: list) -> str:
    """One currency for the whole refund: the transactions', else the presentment currency of its amounts."""
    found = [f.field(t, "currency", path, f.currency, required=False) for path, t in transactions]
    found += [_set_currency(row, "subtotal_set", path) for path, row in rows]
    found.append(_set_currency(refund, "total_duties_set", ""))
    codes = list(dict.fromkeys(code for code in found if code))
    if len(codes) > 1:
        raise PayloadError(f"refund mixes currencies {', '.join(codes)}")
    if not codes:
        raise PayloadError("refund: no currency in transactions[].currency or any presentment_money")
    return codes[0]


def _refund_status(transaction: dict, path: str) -> str | None:
    """A refund transaction's status in lower case; None for a transaction of another kind."""
    kind = f.field(transaction, "kind", path, f.text)
    status = f.field(transaction, "status", path, f.text)
    return status.lower() if kind.lower() == "refund" else None


def _return_item(row: dict, path: str) -> ReturnItemData:
    fulfilled_path = f"{path}.fulfillment_line_item"
    fulfilled = f.field(row, "fulfillment_line_item", path, f.object_)
    line = f.field(fulfilled, "line_item", fulfilled_path, f.object_)
    return ReturnItemData(
        platform_line_id=_id(line, f"{fulfilled_path}.line_item", "LineItem"),
        quantity=f.field(row, "quantity", path, f.quantity),
        reason=_reason(row, path),
        reason_note=f.field(row, "return_reason_note", path, f.note, required=False),
        platform_item_id=_id(row, path, "ReturnLineItem", required=False),
    )


def _reason(row: dict, path: str) -> str:
    """Our reason code; values Shopify may add later count as OTHER, a missing one as UNKNOWN."""
    code = f.field(row, "return_reason", path, f.text, required=False)
    if code is None:
        return Reason.UNKNOWN.value
    return REASONS.get(code.lower(), Reason.OTHER).value


def _status_order_id(ret: dict) -> str | None:
    """approve/decline carry `order{id}`; cancel/close only `order_id`."""
    order = f.field(ret, "order", "", f.object_, required=False)
    if order is not None:
        return _id(order, "order", "Order")
    return f.field(ret, "order_id", "", _number_id, required=False)


def _money(obj: dict, key: str, path: str, currency: str, shop_currency: str | None, *, required=True):
    """Minor units of `<key>_set.presentment_money`, or of the plain `<key>` when it is in that currency."""
    bag = f.field(obj, f"{key}_set", path, f.object_, required=False)
    if bag is not None:
        return _presentment(bag, f.at(path, f"{key}_set"), currency)
    if obj.get(key) is not None and currency != shop_currency:
        raise PayloadError(f"{f.at(path, key + '_set')}: missing, and {key} is not in {currency}")
    return f.field(obj, key, path, f.minor_units(currency), required=required)


def _presentment(bag: dict, path: str, currency: str) -> int:
    code = _bag_currency(bag, path)
    if code != currency:
        raise PayloadError(f"{path}.presentment_money.currency_code: {code}, expected {currency}")
    money = bag["presentment_money"]
    return f.field(money, "amount", f"{path}.presentment_money", f.minor_units(currency))


def _set_currency(obj: dict, key: str, path: str) -> str | None:
    bag = f.field(obj, key, path, f.object_, required=False)
    return _bag_currency(bag, f.at(path, key)) if bag else None


def _bag_currency(bag: dict, path: str) -> str:
    money = f.field(bag, "presentment_money", path, f.object_)
    return f.field(money, "currency_code", f"{path}.presentment_money", f.currency)


def _id(obj: dict, path: str, kind: str, *, required: bool = True) -> str | None:
    """The numeric id, exact from `admin_graphql_api_id` when present, else from `id`."""
    gid = obj.get("admin_graphql_api_id")
    number = f.field(obj, "id", path, _number_id, required=required and gid is None)
    if gid is None:
        return number
    gid_path = f.at(path, "admin_graphql_api_id")
    match = _GID.fullmatch(gid) if isinstance(gid, str) else None
    if match is None or match[1] != kind:
        f.fail(gid_path, f"a gid://shopify/{kind}/<id> string", gid)
    return _number_id(match[2], gid_path)


def _number_id(value: object, path: str) -> str:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_ID:
        return str(value)
    f.fail(path, "a positive 64-bit integer id", value)


