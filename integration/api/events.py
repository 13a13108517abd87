"""/api/v1/events: the shop's webhook deliveries as Palautus processed them; failed ones can be run again."""
from __future__ import annotations

from sqlalchemy import select

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.paging import page
from integration.api.schemas import InboxEventOut, InboxEventQuery
from integration.errors import Conflict, NotFound
from integration.models import WebhookEvent
from integration.services.inbox import EventStatus, retry_event

bp = Blueprint("events", __name__, url_prefix="/api/v1", description="Webhook deliveries and how they went")
bp.before_request(authenticate)

EVENT = "/events/<int(min=1, max=2147483647):event_id>"


@bp.get("/events")
@bp.arguments(InboxEventQuery, location="query")
@bp.response(200, InboxEventOut(many=True))
@bp.error_responses()
@bp.paginate()
def list_events(args, pagination_parameters):
    """The shop's webhook deliveries, newest first: filter by status=failed to see what could not be applied"""
    query = select(WebhookEvent).where(WebhookEvent.shop_id == current_shop().id)
    if "status" in args:
        query = query.where(WebhookEvent.status == args["status"])
    return page(query.order_by(WebhookEvent.id.desc()), pagination_parameters)


@bp.post(f"{EVENT}/retry")
@bp.response(202, InboxEventOut)
@bp.error_responses(404, 409)
def retry(event_id):
    """Run a failed delivery again, once its cause is fixed (a missing permission, say); the sweeper picks it up"""
    c = ctx()
    event = c.session.get(WebhookEvent, event_id)
    if event is None or event.shop_id != current_shop().id:
        raise NotFound(f"event {event_id} not found")
    if event.status != EventStatus.FAILED.value:
        raise Conflict(f"event {event_id} is {event.status}, not failed")
    retry_event(c.session, event)
    return event
