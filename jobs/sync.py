"""Sync jobs: tell the shop what happened, without ever moving money there a second time."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, update

from integration.models import OrderLine, Refund, Return, Shop, utcnow
from integration.money import Money
from integration.records import RefundLineToRecord, RefundToRecord
from integration.refunds import RefundStatus, note_reference
from integration.returns import Actor, ReturnStatus, ShopReturnStatus
from integration.services.status import move, wanted_shop_status
from integration.services.timeline import record
from jobs.context import JobContext, job_context
from jobs.outcomes import calling_out

__all__ = ["sync_refund", "sync_return", "ORDER_TAG", "FAILED_TAG"]

logger = logging.getLogger(__name__)

ORDER_TAG = "palautus-refunded"
FAILED_TAG = "palautus-refund-failed"  # a refund that reached the provider failed there in the end
# Longer than a sync's calls take (a few, each within HTTP_TIMEOUT); a worker killed mid-sync frees it by then.
SYNC_LEASE = timedelta(minutes=5)


def sync_refund(refund_id: int) -> None:
    """Record a succeeded refund on the shop's order, tag the order, close the platform's return; or show a refund
    that failed at the provider on the order.

    A refund made through the platform's own gateway is the shop's refund already: only its id is kept.

    One sync at a time per refund (a lease, as the refund job has): an rq retry and
    the sweeper's run must not both find nothing recorded yet and both record it.
    """
    with job_context() as jc:
        refund = jc.session.get(Refund, refund_id)
        if refund is None or refund.shop_synced_at or not _to_tell(refund):
            return
        lease = _claim_sync(jc, refund_id)
        if lease is None:
            logger.info("refund sync already running", extra={"refund_id": refund_id})
            return
        shop = jc.session.get(Shop, refund.ret.shop_id)
        try:
            # A transient failure is not stored as sync_error: the sweeper keeps trying after rq's retries.
            with calling_out(jc.session, "refund sync", on_refusal=lambda e: _sync_refused(jc, refund_id, e),
                             refund_id=refund_id):  # fmt: skip
                _sync_refund(jc, shop, refund)
        finally:
            jc.session.rollback()  # released only if it is still ours
            jc.session.execute(update(Refund).where(Refund.id == refund_id, Refund.sync_claimed_until == lease)
                               .values(sync_claimed_until=None))  # fmt: skip
            jc.session.commit()


def _to_tell(refund: Refund) -> bool:
    """Whether the shop should hear of the refund: it paid, or it failed once it had reached the provider."""
    return refund.status == RefundStatus.SUCCEEDED.value or (
        refund.status == RefundStatus.FAILED.value and refund.first_submitted_at is not None)


def _claim_sync(jc: JobContext, refund_id: int):
    """The lease on the refund's sync (its end), or None when another sync holds it."""
    now = utcnow()
    until = now + SYNC_LEASE
    claimed = jc.session.execute(
        update(Refund).where(
            Refund.id == refund_id, Refund.shop_synced_at.is_(None),
            or_(Refund.sync_claimed_until.is_(None), Refund.sync_claimed_until < now),
        ).values(sync_claimed_until=until)
    ).rowcount  # fmt: skip
    jc.session.commit()
    return until if claimed == 1 else None


def _sync_refused(jc: JobContext, refund_id: int, error: Exception) -> None:
    refund = jc.session.get(Refund, refund_id)
    refund.sync_error = str(error)[:2000]
    jc.session.commit()


