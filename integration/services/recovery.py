"""What operators do to get work moving again: run failed deliveries again, ignore one with a reason, find the
refunds stuck on their way and push them. The CLI (`flask events|refunds ...`) and the operators' API (/ops/api)
both call these; nothing here pays or sends anything itself: it hands rows back to the jobs and the sweeper,
whose guards (a refund's claim, its idempotency key, the provider lookup before any resend) still hold.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integration.errors import Conflict, InvalidInput
from integration.models import Refund, Return, Shop, WebhookEvent, utcnow
from integration.refunds import IN_FLIGHT
from integration.services.inbox import EventStatus, retry_event

__all__ = ["retry_failed_events", "ignore_event", "stuck_refunds", "push_refunds"]

_ON_THEIR_WAY = [status.value for status in IN_FLIGHT]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def retry_failed_events(session: Session, event_ids=(), since: datetime | None = None, until: datetime | None = None,
                        error: str | None = None) -> list[int]:  # fmt: skip
    """Failed events given another full set of attempts (the sweeper runs them within a minute): these ids
    (each must be a failed event), or every failed one received in [since, until); only those whose error holds
    `error` when given. The ids, in order."""
    if not event_ids and since is None and until is None:
        raise InvalidInput("name the events, or a time range (since/until)")
    if event_ids:
        chosen = []
        for event_id in event_ids:
            event = session.get(WebhookEvent, event_id)
            if event is None or event.status != EventStatus.FAILED.value:
                raise Conflict(f"event {event_id} is not a failed event")
            chosen.append(event)
    else:
        query = select(WebhookEvent).where(WebhookEvent.status == EventStatus.FAILED.value)
        if since is not None:
            query = query.where(WebhookEvent.received_at >= _utc(since))
        if until is not None:
            query = query.where(WebhookEvent.received_at < _utc(until))
        chosen = list(session.scalars(query.order_by(WebhookEvent.id)))
    if error:
        chosen = [event for event in chosen if error in (event.error or "")]
    for event in chosen:
        retry_event(session, event)
    return [event.id for event in chosen]


def ignore_event(session: Session, event_id: int, reason: str) -> None:
    """Mark a failed or retrying event ignored, keeping the reason: it is not run again."""
    if not reason or not reason.strip():
        raise InvalidInput("say why the event is ignored")
    # Only from failed or retrying, in one statement: a run that processed it meanwhile is not overwritten.
    changed = session.execute(update(WebhookEvent).where(
        WebhookEvent.id == event_id,
        WebhookEvent.status.in_((EventStatus.FAILED.value, EventStatus.RETRYING.value)),
    ).values(status=EventStatus.IGNORED.value, next_attempt_at=None,
             error=f"ignored by an operator: {reason.strip()}"[:2000])).rowcount  # fmt: skip
    session.commit()
    if not changed:
        raise Conflict(f"event {event_id} is not a failed or retrying event")


def stuck_refunds(session: Session, minutes: int) -> list[tuple[Refund, str]]:
    """Refunds still pending or submitted `minutes` after they were started, oldest first, with their shop."""
    query = (select(Refund, Shop.domain).select_from(Refund).join(Return, Return.id == Refund.return_id)
             .join(Shop, Shop.id == Return.shop_id)
             .where(Refund.status.in_(_ON_THEIR_WAY), Refund.created_at < utcnow() - timedelta(minutes=minutes))
             .order_by(Refund.created_at))  # fmt: skip
    return [(refund, domain) for refund, domain in session.execute(query).all()]


def push_refunds(session: Session, tasks, refund_ids) -> list[int]:
    """Queue these refunds' job now instead of after their pause; each must be on its way. The job is safe to run
    any number of times: a refund already with its provider is looked up, never sent twice."""
    refunds = [session.get(Refund, refund_id) for refund_id in refund_ids]
    for refund_id, refund in zip(refund_ids, refunds):
        if refund is None or refund.status not in _ON_THEIR_WAY:
            raise Conflict(f"refund {refund_id} is not on its way")
    for refund in refunds:
        refund.next_attempt_at = None
    session.commit()
    for refund in refunds:
        tasks.push_refund(refund.id)
    return [refund.id for refund in refunds]
