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

import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import NoReturn

from adapters.errors import PayloadError
from integration.errors import InvalidInput
from integration.money import to_minor
from integration.records import (
    OrderLineData, OrderSnapshot, ReturnItemData, ReturnRequestData, ReturnStatusChange, ShopRefundData, ShopRefundLine,
)
from integration.returns import Reason, ReturnStatus

__all__ = ["REASONS", "STATUS_TOPICS", "parse_order", "parse_refund", "parse_return_request", "parse_return_status"]

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

_MAX_ID = 2**63 - 1
_MAX_QUANTITY = 2**31 - 1
_GID = re.compile(r"gid://shopify/([A-Za-z]+)/([0-9]{1,19})(?:\?[^\s]*)?")
_DIGITS = re.compile(r"[0-9]{1,19}")
_DECIMAL = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,18})?")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


def parse_order(payload: object) -> OrderSnapshot:
    """An orders/create, /updated, /paid or /cancelled body as an OrderSnapshot."""
    order = _object(payload, "")
    shop_currency = _field(order, "currency", "", _currency)
    currency = _field(order, "presentment_currency", "", _currency, required=False) or shop_currency
    order_id = _id(order, "", "Order")
    rows = _each(order, "line_items", "", required=True)
    return OrderSnapshot(
        platform_order_id=order_id,
        name=_field(order, "name", "", _text),
        currency=currency,
        shop_currency=shop_currency,
        taxes_included=_field(order, "taxes_included", "", _bool),
        updated_at=_field(order, "updated_at", "", _datetime),
        lines=tuple(_order_line(row, path, currency, shop_currency) for path, row in rows),
        email=_field(order, "email", "", _note, required=False),
        financial_status=_field(order, "financial_status", "", _text, required=False),
        processed_at=_field(order, "processed_at", "", _datetime, required=False),
        cancelled_at=_field(order, "cancelled_at", "", _datetime, required=False),
        total=_money(order, "total_price", "", currency, shop_currency),
        platform_gid=order.get("admin_graphql_api_id") or f"gid://shopify/Order/{order_id}",
    )


def parse_refund(payload: object, *, taxes_included: bool = False) -> ShopRefundData:
    """A refunds/create body as ShopRefundData; pass the order's `taxes_included` (the body lacks it)."""
    refund = _object(payload, "")
    rows = _each(refund, "refund_line_items", "")
    transactions = _each(refund, "transactions", "")
    currency = _refund_currency(refund, rows, transactions)
    paid = [(path, t) for path, t in transactions if _is_successful_refund(t, path)]
    parents = (_field(t, "parent_id", path, _number_id, required=False) for path, t in paid)
    return ShopRefundData(
        platform_refund_id=_id(refund, "", "Refund"),
        platform_order_id=_field(refund, "order_id", "", _number_id),
        amount=sum(_field(t, "amount", path, _amount_in(currency)) for path, t in paid),
        currency=currency,
        created_at=_field(refund, "created_at", "", _datetime),
        lines=tuple(_refund_line(row, path, currency, taxes_included) for path, row in rows),
        note=_field(refund, "note", "", _note, required=False),
        parent_transaction_ids=tuple(dict.fromkeys(p for p in parents if p is not None)),
    )


def parse_return_request(payload: object) -> ReturnRequestData:
    """A returns/request body as ReturnRequestData; an empty return_line_items gives no items."""
    ret = _object(payload, "")
    rows = _each(ret, "return_line_items", "")
    items = tuple(_return_item(row, path) for path, row in rows)
    notes = (_field(row, "customer_note", path, _note, required=False) for path, row in rows)
    customer_note = "\n".join(dict.fromkeys(n for n in notes if n)) or None
    return ReturnRequestData(
        platform_return_id=_id(ret, "", "Return"),
        platform_order_id=_id(_field(ret, "order", "", _object), "order", "Order"),
        items=items,
        name=_field(ret, "name", "", _note, required=False),
        customer_note=customer_note,
    )


def parse_return_status(topic: str, payload: object) -> ReturnStatusChange:
    """A returns/approve, /decline, /cancel or /close body as a ReturnStatusChange in our statuses."""
    status = STATUS_TOPICS.get(topic) if isinstance(topic, str) else None
    if status is None:
        raise PayloadError(f"topic {topic if isinstance(topic, str) else '?'} is not a return status change")
    ret = _object(payload, "")
    decline = _field(ret, "decline", "", _object, required=False) or {}
    rows = _each(ret, "return_line_items", "")
    return ReturnStatusChange(
        platform_return_id=_id(ret, "", "Return"),
        platform_order_id=_status_order_id(ret),
        status=status.value,
        reason=_field(decline, "reason", "decline", _text, required=False),
        note=_field(decline, "note", "decline", _note, required=False),
        items=tuple(_return_item(row, path) for path, row in rows),
    )


