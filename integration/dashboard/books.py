"""The bookkeeping pages: a period's refund ledger (totals, VAT per month, country and rate, its first rows), the
same downloads the merchant API offers, and the bookkeeping settings.

Everything is read through the API's own services: the ledger (integration/services/books.py), the files
(integration/services/exports.py, so a file from here is byte for byte the API's for the same period) and the
settings' checks (integration/services/books_settings.py, so the form refuses what the API refuses). Days are the
shop's own, in its bookkeeping time zone, as the API counts them.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from integration.api.auth import ctx
from integration.api.books import MAX_DAYS
from integration.books import vat_summary
from integration.books import totals as book_totals
from integration.dashboard.auth import current_shop
from integration.dashboard.blueprint import bp
from integration.errors import Conflict, InvalidInput
from integration.journal import ANY
from integration.models import utcnow
from integration.services.books import Period, ledger
from integration.services.books_settings import CHARTS, books_of, change_books, zone_of
from integration.services.exports import KINDS, currency_of, export

__all__ = ["books", "books_export", "books_settings", "save_books_settings", "period_from", "last_month",
           "account_rows"]  # fmt: skip

SHOWN_ROWS = 50  # the rows listed on the page; the downloads hold them all
EXPORT = "/books/export/<any(" + ", ".join(f"'{kind}'" for kind in KINDS) + "):kind>"
CURRENCY = re.compile(r"[A-Z]{3}")
ACCOUNT_WORDS = {
    "income": _l("Income"), "output_vat": _l("Output VAT"), "clearing": _l("Clearing (what the provider owes)"),
    "provider_fees": _l("Provider fees"), "external_refunds": _l("Refunds made outside Palautus"),
    "uncredited": _l("Owed to the customer, not refunded"), "unallocated": _l("External refunds, reason unknown"),
    "by_country": _l("VAT country"), "goods": _l("returned goods"), "shipping": _l("shipping refunded"),
    "return_shipping_fee": _l("return shipping fee kept"), "restocking_fee": _l("restocking fee kept"),
    "diminished_value": _l("diminished value kept"),
}  # fmt: skip


def last_month(today: date) -> tuple[date, date]:
    """The first and last day of the month before `today`'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def period_from(values, shop) -> tuple[Period, str | None]:
    """The period `values` (a form or query: from, to) asks for, in the shop's zone, and what is wrong with it;
    last month where nothing was asked for, or where what was asked cannot be used."""
    zone = zone_of(shop)
    fallback = Period(*last_month(utcnow().astimezone(zone).date()), zone)
    raw = {name: (values.get(name) or "").strip() for name in ("from", "to")}
    try:
        first = date.fromisoformat(raw["from"]) if raw["from"] else fallback.first
        last = date.fromisoformat(raw["to"]) if raw["to"] else fallback.last
    except ValueError:
        return fallback, _("A date was not understood: write it as YYYY-MM-DD.")
    if last < first:
        return fallback, _("The last day is before the first.")
    if (last - first).days >= MAX_DAYS:
        return fallback, _("A period is at most %(days)s days: take a longer one in parts.", days=MAX_DAYS)
    if first < date(2000, 1, 1) or last > date(2999, 12, 31):
        return fallback, _("Choose days between the years 2000 and 2999.")
    return Period(first, last, zone), None


@bp.get("/books")
def books():
    """A period's refunds for the books: totals, the VAT summary, the downloads and the first rows."""
    shop = current_shop()
    period, problem = period_from(request.args, shop)
    rows = ledger(ctx().session, shop, period)
    totals = book_totals(rows)
    return render_template(
        "dashboard/books.html", period=period, message=problem, totals=totals, vat=vat_summary(rows),
        rows=rows[:SHOWN_ROWS], row_count=len(rows), currencies=list(totals) or [currency_of(shop)],
        args={"from": period.first.isoformat(), "to": period.last.isoformat()},
    )  # fmt: skip


@bp.get(EXPORT)
def books_export(kind):
    """The period's file of `kind`, as the API's /books/export/... gives it, behind the dashboard's sign-in."""
    shop = current_shop()
    period, problem = period_from(request.args, shop)
    currency = request.args.get("currency") or None
    dialect = request.args.get("dialect") or "rfc4180"
    if problem is None and currency is not None and not CURRENCY.fullmatch(currency):
        problem = _("A currency is three capital letters, such as EUR.")
    if problem is not None:
        return _refused(problem)
    try:
        download = export(ctx().session, shop, period, kind, dialect=dialect, currency=currency)
    except InvalidInput as e:  # an unknown dialect, or an account map that has no account for a row
        return _refused(e.message)
    return Response(download.body, content_type=download.content_type, headers=download.headers())


def _refused(problem: str):
    return render_template("dashboard/message.html", title=_("The file could not be made"), message=problem), 400


def account_rows(accounts: dict) -> list[tuple[str, str, str]]:
    """The effective account map as table rows: what is booked there (in words), the account, and its name."""
    names, rows = accounts.get("names") or {}, []

    def walk(path: list[str], value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk([*path, key], inner)
        else:
            words = [_words(part, path[0]) for part in path]
            rows.append((" › ".join(words), str(value), names.get(str(value), "")))

    for key, value in accounts.items():
        if key not in ("names", "home_country"):
            walk([key], value)
    return rows


def _words(key: str, kind: str) -> str:
    """A key of the account map in the merchant's words: its kind, a component, a rate, or the fallback "*"."""
    if key == ANY:
        return _("any route") if kind == "clearing" else _("any other rate")
    if key in ACCOUNT_WORDS:
        return str(ACCOUNT_WORDS[key])
    return f"{key} %" if re.fullmatch(r"\d+(\.\d+)?", key) else key


def _settings_page(settings: dict, status: int = 200, **extra):
    accounts = books_of(current_shop())["accounts"]
    return render_template("dashboard/books_settings.html", settings=settings, charts=CHARTS,
                           accounts=account_rows(accounts), home_country=accounts.get("home_country"),
                           **extra), status  # fmt: skip


@bp.get("/books/settings")
def books_settings():
    """The bookkeeping settings: credit notes, their prefix, the time zone and the chart; the accounts shown."""
    return _settings_page(books_of(current_shop()))


@bp.post("/books/settings")
def save_books_settings():
    """Save through the API's own checks; a refused setting is shown with the form as sent, nothing is saved."""
    c, shop = ctx(), current_shop()
    form = request.form
    sent = {"credit_notes": form.get("credit_notes") == "1", "credit_note_prefix": form.get("credit_note_prefix", "").strip(),
            "timezone": form.get("timezone", "").strip(), "chart": form.get("chart", "")}  # fmt: skip
    try:
        change_books(shop, sent)
    except (InvalidInput, Conflict) as e:  # a setting refused, or credit notes before the seller is named
        c.session.rollback()
        return _settings_page({**books_of(shop), **sent}, 400, problem=e.message)
    c.session.commit()
    flash(_("The bookkeeping settings are saved."))
    return redirect(url_for("dashboard.books_settings"), 303)
