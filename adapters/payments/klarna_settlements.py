"""Klarna's payouts read as our Settlement: the Settlements API's payout and its transactions, parsed purely.

Followed: Klarna Settlements API 1.0.0-rc2 (docs.klarna.com/settlement-reports/api; its OpenAPI copied in
api-evangelist/klarna `openapi/klarna-settlements-api-openapi.yml`) and the settlement reports page
(docs.klarna.com/payments/after-payments/settlements/settlement-files/):
- `GET /settlements/v1/payouts?start_date&end_date&size&offset` -> `{payouts: [Payout], pagination}`;
  `GET /settlements/v1/payouts/{payment_reference}` -> `Payout` {payment_reference, payout_date, currency_code,
  totals{settlement_amount, ...}}; `GET /settlements/v1/transactions?payment_reference&size&offset` ->
  `{transactions: [Transaction], pagination{count, total, offset, next}}`, `size` at most 500.
- A Transaction: `amount` (minor units), `type` (SALE, RETURN, FEE, ...), `detailed_type`, `order_id`,
  `capture_id` (empty for RETURN and REVERSAL), `refund_id`, `merchant_refund_reference` ("Your internal
  reference to the refund, that has been submitted during refunding an order via API": the `reference` of the
  Order Management refund, where klarna.py puts our idempotency key), `sale_date`, `capture_date`.

Signs: the reports page sums the payout as "+ sale − return − reversal + reversal_merchant_protection − fee
+ commission − tax − charge + credit − holdback + release + fee_refund", and its Report Configurator can "add
signs to negative amounts" per merchant and channel. So a row's sign is taken from its type, over the amount's
magnitude, whichever way the merchant configured it; a CORRECTION (no direction documented) keeps Klarna's sign.
What the totals hold that no row explains (VAT on fees, debt repaid, fee corrections, a GROSS settlement's fees
invoiced apart) becomes one ADJUSTMENT row (see adapters/payments/settling.py).
"""
from __future__ import annotations

from adapters import fields
from adapters.errors import PayloadError
from adapters.payments.settling import instant, unique_ids, utc, with_unitemised
from integration.records import MovementKind, Settlement, SettlementMovement

__all__ = ["PAYOUTS_PATH", "TRANSACTIONS_PATH", "PAGE_SIZE", "page", "payout_references", "settlement"]

PROVIDER = "klarna"
PAYOUTS_PATH = "/settlements/v1/payouts"
TRANSACTIONS_PATH = "/settlements/v1/transactions"
PAGE_SIZE = 500  # the documented maximum of `size`
PAID = "paid"  # a payout Klarna lists has been paid: its `payment_reference` is on the bank statement

# type -> (our kind, its direction for the merchant's balance); None keeps Klarna's own sign.
TYPES = {
    "SALE": (MovementKind.CHARGE, 1),
    "RETURN": (MovementKind.REFUND, -1),
    "REVERSAL": (MovementKind.DISPUTE, -1),  # "registered by Klarna in disputed orders in favour of the customer"
    "REVERSAL_MERCHANT_PROTECTION": (MovementKind.DISPUTE, 1),
    "FEE": (MovementKind.FEE, -1),
    "FEE_REFUND": (MovementKind.FEE, 1),
    "TAX": (MovementKind.FEE, -1),  # VAT on Klarna's fees
    "COMMISSION": (MovementKind.ADJUSTMENT, 1),
    "CHARGE": (MovementKind.ADJUSTMENT, -1),
    "CREDIT": (MovementKind.ADJUSTMENT, 1),
    "HOLDBACK": (MovementKind.ADJUSTMENT, -1),
    "RELEASE": (MovementKind.ADJUSTMENT, 1),
    "CORRECTION": (MovementKind.ADJUSTMENT, None),
}
COMMISSION_RETURNS = frozenset({"COMMISSION_RETURN", "COMMISSION_RETURN_GROSS"})  # "− commission reversal"


