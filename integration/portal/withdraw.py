"""The withdrawal function (Art. 11a CRD): a statement, its confirmation, and the acknowledgement of receipt.

Its own track, not a return reason: no reason, photo or approval is asked. Step 1 takes the name, the order
number and the e-mail for the confirmation (and, if the customer wants, which items); step 2 shows the
statement with the one confirmation button. Nothing is stored before that button: step 1's answers travel to
step 2 in a signed token. The stable address of each shop's function is /s/<slug>/withdraw.
"""
from __future__ import annotations

from flask import redirect, request, url_for
from flask_babel import get_locale, gettext as _

from integration.errors import InvalidInput
from integration.i18n import language_or_default
from integration.limits import WITHDRAWAL_LIMIT, limiter
from integration.models import Order, Withdrawal
from integration.portal import bp, links
from integration.portal.common import ctx, current_shop, local_time, page
from integration.portal.forms import read_statement
from integration.portal.lookup import find_order, prefilled
from integration.services.withdrawals import submit_withdrawal

RECEIPT_MAX_AGE = 24 * 3600  # the receipt page; the e-mail is the lasting acknowledgement


@bp.get("/s/<slug>/withdraw")
def withdraw():
    """Step 1: the statement's three facts."""
    return page("withdraw.html", form=prefilled(), errors={}, lines=None)


@bp.post("/s/<slug>/withdraw")
@limiter.limit(WITHDRAWAL_LIMIT)
def statement():
    """Step 1's answer: step 2 (the statement to confirm), or step 1 again; or the confirmation itself."""
    if request.form.get("step") == "confirm":
        return _confirm()
    data, errors = read_statement(request.form)
    order = None
    if not errors and data["scope"] == "some":
        order = find_order(ctx().session, current_shop(), data["order"], data["email"])
        if order is None:
            errors["scope"] = _("To choose items, the order number and e-mail must match your order. Check them, "
                                "or withdraw from the whole order.")  # fmt: skip
        elif request.form.get("picking"):
            data["lines"], errors = _picked(order, request.form)
        else:
            return page("withdraw.html", form=request.form, errors={}, lines=_choosable(order))
    if errors:
        return page("withdraw.html", 400, form=request.form, errors=errors, lines=_choosable(order) if order else None)
    token = links.seal("withdrawal", {"s": current_shop().id, **{k: data.get(k) for k in ("name", "order", "email")},
                                      "lines": data.get("lines") or []})  # fmt: skip
    return page("withdraw_confirm.html", statement=_statement(token), token=token, titles=_titles(order))


def _choosable(order: Order) -> list:
    return [line for line in order.lines if line.quantity > 0]


def _picked(order: Order, form) -> tuple[list, dict]:
    """The items chosen on step 1: [[platform line id, units]], and the problems per field."""
    lines, errors = [], {}
    for line in _choosable(order):
        text = str(form.get(f"qty-{line.id}", "0")).strip()
        if not text.isdigit() or int(text) > line.quantity:
            errors[f"qty-{line.id}"] = _("Choose from 0 to %(n)s.", n=line.quantity)
        elif int(text):
            lines.append([line.platform_line_id, int(text)])
    if not lines and not errors:
        errors["items"] = _("Choose at least one item, or withdraw from the whole order.")
    return lines, errors


def _titles(order: Order | None) -> dict:
    return {line.platform_line_id: line.title for line in order.lines} if order else {}


def _statement(token: str) -> dict:
    """Step 1's answers, signed for this shop."""
    data = links.unseal("withdrawal", token)
    fields_ok = all(isinstance(data.get(k), str) and data.get(k) for k in ("name", "order", "email"))
    if data.get("s") != current_shop().id or not fields_ok or not isinstance(data.get("lines"), list):
        raise links.BadLink()
    return data


def _confirm():
    """The confirmation button: the statement is sent (stored, acknowledged by e-mail), then its receipt."""
    data = _statement(request.form.get("token", ""))
    try:
        lines = [{"platform_line_id": str(line_id), "quantity": int(units)} for line_id, units in data["lines"]]
    except (TypeError, ValueError):
        raise links.BadLink() from None
    language = language_or_default(str(get_locale() or ""))
    try:
        withdrawal = submit_withdrawal(ctx(), current_shop(), customer_name=data["name"], email=data["email"],
                                       order_reference=data["order"], lines=lines or None, language=language)  # fmt: skip
    except InvalidInput:  # what step 1 checked already; a statement signed before a rule changed
        errors = {"form": _("Please check your statement and send it again.")}
        return page("withdraw.html", 400, form={k: data[k] for k in ("name", "order", "email")}, errors=errors, lines=None)
    receipt = links.seal("receipt", {"s": withdrawal.shop_id, "w": withdrawal.id})
    return redirect(url_for("portal.received", token=receipt), 303)


@bp.get("/s/<slug>/withdraw/received/<token>")
def received(token):
    """The acknowledgement on screen: what was sent, its date and time, and that an e-mail confirms it."""
    data = links.unseal("receipt", token, RECEIPT_MAX_AGE)
    withdrawal = ctx().session.get(Withdrawal, data.get("w")) if isinstance(data.get("w"), int) else None
    if withdrawal is None or withdrawal.shop_id != current_shop().id or data.get("s") != withdrawal.shop_id:
        raise links.BadLink()
    order = ctx().session.get(Order, withdrawal.order_id) if withdrawal.order_id else None
    return page("withdraw_received.html", withdrawal=withdrawal, when=local_time(withdrawal.submitted_at), titles=_titles(order))

