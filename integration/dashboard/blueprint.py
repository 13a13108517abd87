"""The dashboard's blueprint: its pages, templates and stylesheet, behind CSRF checks and strict headers."""
from __future__ import annotations

import json
from datetime import datetime

from flask import Blueprint
from flask_babel import get_locale

from integration.money import to_decimal
from integration.pages import protect_forms

__all__ = ["bp"]

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates", static_folder="static")
protect_forms(bp)


@bp.after_request
def _private(response):
    """A shop's returns and customers' e-mails are never kept by a browser cache or a proxy."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def when(value: datetime | None) -> str:
    """A moment as the dashboard shows it: UTC to the minute."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def money(minor: int | None, currency: str | None) -> str:
    """Minor units in major units with the currency code ("89.99 EUR")."""
    if minor is None or not currency:
        return "—"
    return f"{to_decimal(minor, currency)} {currency}"


def details(data: dict | None) -> list[tuple[str, str]]:
    """A timeline entry's data as (name, text) pairs, empty values left out."""
    shown = []
    for key, value in (data or {}).items():
        if value in (None, "", [], {}):
            continue
        shown.append((str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    return shown


@bp.context_processor
def _helpers():
    return {"when": when, "money": money, "details": details, "lang": str(get_locale() or "en")}
