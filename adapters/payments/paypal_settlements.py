"""PayPal's balance movements read as our Settlement: one UTC day of one currency, from Transaction Search, purely.

Why a day: PayPal pays no payouts per settlement. Money stays in the PayPal balance
until the merchant (or an automatic sweep) withdraws it, so there is no settlement id
to ask for. The unit PayPal itself reconciles by is the day: its Settlement report
"gives merchants ... detailed information about each transaction that affects the
settlement of funds" and is generated "daily" (developer.paypal.com/docs/reports/
sftp-reports/settlement-report/), but only over SFTP to approved merchants. Palautus
reads the same balance-affecting transactions through the REST Transaction Search API
and groups them the same way: settlement id "YYYY-MM-DD:CUR" (a UTC day, a currency).
A withdrawal to the bank (T04nn) in the day is listed as the PAYOUT movement it is.

Followed: PayPal's Transaction Search spec v1.9 (paypal/paypal-rest-api-specifications
`openapi/reporting_transactions_v1.json`) and "Transaction event codes"
(developer.paypal.com/docs/transaction-search/transaction-event-codes/):
- `GET /v1/reporting/transactions` with `start_date`/`end_date` (RFC 3339, seconds required; "The maximum
  supported range is 31 days"), `transaction_currency`, `fields`, `balance_affecting_records_only` (Y, the
  default), `page_size` (1-500), `page` (from 1); answer `{transaction_details[{transaction_info}], page,
  total_items, total_pages, last_refreshed_datetime}`. Scope .../reporting/search/read (the REST app's
  "Transaction Search" option).
- "It takes a maximum of three hours for executed transactions to appear in the list transactions call":
  a day counts as complete only once `last_refreshed_datetime` (else now, less three hours) is past its end;
  `settlements` lists only complete days, so a caller polling with a look-back picks each day up once it is.
- `transaction_info`: `transaction_id`, `paypal_reference_id` (the "related, pre-existing transaction": a
  refund's capture), `transaction_event_code` (T-code), `transaction_initiation_date`, `transaction_amount` and
  `fee_amount` (money, signed: a fee taken is negative), `transaction_status`, `invoice_id`, `custom_field`.
- Only `fields=transaction_info` is asked for: it holds every field used here and no payer's personal data.

A refund (T1107, "Payment refund, initiated by merchant") carries its own transaction id, which is the refund
id Payments v2 answered (paypal.py stores it as `provider_refund_id`), and the `invoice_id`/`custom_id` we sent
with it (both our key) as `invoice_id`/`custom_field`. PayPal documents that an `invoice_id` missing from a
capture is reported from its authorization; for a refund it does not say, so `reference` is the invoice_id when
there is one and the custom_field otherwise, and a refund is matched first by its id.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from adapters import fields
from adapters.errors import PayloadError
from adapters.payments.settling import days_starting, instant, midnight, net_of, unique_ids, utc
from integration.errors import InvalidInput
from integration.money import to_minor
from integration.records import MovementKind, Settlement, SettlementMovement

__all__ = ["TRANSACTIONS_PATH", "PAGE_SIZE", "MAX_RANGE", "REPORTING_DELAY", "settlement_id", "parse_id", "scan_range",
           "windows", "query", "page", "listed_days", "reported_until", "settlement"]  # fmt: skip

PROVIDER = "paypal"
TRANSACTIONS_PATH = "/v1/reporting/transactions"
PAGE_SIZE = 500
MAX_RANGE = timedelta(days=31)
REPORTING_DELAY = timedelta(hours=3)
COMPLETE, INCOMPLETE = "complete", "incomplete"  # our words: a day PayPal has, or has not yet, reported whole

# T-code groups ("The event group portion of the T-code is sufficient for reconciliation"), then single codes.
GROUPS = {"T00": MovementKind.CHARGE, "T01": MovementKind.FEE, "T04": MovementKind.PAYOUT, "T12": MovementKind.DISPUTE}
CODES = {
    "T1106": MovementKind.DISPUTE,  # payment reversal, initiated by PayPal (a chargeback settled)
    "T1107": MovementKind.REFUND,  # payment refund, initiated by merchant
    "T1108": MovementKind.FEE,  # fee reversal
    "T1110": MovementKind.DISPUTE,  # hold for dispute investigation
    "T1111": MovementKind.DISPUTE,  # cancellation of a hold for dispute resolution
}


def settlement_id(day: date, currency: str) -> str:
    return f"{day.isoformat()}:{currency}"


def parse_id(value: str) -> tuple[date, str]:
    """The day and currency a settlement id names; ValueError if it names none."""
    day, _, currency = (value or "").partition(":")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise ValueError("a PayPal settlement id is a UTC day and a currency: YYYY-MM-DD:EUR")
    return date.fromisoformat(day), currency


def windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into the ranges of at most 31 days that Transaction Search answers."""
    cuts, at = [], start
    while at < end:
        cuts.append((at, min(at + MAX_RANGE, end)))
        at = cuts[-1][1]
    return cuts


def scan_range(since: datetime, until: datetime, now: datetime) -> tuple[datetime, datetime]:
    """What to search to list the days starting in [since, until): those whole days, and nothing after `now`."""
    days = days_starting(since, until)
    if not days:
        return utc(since), utc(since)
    start = midnight(days[0])
    return start, max(start, min(midnight(days[-1]) + timedelta(days=1), utc(now)))