def page(body: dict | None, key: str) -> tuple[list[dict], int, int | None]:
    """One page of a collection: its objects, how many it holds, and the total Klarna reports (None if it does not)."""
    if body is None:
        raise PayloadError("body: expected an object")
    items = [item for _, item in fields.each(body, key, "", required=True)]
    pagination = fields.field(body, "pagination", "", fields.object_, required=False) or {}
    total = pagination.get("total")
    total = total if isinstance(total, int) and not isinstance(total, bool) else None
    return items, len(items), total


def payout_references(payouts: list[dict], since, until) -> list[str]:
    """The payouts paid in [since, until) (Klarna's end_date is a filter we cannot trust to exclude), oldest first."""
    since, until, found = utc(since), utc(until), {}
    for i, payout in enumerate(payouts):
        reference, paid = _reference(payout, f"payouts[{i}]"), _paid_at(payout, f"payouts[{i}]")
        if since <= paid < until:
            found.setdefault(reference, paid)
    return sorted(found, key=lambda reference: (found[reference], reference))


def settlement(payout: dict | None, transactions: list[dict]) -> Settlement:
    """The payout with every transaction in it; what its totals hold beyond the rows is one ADJUSTMENT."""
    if payout is None:
        raise PayloadError("body: expected an object")
    reference, currency = _reference(payout, ""), fields.field(payout, "currency_code", "", fields.currency)
    totals = fields.field(payout, "totals", "", fields.object_)
    net = fields.field(totals, "settlement_amount", "totals", _integer)
    ids = unique_ids(_key(row) for row in transactions)
    movements = [_movement(row, f"transactions[{i}]", currency, ids[i]) for i, row in enumerate(transactions)]
    description = "in the payout's totals but in none of its transactions (VAT on fees, debt repaid, corrections)"
    return Settlement(
        provider=PROVIDER, settlement_id=reference, currency=currency, net=net, status=PAID,
        paid_out_at=_paid_at(payout, ""), reference=reference,
        movements=with_unitemised(movements, net, f"{reference}:unitemised", currency, description),
    )  # fmt: skip


def _movement(row: dict, path: str, payout_currency: str, movement_id: str) -> SettlementMovement:
    """One transaction, signed by its type; a fee's own row is a FEE movement whose (negative) amount is the fee."""
    kind_type = fields.field(row, "type", path, fields.string)
    amount = fields.field(row, "amount", path, _integer)
    currency = fields.field(row, "currency_code", path, fields.currency, required=False) or payout_currency
    detailed = _text(row.get("detailed_type"))
    kind, direction = TYPES.get(kind_type, (MovementKind.ADJUSTMENT, None))
    if kind_type == "COMMISSION" and detailed in COMMISSION_RETURNS:
        direction = -1
    effect = amount if direction is None else direction * abs(amount)
    order_id, refund_id = _text(row.get("order_id")), _text(row.get("refund_id"))
    refund = kind == MovementKind.REFUND
    return SettlementMovement(
        movement_id=movement_id, kind=kind, amount=effect, fee=0, currency=currency,
        occurred_at=instant(row.get("capture_date")) or instant(row.get("sale_date")),
        provider_refund_id=f"{order_id}:{refund_id}" if refund and order_id and refund_id else None,
        reference=_text(row.get("merchant_refund_reference")) if refund else None,
        payment_id=order_id, provider_type=kind_type[:60], description=detailed,
    )  # fmt: skip


def _key(row: dict) -> str:
    """What tells a transaction from the others in its payout (Klarna gives rows no id of their own)."""
    parts = (row.get("type"), row.get("order_id"), row.get("refund_id") or row.get("capture_id"),
             row.get("detailed_type"))  # fmt: skip
    return ":".join(part if isinstance(part, str) else "" for part in parts)[:240]


def _reference(payout: dict, path: str) -> str:
    reference = fields.field(payout, "payment_reference", path, fields.string)
    if not reference:
        raise PayloadError(f"{fields.at(path, 'payment_reference')}: empty")
    return reference


def _paid_at(payout: dict, path: str):
    paid = instant(payout.get("payout_date"))
    if paid is None:
        fields.fail(fields.at(path, "payout_date"), "an ISO 8601 timestamp", payout.get("payout_date"))
    return paid


def _integer(value: object, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    fields.fail(path, "an integer amount in minor units", value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
