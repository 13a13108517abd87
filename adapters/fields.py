"""Reading JSON bodies field by field: each reader checks a type and names the JSON path when it fails.

Shared by the platform adapters. Messages name paths and JSON types, never
values: bodies hold personal data. Everything raises `PayloadError`.
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

__all__ = [
    "decimal", "field", "each", "at", "fail", "of_type", "object_", "list_", "string", "text", "bool_", "note",
    "currency", "quantity", "datetime_", "minor_units", "country",
]  # fmt: skip

MAX_QUANTITY = 2**31 - 1
_DECIMAL = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,18})?")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


def decimal(value: object, path: str) -> Decimal:
    """A non-negative decimal from a string ("89.99") or a JSON number, never via binary float maths."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return Decimal(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18:
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value) and 0 <= value < 1e18:
        return Decimal(repr(value))
    fail(path, "a non-negative decimal number", value)


def field(obj: dict, key: str, path: str, parse, *, required: bool = True):
    """`parse(obj[key])`; null counts as missing, which is an error only when required."""
    value = obj.get(key)
    if value is None:
        if required:
            raise PayloadError(f"{at(path, key)}: missing")
        return None
    return parse(value, at(path, key))


def each(obj: dict, key: str, path: str, *, required: bool = False) -> list[tuple[str, dict]]:
    """The objects of a list field, each with its JSON path; a missing optional list is empty."""
    values = field(obj, key, path, list_, required=required) or []
    paths = [f"{at(path, key)}[{i}]" for i in range(len(values))]
    return [(p, object_(v, p)) for p, v in zip(paths, values)]


def at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def fail(path: str, expected: str, value: object) -> NoReturn:
    raise PayloadError(f"{path or 'body'}: expected {expected}, got {_KINDS.get(type(value), 'a number')}")


def of_type(kind: type, expected: str):
    def parse(value: object, path: str):
        return value if isinstance(value, kind) else fail(path, expected, value)

    return parse


object_ = of_type(dict, "an object")
list_ = of_type(list, "a list")
string = of_type(str, "a string")


def text(value: object, path: str) -> str:
    # NUL is legal in JSON but not in a PostgreSQL text column; it never carries meaning here.
    return string(value, path).replace("\x00", "")

bool_ = of_type(bool, "true or false")


def note(value: object, path: str) -> str | None:
    """Free text where an empty string means nothing was written."""
    return text(value, path) or None


def currency(value: object, path: str) -> str:
    if isinstance(value, str) and _CURRENCY.fullmatch(value):
        return value.upper()
    fail(path, "a three-letter ISO 4217 currency code", value)


def quantity(value: object, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_QUANTITY:
        return value
    fail(path, "a positive integer quantity", value)


def datetime_(value: object, path: str) -> datetime:
    """An aware UTC datetime from ISO 8601; a timestamp without an offset is ambiguous and refused."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        if parsed is not None and parsed.utcoffset() is not None:
            return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # not a date, or out of range once moved to UTC
        pass
    fail(path, "an ISO 8601 timestamp with a UTC offset", value)


def minor_units(currency: str):
    """A reader of a decimal amount ("89.99" or a number) as integer minor units of `currency`."""

    def parse(value: object, path: str) -> int:
        try:
            return to_minor(decimal(value, path), currency)
        except InvalidInput as e:
            raise PayloadError(f"{path}: {e.message}") from None

    return parse


_COUNTRY = re.compile(r"[A-Za-z]{2}")


def country(*addresses: object, key: str) -> str | None:
    """The first address's two-letter country code (upper case), or None where none has one: a fact that is
    not there, or not a code, is unknown rather than an error."""
    for address in addresses:
        code = address.get(key) if isinstance(address, dict) else None
        if isinstance(code, str) and _COUNTRY.fullmatch(code.strip()):
            return code.strip().upper()
    return None
