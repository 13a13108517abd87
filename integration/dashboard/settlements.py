"""The providers' payouts: those read so far, whether each balances, a form to have more read, and one payout's
reconciliation with our refunds to the cent.

The reading is the API's: a job per request (`read_settlement` / `read_settlements` of the app's tasks), through
one of the routes the API accepts for the shop. The report is `reconcile()`'s, worked out again on every view, so a
refund that settles later is matched without reading anything again.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from integration.api.auth import ctx
from integration.dashboard.auth import current_shop
from integration.dashboard.blueprint import bp, money
from integration.dashboard.books import period_from
from integration.dashboard.queries import paged
from integration.errors import NotFound
from integration.models import Return, SettlementRecord
from integration.services.books_settings import zone_of
from integration.services.settlements import reconcile, settlement_routes

__all__ = ["settlements", "read_settlements", "settlement", "difference_words"]

LISTS = ("matched", "external", "fees", "other", "in_transit")
MAX_ID = 255  # SettlementRecord.settlement_id's length


def difference_words(minor: int, currency: str) -> str:
    """A reconciliation's difference in words: it balances to the cent, or by how much it does not."""
    if minor == 0:
        return _("Balances to the cent")
    return _("Differs by %(amount)s", amount=money(abs(minor), currency))


def _page(message: str | None = None, status: int = 200, form=None):
    c, shop = ctx(), current_shop()
    query = select(SettlementRecord).where(SettlementRecord.shop_id == shop.id).order_by(
        SettlementRecord.paid_out_at.desc().nulls_last(), SettlementRecord.id.desc())  # fmt: skip
    page = paged(c.session, query, request.args.get("page", 1, type=int))
    differences = {row.id: reconcile(c.session, shop, row).difference for row in page.rows}
    return render_template("dashboard/settlements.html", page=page, differences=differences, message=message,
                           routes=settlement_routes(c, shop), form=form or {}, words=difference_words,
                           zone=zone_of(shop).key), status  # fmt: skip


@bp.get("/settlements")
def settlements():
    """The payouts read so far, newest first, each with whether it balances; the forms to read more."""
    return _page()


@bp.post("/settlements/read")
def read_settlements():
    """Queue the reading of one payout (by its id) or of a period's payouts, through one of the shop's routes."""
    c, shop, form = ctx(), current_shop(), request.form
    route, tasks = form.get("route", ""), current_app.extensions["tasks"]
    if route not in settlement_routes(c, shop):
        return _page(_("Choose one of the shop's payment routes."), 400, form)
    if form.get("what") == "one":
        payout = form.get("settlement_id", "").strip()
        if not 0 < len(payout) <= MAX_ID:
            return _page(_("Give the payout's id, as the provider shows it."), 400, form)
        tasks.read_settlement(shop.id, route, payout)
        flash(_("Reading payout %(id)s through %(route)s is queued: it is listed here once read.", id=payout, route=route))
    else:
        period, problem = period_from(form, shop)
        if problem or not (form.get("from") and form.get("to")):
            return _page(problem or _("Give the first and the last day."), 400, form)
        tasks.read_settlements(shop.id, route, period.start.isoformat(), period.end.isoformat())
        flash(_("Reading the payouts of %(first)s to %(last)s through %(route)s is queued: they are listed here once read.",
                first=period.first.isoformat(), last=period.last.isoformat(), route=route))  # fmt: skip
    return redirect(url_for("dashboard.settlements"), 303)


@bp.get("/settlements/<int(min=1, max=2147483647):row_id>")
def settlement(row_id):
    """One payout reconciled with our refunds: matched, external, fees, other, in transit, and the totals."""
    c, shop = ctx(), current_shop()
    row = c.session.get(SettlementRecord, row_id)
    if row is None or row.shop_id != shop.id:
        raise NotFound(_("No such payout."))
    report = reconcile(c.session, shop, row).as_dict()
    for name in LISTS:
        report[name] = [_moments(item) for item in report[name]]
    codes = {item["return_code"] for name in ("matched", "in_transit") for item in report[name] if item.get("return_code")}
    found = select(Return.code, Return.id).where(Return.shop_id == shop.id, Return.code.in_(codes))
    return render_template("dashboard/settlement.html", row=row, report=report, totals=report["totals"],
                           returns=dict(c.session.execute(found).all()) if codes else {},
                           words=difference_words)  # fmt: skip


def _moments(item: dict) -> dict:
    """The report's ISO times as datetimes (a matched refund's movements' too), for the page to show them as
    every other page does."""
    shown = {}
    for key, value in item.items():
        if key in ("occurred_at", "completed_at") and value:
            value = datetime.fromisoformat(value)
        elif key == "movements":
            value = [_moments(movement) for movement in value]
        shown[key] = value
    return shown