def query(start: datetime, end: datetime, page_number: int, currency: str | None = None) -> dict:
    params = {"start_date": _rfc3339(start), "end_date": _rfc3339(end), "fields": "transaction_info",
              "balance_affecting_records_only": "Y", "page_size": PAGE_SIZE, "page": page_number}  # fmt: skip
    return params | ({"transaction_currency": currency} if currency else {})


def page(body: dict) -> tuple[list[dict], int, datetime | None]:
    """One page: its transaction_info objects, the total_pages PayPal reports, and when its data was refreshed."""
    infos = [fields.field(detail, "transaction_info", path, fields.object_)
             for path, detail in fields.each(body, "transaction_details", "")]  # fmt: skip
    pages = body.get("total_pages", 1)
    if not isinstance(pages, int) or isinstance(pages, bool) or pages < 0:
        fields.fail("total_pages", "a whole number of pages", pages)
    return infos, pages, instant(body.get("last_refreshed_datetime"))


def listed_days(infos: list[dict], since: datetime, until: datetime, whole_until: datetime) -> list[str]:
    """The ids of the days starting in [since, until) that PayPal has reported whole and that moved money."""
    days = {day for day in days_starting(since, until) if midnight(day) + timedelta(days=1) <= whole_until}
    found = {(_day(info, f"transaction_details[{i}]"), _currency(info, f"transaction_details[{i}]"))
             for i, info in enumerate(infos)}  # fmt: skip
    return [settlement_id(day, currency) for day, currency in sorted(found) if day in days]


def reported_until(refreshed: list[datetime | None], now: datetime) -> datetime:
    """Until when PayPal's data is whole: the earliest refresh time its answers gave, or, where one gave none,
    three hours (its documented delay) ago."""
    if not refreshed or None in refreshed:
        return utc(now) - REPORTING_DELAY
    return min(refreshed)


def settlement(value: str, infos: list[dict], complete: bool) -> Settlement:
    """The day's transactions in the currency; `net` is what they moved, less any withdrawal to the bank."""
    day, currency = parse_id(value)
    rows = [(f"transaction_details[{i}]", info) for i, info in enumerate(infos)]
    mine = [(path, info) for path, info in rows if _day(info, path) == day and _currency(info, path) == currency]
    ids = unique_ids(fields.field(info, "transaction_id", path, fields.string) for path, info in mine)
    movements = [_movement(info, path, movement_id) for (path, info), movement_id in zip(mine, ids)]
    return Settlement(
        provider=PROVIDER, settlement_id=value, currency=currency, net=net_of(movements),
        status=COMPLETE if complete else INCOMPLETE, paid_out_at=None, movements=tuple(movements),
    )  # fmt: skip


def _movement(info: dict, path: str, movement_id: str) -> SettlementMovement:
    code = fields.field(info, "transaction_event_code", path, fields.string)
    currency = _currency(info, path)
    amount = _signed(info, "transaction_amount", path, currency)
    paypal_fee = _signed(info, "fee_amount", path, currency, required=False)  # negative when PayPal took it
    kind = CODES.get(code) or GROUPS.get(code[:3], MovementKind.ADJUSTMENT)
    status = _text(info.get("transaction_status"))
    transaction_id, related = _text(info.get("transaction_id")), _text(info.get("paypal_reference_id"))
    refund = kind == MovementKind.REFUND
    return SettlementMovement(
        movement_id=movement_id, kind=kind, amount=amount, fee=-paypal_fee, currency=currency,
        occurred_at=instant(info.get("transaction_initiation_date")),
        provider_refund_id=transaction_id if refund else None,
        reference=(_text(info.get("invoice_id")) or _text(info.get("custom_field"))) if refund else None,
        payment_id=transaction_id if kind == MovementKind.CHARGE else related, provider_type=code[:60],
        description=None if status in (None, "S") else f"transaction_status {status}",
    )  # fmt: skip


def _signed(info: dict, key: str, path: str, currency: str, required: bool = True) -> int:
    """A money object's signed value in our minor units of `currency` (0 when an optional one is absent)."""
    money = fields.field(info, key, path, fields.object_, required=required)
    if money is None:
        return 0
    value = fields.field(money, "value", fields.at(path, key), fields.string)
    if fields.field(money, "currency_code", fields.at(path, key), fields.currency) != currency:
        raise PayloadError(f"{fields.at(path, key)}: in another currency than the transaction")
    try:
        return to_minor(value, currency)
    except InvalidInput:
        raise PayloadError(f"{fields.at(path, key)}.value: not an amount in {currency}") from None


def _currency(info: dict, path: str) -> str:
    money = fields.field(info, "transaction_amount", path, fields.object_)
    return fields.field(money, "currency_code", fields.at(path, "transaction_amount"), fields.currency)


def _day(info: dict, path: str) -> date:
    initiated = instant(info.get("transaction_initiation_date"))
    if initiated is None:
        fields.fail(fields.at(path, "transaction_initiation_date"), "an RFC 3339 timestamp",
                    info.get("transaction_initiation_date"))  # fmt: skip
    return initiated.date()


def _rfc3339(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
