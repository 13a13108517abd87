"""The returns list and a return's page: items, verdict, refund preview, refunds, timeline, deadline, feedback."""
from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from integration.api.auth import ctx
from integration.dashboard.auth import current_shop
from integration.dashboard.blueprint import bp
from integration.dashboard.queries import ReturnFilters, is_overdue, paged, returns_query
from integration.errors import NotFound, PalautusError
from integration.models import CreditNote, Return, utcnow
from integration.policy import ReturnPolicy
from integration.returns import TRANSITIONS, ReturnMethod, ReturnStatus
from integration.services import ledger
from integration.services import returns as uc
from integration.services.credit_notes import render_pdf
from integration.services.refunds import REFUNDABLE_FROM

__all__ = ["RETURN", "actions_for", "preview_of"]

RETURN = "/returns/<int(min=1, max=2147483647):return_id>"  # ids are 32-bit: a larger one is no return (404)
# The moves a merchant makes from the dashboard, by the status each leads to (refund is not a status move).
MOVES = {"approve": ReturnStatus.APPROVED, "reject": ReturnStatus.REJECTED, "receive": ReturnStatus.RECEIVED,
         "cancel": ReturnStatus.CANCELLED, "close": ReturnStatus.CLOSED}  # fmt: skip


@bp.get("/")
def home():
    return redirect(url_for("dashboard.returns"))


@bp.get("/returns")
def returns():
    """The shop's returns, filtered and paged, newest first."""
    filters, now = ReturnFilters.from_args(request.args), utcnow()
    page = paged(ctx().session, returns_query(current_shop().id, filters, now), request.args.get("page", 1, type=int))
    return render_template("dashboard/returns.html", page=page, filters=filters, now=now, is_overdue=is_overdue,
                           statuses=[s.value for s in ReturnStatus], methods=[m.value for m in ReturnMethod])  # fmt: skip


def actions_for(ret: Return) -> list[str]:
    """The actions the return's status allows, in the order the page offers them."""
    allowed = TRANSITIONS[ReturnStatus(ret.status)]
    names = [name for name, target in MOVES.items() if target in allowed]
    return names + (["refund"] if ret.status in REFUNDABLE_FROM else [])


def preview_of(ret: Return) -> dict:
    """What a refund would pay back now (ledger.plan_for, a preview that changes nothing), or why it cannot."""
    c, shop = ctx(), current_shop()
    routes = c.routes_for(shop)
    try:
        plan, payment = ledger.plan_for(c.session, ret, ReturnPolicy.from_dict(shop.policy), routes)
    except PalautusError as e:  # the policy cannot price this order (no return shipping fee in its currency)
        return {"error": e.message}
    return {"plan": plan, "provider": payment.provider if payment else None,
            "route": routes.route_of(payment) if payment else None}  # fmt: skip


@bp.get(RETURN)
def return_page(return_id):
    """One return of the shop's (404 for another shop's)."""
    ret = uc.get_return(ctx(), current_shop(), return_id)
    return render_template("dashboard/return.html", ret=ret, order=ret.order, preview=preview_of(ret),
                           actions=actions_for(ret), overdue=is_overdue(ret, utcnow()),
                           notes=notes_of(ret))  # fmt: skip


def notes_of(ret: Return) -> dict[int, CreditNote]:
    """The credit notes Palautus issued for the return's refunds, by refund id."""
    ids = [refund.id for refund in ret.refunds]
    query = select(CreditNote).where(CreditNote.shop_id == ret.shop_id, CreditNote.refund_id.in_(ids))
    return {note.refund_id: note for note in ctx().session.scalars(query)} if ids else {}


@bp.get(f"{RETURN}/credit-notes/<int(min=1, max=2147483647):number>.pdf")
def credit_note_pdf(return_id, number):
    """A credit note of one of the return's refunds, as a PDF (404 for another shop's, or another return's)."""
    ret = uc.get_return(ctx(), current_shop(), return_id)
    note = next((note for note in notes_of(ret).values() if note.number == number), None)
    if note is None:
        raise NotFound(_("No such credit note."))
    return Response(render_pdf(note), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="credit-note-{note.number}.pdf"'})  # fmt: skip


@bp.errorhandler(NotFound)
def _not_found(error):
    """Another shop's return, or none: the same 404, saying nothing of which."""
    return render_template("dashboard/message.html", title=_("Not found"), message=error.message), 404