def _order_line(line: dict, path: str, currency: str, shop_currency: str) -> OrderLineData:
    taxes = _each(line, "tax_lines", path)
    return OrderLineData(
        platform_line_id=_id(line, path, "LineItem"),
        title=_field(line, "title", path, _text),
        quantity=_field(line, "quantity", path, _quantity),
        unit_price=_money(line, "price", path, currency, shop_currency),
        discount_total=_line_discount(line, path, currency, shop_currency),
        tax_total=sum(_money(t, "price", p, currency, shop_currency) for p, t in taxes),
        tax_rate=sum((_field(t, "rate", p, _decimal) for p, t in taxes), Decimal(0)),
        sku=_field(line, "sku", path, _note, required=False),
        product_id=_field(line, "product_id", path, _number_id, required=False),
        variant_id=_field(line, "variant_id", path, _number_id, required=False),
    )


def _line_discount(line: dict, path: str, currency: str, shop_currency: str) -> int:
    """Sum of the line's discount allocations; the older `total_discount` when they are absent."""
    if line.get("discount_allocations") is None:
        return _money(line, "total_discount", path, currency, shop_currency, required=False) or 0
    allocations = _each(line, "discount_allocations", path)
    return sum(_money(a, "amount", p, currency, shop_currency) for p, a in allocations)


def _refund_line(row: dict, path: str, currency: str, taxes_included: bool) -> ShopRefundLine:
    """Where prices include tax the subtotal already holds it, so the tax is added only where they don't."""
    subtotal = _money(row, "subtotal", path, currency, None)
    tax = _money(row, "total_tax", path, currency, None, required=False) or 0
    nested = _field(row, "line_item", path, _object, required=False) or {}
    if nested.get("admin_graphql_api_id") is not None:
        line_id = _id(nested, f"{path}.line_item", "LineItem")
    else:
        line_id = _field(row, "line_item_id", path, _number_id)
    amount = subtotal if taxes_included else subtotal + tax
    return ShopRefundLine(platform_line_id=line_id, quantity=_field(row, "quantity", path, _quantity), amount=amount)


def _refund_currency(refund: dict, rows: list, transactions: list) -> str:
    """One currency for the whole refund: the transactions', else the presentment currency of its amounts."""
    found = [_field(t, "currency", path, _currency, required=False) for path, t in transactions]
    found += [_set_currency(row, "subtotal_set", path) for path, row in rows]
    found.append(_set_currency(refund, "total_duties_set", ""))
    codes = list(dict.fromkeys(code for code in found if code))
    if len(codes) > 1:
        raise PayloadError(f"refund mixes currencies {', '.join(codes)}")
    if not codes:
        raise PayloadError("refund: no currency in transactions[].currency or any presentment_money")
    return codes[0]


def _is_successful_refund(transaction: dict, path: str) -> bool:
    kind = _field(transaction, "kind", path, _text)
    status = _field(transaction, "status", path, _text)
    return kind.lower() == "refund" and status.lower() == "success"


def _return_item(row: dict, path: str) -> ReturnItemData:
    fulfilled_path = f"{path}.fulfillment_line_item"
    fulfilled = _field(row, "fulfillment_line_item", path, _object)
    line = _field(fulfilled, "line_item", fulfilled_path, _object)
    return ReturnItemData(
        platform_line_id=_id(line, f"{fulfilled_path}.line_item", "LineItem"),
        quantity=_field(row, "quantity", path, _quantity),
        reason=_reason(row, path),
        reason_note=_field(row, "return_reason_note", path, _note, required=False),
        platform_item_id=_id(row, path, "ReturnLineItem", required=False),
    )


def _reason(row: dict, path: str) -> str:
    """Our reason code; values Shopify may add later count as OTHER, a missing one as UNKNOWN."""
    code = _field(row, "return_reason", path, _text, required=False)
    if code is None:
        return Reason.UNKNOWN.value
    return REASONS.get(code.lower(), Reason.OTHER).value


def _status_order_id(ret: dict) -> str | None:
    """approve/decline carry `order{id}`; cancel/close only `order_id`."""
    order = _field(ret, "order", "", _object, required=False)
    if order is not None:
        return _id(order, "order", "Order")
    return _field(ret, "order_id", "", _number_id, required=False)


