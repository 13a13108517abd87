"""What the three settlement readers (Klarna, PayPal, Paytrail) share: ids, instants, and what movements add up to.

One rule for every reader, so the books can check any settlement the same way:
`net == sum(amount - fee)` over its movements that are not the payout itself
(`MovementKind.PAYOUT`, listed where the provider lists it). Each row keeps the
provider's own split: `amount` is the row's signed effect, `fee` what the provider
took on it (PayPal's `fee_amount` with its sign turned: positive when charged). A fee
the provider lists as a row of its own (Klarna's FEE, PayPal's T01nn) is a FEE
movement whose amount is the fee, negative (positive when given back), as Stripe's
`stripe_fee` balance transactions are.
Where a provider's total holds money that none of its rows explain, the reader adds
one ADJUSTMENT for the difference (`with_unitemised`) rather than let the sum fail
silently: the books show it, a person looks at it.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable

from integration.records import MovementKind, SettlementMovement

__all__ = ["unique_ids", "utc", "instant", "midnight", "days_starting", "net_of", "with_unitemised"]


def unique_ids(keys: Iterable[str]) -> list[str]:
    """The keys in order, a repeated one suffixed "#2", "#3"...: unique in one report, the same on every read of it."""
    seen: dict[str, int] = {}
    ids = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        ids.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return ids


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be in UTC already (the port's callers pass UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def instant(value: object) -> datetime | None:
    """An ISO 8601 timestamp ("2016-12-14T07:52:26Z", "+0000", "+02:00") as aware UTC; None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def midnight(day: date) -> datetime:
    """The day's first instant in UTC."""
    return datetime.combine(day, time(), timezone.utc)


def days_starting(since: datetime, until: datetime) -> list[date]:
    """The UTC days whose first instant is in [since, until): consecutive windows share none and miss none."""
    since, until = utc(since), utc(until)
    day = since.date() if since == midnight(since.date()) else since.date() + timedelta(days=1)
    days = []
    while midnight(day) < until:
        days.append(day)
        day += timedelta(days=1)
    return days


def net_of(movements: Iterable[SettlementMovement]) -> int:
    """What the movements add to the balance, leaving out the payout itself."""
    return sum(m.amount - m.fee for m in movements if m.kind != MovementKind.PAYOUT)


def with_unitemised(movements: list[SettlementMovement], net: int, movement_id: str, currency: str,
                    description: str) -> tuple[SettlementMovement, ...]:  # fmt: skip
    """The movements, plus one ADJUSTMENT for whatever part of `net` they do not explain (none when they add up)."""
    missing = net - net_of(movements)
    if not missing:
        return tuple(movements)
    rest = SettlementMovement(movement_id, MovementKind.ADJUSTMENT, missing, 0, currency, provider_type="UNITEMISED",
                              description=description)  # fmt: skip
    return (*movements, rest)
