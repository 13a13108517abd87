"""A shop's bookkeeping settings (`Shop.books`): checked whole before anything is kept.

    credit_notes        true: Palautus issues a credit note per refund (integration/services/credit_notes.py);
                        false (the default): the merchant's ERP issues its own, from the export's references
    credit_note_prefix  what the credit notes' numbers start with ("HY-" gives HY-000001, HY-000002, ...;
                        without one: CN-1, CN-2, ...)
    credit_notes_since  when credit notes were last turned on (set here, never by the merchant): the sweeper issues
                        lost notes only for refunds paid since
    timezone            the IANA zone the shop's books count days in (default UTC, as the providers' reports
                        count them, until the merchant names the shop's own: Europe/Helsinki)
    chart               "fi" (the Finnish chart of accounts) or "bas" (the Swedish BAS chart): the defaults
    accounts            the merchant's own accounts over the chart's defaults (integration/journal.py)
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from integration.errors import Conflict, InvalidInput

__all__ = ["check_books", "change_books", "zone_of", "books_of", "CHARTS", "ZONES"]

CHARTS = ("fi", "bas")
_PREFIX = re.compile(r"[A-Za-z0-9/_.-]{0,20}")
_KEYS = ("credit_notes", "credit_note_prefix", "timezone", "chart", "accounts", "credit_notes_since")


def check_books(settings: dict) -> dict:
    """The settings as they will be kept; InvalidInput naming what is wrong."""
    if not isinstance(settings, dict):
        raise InvalidInput("the bookkeeping settings must be a JSON object")
    unknown = sorted(set(settings) - set(_KEYS))
    if unknown:
        raise InvalidInput(f"not a bookkeeping setting: {', '.join(unknown)} (known: {', '.join(_KEYS)})")
    checked = dict(settings)
    if "credit_notes" in settings and not isinstance(settings["credit_notes"], bool):
        raise InvalidInput("credit_notes must be true or false")
    prefix = settings.get("credit_note_prefix", "")
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidInput("credit_note_prefix must be at most 20 letters, digits or / _ . -")
    if "timezone" in settings:
        checked["timezone"] = _zone_name(settings["timezone"])
    if settings.get("chart", "fi") not in CHARTS:
        raise InvalidInput(f"chart must be one of {', '.join(CHARTS)}")
    if "accounts" in settings:
        checked["accounts"] = _accounts(settings["accounts"], settings.get("chart", "fi"))
    return checked


def change_books(shop, changes: dict) -> dict:
    """Apply `changes` over the shop's settings (keys left out keep their value); the new settings. Not committed."""
    before = dict(shop.books or {})
    changes = {key: value for key, value in changes.items() if key != "credit_notes_since"}
    after = check_books({**before, **changes})
    if after.get("credit_notes") and not before.get("credit_notes"):
        _can_issue(shop)
        after["credit_notes_since"] = datetime.now(timezone.utc).isoformat()
    shop.books = after
    return shop.books


SELLER_FIELDS = ("legal_name", "address", "vat_id")  # what a document amending an invoice names of its issuer


def _can_issue(shop) -> None:
    """A credit note names its seller by legal name, address and VAT id (VAT Directive Art. 226): until the shop's
    profile has them, Palautus issues none."""
    missing = [name for name in SELLER_FIELDS if not str((shop.profile or {}).get(name) or "").strip()]
    if missing:
        raise Conflict(f"credit notes name the seller: set the shop profile's {', '.join(missing)} first "
                           "(the dashboard's profile page, /dashboard/profile)", missing=missing)  # fmt: skip


def books_of(shop) -> dict:
    """The shop's settings with every default filled in, as the API shows them."""
    books = dict(shop.books or {})
    chart = books.get("chart", "fi")
    return {"credit_notes": bool(books.get("credit_notes")), "credit_note_prefix": books.get("credit_note_prefix", ""),
            "timezone": books.get("timezone", "UTC"), "chart": chart,
            "accounts": _account_map(books.get("accounts") or {}, chart).to_dict()}  # fmt: skip


def zone_of(shop) -> ZoneInfo:
    return ZoneInfo((shop.books or {}).get("timezone") or "UTC")


def _zone_name(value) -> str:
    if not isinstance(value, str) or value not in _zones():
        raise InvalidInput("timezone must be an IANA time zone name, such as Europe/Helsinki or UTC")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone must be an IANA time zone name, such as Europe/Helsinki or UTC") from None
    return value


ZONES = sorted(available_timezones() | {"UTC"})
_ZONES = frozenset(ZONES)


def _zones() -> frozenset[str]:
    return _ZONES


def _accounts(value, chart: str) -> dict:
    """The merchant's accounts, checked by building the map they make over the chart's defaults."""
    if not isinstance(value, dict):
        raise InvalidInput("accounts must be a JSON object")
    _account_map(value, chart)
    return value


def _account_map(overrides: dict, chart: str):
    from integration.journal import account_map

    return account_map(chart, overrides)
