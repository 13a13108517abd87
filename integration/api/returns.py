"""/api/v1/returns: list, read, open and move returns; /api/v1/refunds: find refunds."""
from __future__ import annotations

from flask.views import MethodView
from sqlalchemy import func, select

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.schemas import (
    NoteIn, ReceiveIn, RefundOut, RefundPlanOut, RefundQuery, RejectIn, ReturnCreate, ReturnOut, ReturnQuery,
    ReturnSummary, TransitIn,
)  # fmt: skip
from integration.errors import NotFound
from integration.models import Order, Refund, Return
from integration.policy import ReturnPolicy
from integration.returns import Actor, ReturnSource
from integration.services import refunds as refund_book
from integration.services import returns as uc
from integration.services.orders import order_by_platform_id

bp = Blueprint("returns", __name__, url_prefix="/api/v1", description="Returns and refunds")
bp.before_request(authenticate)

MERCHANT = Actor.MERCHANT
# Ids are 32-bit in the database: a larger one is no return of ours (404), not a driver overflow (500).
RETURN = "/returns/<int(min=1, max=2147483647):return_id>"


def _page(query, pagination):
    session = ctx().session
    pagination.item_count = session.scalar(select(func.count()).select_from(query.subquery()))
    offset = (pagination.page - 1) * pagination.page_size
    if offset >= pagination.item_count:  # past the end: nothing to fetch (and ?page=10**20 would overflow SQL)
        return []
    return session.scalars(query.offset(offset).limit(pagination.page_size)).all()


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
        return _page(query.order_by(Return.id.desc()), pagination_parameters)

    @bp.arguments(ReturnCreate)
    @bp.response(201, ReturnOut)
    @bp.error_responses(404)
    def post(self, body):
        """Open a return for an order (customer service)"""
        c, shop = ctx(), current_shop()
        order = order_by_platform_id(c.session, shop.id, body["order_id"])
        if order is None:
            raise NotFound(f"order {body['order_id']} not found")
        items = [uc.ItemRequest(i["line_id"], i["quantity"], i["reason"], i.get("note")) for i in body["items"]]
        return uc.open_return(
            c, shop, order, items, method=body["method"], source=ReturnSource.MERCHANT_API.value,
            actor=MERCHANT, customer_note=body.get("customer_note"),
        )  # fmt: skip


@bp.get(RETURN)
@bp.response(200, ReturnOut)
@bp.error_responses(404)
def get_return(return_id):
    """One return with its items, refunds and timeline"""
    return uc.get_return(ctx(), current_shop(), return_id)


@bp.get(f"{RETURN}/refund-plan")
@bp.response(200, RefundPlanOut)
@bp.error_responses(404)
def refund_plan(return_id):
    """What a refund of this return would pay back now, and why: a preview that changes nothing"""
    c, shop = ctx(), current_shop()
    ret = uc.get_return(c, shop, return_id)
    plan, payment = refund_book.plan_for(c.session, ret, ReturnPolicy.from_dict(shop.policy), c.providers)
    return {**plan.__dict__, "provider": payment.provider if payment else None}


@bp.post(f"{RETURN}/approve")
@bp.arguments(NoteIn)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def approve(body, return_id):
    """Approve a requested return"""
    return uc.approve_return(ctx(), current_shop(), return_id, MERCHANT, body.get("note"))


@bp.post(f"{RETURN}/reject")
@bp.arguments(RejectIn)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def reject(body, return_id):
    """Reject a requested return"""
    return uc.reject_return(ctx(), current_shop(), return_id, MERCHANT, body.get("reason"), body.get("note"))


@bp.post(f"{RETURN}/cancel")
@bp.arguments(NoteIn)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def cancel(body, return_id):
    """Cancel a return that has not been received"""
    return uc.cancel_return(ctx(), current_shop(), return_id, MERCHANT, body.get("note"))


@bp.post(f"{RETURN}/in-transit")
@bp.arguments(TransitIn)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def in_transit(body, return_id):
    """The parcel is on its way back"""
    return uc.mark_in_transit(ctx(), current_shop(), return_id, MERCHANT, body.get("tracking"))


@bp.post(f"{RETURN}/receive")
@bp.arguments(ReceiveIn)
@bp.response(200, ReturnOut)
@bp.error_responses(404, 409)
def receive(body, return_id):
    """The goods are back; refunds start here when the policy says refund_on=received"""
    conditions = {i["item_id"]: {"condition": i.get("condition"), "restock": i.get("restock")} for i in body["items"]}
    return uc.receive_return(ctx(), current_shop(), return_id, MERCHANT, conditions)


@bp.post(f"{RETURN}/refund")
@bp.response(202, ReturnOut)
@bp.error_responses(404, 409)
def refund(return_id):
    """Start the refund the return is owed; the provider is called in the background"""
    c, shop = ctx(), current_shop()
    uc.refund_return(c, shop, return_id, MERCHANT)
    return uc.get_return(c, shop, return_id)


@bp.post(f"{RETURN}/close")
@bp.arguments(NoteIn)
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
    return _page(query.order_by(Refund.id.desc()), pagination_parameters)
