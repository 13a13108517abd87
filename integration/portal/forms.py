"""Reading the customer's forms: every field checked, each problem a message tied to its field, never a 500."""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _

from integration.portal.words import REASONS

__all__ = ["Choice", "clean_email", "read_lookup", "read_items", "read_statement", "read_feedback", "NOTE_MAX"]

NOTE_MAX = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Choice:
    """One item the customer chose to send back: an order line (its row id), units, reason code and note."""

    line_id: int
    quantity: int
    reason: str
    note: str | None = None


def _text(form, name: str, limit: int) -> str:
    return str(form.get(name, "") or "").strip()[: limit + 1]


def clean_email(value: str) -> str | None:
    """The address as typed (trimmed) when it looks like one, else None."""
    value = (value or "").strip()
    return value if len(value) <= 320 and _EMAIL.match(value) else None


def order_number(value: str) -> str:
    """"#1001", " 1001 " and "1001" are the same order number."""
    return (value or "").strip().lstrip("#").strip()


def read_lookup(form) -> tuple[dict, dict[str, str]]:
    """The order number and e-mail of the lookup form, and the problems per field."""
    number, email = order_number(_text(form, "order", 64)), _text(form, "email", 320)
    errors = {}
    if not number or len(number) > 64:
        errors["order"] = _("Enter your order number, for example 1001.")
    if clean_email(email) is None:
        errors["email"] = _("Enter the e-mail address you used for the order, like name@example.com.")
    return {"order": number, "email": email}, errors


def read_items(form, left: dict[int, int]) -> tuple[list[Choice], dict[str, str]]:
    """The chosen items (`left`: units each returnable line has left), and the problems per field."""
    choices, errors = [], {}
    for line_id, units in left.items():
        quantity = _quantity(form.get(f"qty-{line_id}", "0"), units)
        if quantity is None:
            errors[f"qty-{line_id}"] = _("Choose how many to return: from 0 to %(n)s.", n=units)
            continue
        if quantity == 0:
            continue
        reason, note = str(form.get(f"reason-{line_id}", "")), _text(form, f"note-{line_id}", NOTE_MAX)
        if reason not in REASONS:
            errors[f"reason-{line_id}"] = _("Choose why you are returning this item.")
        if len(note) > NOTE_MAX:
            errors[f"note-{line_id}"] = _("Keep the note under %(n)s characters.", n=NOTE_MAX)
        choices.append(Choice(line_id, quantity, reason, note or None))
    if not choices and not errors:
        errors["items"] = _("Choose at least one item to return.")
    return choices, errors


def _quantity(value, most: int) -> int | None:
    text = str(value or "0").strip()
    if not text.isdigit() or len(text) > 6:
        return None
    number = int(text)
    return number if 0 <= number <= most else None


def read_statement(form) -> tuple[dict, dict[str, str]]:
    """The withdrawal statement's three facts (and whether it covers the whole order), and the problems."""
    data = {"name": _text(form, "name", 200), "order": order_number(_text(form, "order", 64)),
            "email": _text(form, "email", 320), "scope": str(form.get("scope") or "all")}  # fmt: skip
    errors = {}
    if not data["name"] or len(data["name"]) > 200:
        errors["name"] = _("Enter your name.")
    if not data["order"] or len(data["order"]) > 64:
        errors["order"] = _("Enter the order number, for example 1001.")
    if clean_email(data["email"]) is None:
        errors["email"] = _("Enter the e-mail address the confirmation should go to, like name@example.com.")
    if data["scope"] not in ("all", "some"):
        errors["scope"] = _("Choose whether you withdraw from the whole order or from some items.")
    return data, errors


def read_feedback(form) -> tuple[dict, dict[str, str]]:
    """A rating from 1 to 5 and an optional comment, and the problems."""
    rating, comment = str(form.get("rating", "")), _text(form, "comment", 2000)
    errors = {}
    if rating not in {"1", "2", "3", "4", "5"}:
        errors["rating"] = _("Choose a rating from 1 to 5.")
    if len(comment) > 2000:
        errors["comment"] = _("Keep the comment under 2000 characters.")
    return {"rating": int(rating) if rating.isdigit() else None, "comment": comment or None}, errors
