"""issue_credit_note: the credit note of one refund that succeeded, issued in the background; safe to run twice.

Queued after the commit that booked the refund as succeeded (integration/services/refunds.py), and by the sweeper
for one whose job was lost. Every run ends with the refund's one note, or none where the shop does not issue them:
a second run, or two at once, find the first's note and issue nothing (integration/services/credit_notes.py).
A failure raises, so rq retries it and the sweeper queues it again later.
"""
from __future__ import annotations

import logging

from integration.services import credit_notes
from jobs.context import job_context

__all__ = ["issue_credit_note"]

logger = logging.getLogger(__name__)


def issue_credit_note(refund_id: int) -> None:
    """Issue the refund's credit note unless it has one (or its shop issues none)."""
    with job_context() as jc:
        note = credit_notes.issue_credit_note(jc.session, refund_id)
        if note is None:
            logger.info("no credit note: the refund has not succeeded or its shop issues none",
                        extra={"refund_id": refund_id})  # fmt: skip
