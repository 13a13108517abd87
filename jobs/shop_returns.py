"""open_shop_return: a return opened in the portal, shown on the shop's platform too.

The platform decides how (the port's `open_return`): Shopify gets its own return (returnRequest), so the merchant
handles it where they work; WooCommerce, which keeps no returns, an order note for the merchant. Safe to run
twice: the platform's return id is stored on ours, and before anything is sent again the adapter looks among
the order's returns for one an earlier run made (returnRequest has no idempotency key). One run at a time per
return (a Redis lock): two runs at once would both find nothing and both send.

The platform's echo of its new return (returns/request) may be processed before this job stores the answer:
both link through integration/services/shop_returns.py under the shop's row lock, so the echo is never opened
as a second return. A refusal (the items are not returnable on the platform) is recorded on the return
(`shop_sync_error`, and its timeline); the customer's return goes on in Palautus as it is.
"""
from __future__ import annotations

import logging

from redis.exceptions import LockError
from sqlalchemy import select

from integration.db import lock_row
from integration.models import Return, Shop
from integration.records import ReturnLineToOpen, ReturnToOpen
from integration.returns import Actor, ReturnSource, ReturnStatus
from integration.services import shop_returns
from integration.services.timeline import record
from jobs.context import JobContext, job_context
from jobs.outcomes import calling_out
from jobs.queue import JOB_TIMEOUT

__all__ = ["open_shop_return"]

logger = logging.getLogger(__name__)

NOT_SHOWN = (ReturnStatus.REJECTED.value, ReturnStatus.CANCELLED.value)  # ended before the job ran: nothing to show
NOTED = "shop_noted"  # the timeline's kind for a platform that took a note instead of a return


def open_shop_return(return_id: int) -> None:
    """Open the portal return `return_id` on its shop's platform, once."""
    with job_context() as jc:
        ret = jc.session.get(Return, return_id)
        if not _to_open(ret):
            return
        shop = jc.session.get(Shop, ret.shop_id)
        if shop is None or shop.uninstalled_at is not None:
            return
        lock = jc.app.extensions["tasks"].connect().lock(f"palautus:open-shop-return:{return_id}", timeout=JOB_TIMEOUT)
        if not lock.acquire(blocking=False):
            logger.info("the shop's return is being opened by another run", extra={"return_id": return_id})
            return
        try:
            with calling_out(jc.session, "opening the shop's return", on_refusal=lambda e: _refused(jc, return_id, e),
                             return_id=return_id):  # fmt: skip
                _open(jc, shop, return_id)
        finally:
            _release(lock)


def _to_open(ret: Return | None) -> bool:
    return ret is not None and ret.source == ReturnSource.PORTAL.value and ret.platform_return_id is None \
        and ret.status not in NOT_SHOWN


def _open(jc: JobContext, shop: Shop, return_id: int) -> None:
    jc.session.expire_all()  # as it is now that this run holds the return: another run may have finished it
    ret = jc.session.get(Return, return_id)
    if not _to_open(ret):
        return
    request = _request(jc, ret)
    platform = jc.platform(shop)  # before any lock: renewing its token takes the shop's row in a session of its own
    found = platform.open_return(request)
    jc.session.commit()
    lock_row(jc.session, Shop, shop.id)  # the echo's processing links under this lock too
    ret = jc.session.get(Return, return_id)
    if found is None:
        if not any(event.kind == NOTED for event in ret.events):
            record(jc.ctx, ret, Actor.SYSTEM, NOTED)
        jc.ctx.commit()
        return
    shop_returns.store_answer(jc.ctx, shop, ret, str(found))


def _request(jc: JobContext, ret: Return) -> ReturnToOpen:
    linked = jc.session.scalars(select(Return.platform_return_id).where(
        Return.order_id == ret.order_id, Return.platform_return_id.is_not(None)))  # fmt: skip
    lines = tuple(ReturnLineToOpen(item.order_line.platform_line_id, item.quantity, item.reason,
                                   item.order_line.title, item.reason_note or ret.customer_note)
                  for item in ret.items)  # fmt: skip
    return ReturnToOpen(ret.order.platform_order_id, ret.code, lines, ret.created_at, tuple(linked))


def _refused(jc: JobContext, return_id: int, error: Exception) -> None:
    ret = jc.session.get(Return, return_id)
    ret.shop_sync_error = str(error)[:2000]
    record(jc.ctx, ret, Actor.SYSTEM, "shop_return_refused", error=str(error)[:500])
    jc.ctx.commit()


def _release(lock) -> None:
    try:
        lock.release()
    except LockError:  # it ran out (a run longer than the job's timeout): nothing of ours to release
        pass
