"""sweep: the periodic safety net. Re-enqueues what a lost queue, a Redis outage or a crash left behind."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, case, or_, select

from integration.models import Refund, Return, WebhookEvent, utcnow
from integration.refunds import RefundStatus
from integration.services.inbox import EventStatus
from integration.services.timeline import SHOP_STATUS
from jobs.context import job_context

__all__ = ["sweep"]

logger = logging.getLogger(__name__)

BATCH = 500


def _events(session, now, cutoff) -> list[int]:
    """Deliveries never picked up (their enqueue failed, the queue was lost), and retrying ones now due."""
    lost = and_(WebhookEvent.status == EventStatus.RECEIVED, WebhookEvent.received_at < cutoff)
    due = and_(WebhookEvent.status == EventStatus.RETRYING, WebhookEvent.next_attempt_at < now)
    return list(session.scalars(select(WebhookEvent.id).where(or_(lost, due)).limit(BATCH)))


def _refunds(session, now, cutoff) -> list[int]:
    """Refunds no job holds: stuck ones, and ones the provider is still working on (to ask again).

    Fewest attempts first: every run claims and so counts an attempt, which
    rotates a backlog larger than one batch instead of polling the same rows.
    """
    unclaimed = and_(
        or_(Refund.claimed_until.is_(None), Refund.claimed_until < now),
        or_(Refund.next_attempt_at.is_(None), Refund.next_attempt_at < now),
    )
    waiting = and_(Refund.status == RefundStatus.SUBMITTED.value, Refund.provider_refund_id.is_not(None))
    stuck = and_(Refund.status.in_((RefundStatus.PENDING.value, RefundStatus.SUBMITTED.value)), Refund.created_at < cutoff)
    query = select(Refund.id).where(unclaimed, or_(waiting, stuck)).order_by(Refund.attempts, Refund.id)
    return list(session.scalars(query.limit(BATCH)))


def _unsynced_refunds(session, cutoff) -> list[int]:
    """Refunds paid back but not yet recorded in the shop."""
    query = select(Refund.id).where(
        Refund.status == RefundStatus.SUCCEEDED.value, Refund.shop_synced_at.is_(None),
        Refund.sync_error.is_(None), Refund.completed_at < cutoff,
    )  # fmt: skip
    return list(session.scalars(query.limit(BATCH)))


def _unsynced_returns(session, cutoff) -> list[int]:
    """Platform returns whose status there lags behind ours (compared in SQL, so no batch hides one)."""
    wanted = case(*((Return.status == ours.value, theirs) for ours, theirs in SHOP_STATUS.items()))
    query = select(Return.id).where(
        Return.platform_return_id.is_not(None), Return.shop_sync_error.is_(None), Return.updated_at < cutoff,
        Return.shop_status.is_distinct_from(wanted),
    ).order_by(Return.updated_at)  # fmt: skip
    return list(session.scalars(query.limit(BATCH)))


def sweep() -> dict[str, int]:
    """Enqueue stuck inbox events, refunds and shop syncs; poll refunds the provider still works on."""
    with job_context() as jc:
        now, session, tasks = utcnow(), jc.session, jc.ctx.tasks
        cutoff = now - timedelta(seconds=jc.app.config["STUCK_AFTER_SECONDS"])
        found = {
            "events": (_events(session, now, cutoff), tasks.process_webhook),
            "refunds": (_refunds(session, now, cutoff), tasks.push_refund),
            "syncs": (_unsynced_refunds(session, cutoff), tasks.sync_refund),
            "returns": (_unsynced_returns(session, cutoff), tasks.sync_return),
        }
    for ids, enqueue in found.values():
        for row_id in ids:
            enqueue(row_id)
    counts = {name: len(ids) for name, (ids, _) in found.items()}
    if any(counts.values()):
        logger.info("sweep re-enqueued work", extra=counts)
    return counts
