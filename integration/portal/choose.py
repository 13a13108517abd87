"""Screens 2 and 3: choose the items, then the method with the refund preview, then confirm."""
from __future__ import annotations

import logging

from flask import redirect, request, url_for
from flask_babel import get_locale, gettext as _

from integration.errors import PalautusError
from integration.i18n import language_or_default
from integration.models import Order
from integration.policy import ReturnPolicy
from integration.refunds import SELLER_FAULT
from integration.portal import bp, links
from integration.portal.common import ctx, current_shop, page
from integration.portal.forms import Choice, read_items
from integration.portal.present import line_states, options, refund_timing
from integration.portal.words import REASONS
from integration.returns import Actor
from integration.services.returns import ItemRequest, open_return

logger = logging.getLogger(__name__)


def _order(token: str) -> Order:
    """The order the token opened, if it is this shop's: else the bad-link page."""
    shop_id, order_id = links.read_order(token)
    order = ctx().session.get(Order, order_id)
    if order is None or shop_id != current_shop().id or order.shop_id != shop_id:
        raise links.BadLink()
    return order


def _policy() -> ReturnPolicy:
    return ReturnPolicy.from_dict(current_shop().policy)


@bp.get("/s/<slug>/order/<token>")
def items(token):
    """Screen 2: every item of the order, whether it can go back and why not, with quantity, reason and note."""
    return _items_page(_order(token), token, {}, {})


@bp.post("/s/<slug>/order/<token>")
def choose(token):
    """Screen 2's answer (on to screen 3), or screen 3's (open the return)."""
    order = _order(token)
    if request.form.get("step") == "confirm":
        return _confirm(order, token)
    states = line_states(ctx(), current_shop(), order, _policy())
    choices, errors = read_items(request.form, {s.line.id: s.left for s in states if s.returnable})
    if errors:
        return _items_page(order, token, request.form, errors, states)
    found = options(ctx(), current_shop(), order, _policy(), _requests(order, choices))
    if not any(option.plan for option in found):
        errors["items"] = " ".join(dict.fromkeys(r for option in found for r in option.reasons)) or _(
            "These items cannot be returned.")
        return _items_page(order, token, request.form, errors, states)
    selection = links.seal("selection", {"s": order.shop_id, "o": order.id, "items": [
        [c.line_id, c.quantity, c.reason, c.note] for c in choices]})  # fmt: skip
    return _method_page(order, token, selection, choices, found, {}, 200)


def _items_page(order: Order, token: str, form, errors: dict, states=None):
    states = states or line_states(ctx(), current_shop(), order, _policy())
    return page("items.html", 400 if errors else 200, order=order, token=token, states=states, form=form,
                errors=errors, reasons=REASONS)  # fmt: skip


def _method_page(order, token, selection, choices, found, errors, status):
    lines = {line.id: line for line in order.lines}
    chosen = [(lines[c.line_id], c) for c in choices]
    policy = _policy()
    # Why a fee the policy names is missing from the preview: the refund planning waives fees for the shop's faults.
    charges = policy.restocking_fee_percent > 0 or policy.return_shipping_fees or any(
        (policy.method(m).fee or {}) for m in policy.methods)  # fmt: skip
    waived = bool(charges) and any(c.reason in SELLER_FAULT for c in choices)
    return page("method.html", status, order=order, token=token, selection=selection, chosen=chosen, options=found,
                errors=errors, reasons=REASONS, form=request.form, refund_timing=refund_timing(policy),
                waived=waived)  # fmt: skip


def _requests(order: Order, choices: list[Choice]) -> list[ItemRequest]:
    lines = {line.id: line for line in order.lines}
    return [ItemRequest(lines[c.line_id].platform_line_id, c.quantity, c.reason, c.note) for c in choices]


def _selection(order: Order) -> tuple[str, list[Choice]]:
    """Screen 2's choice, as screen 3's form carries it back (signed: only this order's lines and our reasons)."""
    token = request.form.get("selection", "")
    data = links.unseal("selection", token)
    lines = {line.id for line in order.lines}
    try:
        choices = [Choice(int(i), int(q), str(r), n if isinstance(n, str) else None) for i, q, r, n in data["items"]]
    except (KeyError, TypeError, ValueError):
        raise links.BadLink() from None
    if data.get("s") != order.shop_id or data.get("o") != order.id or not choices or any(
            c.line_id not in lines or c.quantity < 1 or c.reason not in REASONS for c in choices):  # fmt: skip
        raise links.BadLink()
    return token, choices


def _confirm(order: Order, token: str):
    """Open the return with the chosen method, once the policy says yes to it; else screen 3 again, saying why."""
    selection, choices = _selection(order)
    shop, policy, method = current_shop(), _policy(), request.form.get("method", "")
    requests = _requests(order, choices)
    found = options(ctx(), shop, order, policy, requests)
    option = next((o for o in found if o.method == method), None)
    if option is None or option.plan is None:
        message = " ".join(option.reasons) if option else _("Choose how you will send the items back.")
        return _method_page(order, token, selection, choices, found, {"method": message}, 400)
    try:
        ret = open_return(ctx(), shop, order, requests, method=method, source="portal", actor=Actor.CUSTOMER,
                          customer_email=order.email, language=language_or_default(str(get_locale() or "")))  # fmt: skip
    except PalautusError as e:  # the order changed meanwhile (a refund in the shop): say so, keep the choice
        logger.info("portal return refused: %s", e.message, extra={"order_id": order.id})
        message = _("The return could not be registered: the order changed meanwhile. Please start again.")
        return _method_page(order, token, selection, choices, found, {"method": message}, 409)
    return redirect(url_for("portal.done", token=links.status_token(ret)), 303)
