"""Paytrail's settlements read as ours: the list of settlement ids, and a settlement's payment report, parsed purely.

Followed: Paytrail Payment API docs (paytrail/api-documentation `docs/README.md`, "Settlements" and "Payment
report request by settlement ID"; `docs/paytrail-api.yaml` 2.0.0: SettlementIdItem, PaymentReportCallbackJSON):
- `GET /settlements?startDate&endDate&bankReference&limit` "returns merchant's settlement IDs and corresponding
  bank references. Maximum of 100 settlement IDs are returned, starting from the most recent": items
  `{id, createdAt, settledAt, settlementReference}`. startDate: "Only settlements created after this date";
  endDate: "created before or on this date", both YYYY-MM-DD. No amounts and no transaction ids: Paytrail
  documents none in this list.
- A settlement's payments come only as a report Paytrail POSTs to a callback URL of ours
  (`POST /settlements/{id}/payments/report` with `requestType` json and `callbackUrl`, HTTPS), signed like its
  API answers ("When validating report signature, body must be in raw body format"). Its rows: `amount` ("Payment
  amount in Euros", a JSON number), `status`, `reference`, `stamp`, `checkoutReference`, `archiveNumber`,
  `settlementId`, `settlementDate`, `settlementReference`, `originalTradeReference` ("Merchant's reference of the
  original payment in case of refund"), `paymentMethod`, `paymentMethodFee` and `paymentMethodCommission` (euros,
  in fractions of a cent: "0.024"), `entryDate` (DD-MM-YYYY) and `created` (HH:mm).

What the report does not say, and how it is read (UNCONFIRMED, to check against a real report):
- a refund's row is the one with an `originalTradeReference`; its `stamp` is taken to be the refundStamp we sent
  (our idempotency key) and its `reference` our refundReference (the return code); its `amount` is taken as money
  out whatever its sign. The report carries no transaction id, so a refund is matched by that stamp alone
  (`reference`), never by id (`provider_refund_id` stays None), and a payment names no Payment of ours.
- the fee on a row is its paymentMethodFee plus its paymentMethodCommission, rounded to the cent (half up) once
  per row; net is what the rows add up to (the list gives no total to check it against).
- `entryDate`/`created` are read as Finnish time (Paytrail's own). No name, address or payer field is ever copied.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from adapters import fields
from adapters.errors import PayloadError
from adapters.payments.settling import instant, midnight, net_of, unique_ids, utc
from integration.records import MovementKind, Settlement, SettlementMovement

__all__ = ["SETTLEMENTS_PATH", "REPORT_PATH", "LIST_MAX", "list_query", "listed", "in_window", "report"]

PROVIDER = "paytrail"
CURRENCY = "EUR"
SETTLEMENTS_PATH = "/settlements"
REPORT_PATH = "/settlements/{}/payments/report"
LIST_MAX = 100  # "Maximum of 100 settlement IDs are returned, starting from the most recent"
SETTLED = "settled"
FINNISH_TIME = ZoneInfo("Europe/Helsinki")
CENT = Decimal("0.01")


def list_query(since: datetime, end_day: date) -> dict:
    """GET /settlements's filter: from the day before `since` (Paytrail's startDate is exclusive) to `end_day`."""
    return {"startDate": (utc(since).date() - timedelta(days=1)).isoformat(), "endDate": end_day.isoformat()}


def listed(body: object) -> list[tuple[str, datetime]]:
    """The settlement ids of one answer, each with when it was created."""
    if not isinstance(body, list):
        fields.fail("", "a list of settlements", body)
    return [_listed(fields.object_(item, f"[{i}]"), f"[{i}]") for i, item in enumerate(body)]


def in_window(found: dict[str, datetime], since: datetime, until: datetime) -> list[str]:
    """The ids created in [since, until), oldest first (ties in the order of the ids, which are numbers)."""
    since, until = utc(since), utc(until)
    mine = [sid for sid, created in found.items() if since <= created < until]
    return sorted(mine, key=lambda sid: (found[sid], len(sid), sid))


def report(body: object, settlement_id: str) -> Settlement:
    """A settlement's payment report (the JSON callback's rows) as the settlement; PayloadError if not one."""
    if not isinstance(body, list):
        fields.fail("", "a list of payments", body)
    rows = [(f"[{i}]", fields.object_(row, f"[{i}]")) for i, row in enumerate(body)]
    for path, row in rows:
        if row.get("settlementId") is not None and _id(row["settlementId"], f"{path}.settlementId") != settlement_id:
            raise PayloadError(f"{path}.settlementId: a payment of another settlement")
    ids = unique_ids(_key(row) for _, row in rows)
    movements = [_movement(row, path, movement_id) for (path, row), movement_id in zip(rows, ids)]
    first = rows[0][1] if rows else {}
    return Settlement(
        provider=PROVIDER, settlement_id=settlement_id, currency=CURRENCY, net=net_of(movements), status=SETTLED,
        paid_out_at=_day(first.get("settlementDate")), movements=tuple(movements),
        reference=_text(first.get("settlementReference")),
    )  # fmt: skip


def _movement(row: dict, path: str, movement_id: str) -> SettlementMovement:
    refund = _text(row.get("originalTradeReference"))
    amount = _cents(fields.field(row, "amount", path, _euros), fields.at(path, "amount"))
    fee = sum((fields.field(row, key, path, _euros, required=False) or Decimal(0))
              for key in ("paymentMethodFee", "paymentMethodCommission"))  # fmt: skip
    reference, method = _text(row.get("reference")), _text(row.get("paymentMethod"))
    described = f"refund of payment {refund}" if refund else f"payment {reference or ''}".strip()
    return SettlementMovement(
        movement_id=movement_id, kind=MovementKind.REFUND if refund else MovementKind.CHARGE,
        amount=-abs(amount) if refund else amount, fee=_cents(fee, fields.at(path, "paymentMethodFee")),
        currency=CURRENCY, occurred_at=_entered(row), reference=_text(row.get("stamp")) if refund else None,
        provider_type=(_text(row.get("status")) or "")[:60],
        description=", ".join(part for part in (described, method and f"via {method}") if part) or None,
    )  # fmt: skip


def _listed(item: dict, path: str) -> tuple[str, datetime]:
    sid = fields.field(item, "id", path, _id)
    # The documented example itself reads "2019-01-06T013:43:32.780Z": where the time cannot be read, its day is.
    created = instant(item.get("createdAt")) or _day(item.get("createdAt"))
    if created is None:
        fields.fail(fields.at(path, "createdAt"), "an ISO 8601 date-time", item.get("createdAt"))
    return sid, created


def _id(value: object, path: str) -> str:
    """Paytrail's settlement id, a number in its answers and a string in its examples, as our string."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return str(int(value))
    if isinstance(value, str) and value.isdigit():
        return str(int(value))
    fields.fail(path, "a settlement id", value)


