"""Privacy duties, for every platform: a customer's data request, a customer's erasure, a whole shop's erasure.

Palautus keeps no customer profile. What it holds on a customer hangs off the
shop's orders: an order's e-mail, the notes of its returns (the customer's, the
items' reason notes, notes in the timeline) and the deliveries in the inbox
that carry them. A customer is found by their e-mail (case-insensitive) and by
the order ids a request names; the inbox bodies also by the customer's id on
the platform, the only place Palautus has it.

Erasing keeps what the books need: the amounts, VAT, statuses, references and
provider ids of refunds, the returns and orders they belong to (their amounts,
lines and payments). Personal data in them is set to None or dropped; an inbox
body becomes `{"redacted": true}` and its row stays (its ids deduplicate
deliveries). Every request is recorded as a PrivacyRequest, done or failed; a
data request keeps its export for the merchant to fetch, until the shop
uninstalls (nobody can fetch it then) or the customer's data is erased.

An e-mail is found only as itself: a value equal to it, or in free text as a
whole address (`joann@example.com` and `ann@example.com.au` are not
`ann@example.com`).

What was erased stays erased. A customer's erasure leaves tombstones
(PrivacyTombstone): their e-mail and customer id (hashed) and their orders'
ids. Whatever is applied later (a delivery that waited in the inbox, a late or
retried one, the platform read again) passes them: an erased order, or one of
the customer's placed before the erasure, keeps no e-mail; the notes of its
returns and refunds made before the erasure are not stored; and the delivery's
body is stubbed once it is done with (`WebhookEvent.erase_body`). Data the
customer gives after the erasure (an order placed later) is new, and kept.

The customer's side (their statements of withdrawal, the messages sent to them, a return's own e-mail, their
feedback, a deduction's reason) is exported and erased by privacy_portal.py, on the orders and returns found
here: a statement keeps its code, times, kind and order as the trader's evidence, without name or e-mail.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from integration.db import lock_row
from integration.errors import Conflict, InvalidInput
from integration.models import (
    EarlyReturnStatus, Order, PrivacyRequest, PrivacyTombstone, Refund, Return, Shop, ShopRefund, WebhookEvent,
    Withdrawal, utcnow,
)  # fmt: skip
from integration.models import Product
from integration.refunds import IN_FLIGHT, note_reference, referenced_key
from integration.secrets import hash_api_key
from integration.services import privacy_portal as portal
from integration.services.inbox import REDACTED_BODY, EventStatus
from integration.services.shops import clear_alert, locked_credentials, raise_alert

__all__ = [
    "PrivacyKind", "PrivacyStatus", "MERCHANT_API", "REDACTED_BODY", "RETENTION_BODY", "export_customer", "redact_customer",
    "redact_shop", "request_export", "request_redaction", "request_shop_redaction", "alert_kind", "erased_order",
    "order_erased_at", "erased_note", "scrub_early_statuses", "forget_exports",
]  # fmt: skip

MERCHANT_API = "merchant_api"  # PrivacyRequest.source of a request the merchant made through the API
RETENTION_BODY = b'{"redacted": true, "reason": "retention"}'
# Keys of a timeline entry's (or an early status's) data that hold what a person wrote, or a parcel's tracking.
PERSONAL_KEYS = frozenset({"note", "customer_note", "reason_note", "tracking", "email"})
_FINISHED = (EventStatus.PROCESSED.value, EventStatus.IGNORED.value, EventStatus.FAILED.value)
_BATCH = 200
NOTICE = (
    "Palautus keeps no customer profile: this is what it holds on the orders with this e-mail address or these "
    "ids, the returns, statements of withdrawal and messages made with it or on them, and the webhook deliveries "
    "that name them or the customer"
)


class PrivacyKind(str, Enum):
    DATA_REQUEST = "customer_data_request"
    CUSTOMER_REDACT = "customer_redact"
    SHOP_REDACT = "shop_redact"


class PrivacyStatus(str, Enum):
    RECEIVED = "received"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class _Subject:
    email: str | None
    customer_id: str | None
    order_ids: tuple[str, ...]


def _subject(email, platform_customer_id, order_ids) -> _Subject:
    email = (email or "").strip() or None
    customer_id = str(platform_customer_id) if platform_customer_id not in (None, "") else None
    orders = tuple(dict.fromkeys(str(o) for o in order_ids or () if str(o)))
    if email is None and customer_id is None and not orders:
        raise InvalidInput("name the customer: an e-mail address, a customer id or order ids")
    return _Subject(email, customer_id, orders)


# --- finding what concerns a customer -------------------------------------------------------------------------------


def _orders(session: Session, shop: Shop, subject: _Subject) -> list[Order]:
    found = []
    if subject.email:
        found.append(func.lower(Order.email) == subject.email.lower())
    if subject.order_ids:
        found.append(Order.platform_order_id.in_(subject.order_ids))
    if not found:
        return []
    return list(session.scalars(select(Order).where(Order.shop_id == shop.id, or_(*found)).order_by(Order.id)))


def _returns(session: Session, shop: Shop, orders: list[Order], emails: Iterable[str | None] = ()) -> list[Return]:
    """The returns on these orders, and those whose messages go to one of these e-mails (`Return.customer_email`,
    case-insensitive: the customer's, though the order's e-mail may have changed since)."""
    found = [Return.order_id.in_([o.id for o in orders])] if orders else []
    emails = sorted({e.strip().lower() for e in emails if e and e.strip()})
    if emails:
        found.append(func.lower(Return.customer_email).in_(emails))
    if not found:
        return []
    query = select(Return).where(Return.shop_id == shop.id, or_(*found))
    return list(session.scalars(query.order_by(Return.id)))


# Characters an address can have next to the one looked for, making it another address: a local part's before
# it (`joann@` is not `ann@`; those real addresses use: the RFC's others, such as = / ? & ', separate words in
# text, as in `mailto:?to=ann@…`), a domain's after it (`example.com.au` is not `example.com`; a full stop
# ending a sentence is not part of it).
_BEFORE = r"[\w.%+@-]"
_AFTER = r"[\w@-]|\.[\w-]"


class _Emails:
    """Whether a text names one of these e-mail addresses (case-insensitive): equal to it, or holding it as a whole
    address (free text: "write to ann@example.com."), never as part of a longer one."""

    def __init__(self, emails: Iterable[str]):
        self.emails = {e.strip().lower() for e in emails if e and e.strip()}
        alternatives = "|".join(re.escape(e) for e in sorted(self.emails, key=len, reverse=True))
        self._pattern = re.compile(rf"(?<!{_BEFORE})(?:{alternatives})(?!{_AFTER})", re.IGNORECASE) if alternatives else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def named_in(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def equal(self, value: str | None) -> bool:
        return value is not None and value.strip().lower() in self.emails


class _Matcher:
    """Whether an inbox body concerns the customer: it names their e-mail, one of their orders (as an order id, an
    order's gid), the customer's id, or a payment or refund reference of their orders (payment providers' events).

    Numbers count only where the body says they are an order's or the customer's (a key naming an order or the
    customer, or the body's own top-level id), so a line or product id that happens to be equal does not match.
    The e-mail counts only as a whole address (see _Emails); the other references only as a whole value.
    """

    def __init__(self, subject: _Subject, orders: list[Order], returns: list[Return]):
        self.finder = _Emails([subject.email, *(o.email for o in orders)])
        self.emails = self.finder.emails
        self.order_ids = set(subject.order_ids) | {o.platform_order_id for o in orders}
        self.customer_id = subject.customer_id
        self.strings = {o.platform_gid for o in orders if o.platform_gid}
        for order in orders:
            self.strings |= {p.payment_id for p in order.payments if p.payment_id}
        for ret in returns:
            for refund in ret.refunds:
                self.strings |= {r for r in (refund.provider_refund_id, refund.idempotency_key) if r}
        needles = self.emails | self.order_ids | {s.lower() for s in self.strings} | {self.customer_id or ""}
        self.needles = [n for n in needles if n]

    def concerns(self, body: bytes) -> bool:
        text = body.decode("utf-8", "replace")
        low = text.lower()
        # Cheap first: a body naming none of them anywhere is not parsed (unless escapes may hide them).
        if not any(n in low for n in self.needles) and "\\" not in text:
            return False
        try:
            payload = json.loads(body)
        except ValueError:
            return self.finder.named_in(text)
        return self._walk(payload, top=True)

    def concerns_value(self, value, top: bool = False) -> bool:
        """Whether parsed JSON (an export's entry, say) concerns the customer, as a body would."""
        return self._walk(value, top=top)

    def _walk(self, value, top: bool = False) -> bool:
        if isinstance(value, dict):
            for key, inner in value.items():
                name = str(key).lower()
                if "order" in name and self._names_order(inner):
                    return True
                if "customer" in name and self._names_customer(inner):
                    return True
                if top and name == "id" and self._is_order(inner):
                    return True
                if self._walk(inner):
                    return True
            return False
        if isinstance(value, list):
            return any(self._walk(inner) for inner in value)
        if isinstance(value, str):
            return value in self.strings or self.finder.named_in(value)
        return False

    def _names_order(self, value) -> bool:
        if isinstance(value, dict):
            return self._is_order(value.get("id"))
        if isinstance(value, list):
            return any(self._is_order(v) for v in value)
        return self._is_order(value)

    def _names_customer(self, value) -> bool:
        if self.customer_id is None:
            return False
        if isinstance(value, dict):
            value = value.get("id")
        return _scalar(value) == self.customer_id

    def _is_order(self, value) -> bool:
        return _scalar(value) in self.order_ids


def _scalar(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return str(value)


def _found(session: Session, shop: Shop, subject: _Subject) -> tuple[list[Order], list[Return], _Matcher]:
    """The customer's orders and returns, and what tells the deliveries (and export entries) that concern them."""
    orders = _orders(session, shop, subject)
    returns = _returns(session, shop, orders, [subject.email, *(o.email for o in orders)])
    return orders, returns, _Matcher(subject, orders, returns)


def _withdrawals(session: Session, shop: Shop, orders: list[Order], matcher: _Matcher) -> list[Withdrawal]:
    """The customer's statements of withdrawal: on their orders, or made with their e-mail (matched or not)."""
    return portal.withdrawals_of(session, shop.id, [o.id for o in orders], matcher.emails)


def _events(session: Session, shop: Shop, matcher: _Matcher, statuses: Iterable[str] | None = None):
    """The shop's inbox events that concern the customer (bodies already redacted are skipped), oldest first."""
    query = select(WebhookEvent).where(WebhookEvent.shop_id == shop.id)
    if statuses is not None:
        query = query.where(WebhookEvent.status.in_(list(statuses)))
    for event in session.scalars(query.order_by(WebhookEvent.id).execution_options(yield_per=_BATCH)):
        if event.body not in (REDACTED_BODY, RETENTION_BODY) and matcher.concerns(event.body):
            yield event


# --- the export ------------------------------------------------------------------------------------------------------


def export_customer(session: Session, shop: Shop, email: str | None = None, platform_customer_id: str | None = None,
                    order_ids: Iterable[str] = ()) -> dict:  # fmt: skip
    """Everything Palautus holds on the customer in this shop, as JSON-serialisable data (no secrets)."""
    subject = _subject(email, platform_customer_id, order_ids)
    orders, returns, matcher = _found(session, shop, subject)
    return {
        "generated_at": _iso(utcnow()),
        "shop": {"platform": shop.platform, "domain": shop.domain},
        "request": {"email": subject.email, "customer_id": subject.customer_id, "order_ids": list(subject.order_ids)},
        "notice": NOTICE,
        "orders": [_order_out(order) for order in orders],
        "returns": [_return_out(ret) for ret in returns],
        "inbox_events": [_event_out(event) for event in _events(session, shop, matcher)],
        **portal.export(session, returns, _withdrawals(session, shop, orders, matcher)),  # withdrawals, messages
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _rate(value) -> str:
    return format(Decimal(value or 0).normalize(), "f")


def _order_out(order: Order) -> dict:
    return {
        "order_id": order.platform_order_id, "name": order.name, "email": order.email, "currency": order.currency,
        "total": order.total, "shipping_total": order.shipping_total, "shipping_tax": order.shipping_tax,
        "taxes_included": order.taxes_included, "status": order.financial_status,
        "processed_at": _iso(order.processed_at), "cancelled_at": _iso(order.cancelled_at),
        "removed_at": _iso(order.removed_at), "updated_at": _iso(order.platform_updated_at),
        "lines": [{
            "line_id": line.platform_line_id, "title": line.title, "sku": line.sku, "quantity": line.quantity,
            "unit_price": line.unit_price, "discount_total": line.discount_total, "tax_total": line.tax_total,
            "tax_rate": _rate(line.tax_rate),
        } for line in order.lines],
        "payments": [{
            "transaction_id": p.platform_transaction_id, "provider": p.provider, "gateway": p.gateway,
            "payment_id": p.payment_id, "kind": p.kind, "amount": p.amount, "currency": p.currency, "refunded": p.refunded,
        } for p in order.payments],
        "shop_refunds": [{
            "refund_id": r.platform_refund_id, "amount": r.amount, "currency": r.currency, "lines": r.lines,
            "shipping_refunded": r.shipping_refunded, "pending": r.pending, "note": r.note,
            "by_palautus": r.refund_id is not None, "created_at": _iso(r.created_at),
        } for r in order.shop_refunds],
    }  # fmt: skip


def _return_out(ret: Return) -> dict:
    return {
        "id": ret.id, "code": ret.code, "order_id": ret.order.platform_order_id, "status": ret.status,
        "method": ret.method, "source": ret.source, "platform_return_id": ret.platform_return_id,
        "customer_note": ret.customer_note, "decision": ret.decision, "requested_at": _iso(ret.requested_at),
        "created_at": _iso(ret.created_at), "updated_at": _iso(ret.updated_at), "track": ret.track,
        "customer_email": ret.customer_email, "language": ret.language, "refund_due_at": _iso(ret.refund_due_at),
        "feedback": {"rating": ret.feedback_rating, "comment": ret.feedback_comment, "at": _iso(ret.feedback_at)},
        "items": [{
            "line_id": item.order_line.platform_line_id, "title": item.order_line.title, "sku": item.order_line.sku,
            "quantity": item.quantity, "reason": item.reason, "reason_note": item.reason_note,
            "condition": item.condition, "restock": item.restock, "deduction": item.deduction,
            "deduction_reason": item.deduction_reason,
        } for item in ret.items],
        "timeline": [{
            "at": _iso(e.created_at), "actor": e.actor, "kind": e.kind, "from_status": e.from_status,
            "to_status": e.to_status, "data": e.data,
        } for e in ret.events],
        "refunds": [{
            "id": r.id, "sequence": r.sequence, "status": r.status, "amount": r.amount, "currency": r.currency,
            "tax": r.tax, "vat": r.vat, "fees": r.fees, "shipping": r.shipping, "provider": r.provider,
            "route": r.route, "provider_refund_id": r.provider_refund_id, "provider_status": r.provider_status,
            "created_at": _iso(r.created_at), "completed_at": _iso(r.completed_at),
        } for r in ret.refunds],
    }  # fmt: skip


def _event_out(event: WebhookEvent) -> dict:
    try:
        body = json.loads(event.body)
    except ValueError:
        body = event.body.decode("utf-8", "replace")
    return {"id": event.id, "topic": event.topic, "status": event.status, "received_at": _iso(event.received_at),
            "body": body}  # fmt: skip


# --- erasure -----------------------------------------------------------------------------------------------------------


def _scrubbed(data: dict | None, emails: _Emails) -> dict | None:
    """`data` without what a person wrote (and any value naming an e-mail); None when there was nothing to drop."""
    data = data or {}
    kept = {k: v for k, v in data.items() if k not in PERSONAL_KEYS and not _names_email(v, emails)}
    if kept == data:
        return None
    return {**kept, "redacted": True}


def _names_email(value, emails: _Emails) -> bool:
    if not emails:
        return False
    text = value if isinstance(value, str) else (
        json.dumps(value, default=str, ensure_ascii=False) if isinstance(value, (dict, list)) else "")  # fmt: skip
    return emails.named_in(text)


def refunding_orders(session: Session, order_ids: list[int]) -> set[int]:
    """Those of these orders with a refund of ours still on its way (its request may need the customer's e-mail:
    Paytrail refunds a payment method it cannot refund by API to the e-mail sent with the request)."""
    ids = [i for i in order_ids if i is not None]
    if not ids:
        return set()
    return set(session.scalars(select(Return.order_id).join(Refund).where(
        Return.order_id.in_(ids), Refund.status.in_([status.value for status in IN_FLIGHT]))))  # fmt: skip


# How long an erasure may hold what a refund on its way needs: a refund that never ends (held with a provider that
# cannot be asked, a shop that uninstalled) does not keep a customer's data for ever.
HOLD_LIMIT = timedelta(days=30)


def finish_erasures(session: Session, limit: int = 200) -> int:
    """Finish what an erasure held while money was on its way: the e-mail of an erased order whose refund has
    ended, and the note of a shop refund made before the erasure that is no longer pending; either once HOLD_LIMIT
    has passed since the erasure. How many rows."""
    now = utcnow()
    tomb = (PrivacyTombstone.shop_id == Order.shop_id) & (PrivacyTombstone.kind == _Tomb.ORDER.value) \
        & (PrivacyTombstone.key == Order.platform_order_id)  # fmt: skip
    expired = PrivacyTombstone.erased_at < now - HOLD_LIMIT
    refunding = exists().where(Return.order_id == Order.id, Refund.return_id == Return.id,
                               Refund.status.in_([status.value for status in IN_FLIGHT]))  # fmt: skip
    # A note other than our refund's bare reference, which is all an erasure leaves.
    personal_note = ShopRefund.note.is_not(None) & ~(ShopRefund.note.like("[palautus:%]") & ~ShopRefund.note.like("% %"))
    query = select(Order, PrivacyTombstone.erased_at).join(PrivacyTombstone, tomb).where(or_(
        Order.email.is_not(None) & (expired | ~refunding),
        Order.shop_refunds.any(personal_note & (ShopRefund.created_at <= PrivacyTombstone.erased_at)
                               & ((ShopRefund.pending == 0) | expired)),
    )).order_by(Order.id).limit(limit)  # fmt: skip
    found = session.execute(query).all()
    busy = refunding_orders(session, [order.id for order, _ in found])
    done = 0
    for order, erased_at in found:
        late = erased_at < now - HOLD_LIMIT
        if order.email is not None and (late or order.id not in busy):
            order.email, done = None, done + 1
            # What was written to the held address meanwhile (a refund's message) goes with it.
            done += portal.erase_held_messages(session, order, erased_at)
        for row in order.shop_refunds:
            kept = erased_note(row.note)
            if row.note != kept and (late or not row.pending) and row.created_at <= erased_at:
                row.note, done = kept, done + 1
    session.commit()
    return done


def erased_note(note: str | None) -> str | None:
    """A shop refund's note as an erasure leaves it: only our refund's key on it stays (it ties the books together)."""
    key = referenced_key(note)
    return note_reference(key) if key else None


def _erase_personal(session: Session, shop: Shop, orders: list[Order], returns: list[Return], emails: _Emails,
                    hold: bool = True) -> dict:
    """Set the personal data on these orders and returns to None (e-mails, notes, notes in the timeline)."""
    counts = {"orders": 0, "returns": 0, "items": 0, "timeline_entries": 0, "shop_refund_notes": 0, "early_statuses": 0,
              "held_while_refunding": 0}
    busy = refunding_orders(session, [order.id for order in orders]) if hold else set()
    for order in orders:
        if order.email is not None:
            if order.id in busy:  # the provider may refund by e-mail: erased once the refund ends (finish_erasures)
                counts["held_while_refunding"] += 1
            else:
                order.email, counts["orders"] = None, counts["orders"] + 1
        for row in order.shop_refunds:
            kept = erased_note(row.note)
            if row.note != kept:
                if hold and row.pending:  # a refund pending at the gateway is matched to its notes by this note
                    counts["held_while_refunding"] += 1
                    continue
                row.note, counts["shop_refund_notes"] = kept, counts["shop_refund_notes"] + 1
    for ret in returns:
        if ret.customer_note is not None:
            ret.customer_note, counts["returns"] = None, counts["returns"] + 1
        for item in ret.items:
            if item.reason_note is not None:
                item.reason_note, counts["items"] = None, counts["items"] + 1
        for entry in ret.events:
            cleaned = _scrubbed(entry.data, emails)
            if cleaned is not None:
                entry.data, counts["timeline_entries"] = cleaned, counts["timeline_entries"] + 1
    platform_ids = [ret.platform_return_id for ret in returns if ret.platform_return_id]
    if platform_ids:
        early = select(EarlyReturnStatus).where(EarlyReturnStatus.shop_id == shop.id,
                                                EarlyReturnStatus.platform_return_id.in_(platform_ids))  # fmt: skip
        for row in session.scalars(early):
            cleaned = _scrubbed(row.data, emails)
            if cleaned is not None:
                row.data, counts["early_statuses"] = cleaned, counts["early_statuses"] + 1
    return counts


# --- what was erased stays erased: tombstones --------------------------------------------------------------------


class _Tomb(str, Enum):
    EMAIL = "email"
    CUSTOMER = "customer"
    ORDER = "order"


def _tomb_key(shop_id: int, kind: _Tomb, value: str) -> str:
    """An order's id as it is; an e-mail (case-insensitive) or a customer id only as a hash, bound to the shop."""
    if kind == _Tomb.ORDER:
        return value
    value = value.strip().lower() if kind == _Tomb.EMAIL else value
    return hashlib.sha256(f"{shop_id}\x00{kind.value}\x00{value}".encode()).hexdigest()


def _remember(session: Session, shop_id: int, kind: _Tomb, values: Iterable[str | None], erased_at: datetime) -> None:
    """Tombstones for these values (an erasure again keeps the latest time)."""
    keys = {_tomb_key(shop_id, kind, str(v)) for v in values if v not in (None, "")}
    if not keys:
        return
    known = {row.key: row for row in session.scalars(select(PrivacyTombstone).where(
        PrivacyTombstone.shop_id == shop_id, PrivacyTombstone.kind == kind.value, PrivacyTombstone.key.in_(keys)))}  # fmt: skip
    for key in sorted(keys):
        row = known.get(key)
        if row is None:
            session.add(PrivacyTombstone(shop_id=shop_id, kind=kind.value, key=key, erased_at=erased_at))
        elif row.erased_at < erased_at:
            row.erased_at = erased_at
    session.flush()


def _tombstone(session: Session, shop_id: int, kind: _Tomb, value: str | None) -> datetime | None:
    if value in (None, ""):
        return None
    return session.scalar(select(PrivacyTombstone.erased_at).where(
        PrivacyTombstone.shop_id == shop_id, PrivacyTombstone.kind == kind.value,
        PrivacyTombstone.key == _tomb_key(shop_id, kind, str(value))))  # fmt: skip


def order_erased_at(session: Session, shop_id: int, platform_order_id: str | None) -> datetime | None:
    """When the customer of this order was (last) erased, if they were; None if not."""
    return _tombstone(session, shop_id, _Tomb.ORDER, platform_order_id)


def erased_order(session: Session, shop_id: int, snapshot) -> datetime | None:
    """When the customer of the order in this snapshot (an OrderSnapshot) was erased, if the snapshot is not to
    bring their personal data back: the order was erased, or it is their order (their e-mail, their customer id)
    placed before the erasure (then it is remembered as erased too). None: keep what it says.

    An order placed after the erasure is new: the customer gave their data again."""
    erased = order_erased_at(session, shop_id, snapshot.platform_order_id)
    if erased is not None:
        return erased
    times = [t for t in (_tombstone(session, shop_id, _Tomb.EMAIL, snapshot.email),
                         _tombstone(session, shop_id, _Tomb.CUSTOMER, snapshot.platform_customer_id)) if t]  # fmt: skip
    if not times:
        return None
    erased, placed = max(times), snapshot.processed_at
    if placed is not None and placed > erased:
        return None
    _remember(session, shop_id, _Tomb.ORDER, [snapshot.platform_order_id], erased)
    return erased


def scrub_early_statuses(session: Session, shop: Shop, platform_return_id: str) -> int:
    """A return's status changes kept for when it opens lose what a person wrote (its customer was erased)."""
    changed = 0
    early = select(EarlyReturnStatus).where(EarlyReturnStatus.shop_id == shop.id,
                                            EarlyReturnStatus.platform_return_id == platform_return_id)  # fmt: skip
    for row in session.scalars(early):
        cleaned = _scrubbed(row.data, _Emails(()))
        if cleaned is not None:
            row.data, changed = cleaned, changed + 1
    return changed


def _shop_erased(session: Session, shop: Shop) -> bool:
    """The shop's data was erased (a shop redaction done since it was last uninstalled): nothing personal about
    its customers is to be kept any more, not even a tombstone's hash."""
    if shop.uninstalled_at is None:
        return False
    return session.scalar(select(exists().where(
        PrivacyRequest.shop_id == shop.id, PrivacyRequest.kind == PrivacyKind.SHOP_REDACT.value,
        PrivacyRequest.status == PrivacyStatus.DONE.value, PrivacyRequest.completed_at >= shop.uninstalled_at,
    )))  # fmt: skip


# --- erasing earlier requests and exports ------------------------------------------------------------------------


def _about(row: PrivacyRequest, matcher: _Matcher) -> bool:
    """The request named the customer: their e-mail, their customer id or one of their orders."""
    return bool(
        matcher.finder.equal(row.customer_email)
        or (row.platform_customer_id and row.platform_customer_id == matcher.customer_id)
        or set(row.orders or ()) & matcher.order_ids
    )


def _scrub_export(export: dict, matcher: _Matcher) -> dict | None:
    """Another customer's export without what concerns this customer (their orders, returns, deliveries: as the
    inbox is searched); None when it held nothing of theirs."""
    parts = {
        "orders": lambda entry: matcher.concerns_value(entry),
        "returns": lambda entry: matcher.concerns_value(entry),
        "inbox_events": lambda entry: matcher.concerns_value(entry.get("body") if isinstance(entry, dict) else entry,
                                                             top=True),
        "withdrawals": lambda entry: matcher.concerns_value(entry),
        "messages": lambda entry: matcher.concerns_value(entry),
    }  # fmt: skip
    kept, dropped = dict(export), {}
    for name, concerns in parts.items():
        entries = export.get(name) or []
        left = [entry for entry in entries if not concerns(entry)]
        if len(left) != len(entries):
            kept[name], dropped[name] = left, len(entries) - len(left)
    rest = {k: v for k, v in kept.items() if k not in parts}
    if matcher.concerns_value(rest):  # anything else naming them (the request itself): nothing of it is kept
        return {"generated_at": export.get("generated_at"), "erased": True}
    if not dropped:
        return None
    earlier = dict(export.get("erased_since") or {})
    kept["erased_since"] = {name: earlier.get(name, 0) + dropped.get(name, 0) for name in {**earlier, **dropped}}
    return kept


def _forget_requests(session: Session, shop: Shop, matcher: _Matcher | None) -> int:
    """Earlier privacy requests about the customer (all of the shop's, for None) lose the e-mail and any export; the
    exports of other customers' data requests lose what concerns this customer (an export made before an address
    was matched only as a whole may hold it). For None (the shop's erasure), the customer ids go too.

    About the customer: naming their e-mail, their customer id or one of their orders.
    """
    changed = 0
    for row in session.scalars(select(PrivacyRequest).where(PrivacyRequest.shop_id == shop.id)):
        export = row.export if row.kind == PrivacyKind.DATA_REQUEST.value else None
        if matcher is not None and not _about(row, matcher):
            scrubbed = _scrub_export(export, matcher) if export else None
            if scrubbed is not None:
                row.export, changed = scrubbed, changed + 1
            continue
        customer_id = row.platform_customer_id if matcher is not None else None
        if row.customer_email is not None or export is not None or customer_id != row.platform_customer_id:
            row.customer_email, row.platform_customer_id, changed = None, customer_id, changed + 1
            if export is not None:
                row.export = None
    return changed


def forget_exports(session: Session, shop: Shop) -> int:
    """The shop's data-request exports are dropped, with the alerts pointing to them: the shop uninstalled, and
    nobody can fetch them any more (its API key stops working). Not committed. How many were dropped."""
    dropped = 0
    rows = select(PrivacyRequest).where(PrivacyRequest.shop_id == shop.id,
                                        PrivacyRequest.kind == PrivacyKind.DATA_REQUEST.value)  # fmt: skip
    for row in session.scalars(rows):
        if row.export is not None:
            row.export, dropped = None, dropped + 1
        clear_alert(shop, alert_kind(row))
    return dropped


# --- erasure, done --------------------------------------------------------------------------------------------------


def _remember_customer(session: Session, shop: Shop, subject: _Subject, matcher: _Matcher) -> None:
    """The customer's tombstones: their orders' ids, and (unless the shop's data was erased: nothing of it is
    applied any more, and no hash is kept) their e-mail and customer id."""
    now = utcnow()
    _remember(session, shop.id, _Tomb.ORDER, matcher.order_ids, now)
    if not _shop_erased(session, shop):
        _remember(session, shop.id, _Tomb.EMAIL, matcher.emails, now)
        _remember(session, shop.id, _Tomb.CUSTOMER, [subject.customer_id], now)


def redact_customer(session: Session, shop: Shop, email: str | None = None, platform_customer_id: str | None = None,
                    order_ids: Iterable[str] = (), *, current_event_id: int | None = None) -> dict:  # fmt: skip
    """Erase the customer's personal data in this shop, keeping what the books need; what was erased, counted.

    Inbox events still waiting to be applied keep their bodies (a job needs them; erasing one could lose a refund
    made in the shop), but are marked: their bodies are stubbed once done, and what they bring passes the
    tombstones this erasure leaves (see the module's docstring). `current_event_id`: the delivery that asks for
    this erasure, being applied now (its body names the customer): erased too. Not committed. Idempotent.
    """
    subject = _subject(email, platform_customer_id, order_ids)
    orders, returns, matcher = _found(session, shop, subject)
    _remember_customer(session, shop, subject, matcher)
    counts = _erase_personal(session, shop, orders, returns, matcher.finder)
    # Nothing is held here: a refund's request needs the order's e-mail alone (above); the messages' go now, and a
    # message not sent yet (an acknowledgement of withdrawal too) never will be: the customer asked for erasure.
    counts.update(portal.erase(session, returns, _withdrawals(session, shop, orders, matcher)))
    redacted, waiting = [], []
    for event in _events(session, shop, matcher):
        if event.status in _FINISHED or event.id == current_event_id:
            redacted.append(event.id)
        else:
            waiting.append(event.id)
    for chunk in range(0, len(redacted), _BATCH):
        ids = redacted[chunk:chunk + _BATCH]
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(body=REDACTED_BODY)
                        .execution_options(synchronize_session="fetch"))  # fmt: skip
    for chunk in range(0, len(waiting), _BATCH):
        ids = waiting[chunk:chunk + _BATCH]
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(erase_body=True)
                        .execution_options(synchronize_session="fetch"))  # fmt: skip
    counts["inbox_bodies"], counts["inbox_events_waiting"] = len(redacted), len(waiting)
    counts["privacy_requests"] = _forget_requests(session, shop, matcher)
    return counts


def redact_shop(session: Session, shop: Shop, vault) -> dict:
    """Erase what Palautus holds on an uninstalled shop but the accounting records; what was erased, counted.

    Kept: refunds (amounts, VAT, statuses, provider references), the returns they belong to and those returns'
    orders (amounts, lines, payments), orders with refunds made in the shop's admin, all without personal data; the shop's row, domain and policy. Deleted: returns
    no refund was written for, orders no return remains on, early platform statuses, products, statements of
    withdrawal no kept return needs, the tombstones' hashes of e-mails and customer ids (the orders' ids stay, as
    the orders do). The customer's side is emptied as on a customer's erasure (privacy_portal.py), and staff
    sign-in links keep no e-mail. Every inbox body becomes a stub; events
    not yet applied are failed. Privacy requests keep no e-mail, customer id or export. The credentials become an
    empty sealed dict (the payment providers' keys alone stay while a refund is still on its way), the API key a
    hash of a key nobody has. Not committed. Idempotent. Conflict for a shop that is still installed.
    """
    if shop.uninstalled_at is None:
        raise Conflict(f"the shop {shop.domain} is still installed: its data is erased only after the app was removed")
    orders = list(session.scalars(select(Order).where(Order.shop_id == shop.id)))
    returns = list(session.scalars(select(Return).where(Return.shop_id == shop.id)))
    emails = _Emails(o.email for o in orders if o.email)
    # Nothing is held for a refund on its way: the shop is gone, and nothing more is asked of its platform.
    counts = _erase_personal(session, shop, orders, returns, emails, hold=False)
    counts.update(portal.erase_shop(session, shop.id, returns))
    session.flush()
    unfinished = update(WebhookEvent).where(
        WebhookEvent.shop_id == shop.id, WebhookEvent.status.not_in(_FINISHED)
    ).values(status=EventStatus.FAILED.value, next_attempt_at=None,
             error="the shop's data was erased (shop redact) before this delivery was applied")  # fmt: skip
    counts["inbox_events_failed"] = session.execute(unfinished.execution_options(synchronize_session="fetch")).rowcount
    bodies = update(WebhookEvent).where(
        WebhookEvent.shop_id == shop.id, WebhookEvent.body.not_in([REDACTED_BODY, RETENTION_BODY])
    ).values(body=REDACTED_BODY)  # fmt: skip
    counts["inbox_bodies"] = session.execute(bodies.execution_options(synchronize_session="fetch")).rowcount
    unrefunded = select(Return.id).where(Return.shop_id == shop.id, ~exists().where(Refund.return_id == Return.id))
    gone = list(session.scalars(unrefunded))
    if gone:  # their items and timelines go with them (ON DELETE CASCADE)
        session.execute(delete(Return).where(Return.id.in_(gone)).execution_options(synchronize_session=False))
    counts["returns_deleted"] = len(gone)
    counts["early_statuses_deleted"] = session.execute(
        delete(EarlyReturnStatus).where(EarlyReturnStatus.shop_id == shop.id).execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    # The shop's products (type, tags) are its catalogue, not accounting records: they go.
    counts["products_deleted"] = session.execute(
        delete(Product).where(Product.shop_id == shop.id).execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    # An order a refund was recorded on stays with its lines and refunds: they are the books' records of money that
    # moved (the ledger prices an external refund from them), as our own refunds' orders stay.
    unreturned = delete(Order).where(Order.shop_id == shop.id, ~exists().where(Return.order_id == Order.id),
                                     ~exists().where(ShopRefund.order_id == Order.id))
    # Their lines and payments go with them (ON DELETE CASCADE); no refund of ours pays from them.
    counts["orders_deleted"] = session.execute(unreturned.execution_options(synchronize_session=False)).rowcount
    counts.update(portal.forget_shop(session, shop.id))  # statements no kept return needs; staff sign-in e-mails
    # A refund still on its way is followed to its end with the provider's keys (the customer's money): the keys of
    # the providers such refunds went to directly alone stay until they end (then the sweeper drops them, as for
    # any uninstalled shop); everything else goes now. A refund through the platform's own gateway needs none.
    routes = list(session.scalars(select(func.coalesce(Refund.route, Refund.provider)).join(Return).where(
        Return.shop_id == shop.id, Refund.status.in_([s.value for s in IN_FLIGHT]))))  # fmt: skip
    in_flight = len(routes)
    stored = locked_credentials(session, vault, shop, keys_change=True)  # as stored now: the sweeper may have dropped keys
    payments = {name: keys for name, keys in (stored.get("payments") or {}).items() if name in routes and keys}
    shop.credentials = vault.seal({"payments": payments} if payments else {})
    counts["refunds_in_flight"] = in_flight
    shop.api_key_hash = hash_api_key(secrets.token_urlsafe(32))  # a key nobody was ever given
    shop.api_key_prefix = "redacted"
    if not payments:
        # The stores' and providers' old address stops working; a reinstall gets working ones. A refund still with
        # a provider keeps it: the provider reports the outcome there (Paytrail can be asked no other way).
        shop.webhook_key = secrets.token_urlsafe(24)
    shop.alerts = {}
    counts["privacy_requests"] = _forget_requests(session, shop, None)
    counts["tombstones_deleted"] = session.execute(delete(PrivacyTombstone).where(
        PrivacyTombstone.shop_id == shop.id, PrivacyTombstone.kind != _Tomb.ORDER.value,
    ).execution_options(synchronize_session=False)).rowcount  # fmt: skip
    return counts


# --- the requests, recorded ----------------------------------------------------------------------------------------


def alert_kind(request: PrivacyRequest) -> str:
    """The shop alert that tells the merchant a data request's export is ready (cleared once they fetch it)."""
    return f"privacy request {request.id}"


def _row(shop: Shop, kind: PrivacyKind, source: str, subject: _Subject | None = None,
         platform_request_id: str | None = None) -> PrivacyRequest:  # fmt: skip
    """The request's record; for a shop that uninstalled, it names the customer by their order ids alone."""
    if subject is not None and shop.uninstalled_at is not None:
        subject = _Subject(None, None, subject.order_ids)
    return PrivacyRequest(
        shop_id=shop.id, kind=kind.value, source=source, status=PrivacyStatus.RECEIVED.value,
        customer_email=subject.email[:320] if subject and subject.email else None,  # no valid address is longer
        platform_customer_id=subject.customer_id if subject else None,
        platform_request_id=platform_request_id, orders=list(subject.order_ids) if subject else [],
    )  # fmt: skip


def _done(session: Session, row: PrivacyRequest, result: dict) -> PrivacyRequest:
    row.status, row.export, row.completed_at = PrivacyStatus.DONE.value, result, utcnow()
    session.add(row)
    session.commit()
    return row


def request_export(session: Session, shop: Shop, *, source: str, email: str | None = None,
                   platform_customer_id: str | None = None, order_ids: Iterable[str] = (),
                   platform_request_id: str | None = None) -> PrivacyRequest:  # fmt: skip
    """A customer's data request, answered: the export is kept on the request, for the merchant to fetch.

    A request from the platform (not the merchant) raises a shop alert saying where the export is. The same
    platform request id again gives the request already done. For a shop that uninstalled, no export is made
    (nobody could fetch it): the request is recorded as failed, without the e-mail, and Conflict raised.
    """
    subject = _subject(email, platform_customer_id, order_ids)
    if shop.uninstalled_at is not None:
        row = _row(shop, PrivacyKind.DATA_REQUEST, source, subject, platform_request_id)
        row.status, row.completed_at = PrivacyStatus.FAILED.value, utcnow()
        row.error = (f"the shop {shop.domain} uninstalled Palautus: no export is made, as nobody can fetch it; the "
                     "shop holds the customer's data itself")  # fmt: skip
        session.add(row)
        session.commit()
        raise Conflict(row.error)
    if platform_request_id is not None:
        earlier = session.scalar(select(PrivacyRequest).where(
            PrivacyRequest.shop_id == shop.id, PrivacyRequest.kind == PrivacyKind.DATA_REQUEST.value,
            PrivacyRequest.source == source, PrivacyRequest.platform_request_id == platform_request_id,
            PrivacyRequest.status == PrivacyStatus.DONE.value,
        ))  # fmt: skip
        if earlier is not None:
            return earlier
    row = _row(shop, PrivacyKind.DATA_REQUEST, source, subject, platform_request_id)
    export = export_customer(session, shop, subject.email, subject.customer_id, subject.order_ids)
    session.add(row)
    session.flush()
    if source != MERCHANT_API:
        raise_alert(shop, alert_kind(row), (
            f"a customer asked for their data (request {platform_request_id or row.id}): the export is at "
            f"GET /api/v1/privacy/requests/{row.id}; send it to them"))  # fmt: skip
    return _done(session, row, export)


def request_redaction(session: Session, shop: Shop, *, source: str, email: str | None = None,
                      platform_customer_id: str | None = None, order_ids: Iterable[str] = (),
                      current_event_id: int | None = None) -> PrivacyRequest:  # fmt: skip
    """A customer's erasure, done and recorded. The record keeps no e-mail (that is what was erased): the customer
    id and order ids say whom it was for; its `export` counts what was erased."""
    subject = _subject(email, platform_customer_id, order_ids)
    # The tombstones first, committed under the shop's row lock, which an order's snapshot is applied under too
    # (jobs/events.py on_order): an order applied at the same time is either in before them, and erased below,
    # or applied after them, and keeps no e-mail.
    session.commit()
    lock_row(session, Shop, shop.id)
    _remember_customer(session, shop, subject, _found(session, shop, subject)[2])
    session.commit()
    counts = redact_customer(session, shop, subject.email, subject.customer_id, subject.order_ids,
                             current_event_id=current_event_id)  # fmt: skip
    row = _row(shop, PrivacyKind.CUSTOMER_REDACT, source, _Subject(None, subject.customer_id, subject.order_ids))
    return _done(session, row, {"erased": counts})


def request_shop_redaction(session: Session, shop: Shop, vault, *, source: str) -> PrivacyRequest:
    """The shop's erasure, done and recorded; for a shop still installed, recorded as failed and Conflict raised."""
    if shop.uninstalled_at is None:
        row = _row(shop, PrivacyKind.SHOP_REDACT, source)
        row.status, row.completed_at = PrivacyStatus.FAILED.value, utcnow()
        row.error = f"the shop {shop.domain} is still installed: its data is erased only after the app was removed"
        session.add(row)
        session.commit()
        raise Conflict(row.error)
    counts = redact_shop(session, shop, vault)
    return _done(session, _row(shop, PrivacyKind.SHOP_REDACT, source), {"erased": counts})
