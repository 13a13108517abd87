"""/api/v1/orders/{order_id}: an order as Palautus knows it, whichever platform it came from.

For customer service and operators: the lines and what is left to return of
each, the payments with the route a refund would take, the refunds made
anywhere (in the shop's admin, or by Palautus), the returns, and when the
snapshot last changed, so they can see why a return is or is not refundable.
"""
from __future__ import annotations

from sqlalchemy import select

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.schemas import OrderOut
from integration.errors import NotFound
from integration.models import Return
from integration.services import returns as uc
from integration.services.ledger import refundable
from integration.services.orders import order_by_platform_id

bp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Orders as Palautus knows them")
bp.before_request(authenticate)


@bp.get("/orders/<string(maxlength=64):order_id>")
@bp.response(200, OrderOut)
@bp.error_responses(404)
def get_order(order_id):
    """An order: its lines and what is left to return, its payments and refund routes, its refunds and returns"""
    c, shop = ctx(), current_shop()
    order = order_by_platform_id(c.session, shop.id, order_id)
    if order is None:
        raise NotFound(f"order {order_id} is not known to Palautus (no webhook has told it of the order yet)")
    left, routes = uc.returnable(c, order), c.routes_for(shop)
    returns = c.session.scalars(select(Return).where(Return.order_id == order.id).order_by(Return.id)).all()
    return {
        "order": order,
        "lines": [{"line": line, "returnable": max(left.get(line.id, 0), 0)} for line in order.lines],
        "payments": [{"payment": p, "route": routes.route_of(p) or "none", "refundable": refundable(c.session, p)} for p in order.payments],
        "refunds": order.shop_refunds,
        "returns": returns,
    }

