"""sweep: the periodic safety net. Re-enqueues what a lost queue, a Redis outage or a crash left behind.

Every row it queues gets a time stamp, and a row queued less than
STUCK_AFTER_SECONDS ago is left alone: under a backlog the jobs are still on the
queue, and queuing them again every minute would only pile up duplicates.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, case, or_, select, update

from integration.models import Message, Refund, Return, ReturnEvent, Shop, WebhookEvent, Withdrawal, utcnow
from integration.refunds import RefundStatus
from integration.returns import SHOP_STATUS, ReturnSource, ReturnStatus
from integration.withdrawal import WithdrawalStatus
from integration.services import credit_notes
from integration.services.inbox import EventStatus
from integration.services.messages import MessageStatus
from integration.services.privacy import finish_erasures
from integration.services.shops import discard_provider_keys
from jobs.context import job_context

__all__ = ["sweep"]

logger = logging.getLogger(__name__)

BATCH = 500


def _not_recent(column, cutoff):
    return or_(column.is_(None), column < cutoff)


def _events(session, now, cutoff) -> list[int]:
    """Deliveries never picked up (their enqueue failed, the queue was lost), and retrying ones now due."""
    lost = and_(WebhookEvent.status == EventStatus.RECEIVED.value, WebhookEvent.received_at < cutoff)
    due = and_(WebhookEvent.status == EventStatus.RETRYING.value, WebhookEvent.next_attempt_at < now)
    query = select(WebhookEvent.id).where(or_(lost, due), _not_recent(WebhookEvent.enqueued_at, cutoff))
    return list(session.scalars(query.order_by(WebhookEvent.id).limit(BATCH)))


def _refunds(session, now, cutoff) -> list[int]:
    """Refunds no job holds: stuck ones, and ones the provider is still working on (to ask again).

    Fewest attempts first: every run claims and so counts an attempt, which
    rotates a backlog larger than one batch instead of polling the same rows.
    """
    unclaimed = and_(
        or_(Refund.claimed_until.is_(None), Refund.claimed_until < now),
        or_(Refund.next_attempt_at.is_(None), Refund.next_attempt_at < now),
        _not_recent(Refund.enqueued_at, cutoff),
    )
    waiting = and_(Refund.status == RefundStatus.SUBMITTED.value, Refund.provider_refund_id.is_not(None))
    stuck = and_(Refund.status.in_((RefundStatus.PENDING.value, RefundStatus.SUBMITTED.value)), Refund.created_at < cutoff)
    # A refund through the platform's own gateway of a shop that uninstalled: nobody can ask the platform any more.
    # It stays as it is (it may have paid), shown in the API, and is not asked about again and again.
    unaskable = and_(Shop.uninstalled_at.is_not(None), Refund.route == Shop.platform,
                     Refund.status == RefundStatus.SUBMITTED.value)  # fmt: skip
    query = (select(Refund.id).join(Return, Return.id == Refund.return_id).join(Shop, Shop.id == Return.shop_id)
             .where(unclaimed, or_(waiting, stuck), ~unaskable).order_by(Refund.attempts, Refund.id))  # fmt: skip
    return list(session.scalars(query.limit(BATCH)))


def _unsynced_refunds(session, cutoff) -> list[int]:
    """Refunds paid back but not yet recorded in the shop, and ones that failed at the provider not yet shown there."""
    told = or_(Refund.status == RefundStatus.SUCCEEDED.value,
               and_(Refund.status == RefundStatus.FAILED.value, Refund.first_submitted_at.is_not(None)))  # fmt: skip
    query = select(Refund.id).where(
        told, Refund.shop_synced_at.is_(None),
        Refund.sync_error.is_(None), Refund.completed_at < cutoff, _not_recent(Refund.sync_enqueued_at, cutoff),
    )  # fmt: skip
    return list(session.scalars(query.order_by(Refund.id).limit(BATCH)))


def _unsynced_returns(session, cutoff) -> list[int]:
    """Platform returns whose status there lags behind ours (compared in SQL, so no batch hides one)."""
    wanted = case(*((Return.status == ours.value, theirs.value) for ours, theirs in SHOP_STATUS.items()))
    query = select(Return.id).where(
        Return.platform_return_id.is_not(None), Return.shop_sync_error.is_(None), Return.updated_at < cutoff,
        Return.shop_status.is_distinct_from(wanted), _not_recent(Return.sync_enqueued_at, cutoff),
    ).order_by(Return.updated_at)  # fmt: skip
    return list(session.scalars(query.limit(BATCH)))


def _messages(session, now, cutoff) -> list[int]:
    """Customer e-mails whose job was lost (its enqueue failed, the queue was lost) or whose retries ran out, and
    ones a dead run left claimed: its job decides whether the server may already have it (jobs/messages.py)."""
    waiting = and_(Message.status == MessageStatus.PENDING.value, Message.created_at < cutoff,
                   or_(Message.next_attempt_at.is_(None), Message.next_attempt_at < now))  # fmt: skip
    abandoned = and_(Message.status == MessageStatus.SENDING.value, Message.claimed_until < now)
    query = select(Message.id).where(or_(waiting, abandoned), _not_recent(Message.enqueued_at, cutoff))
    return list(session.scalars(query.order_by(Message.attempts, Message.id).limit(BATCH)))


def _withdrawals(session, cutoff) -> list[int]:
    """Statements of withdrawal matched to an order but never carried out: their job was lost (Redis down when the
    customer confirmed, or the queue lost). The law's 14 days run from the statement, not from its job."""
    query = select(Withdrawal.id).where(
        Withdrawal.status == WithdrawalStatus.RECEIVED.value, Withdrawal.order_id.is_not(None),
        Withdrawal.submitted_at < cutoff, _not_recent(Withdrawal.enqueued_at, cutoff),
    )  # fmt: skip
    return list(session.scalars(query.order_by(Withdrawal.id).limit(BATCH)))


