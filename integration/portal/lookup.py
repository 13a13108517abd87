"""Screen 1: find the order by its number and the e-mail it was placed with."""
from __future__ import annotations

from flask import redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from integration.limits import PORTAL_LOOKUP_LIMIT, limiter
from integration.models import Order, Shop
from integration.portal import bp, links
from integration.portal.common import current_shop, ctx, page
from integration.portal.forms import read_lookup

__all__ = ["find_order"]


def find_order(session, shop: Shop, number: str, email: str) -> Order | None:
    """The shop's order with this number ("#1001" or "1001") whose e-mail is `email`, in any letter case."""
    number = number.strip().lstrip("#").strip().lower()
    if not number:
        return None
    names = (number, f"#{number}")
    orders = session.scalars(select(Order).where(Order.shop_id == shop.id, func.lower(Order.name).in_(names)))
    wanted = email.strip().casefold()
    return next((order for order in orders if (order.email or "").strip().casefold() == wanted), None)


def prefilled() -> dict:
    """The order number and e-mail a link from the shop carries (?order=#1001&email=...), only ever shown in the
    form for the customer to check and send: nothing is looked up from a link."""
    return {key: request.args.get(key, "")[:limit] for key, limit in (("order", 64), ("email", 320))}


@bp.get("/s/<slug>/")
def start():
    """The portal's front page: the lookup form (filled in from ?order=&email=, as the shop's order e-mails may
    link), and the way to the policy and the withdrawal function."""
    return page("lookup.html", form=prefilled(), errors={})


@bp.post("/s/<slug>/")
@limiter.limit(PORTAL_LOOKUP_LIMIT)
def lookup():
    """Check the pair; one message for any pair that does not match, whichever half is wrong."""
    form, errors = read_lookup(request.form)
    if errors:
        return page("lookup.html", 400, form=form, errors=errors)
    shop = current_shop()
    order = find_order(ctx().session, shop, form["order"], form["email"])
    if order is None:
        errors["form"] = _("We could not find an order with this order number and e-mail address. Check both "
                           "and try again.")  # fmt: skip
        return page("lookup.html", 400, form=form, errors=errors)
    return redirect(url_for("portal.items", token=links.order_token(shop, order)), 303)