def _money(obj: dict, key: str, path: str, currency: str, shop_currency: str | None, *, required=True):
    """Minor units of `<key>_set.presentment_money`, or of the plain `<key>` when it is in that currency."""
    bag = _field(obj, f"{key}_set", path, _object, required=False)
    if bag is not None:
        return _presentment(bag, _at(path, f"{key}_set"), currency)
    if obj.get(key) is not None and currency != shop_currency:
        raise PayloadError(f"{_at(path, key + '_set')}: missing, and {key} is not in {currency}")
    return _field(obj, key, path, _amount_in(currency), required=required)


def _presentment(bag: dict, path: str, currency: str) -> int:
    code = _bag_currency(bag, path)
    if code != currency:
        raise PayloadError(f"{path}.presentment_money.currency_code: {code}, expected {currency}")
    money = bag["presentment_money"]
    return _field(money, "amount", f"{path}.presentment_money", _amount_in(currency))


def _set_currency(obj: dict, key: str, path: str) -> str | None:
    bag = _field(obj, key, path, _object, required=False)
    return _bag_currency(bag, _at(path, key)) if bag else None


def _bag_currency(bag: dict, path: str) -> str:
    money = _field(bag, "presentment_money", path, _object)
    return _field(money, "currency_code", f"{path}.presentment_money", _currency)


def _amount_in(currency: str):
    def parse(value: object, path: str) -> int:
        try:
            return to_minor(_decimal(value, path), currency)
        except InvalidInput as e:
            raise PayloadError(f"{path}: {e.message}") from None

    return parse


def _decimal(value: object, path: str) -> Decimal:
    """A non-negative decimal from a string ("89.99") or a JSON number, never via binary float maths."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return Decimal(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18:
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value) and 0 <= value < 1e18:
        return Decimal(repr(value))
    _fail(path, "a non-negative decimal number", value)


def _id(obj: dict, path: str, kind: str, *, required: bool = True) -> str | None:
    """The numeric id, exact from `admin_graphql_api_id` when present, else from `id`."""
    gid = obj.get("admin_graphql_api_id")
    number = _field(obj, "id", path, _number_id, required=required and gid is None)
    if gid is None:
        return number
    gid_path = _at(path, "admin_graphql_api_id")
    match = _GID.fullmatch(gid) if isinstance(gid, str) else None
    if match is None or match[1] != kind:
        _fail(gid_path, f"a gid://shopify/{kind}/<id> string", gid)
    return _number_id(match[2], gid_path)


def _number_id(value: object, path: str) -> str:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_ID:
        return str(value)
    _fail(path, "a positive 64-bit integer id", value)


def _field(obj: dict, key: str, path: str, parse, *, required: bool = True):
    """`parse(obj[key])`; null counts as missing, which is an error only when required."""
    value = obj.get(key)
    if value is None:
        if required:
            raise PayloadError(f"{_at(path, key)}: missing")
        return None
    return parse(value, _at(path, key))


def _each(obj: dict, key: str, path: str, *, required: bool = False) -> list[tuple[str, dict]]:
    """The objects of a list field, each with its JSON path; a missing optional list is empty."""
    values = _field(obj, key, path, _list, required=required) or []
    paths = [f"{_at(path, key)}[{i}]" for i in range(len(values))]
    return [(p, _object(v, p)) for p, v in zip(paths, values)]


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fail(path: str, expected: str, value: object) -> NoReturn:
    raise PayloadError(f"{path or 'body'}: expected {expected}, got {_KINDS.get(type(value), 'a number')}")


def _of_type(kind: type, expected: str):
    def parse(value: object, path: str):
        return value if isinstance(value, kind) else _fail(path, expected, value)

    return parse


_object = _of_type(dict, "an object")
_list = _of_type(list, "a list")
_string = _of_type(str, "a string")


def _text(value: object, path: str) -> str:
    # NUL is legal in JSON but not in a PostgreSQL text column; it never carries meaning here.
    return _string(value, path).replace("\x00", "")

_bool = _of_type(bool, "true or false")


def _note(value: object, path: str) -> str | None:
    """Free text where an empty string means nothing was written."""
    return _text(value, path) or None


def _currency(value: object, path: str) -> str:
    if isinstance(value, str) and _CURRENCY.fullmatch(value):
        return value.upper()
    _fail(path, "a three-letter ISO 4217 currency code", value)


def _quantity(value: object, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_QUANTITY:
        return value
    _fail(path, "a positive integer quantity", value)


def _datetime(value: object, path: str) -> datetime:
    """An aware UTC datetime from ISO 8601; a timestamp without an offset is ambiguous and refused."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        if parsed is not None and parsed.utcoffset() is not None:
            return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # not a date, or out of range once moved to UTC
        pass
    _fail(path, "an ISO 8601 timestamp with a UTC offset", value)
