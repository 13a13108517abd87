"""The shop's overviews: failed refunds and why, statements of withdrawal, and what customers said."""
from __future__ import annotations

from flask import render_template, request
from sqlalchemy import select

from integration.api.auth import ctx
from integration.dashboard.auth import current_shop
from integration.dashboard.blueprint import bp
from integration.dashboard.queries import failed_refunds_query, feedback_summary, paged, withdrawals_query
from integration.models import Return

__all__ = ["failed_refunds", "withdrawals", "feedback"]


@bp.get("/refunds/failed")
def failed_refunds():
    """Refunds that failed, with the provider's or Palautus's reason and a link to each return."""
    page = paged(ctx().session, failed_refunds_query(current_shop().id), request.args.get("page", 1, type=int))
    return render_template("dashboard/failed_refunds.html", page=page)


@bp.get("/withdrawals")
def withdrawals():
    """Statements of withdrawal, matched to a return or not."""
    matched = request.args.get("matched", "") if request.args.get("matched") in ("yes", "no") else ""
    c, shop = ctx(), current_shop()
    page = paged(c.session, withdrawals_query(shop.id, matched), request.args.get("page", 1, type=int))
    ids = {row.return_id for row in page.rows if row.return_id}
    found = select(Return.id, Return.code).where(Return.shop_id == shop.id, Return.id.in_(ids))
    codes = dict(c.session.execute(found).all()) if ids else {}
    return render_template("dashboard/withdrawals.html", page=page, matched=matched, codes=codes)


@bp.get("/feedback")
def feedback():
    """How customers rated their returns: count, average, distribution, latest comments."""
    return render_template("dashboard/feedback.html", summary=feedback_summary(ctx().session, current_shop().id))
