"""Customer feedback on a return: a rating from 1 to 5 and a comment, given once, after the refund."""
from __future__ import annotations

from sqlalchemy import update

from integration.errors import Conflict, InvalidInput
from integration.models import Return, ReturnEvent, utcnow
from integration.returns import Actor
from integration.services.context import Ctx
from integration.services.refunds import any_succeeded

__all__ = ["COMMENT_MAX", "can_give_feedback", "give_feedback"]

COMMENT_MAX = 2000


def can_give_feedback(ret: Return) -> bool:
    """Whether the form is offered: money went back and no feedback was given yet."""
    return ret.feedback_at is None and any_succeeded(ret)


def give_feedback(ctx: Ctx, ret: Return, rating: int, comment: str | None = None) -> bool:
    """Store the feedback if none was given yet (compare-and-set on feedback_at); False when some already was."""
    _check(ret, rating, comment)
    stamp = utcnow()
    # A plain UPDATE, not the ORM's: the return's version is left alone, so a job moving the return meanwhile is
    # not failed by a customer's rating, and of two submits at once only the first finds feedback_at empty.
    done = ctx.session.execute(
        update(Return).where(Return.id == ret.id, Return.feedback_at.is_(None))
        .values(feedback_rating=rating, feedback_comment=comment or None, feedback_at=stamp)
        .execution_options(synchronize_session=False)
    ).rowcount == 1  # fmt: skip
    if done:
        ctx.session.add(_event(ret, rating, comment))
    ctx.commit()
    ctx.session.refresh(ret)
    return done


def _check(ret: Return, rating: int, comment: str | None) -> None:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("rating must be a whole number from 1 to 5")
    if comment is not None and len(comment) > COMMENT_MAX:
        raise InvalidInput(f"comment must be at most {COMMENT_MAX} characters")
    if not any_succeeded(ret):
        raise Conflict("feedback is asked for once the refund has been paid")


def _event(ret: Return, rating: int, comment: str | None) -> ReturnEvent:
    # Not through timeline.record: that stamps updated_at on the return through the ORM, bumping its version.
    return ReturnEvent(return_id=ret.id, actor=Actor.CUSTOMER.value, kind="feedback",
                       data={"rating": rating, "comment": bool(comment)}, created_at=utcnow())  # fmt: skip
