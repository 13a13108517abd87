"""sweep: the periodic safety net. Re-enqueues what a lost queue, a Redis outage or a crash left behind."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select

from integration.models import Refund, WebhookEvent, utcnow
from integration.refunds import RefundStatus
from integration.services.inbox import EventStatus
from jobs.context import job_context

__all__ = ["sweep"]

logger = logging.getLogger(__name__)

BATCH = 500


def sweep() -> dict[str, int]:
    """Enqueue stuck inbox events, refunds and shop syncs; poll refunds the provider still works on."""
    with job_context() as jc:
        now = utcnow()
        cutoff = now - timedelta(seconds=jc.app.config["STUCK_AFTER_SECONDS"])
        tasks, session = jc.ctx.tasks, jc.session
        events = session.scalars(
            select(WebhookEvent.id).where(WebhookEvent.status == EventStatus.RECEIVED, WebhookEvent.received_at < cutoff).limit(BATCH)
        ).all()
        unclaimed = or_(Refund.claimed_until.is_(None), Refund.claimed_until < now)
        waiting = and_(Refund.status == RefundStatus.SUBMITTED.value, Refund.provider_refund_id.is_not(None))
        stuck = and_(Refund.status.in_(("pending", "submitted")), Refund.created_at < cutoff)
        refunds = session.scalars(select(Refund.id).where(unclaimed, or_(waiting, stuck)).limit(BATCH)).all()
        unsynced = session.scalars(
            select(Refund.id).where(
                Refund.status == RefundStatus.SUCCEEDED.value, Refund.shop_synced_at.is_(None), Refund.completed_at < cutoff
            ).limit(BATCH)
        ).all()
    for event_id in events:
        tasks.process_webhook(event_id)
    for refund_id in refunds:
        tasks.push_refund(refund_id)
    for refund_id in unsynced:
        tasks.sync_refund(refund_id)
    counts = {"events": len(events), "refunds": len(refunds), "syncs": len(unsynced)}
    if any(counts.values()):
        logger.info("sweep re-enqueued work", extra=counts)
    return counts
