"""/api/v1/returns: list, read, open and move returns; /api/v1/refunds: find refunds."""
from __future__ import annotations

from flask.views import MethodView
from sqlalchemy import select

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.paging import page
from integration.api.schemas import (
    NoteIn, ReceiveIn, RefundOut, RefundPlanOut, RefundQuery, RejectIn, ReturnCreate, ReturnOut, ReturnQuery,
    ReturnSummary, TransitIn,
)  # fmt: skip
from integration.errors import Conflict, InvalidInput, NotFound
from integration.models import Order, Refund, Return
from integration.policy import ReturnPolicy
from integration.returns import Actor, ReturnSource
from integration.services import ledger
from integration.services import returns as uc
from integration.services.orders import order_by_platform_id

bp = Blueprint("returns", __name__, url_prefix="/api/v1", description="Returns and refunds")
bp.before_request(authenticate)

MERCHANT = Actor.MERCHANT
# Ids are 32-bit in the database: a larger one is no return of ours (404), not a driver overflow (500).
RETURN = "/returns/<int(min=1, max=2147483647):return_id>"
# The moves' bodies carry only optional details (a note, tracking, conditions): `required=False`
# documents what the moves have always done, take an empty POST as `{}`.


@bp.route("/returns")
class Returns(MethodView):
    @bp.arguments(ReturnQuery, location="query")
    @bp.response(200, ReturnSummary(many=True))
    @bp.error_responses()
    @bp.paginate()
    def get(self, args, pagination_parameters):
        """List the shop's returns, newest first"""
        query = select(Return).where(Return.shop_id == current_shop().id)
        if "status" in args:
            query = query.where(Return.status == args["status"])
        if "code" in args:
            query = query.where(Return.code == args["code"].upper())
        if "order" in args:
            query = query.join(Order).where(Order.platform_order_id == args["order"])
        return page(query.order_by(Return.id.desc()), pagination_parameters)

    @bp.arguments(ReturnCreate)
    @bp.response(201, ReturnOut)
    @bp.error_responses(404)
    def post(self, body):
        """Open a return for an order (customer service)"""
        c, shop = ctx(), current_shop()
        order = order_by_platform_id(c.session, shop.id, body["order_id"])
        if order is None:
            raise NotFound(f"order {body['order_id']} not found")
        _ensure_lines_of(order, [i["line_id"] for i in body["items"]])
        items = [uc.ItemRequest(i["line_id"], i["quantity"], i["reason"], i.get("note")) for i in body["items"]]
        return uc.open_return(
            c, shop, order, items, method=body["method"], source=ReturnSource.MERCHANT_API.value,
            actor=MERCHANT, customer_note=body.get("customer_note"),
        )  # fmt: skip


def _ensure_lines_of(order: Order, line_ids) -> None:
    # Like an unknown order_id, a line_id the order does not have names nothing of ours: 404, not 400,
    # since the request is well formed (the document cannot list which ids exist).
    known = {line.platform_line_id for line in order.lines}
    unknown = [line_id for line_id in line_ids if line_id not in known]
    if unknown:
        raise NotFound(f"order {order.name} has no line {unknown[0]}")


@bp.get(RETURN)
@bp.response(200, ReturnOut)
@bp.error_responses(404)
def get_return(return_id):
    """One return with its items, refunds and timeline"""
    return uc.get_return(ctx(), current_shop(), return_id)


@bp.get(f"{RETURN}/refund-plan")
@bp.response(200, RefundPlanOut)
@bp.error_responses(404, 409)
def refund_plan(return_id):
    """What a refund of this return would pay back now, and why: a preview that changes nothing"""
    c, shop = ctx(), current_shop()
    ret = uc.get_return(c, shop, return_id)
    routes = c.routes_for(shop)
    try:
        plan, payment = ledger.plan_for(c.session, ret, ReturnPolicy.from_dict(shop.policy), routes)
    except InvalidInput as e:  # the policy cannot price this order (no return shipping fee in its currency)
        raise Conflict(e.message) from None
    return {**plan.__dict__, "provider": payment.provider if payment else None,
            "route": routes.route_of(payment) if payment else None}


@bp.post(f"{RETURN}/approve")
@bp.arguments(NoteIn, required=False)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def approve(body, return_id):
    """Approve a requested return"""
    return uc.approve_return(ctx(), current_shop(), return_id, MERCHANT, body.get("note"))


@bp.post(f"{RETURN}/reject")
@bp.arguments(RejectIn, required=False)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def reject(body, return_id):
    """Reject a requested return"""
    return uc.reject_return(ctx(), current_shop(), return_id, MERCHANT, body.get("reason"), body.get("note"))


@bp.post(f"{RETURN}/cancel")
@bp.arguments(NoteIn, required=False)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def cancel(body, return_id):
    """Cancel a return that has not been received"""
    return uc.cancel_return(ctx(), current_shop(), return_id, MERCHANT, body.get("note"))


@bp.post(f"{RETURN}/in-transit")
@bp.arguments(TransitIn, required=False)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def in_transit(body, return_id):
    """The parcel is on its way back"""
    return uc.mark_in_transit(ctx(), current_shop(), return_id, MERCHANT, body.get("tracking"))


@bp.post(f"{RETURN}/receive")
@bp.arguments(ReceiveIn, required=False)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def receive(body, return_id):
    """The goods are back; refunds start here when the policy says refund_on=received"""
    c, shop = ctx(), current_shop()
    conditions = {i["item_id"]: {"condition": i.get("condition"), "restock": i.get("restock")} for i in body["items"]}
    _ensure_items_of(uc.get_return(c, shop, return_id), conditions)
    return uc.receive_return(c, shop, return_id, MERCHANT, conditions)


def _ensure_items_of(ret: Return, item_ids) -> None:
    # An item_id the return does not have is a 404, as an unknown line_id is for POST /returns.
    unknown = set(item_ids) - {item.id for item in ret.items}
    if unknown:
        raise NotFound(f"return {ret.code} has no item {min(unknown)}")


@bp.post(f"{RETURN}/refund")
@bp.response(202, ReturnOut)
@bp.error_responses(404, 409)
def refund(return_id):
    """Start the refund the return is owed; the provider is called in the background"""
    c, shop = ctx(), current_shop()
    uc.refund_return(c, shop, return_id, MERCHANT)
    return uc.get_return(c, shop, return_id)


@bp.post(f"{RETURN}/close")
@bp.arguments(NoteIn, required=False)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def close(body, return_id):
    """Close a return: nothing more will happen to it"""
    return uc.close_return(ctx(), current_shop(), return_id, MERCHANT, body.get("note"))


@bp.get("/refunds")
@bp.arguments(RefundQuery, location="query")
@bp.response(200, RefundOut(many=True))
@bp.error_responses()
@bp.paginate()
def list_refunds(args, pagination_parameters):
    """The shop's refunds, newest first: filter by status to find failed ones"""
    query = select(Refund).join(Return).where(Return.shop_id == current_shop().id)
    if "status" in args:
        query = query.where(Refund.status == args["status"])
    return page(query.order_by(Refund.id.desc()), pagination_parameters)
