"""The policy editor's form, built from the policy's own stored settings so a setting added there shows up here.

Each setting (a key of `ReturnPolicy().to_dict()`) gets a widget from the shape of its default and its dataclass
type: a checkbox for a flag, a number (empty for none where the setting may be null), a choice where an enum
names the values, a text line, checkboxes for a list of known choices, one line per entry for a list of words,
"EUR 5.90" lines for amounts per currency, a fieldset per method for the ways back, and JSON for anything
richer. What the form sends becomes the dict the JSON API merges into the stored policy; ReturnPolicy.from_dict
judges it, and its InvalidInput is the page's message.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from enum import Enum

from integration.errors import InvalidInput
from integration.money import to_decimal, to_minor
from integration.policy import RefundOn, ReturnPolicy, ShippingRefund
from integration.return_methods import LANGUAGES, MethodOffer
from integration.returns import Reason, ReturnMethod

__all__ = ["PolicyField", "policy_fields", "changes_from"]

# The settings whose values an enum lists (a select, or checkboxes for a list of them).
CHOICES: dict[str, type[Enum]] = {"refund_on": RefundOn, "refund_shipping": ShippingRefund, "methods": ReturnMethod,
                                  "auto_approve_reasons": Reason}  # fmt: skip
AMOUNTS = {"return_shipping_fees", "auto_approve_max_order_values", "fee"}  # {currency: minor units}
MAX_TEXT = 20_000  # characters one field may send: a policy is settings, not documents
AMOUNT_LINE = re.compile(r"([A-Za-z]{3})\s*[:= ]\s*(\S+)")


@dataclass(frozen=True)
class PolicyField:
    """One setting as the form shows it: name, label, widget, value as the widget holds it, choices, help."""

    name: str
    label: str
    widget: str  # checkbox|number|optional_number|select|text|checkboxes|lines|amounts|methods|json
    value: object
    choices: tuple[str, ...] = ()
    help: str = ""
    default: object = None  # the setting's default (stored form): what an emptied JSON field means


def _widget(name: str, default, annotation: str) -> str:
    if name == "methods":
        return "methods"
    if name in AMOUNTS:
        return "amounts"
    if isinstance(default, bool):
        return "checkbox"
    if isinstance(default, int) or (default is None and "int" in annotation):
        return "number" if default is not None else "optional_number"
    if isinstance(default, str):
        return "select" if name in CHOICES else "text"
    if isinstance(default, list) and all(isinstance(v, str) for v in default):
        return "checkboxes" if name in CHOICES else "lines"
    return "json"


def _amounts_text(value) -> str:
    return "\n".join(f"{cur} {to_decimal(amount, cur)}" for cur, amount in (value or {}).items())


def _shown(widget: str, value):
    """The stored value as its widget holds it."""
    if widget == "lines":
        return "\n".join(str(v) for v in value or [])
    if widget == "amounts":
        return _amounts_text(value)
    if widget == "optional_number":
        return "" if value is None else value
    if widget == "methods":
        return _methods_shown(value)
    if widget == "json":
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return value


def _methods_shown(value) -> dict:
    """{method: {"offered", "carrier", "drop_off_code", "fee", "instructions": {language: text}}} of the stored list."""
    offers = {offer.method: offer for offer in map(MethodOffer.parse, value or [])}
    shown = {}
    for method in ReturnMethod:
        offer = offers.get(method.value, MethodOffer(method.value))
        shown[method.value] = {"offered": method.value in offers, "carrier": offer.carrier or "",
                               "drop_off_code": offer.drop_off_code or "", "fee": _amounts_text(offer.fee),
                               "instructions": {lang: offer.instructions.get(lang, "") for lang in LANGUAGES}}  # fmt: skip
    return shown


def _help(name: str) -> str:
    """The JSON API's description of the setting, where its schema has one (one wording for both)."""
    from integration.api.schemas import PolicySchema

    field = PolicySchema().fields.get(name)
    return str(field.metadata.get("description", "")) if field is not None else ""


