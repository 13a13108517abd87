"""The audit trail of a return, and keeping the platform's own return in step with ours."""
from __future__ import annotations

from integration.models import Return, ReturnEvent, utcnow
from integration.returns import Actor, ReturnStatus, transition
from integration.services.context import Ctx

__all__ = ["record", "SHOP_STATUS", "wanted_shop_status", "sync_platform"]

S = ReturnStatus

# What the platform's return should show for each of our statuses (Shopify's ReturnStatus words).
SHOP_STATUS = {
    S.REQUESTED: "REQUESTED", S.APPROVED: "OPEN", S.IN_TRANSIT: "OPEN", S.RECEIVED: "OPEN",
    S.REFUNDED: "OPEN", S.REJECTED: "DECLINED", S.CANCELLED: "CANCELED", S.CLOSED: "CLOSED",
}  # fmt: skip


def record(ctx: Ctx, ret: Return, actor: Actor, kind: str, to=None, **data) -> None:
    """Append to the audit trail; with `to`, move the state first (or raise IllegalTransition)."""
    before = ret.status
    if to is not None:
        transition(ret.status, to, actor)
        ret.status = ReturnStatus(to).value
    ret.updated_at = utcnow()
    ctx.session.add(ReturnEvent(
        ret=ret, actor=Actor(actor).value, kind=kind, data=data,
        from_status=before if to is not None else None, to_status=ret.status if to is not None else None,
    ))  # fmt: skip


def wanted_shop_status(ret: Return) -> str:
    return SHOP_STATUS[ReturnStatus(ret.status)]


def sync_platform(ctx: Ctx, ret: Return, actor: Actor) -> None:
    """Bring the platform's return in line with ours, after commit; the platform's own change needs nothing."""
    if not ret.platform_return_id:
        return
    if actor == Actor.PLATFORM:
        ret.shop_status = wanted_shop_status(ret)
    elif wanted_shop_status(ret) != ret.shop_status:
        ret.shop_sync_error = None
        ctx.session.flush()  # a new return has its id only now
        ctx.later(ctx.tasks.sync_return, ret.id)
