"""Customer e-mails, the writing side: one Message per step of a return or withdrawal, in the step's transaction.

A step writes its message with INSERT ... ON CONFLICT DO NOTHING on `dedupe_key`: a step replayed (a delivery
twice, a job run again) finds it written and writes nothing, and no IntegrityError undoes the step. The send
job (jobs/messages.py) is queued after the commit (`ctx.later`); the sweeper queues what that missed. What a
message says is read when it is sent (`contents`): from its return or withdrawal, the order and the shop, and
the row's `data`, which holds only what the step alone knew (a reason, an amount).
"""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from urllib.parse import urlsplit

from babel.dates import format_datetime
from babel.numbers import format_currency
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from integration.errors import InvalidInput
from integration.languages import language_or_default
from integration.models import Message, Order, Refund, Return, Shop, Withdrawal, utcnow
from integration.money import to_decimal
from integration.policy import ReturnPolicy
from integration.returns import ReturnStatus
from integration.services.context import Ctx

__all__ = ["MessageStatus", "STEP_KINDS", "REFUND_SENT", "WITHDRAWAL_RECEIVED", "KINDS", "for_status", "refund_sent",
           "withdrawal_received", "erase", "contents"]  # fmt: skip

logger = logging.getLogger(__name__)

S = ReturnStatus
# The steps of a return its customer is told of. Not in transit (they sent it), cancelled (mostly their own
# doing, and the portal shows it) or closed; a refund has its own message, once per refund.
STEP_KINDS = {S.REQUESTED: "requested", S.APPROVED: "approved", S.REJECTED: "rejected", S.RECEIVED: "received"}
REFUND_SENT, WITHDRAWAL_RECEIVED = "refund_sent", "withdrawal_received"
KINDS = (*STEP_KINDS.values(), REFUND_SENT, WITHDRAWAL_RECEIVED)
# What of a step's own data its message shows (a rejection's reason and the note to the customer); the rest,
# a merchant's internal note say, stays in the timeline.
_SHOWN = {"rejected": ("reason", "note")}
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


class MessageStatus(str, Enum):
    PENDING = "pending"  # written, waiting for its job (again, after a failure that may pass)
    SENDING = "sending"  # a job holds it until `claimed_until`
    SENT = "sent"
    FAILED = "failed"  # refused for good, or given up on: `error` says why


def for_status(ctx: Ctx, ret: Return, target: ReturnStatus, data: Mapping | None = None) -> int | None:
    """Write the message of a customer-facing step of the return: its id, or None (no such step, a repeat, no address)."""
    kind = STEP_KINDS.get(S(target))
    if kind is None or (kind == "requested" and ret.track == "withdrawal"):
        return None  # a withdrawal's request is acknowledged by its own message (withdrawal_received)
    ctx.session.flush()  # the step's own rows first: a new return has its id only now
    shop, order, data = ctx.session.get(Shop, ret.shop_id), ret.order, data or {}
    shown = {key: data[key] for key in _SHOWN.get(kind, ()) if data.get(key)}
    return _write(ctx, shop, kind, f"return:{ret.id}:{kind}", _recipient(ctx, ret),
                  _language(shop, ret.language, order.locale), shown, return_id=ret.id)  # fmt: skip


def refund_sent(ctx: Ctx, refund: Refund) -> int | None:
    """Write the message that the refund has paid the customer back, with its amount and route: once per refund."""
    ret = refund.ret
    shop, order = ctx.session.get(Shop, ret.shop_id), ret.order
    data = {"refund_id": refund.id, "amount": refund.amount, "currency": refund.currency,
            "provider": refund.provider, "route": refund.route}  # fmt: skip
    return _write(ctx, shop, REFUND_SENT, f"refund:{refund.id}:sent", _recipient(ctx, ret),
                  _language(shop, ret.language, order.locale), data, return_id=ret.id)  # fmt: skip


def _recipient(ctx: Ctx, ret: Return) -> str | None:
    """Where a return's messages go: the address the customer gave, else the order's, unless the customer was
    erased (the order's address is then only held for a refund on its way, not for telling them about it)."""
    from integration.services.privacy import order_erased_at  # privacy erases messages: imported when needed

    if ret.customer_email:
        return ret.customer_email
    if order_erased_at(ctx.session, ret.shop_id, ret.order.platform_order_id) is not None:
        return None
    return ret.order.email