def policy_fields(stored: dict, form=None) -> list[PolicyField]:
    """Every stored setting with the shop's value (its default where it has none), or as `form` sent it."""
    defaults = ReturnPolicy().to_dict()
    current, types = {**defaults, **(stored or {})}, {f.name: str(f.type) for f in fields(ReturnPolicy)}
    result = []
    for name, default in defaults.items():
        widget = _widget(name, default, types.get(name, ""))
        choices = tuple(e.value for e in CHOICES[name]) if name in CHOICES else ()
        value = _sent(widget, name, form) if form is not None else _shown(widget, current.get(name))
        label = name.replace("_", " ").capitalize()
        result.append(PolicyField(name, label, widget, value, choices, _help(name), default))
    return result


def _sent(widget: str, name: str, form):
    """A field's value as the form sent it, for showing the form again after a refusal."""
    if widget == "checkbox":
        return form.get(name) == "1"
    if widget == "checkboxes":
        return form.getlist(name)
    if widget == "methods":
        offered = set(form.getlist("methods"))
        return {m.value: {"offered": m.value in offered, **{k: form.get(f"method_{m.value}_{k}", "") for k in
                ("carrier", "drop_off_code", "fee")}, "instructions": {lang: form.get(f"method_{m.value}_instructions_{lang}", "")
                for lang in LANGUAGES}} for m in ReturnMethod}  # fmt: skip
    return form.get(name, "")


def _amounts(raw: str, label: str) -> dict:
    """"EUR 5.90" lines as {currency: minor units}."""
    amounts = {}
    for line in filter(None, (line.strip() for line in raw.splitlines())):
        match = AMOUNT_LINE.fullmatch(line)
        if not match:
            raise InvalidInput(f"{label}: write one currency and amount per line, like EUR 5.90")
        amounts[match[1].upper()] = to_minor(match[2].replace(",", "."), match[1])
    return amounts


def _method(method: str, form) -> str | dict:
    """One offered method as stored: its name, or an object with the settings the form gave it."""
    entry = {"method": method, "carrier": form.get(f"method_{method}_carrier", "").strip(),
             "drop_off_code": form.get(f"method_{method}_drop_off_code", "").strip()}  # fmt: skip
    texts = {lang: form.get(f"method_{method}_instructions_{lang}", "").strip() for lang in LANGUAGES}
    entry["instructions"] = {lang: text for lang, text in texts.items() if text}
    fee = form.get(f"method_{method}_fee", "")
    entry["fee"] = _amounts(fee, f"Fee of {method.replace('_', ' ')}") if fee.strip() else None
    entry = {key: value for key, value in entry.items() if value not in ("", None, {})}
    return method if len(entry) == 1 else entry


def _parse(field: PolicyField, form):
    raw = form.get(field.name, "")
    if len(raw) > MAX_TEXT:
        raise InvalidInput(f"{field.label}: too long")
    if field.widget == "checkbox":
        return form.get(field.name) == "1"
    if field.widget in ("number", "optional_number"):
        if field.widget == "optional_number" and not raw.strip():
            return None
        try:
            return int(raw.strip())
        except ValueError:
            raise InvalidInput(f"{field.label} must be a whole number") from None
    if field.widget == "checkboxes":
        return [v for v in form.getlist(field.name) if v in field.choices]
    if field.widget == "methods":
        return [_method(m, form) for m in field.choices if m in form.getlist("methods")]
    if field.widget == "lines":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if field.widget == "amounts":
        return _amounts(raw, field.label)
    if field.widget == "json":
        try:
            return json.loads(raw) if raw.strip() else field.default
        except ValueError:
            raise InvalidInput(f"{field.label} must be JSON, as shown in the field") from None
    return raw.strip()


def changes_from(form, stored: dict) -> dict:
    """Every setting as the form sends it, in the shape ReturnPolicy.from_dict takes; InvalidInput names a bad one."""
    return {field.name: _parse(field, form) for field in policy_fields(stored)}
