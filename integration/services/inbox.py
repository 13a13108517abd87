"""The webhook inbox: store each delivery once; what the receiver answered 200 to is here."""
from __future__ import annotations

from enum import Enum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.models import WebhookEvent, utcnow

__all__ = ["store_event", "EventStatus", "mark_event", "find_events", "retry_event", "REDACTED_BODY"]

# What an erased delivery's body becomes (its row stays: its ids deduplicate deliveries).
REDACTED_BODY = b'{"redacted": true}'


class EventStatus(str, Enum):
    """Where an inbox event stands."""

    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"  # a topic Palautus does not act on
    RETRYING = "retrying"  # failed for a reason that may pass (an order not known yet, an outage)
    FAILED = "failed"  # will fail the same way again: the reason is in `error`


def store_event(session: Session, event: WebhookEvent) -> tuple[WebhookEvent, bool]:
    """Insert the delivery and commit; a repeated delivery id gives the stored row and False."""
    session.add(event)
    try:
        session.commit()
        return event, True
    except IntegrityError:
        session.rollback()
    existing = session.scalar(
        select(WebhookEvent).where(
            WebhookEvent.shop_id == event.shop_id, WebhookEvent.delivery_id == event.delivery_id
        )
    )
    if existing is None:  # the constraint that fired was not ours: a real error
        raise RuntimeError("webhook event could not be stored")
    return existing, False


def mark_event(session: Session, event: WebhookEvent, status: str, error: str | None = None, retry_at=None) -> None:
    """Record how processing went. A delivery marked `erase_body` (it concerns an erased customer) keeps no body
    once it is done with: processed, ignored or failed."""
    event.status, event.error, event.next_attempt_at = EventStatus(status).value, error, retry_at
    if status in (EventStatus.PROCESSED, EventStatus.IGNORED):
        event.processed_at = utcnow()
    if event.erase_body and status in (EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.FAILED):
        event.body = REDACTED_BODY
    session.commit()


def find_events(session: Session, status: EventStatus | None = None, shop_id: int | None = None,
                limit: int = 50, offset: int = 0) -> list[WebhookEvent]:  # fmt: skip
    """Inbox events, newest first: what operators and merchants look through (failed ones, say)."""
    query = select(WebhookEvent)
    if status is not None:
        query = query.where(WebhookEvent.status == EventStatus(status).value)
    if shop_id is not None:
        query = query.where(WebhookEvent.shop_id == shop_id)
    return list(session.scalars(query.order_by(WebhookEvent.id.desc()).offset(offset).limit(limit)))


def retry_event(session: Session, event: WebhookEvent) -> None:
    """Give a failed event another full set of attempts (after its cause was fixed); the sweeper runs it."""
    event.status, event.attempts, event.next_attempt_at, event.enqueued_at = EventStatus.RETRYING.value, 0, utcnow(), None
    session.commit()