def _unopened_returns(session, cutoff) -> list[int]:
    """Portal returns not yet shown on their shop's platform (no platform return, no note, no refusal) whose job
    was lost; jobs/shop_returns.py looks for one an earlier run made before it sends anything."""
    shown = select(ReturnEvent.id).where(ReturnEvent.return_id == Return.id,
                                         ReturnEvent.kind.in_(("shop_noted", "shop_return_refused")))  # fmt: skip
    query = select(Return.id).where(
        Return.source == ReturnSource.PORTAL.value, Return.platform_return_id.is_(None),
        Return.shop_sync_error.is_(None), Return.created_at < cutoff,
        Return.status.not_in((ReturnStatus.REJECTED.value, ReturnStatus.CANCELLED.value)),
        ~shown.exists(), _not_recent(Return.sync_enqueued_at, cutoff),
    ).order_by(Return.id)  # fmt: skip
    return list(session.scalars(query.limit(BATCH)))


def _stamp(session, column, ids: list[int], now, cutoff) -> list[int]:
    """Set `column` to now on those of these rows nobody queued since they were read (the outbox relay may have,
    a moment ago), and nothing else: columns that update themselves keep their value. The ids stamped."""
    if not ids:
        return []
    model = column.class_
    keep = {c.key: c for c in model.__table__.columns if c.onupdate is not None}
    stamped = session.scalars(update(model).where(model.id.in_(ids), _not_recent(column, cutoff))
                              .values({**keep, column.key: now}).returning(model.id)
                              .execution_options(synchronize_session=False))  # fmt: skip
    return sorted(stamped)


def sweep() -> dict[str, int]:
    """Enqueue stuck inbox events, refunds, shop syncs, customer e-mails, withdrawals, portal returns not yet in
    the shop and credit notes not yet issued; poll refunds the provider still works on."""
    with job_context() as jc:
        now, session, tasks = utcnow(), jc.session, jc.ctx.tasks
        cutoff = now - timedelta(seconds=jc.app.config["STUCK_AFTER_SECONDS"])
        found = {
            "events": (_events(session, now, cutoff), WebhookEvent.enqueued_at, tasks.process_webhook),
            "refunds": (_refunds(session, now, cutoff), Refund.enqueued_at, tasks.push_refund),
            "syncs": (_unsynced_refunds(session, cutoff), Refund.sync_enqueued_at, tasks.sync_refund),
            "returns": (_unsynced_returns(session, cutoff), Return.sync_enqueued_at, tasks.sync_return),
            "messages": (_messages(session, now, cutoff), Message.enqueued_at, tasks.send_message),
            "withdrawals": (_withdrawals(session, cutoff), Withdrawal.enqueued_at, tasks.carry_out_withdrawal),
            # Return.sync_enqueued_at serves both: a return has no platform return yet here, and only then there.
            "shop_returns": (_unopened_returns(session, cutoff), Return.sync_enqueued_at, tasks.open_shop_return),
            # Refund.enqueued_at serves both: push_refund's while a refund is under way, this one's once it succeeded.
            "credit_notes": (credit_notes.owed(session, now, cutoff, BATCH), Refund.enqueued_at, tasks.issue_credit_note),
        }
        found = {name: (_stamp(session, column, ids, now, cutoff), column, enqueue)
                 for name, (ids, column, enqueue) in found.items()}  # fmt: skip
        session.commit()  # stamped before queued: a crash in between only delays the next sweep's try
        discard_provider_keys(session, jc.app.extensions["vault"])
    for ids, _, enqueue in found.values():
        for row_id in ids:
            enqueue(row_id)
    with job_context() as jc:
        try:
            finish_erasures(jc.session)  # what a customer's erasure held while their refund was on its way
        except Exception:  # noqa: BLE001 - the sweeper's other work must not stop for it; tried again next run
            logger.exception("finishing held erasures failed")
    counts = {name: len(ids) for name, (ids, _, _) in found.items()}
    if any(counts.values()):
        logger.info("sweep re-enqueued work", extra=counts)
    return counts
