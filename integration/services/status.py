"""The one writer of a return's status: check the move, make it, record it, mirror it to the platform, tell the customer.

What a new status sets off (a refund on approval or receipt, withdrawing refunds
on a cancel) is the caller's decision, made in `services/returns.py`; this module
only guarantees that every change is legal, recorded once and mirrored.
"""
from __future__ import annotations

from integration.models import Return
from integration.returns import SHOP_STATUS, Actor, ReturnStatus, transition
from integration.services import messages
from integration.services.context import Ctx
from integration.services.timeline import record

__all__ = ["move", "wanted_shop_status", "sync_platform"]


def move(ctx: Ctx, ret: Return, actor: Actor, target: ReturnStatus, kind: str | None = None, **data) -> None:
    """Move the return to `target` (IllegalTransition if it cannot go there), record it, sync the platform."""
    target = ReturnStatus(target)
    before = ret.status
    transition(before, target, actor)
    ret.status = target.value
    record(ctx, ret, actor, kind or target.value, moved=(before, target.value), **data)
    sync_platform(ctx, ret, actor)
    messages.for_status(ctx, ret, target, data)  # the customer's e-mail for the steps they are told of


def wanted_shop_status(ret: Return) -> str:
    """What the platform's own return should show for ours."""
    return SHOP_STATUS[ReturnStatus(ret.status)].value


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
