"""Sync jobs: tell the shop what happened, without ever moving money there a second time."""
from __future__ import annotations

import logging

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.platforms.shopify.admin import RefundRecord
from integration.models import OrderLine, Refund, Return, Shop, utcnow
from integration.money import Money
from integration.refunds import RefundStatus, note_reference
from integration.returns import Actor, ReturnStatus
from integration.services.timeline import record, wanted_shop_status
from jobs.backoff import respect_retry_after
from jobs.context import JobContext, job_context

__all__ = ["sync_refund", "sync_return", "ORDER_TAG"]

logger = logging.getLogger(__name__)

ORDER_TAG = "palautus-refunded"


def _gid(kind: str, platform_id: str) -> str:
    return f"gid://shopify/{kind}/{platform_id}"


def sync_refund(refund_id: int) -> None:
    """Record a succeeded refund on the Shopify order, tag the order, close the Shopify return."""
    with job_context() as jc:
        refund = jc.session.get(Refund, refund_id)
        if refund is None or refund.status != RefundStatus.SUCCEEDED.value or refund.shop_synced_at:
            return
        shop = jc.session.get(Shop, refund.ret.shop_id)
        try:
            _sync_refund(jc, shop, refund)
        except ProviderUnavailable as e:
            # Not stored as sync_error: the sweeper keeps trying after rq's retries, however long Shopify is away.
            jc.session.rollback()
            logger.warning("refund sync will be retried: %s", e, extra={"refund_id": refund_id})
            respect_retry_after(e)
            raise
        except ProviderRejected as e:
            jc.session.rollback()
            refund = jc.session.get(Refund, refund_id)
            refund.sync_error = str(e)[:2000]
            jc.session.commit()
            logger.error("refund sync rejected: %s", e, extra={"refund_id": refund_id})


def _sync_refund(jc: JobContext, shop: Shop, refund: Refund) -> None:
    admin, ret = jc.shopify(shop), refund.ret
    order_gid = ret.order.platform_gid or _gid("Order", ret.order.platform_order_id)
    if not refund.shop_refund_gid:
        refund.shop_refund_gid = admin.record_refund(_refund_record(jc, refund, order_gid))
        jc.session.commit()
    admin.add_tags(order_gid, [ORDER_TAG])
    if ret.platform_return_id and ret.status == ReturnStatus.REFUNDED.value:
        _bring_shopify_return_to(jc, admin, ret, "CLOSED")
        record(jc.ctx, ret, Actor.SYSTEM, "closed", to=ReturnStatus.CLOSED, note="refunded and recorded in Shopify")
    refund.shop_synced_at, refund.sync_error = utcnow(), None
    jc.ctx.commit()
    logger.info("refund recorded in Shopify", extra={"refund_id": refund.id, "shop_refund": refund.shop_refund_gid})


def _refund_record(jc: JobContext, refund: Refund, order_gid: str) -> RefundRecord:
    lines = tuple(
        (_gid("LineItem", jc.session.get(OrderLine, line["order_line_id"]).platform_line_id), line["quantity"])
        for line in refund.lines
    )
    payment = refund.payment
    note = (
        f"Palautus return {refund.ret.code}: {Money(refund.amount, refund.currency)} refunded through "
        f"{refund.provider} ({refund.provider_refund_id}). {note_reference(refund.idempotency_key)}"
    )
    return RefundRecord(
        order_gid=order_gid, idempotency_key=refund.idempotency_key, note=note, lines=lines,
        amount=Money(refund.amount, refund.currency),
        parent_transaction_gid=_gid("OrderTransaction", payment.platform_transaction_id) if payment else None,
        gateway=payment.gateway if payment else None,
    )  # fmt: skip


def sync_return(return_id: int) -> None:
    """Bring the Shopify return in line with ours: approve, decline, cancel or close it."""
    with job_context() as jc:
        ret = jc.session.get(Return, return_id)
        if ret is None or not ret.platform_return_id or ret.shop_status == wanted_shop_status(ret):
            return
        admin = jc.shopify(jc.session.get(Shop, ret.shop_id))
        try:
            _bring_shopify_return_to(jc, admin, ret, wanted_shop_status(ret))
        except ProviderUnavailable as e:
            respect_retry_after(e)
            raise
        except ProviderRejected as e:
            jc.session.rollback()
            ret = jc.session.get(Return, return_id)
            ret.shop_sync_error = str(e)[:2000]
            record(jc.ctx, ret, Actor.SYSTEM, "shop_sync_failed", error=str(e)[:500])
            jc.ctx.commit()
            logger.error("return sync rejected: %s", e, extra={"return_id": return_id})


def _bring_shopify_return_to(jc: JobContext, admin, ret: Return, want: str) -> None:
    """Take the Shopify return step by step to `want`, remembering each step it reached."""
    for step in _steps(ret.shop_status, want):
        _STEPS[step](admin, _gid("Return", ret.platform_return_id), ret)
        ret.shop_status = step
        jc.session.commit()


def _steps(have: str | None, want: str) -> list[str]:
    # Shopify closes only an open return: one we approved but never told it about is approved first.
    if want == "CLOSED" and have == "REQUESTED":
        return ["OPEN", "CLOSED"]
    return [want]


def _decline(admin, gid: str, ret: Return) -> None:
    event = next((e for e in reversed(ret.events) if e.kind == "rejected"), None)
    data = (event.data or {}) if event else {}
    admin.decline_return(gid, data.get("reason"), data.get("note"))


_STEPS = {
    "OPEN": lambda admin, gid, ret: admin.approve_return(gid),
    "DECLINED": _decline,
    "CANCELED": lambda admin, gid, ret: admin.cancel_return(gid),
    "CLOSED": lambda admin, gid, ret: admin.close_return(gid),
}
