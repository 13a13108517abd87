"""The statutory right of withdrawal (Directive 2011/83/EU as amended, Art. 9-14, 11a): its clocks and what it is owed.

Pure, stdlib only. The rules, and how each unknown is read (always the customer's way, never the merchant's):

- The period is 14 days from the day the customer (or someone they named) got the goods; for goods delivered
  separately, from the day the *last* one came (Art. 9(2)(b)). Days count as Regulation 1182/71 counts them
  (CRD recital 41): from the day after delivery, the period ends at the end of its 14th day, and a period
  whose last day is a Saturday or Sunday ends at the end of the next Monday. Public holidays differ per
  country and are not known here: they could only lengthen the period, and a late statement is never refused.
- A statement is on time when it was *sent* before the period ended (Art. 11(2)): its submission time counts.
- Before anything was delivered or shipped the period has not begun, and the statement cancels the order.
- Shipped but with no delivery date known: the goods have left, so they come back as a withdrawal; when they
  arrived is unknown, so the period has not provably ended and the statement is on time.
- A late statement is recorded and flagged for the merchant, never refused: the period may have run 12 months
  longer (Art. 10, the trader's information missing), which only the merchant can tell.
- The refund is due 14 days after the statement (Art. 13(1)), counted from its submission to the minute: the
  strictest reading for the merchant, so the date shown is never later than the law's.
- Owed: what was paid for the goods; the outbound delivery on a whole-order withdrawal, up to the cheapest
  standard delivery where that is known (else all of it); less return shipping only where its cost was
  disclosed before the order (Art. 14(1)); less diminished value only as deductions recorded, with their
  reasons, when the goods came back (Art. 14(2)). Never below zero.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import Enum

__all__ = [
    "PERIOD_DAYS", "REFUND_DAYS", "DUPLICATE_WINDOW", "Kind", "WithdrawalStatus", "Timing", "Owed",
    "normalize_reference", "same_lines", "last_delivery", "period_end", "timing", "refund_due", "owed",
]  # fmt: skip

PERIOD_DAYS = 14
REFUND_DAYS = 14
# The same statement sent again within this long (a double click, a reload, a second tab) is the first one.
DUPLICATE_WINDOW = timedelta(minutes=10)
_SATURDAY = 5


class Kind(str, Enum):
    WITHDRAWAL = "withdrawal"  # the goods reached (or are on their way to) the customer: they come back
    CANCELLATION = "cancellation"  # nothing has left the shop: the order is cancelled


class WithdrawalStatus(str, Enum):
    RECEIVED = "received"  # stored and acknowledged; a job carries it out
    UNMATCHED = "unmatched"  # no order of the shop has that number and e-mail: the merchant matches it by hand
    CARRIED_OUT = "carried_out"  # its return opened, or its order cancelled and the money on its way back
    ATTENTION = "attention"  # it could not be carried out by itself: `error` says what the merchant must do
    DUPLICATE = "duplicate"  # sent twice at the same moment: its twin (the earlier one) is carried out


@dataclass(frozen=True)
class Timing:
    """Where a statement stands against the law's clock."""

    kind: Kind
    period_ends: datetime | None  # None: the period has not begun, or when it began is unknown
    late: bool
    basis: str  # "delivered", "shipped" (delivery date unknown) or "not_shipped"


@dataclass(frozen=True)
class Owed:
    """What a withdrawal pays back, in minor units, and the deductions the law lets the merchant make."""

    goods: int
    shipping: int
    return_shipping: int
    diminished_value: int

    @property
    def total(self) -> int:
        return max(self.goods + self.shipping - self.return_shipping - self.diminished_value, 0)


def normalize_reference(reference: str) -> str:
    """An order number as a customer may type it ("#1001", " 1001 ", "# 1001") in one form: "1001"."""
    return re.sub(r"\s+", "", str(reference or "")).lstrip("#").upper()


def same_lines(a: list | None, b: list | None) -> bool:
    """Whether two statements name the same lines and units ([] and None: the whole order)."""
    key = lambda lines: sorted((str(line["platform_line_id"]), int(line["quantity"])) for line in lines or [])  # noqa: E731
    return key(a) == key(b)


def last_delivery(deliveries: Iterable[datetime | None]) -> datetime | None:
    """When the last of the order's goods arrived; None while any has not (the period starts with the last)."""
    dates = list(deliveries)
    if not dates or any(moment is None for moment in dates):
        return None
    return max(dates)


def period_end(delivered_at: datetime, tz: tzinfo = timezone.utc) -> datetime:
    """The last instant of the withdrawal period for goods delivered at `delivered_at`, in `tz` (the shop's)."""
    last = delivered_at.astimezone(tz).date() + timedelta(days=PERIOD_DAYS)
    last = _next_working_day(last)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz) - timedelta(microseconds=1)


def _next_working_day(day: date) -> date:
    # Reg. 1182/71 art. 3(4): a period ending on a Saturday or Sunday ends with the next working day.
    return day + timedelta(days=7 - day.weekday()) if day.weekday() >= _SATURDAY else day


def timing(submitted_at: datetime, delivered_at: datetime | None, fulfilled_at: datetime | None,
           tz: tzinfo = timezone.utc) -> Timing:  # fmt: skip
    """The statement's kind and whether it was sent before the period ended (see the module's rules)."""
    if delivered_at is not None:
        ends = period_end(delivered_at, tz)
        return Timing(Kind.WITHDRAWAL, ends, submitted_at > ends, "delivered")
    if fulfilled_at is not None:
        return Timing(Kind.WITHDRAWAL, None, False, "shipped")
    return Timing(Kind.CANCELLATION, None, False, "not_shipped")


def refund_due(submitted_at: datetime) -> datetime:
    """When the refund is due at the latest: 14 days after the statement was sent."""
    return submitted_at + timedelta(days=REFUND_DAYS)


def owed(goods: int, *, whole_order: bool, shipping_paid: int, standard_shipping: int | None = None,
         return_shipping_disclosed: int | None = None, deductions: Iterable[int] = ()) -> Owed:  # fmt: skip
    """What a withdrawal of goods worth `goods` pays back, by the module's rules; amounts in minor units."""
    shipping = 0
    if whole_order:
        shipping = shipping_paid if standard_shipping is None else min(shipping_paid, standard_shipping)
    diminished = sum(max(int(amount), 0) for amount in deductions)
    return Owed(goods, shipping, max(return_shipping_disclosed or 0, 0), diminished)