def _key(row: dict) -> str:
    """What names a payment in the report: Paytrail's reference for it, else its archive number or stamp."""
    for key in ("checkoutReference", "archiveNumber", "stamp"):
        value = row.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return f"{key}:{value}"[:240]
    return "payment"


def _euros(value: object, path: str) -> Decimal:
    """A signed amount in euros from a JSON number or a string, never through binary float maths."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        fields.fail(path, "an amount in euros", value)
    if isinstance(value, float) and not math.isfinite(value):
        fields.fail(path, "an amount in euros", value)
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).replace(",", "."))
    except ArithmeticError:
        fields.fail(path, "an amount in euros", value)
    if not amount.is_finite():
        fields.fail(path, "an amount in euros", value)
    return amount


def _cents(euros: Decimal, path: str) -> int:
    cents = (euros / CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if abs(cents) >= 10**12:
        raise PayloadError(f"{path}: out of range")
    return int(cents)


def _entered(row: dict) -> datetime | None:
    """When the payment was entered: its entryDate and created time, in Finnish time (the day alone if no time)."""
    day = _day(row.get("entryDate"))
    if day is None:
        return None
    try:
        hours, minutes = (int(part) for part in (_text(row.get("created")) or "00:00").split(":"))
        return utc(datetime(day.year, day.month, day.day, hours, minutes, tzinfo=FINNISH_TIME))
    except ValueError:
        return day


def _day(value: object) -> datetime | None:
    """A day as Paytrail writes it (DD-MM-YYYY in the report, YYYY-MM-DD elsewhere) at midnight UTC."""
    if not isinstance(value, str):
        return None
    text = value.strip()[:10]
    for pattern in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return midnight(datetime.strptime(text, pattern).date())
        except ValueError:
            continue
    return None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
