"""purge_inbox: the inbox keeps a delivery's body (personal data) only INBOX_RETENTION_DAYS once it is done with.

Run hourly by the clock (jobs/cron.py). A processed, ignored or failed event
received longer ago than that keeps its row (its ids deduplicate deliveries;
its topic, status and error stay for operators) with the body replaced by a
stub. Events still waiting to be applied keep theirs: a job needs it.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from integration.models import WebhookEvent, utcnow
from integration.services.inbox import EventStatus
from integration.services.privacy import REDACTED_BODY, RETENTION_BODY
from jobs.context import job_context

__all__ = ["purge_inbox", "DONE"]

logger = logging.getLogger(__name__)

DONE = (EventStatus.PROCESSED.value, EventStatus.IGNORED.value, EventStatus.FAILED.value)
BATCH = 500


def purge_inbox() -> int:
    """Replace the bodies of done inbox events older than the retention period; how many were replaced."""
    with job_context() as jc:
        cutoff = utcnow() - timedelta(days=int(jc.app.config["INBOX_RETENTION_DAYS"]))
        session, purged = jc.session, 0
        while True:  # in batches, each its own short transaction
            ids = list(session.scalars(
                select(WebhookEvent.id).where(
                    WebhookEvent.status.in_(DONE), WebhookEvent.received_at < cutoff,
                    WebhookEvent.body.not_in([REDACTED_BODY, RETENTION_BODY]),
                ).order_by(WebhookEvent.id).limit(BATCH)
            ))  # fmt: skip
            if not ids:
                break
            session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids), WebhookEvent.status.in_(DONE))
                            .values(body=RETENTION_BODY).execution_options(synchronize_session=False))  # fmt: skip
            session.commit()
            purged += len(ids)
        if purged:
            logger.info("inbox bodies past retention replaced", extra={"purged": purged})
        return purged
