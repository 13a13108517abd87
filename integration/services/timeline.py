"""The audit trail of a return: it only records; `status.move` is what changes a return's status."""
from __future__ import annotations

from integration.models import Return, ReturnEvent, utcnow
from integration.returns import Actor
from integration.services.context import Ctx

__all__ = ["record"]


def record(ctx: Ctx, ret: Return, actor: Actor, kind: str, *, moved: tuple[str, str] | None = None, **data) -> None:
    """Append to the audit trail; `moved` is the (from, to) of a status change `status.move` made."""
    ret.updated_at = utcnow()
    from_status, to_status = moved or (None, None)
    ctx.session.add(ReturnEvent(
        ret=ret, actor=Actor(actor).value, kind=kind, data=data, from_status=from_status, to_status=to_status,
    ))  # fmt: skip