def withdrawal_received(ctx: Ctx, withdrawal: Withdrawal) -> int | None:
    """Write the acknowledgement of a statement of withdrawal, with its content and when it was received."""
    ctx.session.flush()  # a statement written in this transaction has its id only now
    shop = ctx.session.get(Shop, withdrawal.shop_id)
    order = ctx.session.get(Order, withdrawal.order_id) if withdrawal.order_id else None
    return _write(ctx, shop, WITHDRAWAL_RECEIVED, f"withdrawal:{withdrawal.id}:received", withdrawal.email,
                  _language(shop, withdrawal.language, order.locale if order else None), {},
                  withdrawal_id=withdrawal.id)  # fmt: skip


def _write(ctx: Ctx, shop: Shop, kind: str, key: str, recipient: str | None, language: str, data: dict,
           **refs) -> int | None:  # fmt: skip
    """Insert the message unless its step has one; queue its job after the commit."""
    recipient, ids = (recipient or "").strip(), {"dedupe_key": key, "shop_id": shop.id}
    if not _ADDRESS.fullmatch(recipient) or len(recipient) > 320:
        logger.info("no message: the customer has no usable e-mail address", extra=ids)
        return None
    values = {"shop_id": shop.id, "kind": kind, "dedupe_key": key, "recipient": recipient, "language": language,
              "data": data, "status": MessageStatus.PENDING.value, "message_id": _message_id(shop), "attempts": 0,
              "created_at": utcnow(), **refs}  # fmt: skip
    table = Message.__table__
    statement = _insert_once(ctx.session.get_bind().dialect.name).values(values).returning(table.c.id)
    message_id = ctx.session.execute(statement).scalar()
    if message_id is None:
        logger.info("no message: this step has one already", extra=ids)
        return None
    ctx.later(ctx.tasks.send_message, message_id)
    return message_id


def _insert_once(dialect: str):
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING: a concurrent writer of the same step is waited for, not failed."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - Palautus runs on PostgreSQL and SQLite
        raise RuntimeError(f"no insert-once statement for {dialect}")
    return insert(Message.__table__).on_conflict_do_nothing(index_elements=["dedupe_key"])


def _message_id(shop: Shop) -> str:
    """A Message-ID fixed now (RFC 5322), at the shop's host: a copy ever sent again carries the same one."""
    host = urlsplit(shop.domain if "//" in shop.domain else f"//{shop.domain}").hostname or "palautus.localhost"
    return f"<{utcnow():%Y%m%d%H%M%S}.{secrets.token_hex(8)}@{host}>"


def _language(shop: Shop, *wanted: str | None) -> str:
    """The first of `wanted` that is one of ours, else the shop's default, else Finnish."""
    default = language_or_default((shop.profile or {}).get("default_language"))
    return next((language_or_default(v, "") for v in wanted if language_or_default(v, "")), default)


def erase(session: Session, return_ids=(), withdrawal_ids=()) -> int:
    """A customer's erasure: their messages keep neither address nor words, and one not sent yet never will be.

    The rows stay, emptied: their dedupe keys keep a step reported again later from writing the message again.
    Not committed; how many messages were emptied.
    """
    theirs = or_(Message.return_id.in_(list(return_ids)), Message.withdrawal_id.in_(list(withdrawal_ids)))
    session.execute(update(Message).where(theirs, Message.status == MessageStatus.PENDING.value)
                    .values(status=MessageStatus.FAILED.value, error="the customer's data was erased before it was sent")
                    .execution_options(synchronize_session=False))  # fmt: skip
    result = session.execute(update(Message).where(theirs, Message.recipient != "").values(recipient="", data={})
                             .execution_options(synchronize_session=False))  # fmt: skip
    return result.rowcount


# --- what a message says, read when it is sent ---------------------------------------------------------------------