def _sync_refund(jc: JobContext, shop: Shop, refund: Refund) -> None:
    platform, ret = jc.platform(shop), refund.ret
    if refund.status == RefundStatus.FAILED.value:
        # The provider's final word was no: the order says so where the merchant looks (a tag on Shopify, the
        # palautus_status field on WooCommerce); the reason is in Palautus's API and the return's timeline.
        platform.tag_order(ret.order.platform_order_id, [FAILED_TAG])
        refund.shop_synced_at = utcnow()
        jc.ctx.commit()
        logger.info("refund failure shown in the shop", extra={"refund_id": refund.id})
        return
    if not refund.shop_refund_gid:
        if refund.route == shop.platform:  # paid through the platform's own gateway: the refund is the shop's already
            refund.shop_refund_gid = refund.provider_refund_id
        else:
            refund.shop_refund_gid = platform.record_refund(_to_record(jc, refund))
        jc.session.commit()
    platform.tag_order(ret.order.platform_order_id, [ORDER_TAG])
    if ret.platform_return_id and ret.status == ReturnStatus.REFUNDED.value:
        _bring_platform_return_to(jc, platform, ret, ShopReturnStatus.CLOSED.value)
        move(jc.ctx, ret, Actor.SYSTEM, ReturnStatus.CLOSED, note="refunded and recorded in the shop")
    refund.shop_synced_at, refund.sync_error = utcnow(), None
    jc.ctx.commit()
    logger.info("refund recorded in the shop", extra={"refund_id": refund.id, "shop_refund": refund.shop_refund_gid})


def _to_record(jc: JobContext, refund: Refund) -> RefundToRecord:
    payment, ret = refund.payment, refund.ret
    restock = {item.id: bool(item.restock) for item in ret.items}
    lines = tuple(
        RefundLineToRecord(jc.session.get(OrderLine, line["order_line_id"]).platform_line_id, line["quantity"],
                           restock.get(line.get("return_item_id"), False), line.get("amount", 0), line.get("tax", 0))  # fmt: skip
        for line in refund.lines
    )
    note = (
        f"Palautus return {ret.code}: {Money(refund.amount, refund.currency)} refunded through "
        f"{refund.provider} ({refund.provider_refund_id}). {note_reference(refund.idempotency_key)}"
    )
    return RefundToRecord(
        platform_order_id=ret.order.platform_order_id, idempotency_key=refund.idempotency_key,
        amount=Money(refund.amount, refund.currency), note=note, lines=lines,
        platform_transaction_id=payment.platform_transaction_id if payment else None,
        gateway=payment.gateway if payment else None, platform_return_id=ret.platform_return_id,
        shipping=refund.shipping, shipping_tax=ret.order.shipping_tax if refund.shipping else 0, tax=refund.tax,
    )  # fmt: skip


def sync_return(return_id: int) -> None:
    """Bring the platform's return in line with ours: approve, decline, cancel or close it."""
    with job_context() as jc:
        ret = jc.session.get(Return, return_id)
        if ret is None or not ret.platform_return_id or ret.shop_status == wanted_shop_status(ret):
            return
        shop = jc.session.get(Shop, ret.shop_id)
        with calling_out(jc.session, "return sync", on_refusal=lambda e: _return_sync_refused(jc, return_id, e),
                         return_id=return_id):  # fmt: skip
            _bring_platform_return_to(jc, jc.platform(shop), ret, wanted_shop_status(ret))


def _return_sync_refused(jc: JobContext, return_id: int, error: Exception) -> None:
    ret = jc.session.get(Return, return_id)
    ret.shop_sync_error = str(error)[:2000]
    record(jc.ctx, ret, Actor.SYSTEM, "shop_sync_failed", error=str(error)[:500])
    jc.ctx.commit()


def _bring_platform_return_to(jc: JobContext, platform, ret: Return, want: str) -> None:
    """Take the platform's return step by step to `want`, remembering each step it reached."""
    reason, note = _decline_reason(ret)
    for step in platform.return_steps(ret.shop_status, want):
        platform.set_return_status(ret.platform_return_id, step, reason, note)
        ret.shop_status = step
        jc.session.commit()


def _decline_reason(ret: Return) -> tuple[str | None, str | None]:
    event = next((e for e in reversed(ret.events) if e.kind == ReturnStatus.REJECTED.value), None)
    data = (event.data or {}) if event else {}
    return data.get("reason"), data.get("note")
