"""Privacy duties on the customer's side (see privacy.py, which finds the customer and calls these).

What the customer gives Palautus themselves, or what is written to them: the e-mail a return's messages go to
and their feedback on it (`Return.customer_email`, `feedback_comment`), the merchant's reason for a deduction
(`ReturnItem.deduction_reason`, free text that may name them), their statements of withdrawal, and the
messages sent to them.

A statement of withdrawal is also the trader's evidence that the customer withdrew, and when: an erasure
empties the name and e-mail on it (the columns hold "") and keeps its code, kind, status, times, the order it
names (`order_id`, `order_reference`), its lines and its link to the return carrying it out. Messages keep
their rows emptied (no address, no data), as `messages.erase` leaves them: their dedupe keys stop a step
reported again from writing one again. One not sent yet is never sent, the acknowledgement of a withdrawal
included: the customer asked for their data to go, and the statement itself (code, time of receipt) stays as
the evidence that it was received.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from integration.models import DashboardLogin, Message, Order, Return, Withdrawal
from integration.services import messages

__all__ = ["ERASED", "withdrawals_of", "messages_of", "export", "erase", "erase_shop", "erase_held_messages",
           "forget_shop"]  # fmt: skip

ERASED = ""  # a statement's name and e-mail once erased (the columns hold text, never None)


def withdrawals_of(session: Session, shop_id: int, order_ids: Iterable[int], emails: Iterable[str]) -> list[Withdrawal]:
    """The customer's statements of withdrawal: those naming one of their orders, and those made with their e-mail
    (case-insensitive; a statement matched to no order is found only so), oldest first."""
    order_ids, emails = sorted(set(order_ids)), sorted({e.strip().lower() for e in emails if e and e.strip()})
    found = [Withdrawal.order_id.in_(order_ids)] if order_ids else []
    if emails:
        found.append(func.lower(Withdrawal.email).in_(emails))
    if not found:
        return []
    query = select(Withdrawal).where(Withdrawal.shop_id == shop_id, or_(*found)).order_by(Withdrawal.id)
    return list(session.scalars(query))


def messages_of(session: Session, returns: list[Return], withdrawals: list[Withdrawal]) -> list[Message]:
    """The messages written to the customer about these returns and statements, oldest first."""
    return_ids, withdrawal_ids = [r.id for r in returns], [w.id for w in withdrawals]
    if not return_ids and not withdrawal_ids:
        return []
    theirs = or_(Message.return_id.in_(return_ids), Message.withdrawal_id.in_(withdrawal_ids))
    return list(session.scalars(select(Message).where(theirs).order_by(Message.id)))


def export(session: Session, returns: list[Return], withdrawals: list[Withdrawal]) -> dict:
    """The export's parts on the customer's side: their statements of withdrawal and the messages sent to them."""
    returns_codes, withdrawal_codes = {r.id: r.code for r in returns}, {w.id: w.code for w in withdrawals}
    return {
        "withdrawals": [_withdrawal_out(session, w) for w in withdrawals],
        "messages": [{
            "kind": m.kind, "status": m.status, "recipient": m.recipient, "language": m.language, "data": m.data,
            "return_code": returns_codes.get(m.return_id), "withdrawal_code": withdrawal_codes.get(m.withdrawal_id),
            "created_at": _iso(m.created_at), "sent_at": _iso(m.sent_at),
        } for m in messages_of(session, returns, withdrawals)],
    }  # fmt: skip


def _withdrawal_out(session: Session, w: Withdrawal) -> dict:
    order = session.get(Order, w.order_id) if w.order_id else None
    ret = session.get(Return, w.return_id) if w.return_id else None
    return {
        "code": w.code, "kind": w.kind, "status": w.status, "customer_name": w.customer_name, "email": w.email,
        "order_reference": w.order_reference, "order_id": order.platform_order_id if order else None,
        "return_code": ret.code if ret else None, "lines": w.lines, "language": w.language,
        "submitted_at": _iso(w.submitted_at), "error": w.error,
    }  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def erase(session: Session, returns: list[Return], withdrawals: list[Withdrawal]) -> dict:
    """Empty what the customer's side holds on them in these returns and statements, and their messages (those not
    sent yet are stopped); what was erased, counted per kind. Not committed. Idempotent."""
    counts = {"return_emails": 0, "feedback_comments": 0, "deduction_reasons": 0, "withdrawals": 0, "messages": 0}
    for ret in returns:
        if ret.customer_email is not None:
            ret.customer_email, counts["return_emails"] = None, counts["return_emails"] + 1
        if ret.feedback_comment is not None:  # the rating (1-5) and its time stay: they say nothing of whom
            ret.feedback_comment, counts["feedback_comments"] = None, counts["feedback_comments"] + 1
        for item in ret.items:
            if item.deduction_reason is not None:  # the deduction's amount stays, for the books
                item.deduction_reason, counts["deduction_reasons"] = None, counts["deduction_reasons"] + 1
    for statement in withdrawals:
        if statement.customer_name != ERASED or statement.email != ERASED:
            statement.customer_name, statement.email = ERASED, ERASED
            counts["withdrawals"] += 1
    if returns or withdrawals:
        counts["messages"] = messages.erase(session, [r.id for r in returns], [w.id for w in withdrawals])
    return counts


def erase_shop(session: Session, shop_id: int, returns: list[Return]) -> dict:
    """A shop's erasure: `erase` over these returns (all of the shop's) and every statement of the shop."""
    withdrawals = list(session.scalars(select(Withdrawal).where(Withdrawal.shop_id == shop_id).order_by(Withdrawal.id)))
    return erase(session, returns, withdrawals)


def erase_held_messages(session: Session, order: Order, erased_at: datetime) -> int:
    """The messages about the order's returns opened before its customer was erased: emptied once the order's
    e-mail, held while a refund was on its way, goes (a message written meanwhile could only go to it). Not
    committed; how many were emptied."""
    returns = session.scalars(select(Return.id).where(Return.order_id == order.id, Return.created_at <= erased_at))
    ids = list(returns)
    return messages.erase(session, ids, ()) if ids else 0


def forget_shop(session: Session, shop_id: int) -> dict:
    """A shop's erasure, after its returns with no refund went: statements of withdrawal no return kept for the books
    needs are deleted (with their messages: ON DELETE CASCADE); the staff's sign-in links keep no e-mail (their
    nonces stay, so a link used stays used). Not committed; counted."""
    unneeded = delete(Withdrawal).where(
        Withdrawal.shop_id == shop_id, ~exists().where(Return.id == Withdrawal.return_id)
    ).execution_options(synchronize_session=False)  # fmt: skip
    logins = update(DashboardLogin).where(DashboardLogin.shop_id == shop_id, DashboardLogin.email.is_not(None))
    return {
        "withdrawals_deleted": session.execute(unneeded).rowcount,
        "staff_login_emails": session.execute(logins.values(email=None).execution_options(synchronize_session=False))
        .rowcount,
    }  # fmt: skip