def contents(session: Session, message: Message) -> dict:
    """What the message's templates show, in its language: plain values (the templates escape them)."""
    shop, lang = session.get(Shop, message.shop_id), message.language
    found = {**message.data, "kind": message.kind, "language": lang, "shop": _shop(shop)}
    if message.withdrawal_id is not None:
        return {**found, **_withdrawal(session, shop, session.get(Withdrawal, message.withdrawal_id), lang)}
    ret = session.get(Return, message.return_id)
    found.update(code=ret.code, order_name=ret.order.name, method=ret.method, items=_items(ret, lang))
    if message.kind == "approved":
        found.update(_method_offer(shop, ret.method, lang))
    if message.kind == REFUND_SENT:
        found.update(amount=_money(message.data["amount"], message.data["currency"], lang),
                     provider=_provider(message.data.get("provider") or message.data.get("route")))  # fmt: skip
    return found


def _shop(shop: Shop) -> dict:
    profile = shop.profile or {}
    return {"name": shop.name or profile.get("legal_name") or shop.domain, "legal_name": profile.get("legal_name"),
            "address": profile.get("address"), "email": profile.get("email"), "vat_id": profile.get("vat_id")}  # fmt: skip


def _items(ret: Return, lang: str) -> list[dict]:
    currency = ret.order.currency
    return [{"title": item.order_line.title, "quantity": item.quantity,
             "deduction": _money(item.deduction, currency, lang) if item.deduction else None,
             "deduction_reason": item.deduction_reason if item.deduction else None} for item in ret.items]  # fmt: skip


def _method_offer(shop: Shop, method: str, lang: str) -> dict:
    """The shop's own words for the method: its instructions (in `lang` where written in it), carrier, drop-off code.

    Read defensively: the policy's `method(name)` where it has one, else the stored entry (integration/return_methods.py).
    """
    offer = None
    try:
        finder = getattr(ReturnPolicy.from_dict(shop.policy), "method", None)
        offer = finder(method) if callable(finder) else None
    except InvalidInput:  # a policy this version cannot read: the stored entry, if any, still says something
        pass
    if offer is None:
        entries = (shop.policy or {}).get("methods") or ()
        offer = next((e for e in entries if not isinstance(e, str) and _field(e, "method") == method), None)
    if offer is None:
        return {}
    written = _field(offer, "instructions")
    written = {k: v for k, v in written.items() if isinstance(v, str) and v.strip()} if isinstance(written, Mapping) else {}
    # Another language's instructions are better than none: without them the customer cannot send the goods back.
    return {"instructions": written.get(lang) or next(iter(written.values()), None),
            "carrier": _field(offer, "carrier"), "drop_off_code": _field(offer, "drop_off_code")}  # fmt: skip


def _field(entry, key: str):
    return entry.get(key) if isinstance(entry, Mapping) else getattr(entry, key, None)


def _withdrawal(session: Session, shop: Shop, withdrawal: Withdrawal, lang: str) -> dict:
    order = session.get(Order, withdrawal.order_id) if withdrawal.order_id else None
    titles = {line.platform_line_id: line.title for line in order.lines} if order else {}
    lines = [{"title": titles.get(str(row.get("platform_line_id")), str(row.get("platform_line_id"))),
              "quantity": row.get("quantity")} for row in withdrawal.lines or [] if isinstance(row, Mapping)]  # fmt: skip
    return {"code": withdrawal.code, "withdrawal": {
        "kind": withdrawal.kind, "customer_name": withdrawal.customer_name, "email": withdrawal.email,
        "order_reference": withdrawal.order_reference, "lines": lines, "whole_order": not lines,
        "submitted_at": _when(withdrawal.submitted_at, shop, lang),
    }}  # fmt: skip


def _when(at: datetime, shop: Shop, lang: str) -> str:
    """A moment in the shop's time zone, as the language writes it in full, zone named: "2. joulukuuta 2026 klo 14.05.30 ..."."""
    from integration.services.withdrawals import shop_zone  # here: that module writes its statements' messages

    return format_datetime(at, "full", tzinfo=shop_zone(shop), locale=lang)


def _money(amount: int, currency: str, lang: str) -> str:
    return format_currency(to_decimal(amount, currency), currency, locale=lang)


def _provider(name: str | None) -> str | None:
    """A route's name as a customer reads it ("shopify_payments" -> "Shopify Payments")."""
    return name.replace("_", " ").title() if name else None
