"""The webhook inbox: store each delivery once; what the receiver answered 200 to is here."""
from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integration.models import WebhookEvent, utcnow

__all__ = ["store_event", "Stored", "claim_unqueued", "unclaim", "EventStatus", "mark_event", "find_events", "retry_event",
           "REDACTED_BODY"]

# What an erased delivery's body becomes (its row stays: its ids deduplicate deliveries).
REDACTED_BODY = b'{"redacted": true}'


class EventStatus(str, Enum):
    """Where an inbox event stands."""

    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"  # a topic Palautus does not act on
    RETRYING = "retrying"  # failed for a reason that may pass (an order not known yet, an outage)
    FAILED = "failed"  # will fail the same way again: the reason is in `error`


class Stored(NamedTuple):
    """A delivery in the inbox: its row, where it stands, and whether this delivery is what put it there."""

    id: int
    status: str
    created: bool


def _insert_once(dialect: str):
    """INSERT ... ON CONFLICT DO NOTHING for this database: one statement, no exception for a repeat."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - Palautus runs on PostgreSQL and SQLite
        raise RuntimeError(f"no insert-once statement for {dialect}")
    return insert(WebhookEvent.__table__).on_conflict_do_nothing(index_elements=["shop_id", "delivery_id"])


def store_event(engine, event: WebhookEvent) -> Stored:
    """Insert the delivery, in one statement that commits itself; a repeated delivery id gives the stored row,
    not created.

    `engine`: one whose connections commit each statement (Database.intake). `event` is a transient WebhookEvent
    carrying the delivery's fields; it is read, not added to a session (an insert through the ORM costs a flush,
    a BEGIN and a COMMIT, and a read back after the commit, for every delivery).
    """
    table = WebhookEvent.__table__
    values = {c.key: getattr(event, c.key) for c in table.columns if c.key != "id" and getattr(event, c.key) is not None}
    with engine.connect() as connection:
        statement = _insert_once(connection.dialect.name).values(values).returning(table.c.id)
        new_id = connection.execute(statement).scalar()
        if new_id is not None:
            return Stored(new_id, EventStatus.RECEIVED.value, True)
        existing = connection.execute(select(WebhookEvent.id, WebhookEvent.status).where(
            WebhookEvent.shop_id == event.shop_id, WebhookEvent.delivery_id == event.delivery_id)).one_or_none()  # fmt: skip
    if existing is None:  # the conflict was not on the delivery id: cannot happen, but never answer 200 for it
        raise RuntimeError("webhook event could not be stored")
    return Stored(existing.id, existing.status, False)


def claim_unqueued(session: Session, limit: int, received_before=None) -> list[tuple[int, str | None]]:
    """Stamp up to `limit` deliveries that wait to be queued (received before `received_before`, when given) as
    queued now, and commit; (id, correlation id) of each.

    Rows another relay holds are skipped (PostgreSQL's SKIP LOCKED; SQLite has one writer at a time).
    A relay that dies before it queues what it stamped leaves them to the sweeper, as any lost job.
    """
    waiting = select(WebhookEvent.id).where(WebhookEvent.status == EventStatus.RECEIVED.value,
                                            WebhookEvent.enqueued_at.is_(None))  # fmt: skip
    if received_before is not None:
        waiting = waiting.where(WebhookEvent.received_at < received_before)
    waiting = waiting.order_by(WebhookEvent.id).limit(limit).with_for_update(skip_locked=True)
    claimed = session.execute(
        update(WebhookEvent).where(WebhookEvent.id.in_(waiting)).values(enqueued_at=utcnow())
        .returning(WebhookEvent.id, WebhookEvent.correlation_id)
        .execution_options(synchronize_session=False)
    ).all()  # fmt: skip
    session.commit()
    return sorted((row.id, row.correlation_id) for row in claimed)


def unclaim(session: Session, ids: list[int]) -> None:
    """Deliveries stamped as queued that could not be queued (Redis is down): waiting again, for the next relay."""
    session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids), WebhookEvent.status == EventStatus.RECEIVED.value)
                    .values(enqueued_at=None).execution_options(synchronize_session=False))  # fmt: skip
    session.commit()


_DONE = (EventStatus.PROCESSED.value, EventStatus.IGNORED.value)


def mark_event(session: Session, event: WebhookEvent, status: str, error: str | None = None, retry_at=None) -> None:
    """Record how processing went. A delivery marked `erase_body` (it concerns an erased customer) keeps no body
    once it is done with: processed, ignored or failed.

    An event another run finished meanwhile (two jobs for one event: a relay's and a sweeper's) stays finished:
    the run that lost the race does not mark it failed or retrying."""
    if status not in _DONE:
        still_open = session.execute(update(WebhookEvent).where(
            WebhookEvent.id == event.id, WebhookEvent.status.not_in(_DONE)).values(status=EventStatus(status).value)
            .execution_options(synchronize_session=False)).rowcount  # fmt: skip
        if not still_open:
            session.commit()
            session.refresh(event)
            return
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
