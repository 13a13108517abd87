"""What the dashboard's lists read: every query scoped to one shop, paged, and filtered as the pages ask."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from integration.models import Order, Refund, Return, Withdrawal
from integration.refunds import RefundStatus
from integration.returns import ReturnMethod, ReturnStatus

__all__ = ["PAGE_SIZE", "Page", "ReturnFilters", "paged", "returns_query", "is_overdue", "failed_refunds_query",
           "withdrawals_query", "feedback_summary"]  # fmt: skip

PAGE_SIZE = 25
TRACKS = ("return", "withdrawal")
SUCCEEDED = RefundStatus.SUCCEEDED.value


@dataclass(frozen=True)
class Page:
    rows: list
    number: int
    total: int

    @property
    def last(self) -> int:
        return max((self.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)


def paged(db: Session, query, number: int) -> Page:
    """One page of `query` (numbered from 1), with the count of all its rows."""
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    number = min(max(number, 1), max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1))
    rows = db.scalars(query.offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE)).unique().all()
    return Page(list(rows), number, total)


@dataclass(frozen=True)
class ReturnFilters:
    """The returns list's filters, each kept only when it is a value the list knows."""

    status: str = ""
    track: str = ""
    method: str = ""
    search: str = ""
    overdue: bool = False

    @classmethod
    def from_args(cls, args) -> ReturnFilters:
        """The filters from a query string; unknown values are dropped, not an error."""
        pick = lambda name, allowed: args.get(name, "") if args.get(name, "") in allowed else ""  # noqa: E731
        return cls(pick("status", {s.value for s in ReturnStatus}), pick("track", TRACKS),
                   pick("method", {m.value for m in ReturnMethod}), args.get("q", "").strip()[:64],
                   args.get("overdue") == "1")  # fmt: skip


def _unpaid(now: datetime):
    """Due by law and passed, and no refund of it has succeeded."""
    paid = exists().where(Refund.return_id == Return.id, Refund.status == SUCCEEDED)
    return (Return.refund_due_at.is_not(None)) & (Return.refund_due_at < now) & ~paid


def returns_query(shop_id: int, filters: ReturnFilters, now: datetime):
    """The shop's returns as filtered, newest first, with what each row shows loaded."""
    query = select(Return).join(Order, Return.order_id == Order.id).where(Return.shop_id == shop_id)
    for column, value in ((Return.status, filters.status), (Return.track, filters.track),
                          (Return.method, filters.method)):  # fmt: skip
        if value:
            query = query.where(column == value)
    if filters.search:
        term = filters.search
        query = query.where(or_(Return.code == term.upper(), Order.name.in_([term, f"#{term.lstrip('#')}"]),
                                Order.platform_order_id == term))  # fmt: skip
    if filters.overdue:
        query = query.where(_unpaid(now))
    return query.options(selectinload(Return.order), selectinload(Return.refunds)).order_by(Return.id.desc())


def is_overdue(ret: Return, now: datetime) -> bool:
    """Its legal refund date has passed and no refund of it has succeeded."""
    due = ret.refund_due_at
    return due is not None and due < now and not any(r.status == SUCCEEDED for r in ret.refunds)


def failed_refunds_query(shop_id: int):
    """The shop's failed refunds, newest first, each with its return."""
    return (select(Refund).join(Return).where(Return.shop_id == shop_id, Refund.status == RefundStatus.FAILED.value)
            .options(selectinload(Refund.ret)).order_by(Refund.id.desc()))  # fmt: skip


def withdrawals_query(shop_id: int, matched: str = ""):
    """The shop's statements of withdrawal, newest first; `matched` "yes"/"no" keeps those with/without a return."""
    query = select(Withdrawal).where(Withdrawal.shop_id == shop_id)
    if matched == "yes":
        query = query.where(Withdrawal.return_id.is_not(None))
    elif matched == "no":
        query = query.where(Withdrawal.return_id.is_(None))
    return query.order_by(Withdrawal.id.desc())


def feedback_summary(db: Session, shop_id: int, latest: int = 10) -> dict:
    """How many rated their return, the average, the count per rating 1-5, and the latest comments."""
    rated = select(Return.feedback_rating, func.count()).where(
        Return.shop_id == shop_id, Return.feedback_rating.is_not(None)).group_by(Return.feedback_rating)  # fmt: skip
    counts = {int(rating): n for rating, n in db.execute(rated)}
    total = sum(counts.values())
    average = sum(r * n for r, n in counts.items()) / total if total else None
    comments = db.scalars(select(Return).where(
        Return.shop_id == shop_id, Return.feedback_comment.is_not(None), Return.feedback_comment != "",
    ).order_by(Return.feedback_at.desc(), Return.id.desc()).limit(latest)).all()  # fmt: skip
    return {"count": total, "average": average, "distribution": {r: counts.get(r, 0) for r in range(5, 0, -1)},
            "comments": comments}  # fmt: skip
