"""A merchant's moves on a return, each a confirmed POST through the return use cases (never reimplemented).

GET <return>/<action> shows what the action will do, with its fields and a box to tick; the POST does it only
with the box ticked. A use case's refusal (an illegal move, a refund under way, bad input) is shown on the
page with the form as it was sent, never as a server error.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from integration.api.auth import ctx
from integration.dashboard.auth import current_shop
from integration.dashboard.blueprint import bp, money
from integration.dashboard.returns import RETURN, actions_for, preview_of
from integration.errors import Conflict, InvalidInput, NotFound, PalautusError
from integration.models import Return
from integration.money import to_minor
from integration.returns import Actor
from integration.services import returns as uc

__all__ = ["ACTIONS", "CONDITIONS"]

MERCHANT = Actor.MERCHANT
ACTIONS = ("approve", "reject", "receive", "cancel", "close", "refund")
ACTION = f"{RETURN}/<any({', '.join(ACTIONS)}):action>"
CONDITIONS = ("new", "opened", "used", "damaged")  # as the API's receive takes them (api/schemas.py ConditionIn)
STATUS = {InvalidInput: 400, NotFound: 404, Conflict: 409}


def _note() -> str | None:
    return request.form.get("note", "").strip()[:2000] or None


def _approve(c, shop, ret: Return) -> str:
    uc.approve_return(c, shop, ret.id, MERCHANT, _note())
    return _("The return is approved.")


def _reject(c, shop, ret: Return) -> str:
    reason = request.form.get("reason", "").strip()[:500]
    if not reason:
        raise InvalidInput(_("Say why the return is rejected: the customer is told."))
    uc.reject_return(c, shop, ret.id, MERCHANT, reason, _note())
    return _("The return is rejected.")


def conditions_from(form, ret: Return) -> dict:
    """Each item's condition, restock and (withdrawals: the only deduction they allow) deduction, from the form."""
    conditions = {}
    for item in ret.items:
        given = {"condition": form.get(f"condition_{item.id}") or None, "restock": form.get(f"restock_{item.id}") == "1"}
        if given["condition"] not in (None, *CONDITIONS):
            raise InvalidInput(_("Choose a condition from the list."))
        if ret.track == "withdrawal":
            amount = form.get(f"deduction_{item.id}", "").strip().replace(",", ".")
            given["deduction"] = to_minor(amount, ret.order.currency) if amount else 0
            given["deduction_reason"] = form.get(f"deduction_reason_{item.id}", "").strip()[:1000] or None
        conditions[item.id] = given
    return conditions


def _receive(c, shop, ret: Return) -> str:
    uc.receive_return(c, shop, ret.id, MERCHANT, conditions_from(request.form, ret))
    return _("The return is received.")


def _cancel(c, shop, ret: Return) -> str:
    uc.cancel_return(c, shop, ret.id, MERCHANT, _note())
    return _("The return is cancelled.")


def _close(c, shop, ret: Return) -> str:
    uc.close_return(c, shop, ret.id, MERCHANT, _note())
    return _("The return is closed.")


def _refund(c, shop, ret: Return) -> str:
    refund = uc.refund_return(c, shop, ret.id, MERCHANT)
    if refund is None:
        return _("Nothing is left to refund: the return is paid back already.")
    return _("A refund of %(amount)s is on its way to the payment provider.", amount=money(refund.amount, refund.currency))


PERFORM = {"approve": _approve, "reject": _reject, "receive": _receive, "cancel": _cancel, "close": _close,
           "refund": _refund}  # fmt: skip


def _confirm(ret: Return, action: str, message: str | None = None, status: int = 200):
    page = render_template("dashboard/confirm.html", ret=ret, order=ret.order, action=action, message=message,
                           form=request.form, conditions=CONDITIONS, allowed=action in actions_for(ret),
                           preview=preview_of(ret) if action == "refund" else None)  # fmt: skip
    return page, status


@bp.get(ACTION)
def confirm(return_id, action):
    """What the action will do, its fields, and the box to tick."""
    return _confirm(uc.get_return(ctx(), current_shop(), return_id), action)


@bp.post(ACTION)
def act(return_id, action):
    """Do the action through its use case, once confirmed; a refusal is shown with the form."""
    c, shop = ctx(), current_shop()
    ret = uc.get_return(c, shop, return_id)
    if request.form.get("confirm") != "yes":
        return _confirm(ret, action, _("Tick the box to confirm: nothing was changed."), 400)
    try:
        done = PERFORM[action](c, shop, ret)
    except (PalautusError, StaleDataError) as e:
        c.session.rollback()  # nothing of the refused action stays, and the page shows the return as stored
        if isinstance(e, StaleDataError):
            e = Conflict(_("The return was changed at the same moment by someone else: look at it again."))
        status = next((code for kind, code in STATUS.items() if isinstance(e, kind)), 400)
        return _confirm(uc.get_return(c, shop, return_id), action, e.message, status)
    flash(done)
    return redirect(url_for("dashboard.return_page", return_id=return_id), 303)
