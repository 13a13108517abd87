"""The platform's own return for a return opened in the portal: linked once, whichever news of it comes first.

A portal return is opened on the shop's platform too (jobs/shop_returns.py), so the merchant sees it there. The
platform then announces it like any return request (Shopify's returns/request), possibly before the job has
stored the platform's answer. Both paths end here, each under the shop's row lock (the caller's): the platform's
return is linked to the portal return it was made for, and never opened as a second return.

Which return a platform request is for: the oldest portal return of its order that waits for its platform
return (none linked, no refusal recorded) with exactly the request's units per line. Two waiting returns with the
same units are interchangeable twins: an answer one job got, that the echo gave the other already, goes to the
twin still waiting (whose own answer, later, then finds its twin taken and takes this one's place).
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from integration.models import EarlyReturnStatus, Order, Return, Shop, utcnow
from integration.records import ReturnRequestData
from integration.returns import Actor, ReturnSource, ReturnStatus, ShopReturnStatus
from integration.services import returns
from integration.services.context import Ctx
from integration.services.shops import raise_alert
from integration.services.status import sync_platform
from integration.services.timeline import record

__all__ = ["units_of", "waiting_for", "link_request", "store_answer"]

logger = logging.getLogger(__name__)


def units_of(ret: Return) -> dict[str, int]:
    """Units per order line (the platform's line id) that the return takes back."""
    found: dict[str, int] = {}
    for item in ret.items:
        line = item.order_line.platform_line_id
        found[line] = found.get(line, 0) + item.quantity
    return found


def waiting_for(ctx: Ctx, shop: Shop, order_id: int, units: dict[str, int]) -> Return | None:
    """The oldest portal return of the order waiting for its platform return, with exactly these units."""
    waiting = ctx.session.scalars(select(Return).where(
        Return.shop_id == shop.id, Return.order_id == order_id, Return.source == ReturnSource.PORTAL.value,
        Return.platform_return_id.is_(None), Return.shop_sync_error.is_(None),
        # A portal return cancelled or rejected before its job ran is never opened on the platform: it waits for
        # nothing, and the customer's own later request for the same units is theirs, opened as its own return.
        Return.status.not_in((ReturnStatus.CANCELLED.value, ReturnStatus.REJECTED.value)),
    ).order_by(Return.id))  # fmt: skip
    return next((ret for ret in waiting if units_of(ret) == units), None)


def link_request(ctx: Ctx, shop: Shop, order: Order, request: ReturnRequestData) -> Return | None:
    """A platform return request that is the echo of one Palautus made for a portal return: linked to it
    (committed) and that return answered; None when no portal return waits for one like it."""
    units: dict[str, int] = {}
    for item in request.items:
        units[item.platform_line_id] = units.get(item.platform_line_id, 0) + item.quantity
    ret = waiting_for(ctx, shop, order.id, units)
    if ret is not None:
        _link(ctx, shop, ret, request.platform_return_id, via="request")
    return ret


def store_answer(ctx: Ctx, shop: Shop, ret: Return, platform_return_id: str) -> Return | None:
    """The platform's answer to the job that opened `ret` there: linked (committed), unless the request's echo
    linked it first. The return it ended on; None when it cannot belong to any (recorded, and an operator told)."""
    owner = returns.return_by_platform_id(ctx, shop, platform_return_id)
    if owner is not None:
        return owner if owner.id == ret.id or _twins(owner, ret) else _conflict(ctx, shop, ret, platform_return_id, owner)
    if ret.platform_return_id is None:
        _link(ctx, shop, ret, platform_return_id, via="answer")
        return ret
    twin = waiting_for(ctx, shop, ret.order_id, units_of(ret))
    if twin is not None:
        _link(ctx, shop, twin, platform_return_id, via="answer to its twin")
        return twin
    return _conflict(ctx, shop, ret, platform_return_id, None)


def _twins(a: Return, b: Return) -> bool:
    return a.order_id == b.order_id and a.source == b.source == ReturnSource.PORTAL.value and units_of(a) == units_of(b)


def _link(ctx: Ctx, shop: Shop, ret: Return, platform_return_id: str, via: str) -> None:
    """Link, apply what the platform did to its return before we knew it was ours, and bring it in line with ours."""
    ret.platform_return_id = platform_return_id
    ret.shop_status = ShopReturnStatus.REQUESTED.value
    record(ctx, ret, Actor.SYSTEM, "shop_return_linked", platform_return_id=platform_return_id, via=via)
    ctx.commit()
    _apply_early(ctx, shop, platform_return_id)
    sync_platform(ctx, ret, Actor.SYSTEM)  # approved (or cancelled) in Palautus meanwhile: the platform follows
    ctx.commit()
    logger.info("platform return linked to a portal return", extra={"return_id": ret.id, "via": via})


def _apply_early(ctx: Ctx, shop: Shop, platform_return_id: str) -> None:
    """The platform's changes to its return that came before the link, in the order it made them."""
    early = ctx.session.scalars(select(EarlyReturnStatus).where(
        EarlyReturnStatus.shop_id == shop.id, EarlyReturnStatus.platform_return_id == platform_return_id,
        EarlyReturnStatus.applied_at.is_(None),
    ).order_by(EarlyReturnStatus.happened_at, EarlyReturnStatus.id)).all()  # fmt: skip
    for change in early:
        change.applied_at = utcnow()
        returns.apply_platform_status(ctx, shop, platform_return_id, ReturnStatus(change.status), change.happened_at,
                                      **{**(change.data or {}), "early": True})  # fmt: skip


def _conflict(ctx: Ctx, shop: Shop, ret: Return, platform_return_id: str, owner: Return | None) -> None:
    """Two platform returns for one of ours, or the platform's return on another return of ours: a person looks."""
    held = owner.code if owner is not None else ret.platform_return_id
    record(ctx, ret, Actor.SYSTEM, "shop_return_conflict", platform_return_id=platform_return_id, held_by=held)
    raise_alert(shop, f"return {ret.code}", f"the shop's platform answered return {platform_return_id} for Palautus "
                f"return {ret.code}, which is linked to {held} already: check the shop's returns of this order "
                "and cancel the one that is not needed")  # fmt: skip
    ctx.commit()
    logger.error("platform return conflict", extra={"return_id": ret.id, "platform_return_id": platform_return_id})
    return None
