"""Stripe payouts as settlements: which payouts a period holds, and what each one paid out, movement by movement.

What this follows (API version 2023-08-16, the vendored spec in tests/contracts/ and docs.stripe.com):
- docs.stripe.com/payouts/reconciliation: list a payout's balance transactions with `payout=po_...` on
  GET /v1/balance_transactions, `expand[]=data.source` to get each one's object in the same answer. Manual (and
  instant) payouts cannot be itemised: "Stripe can't identify which transactions are included in each payout".
  The spec agrees: the `payout` filter is "For automatic Stripe payouts only", and a payout's
  `reconciliation_status` must be `completed` before the list is whole.
- GET /v1/payouts with `arrival_date[gte]`/`arrival_date[lt]` (range_query_specs, unix seconds), `limit` (at most
  100), `starting_after`; newest first, so the ids are sorted here.
- The balance transaction: `amount` is gross and signed, `fee` "Represented as a positive integer when assessed",
  and the net impact is `amount - fee` (checked on every row: an answer that breaks it is not read). `type` words
  from docs.stripe.com/reports/balance-transaction-types; disputes arrive as `adjustment`s whose
  `reporting_category` is `dispute` or `dispute_reversal` (docs.stripe.com/reports/reporting-categories) and whose
  source is the dispute.

    type                                     MovementKind    provider_refund_id / reference
    charge, payment                          CHARGE
    refund, payment_refund                   REFUND          the refund's id (what refund() returned) /
    refund_failure                           REFUND_FAILURE  its metadata[palautus_idempotency_key]
    stripe_fee, stripe_fx_fee, tax_fee       FEE
    payout (the payout's own row)            PAYOUT
    adjustment of a dispute                  DISPUTE
    anything else (payment_failure_refund:   ADJUSTMENT      (payment_failure_refund is a delayed payment that
    a payment that failed, transfers, ...)                    failed, never a refund anyone made)

`payment_id` is the PaymentIntent where the source names one, else the charge: the order Palautus prefers when it
stores a Stripe payment. Currency: a row is in the balance's currency (`currency`); where its source was in
another (a refund of 10.00 EUR settled in USD), the row keeps Stripe's converted amounts and its description says
"10.00 EUR converted to USD at 1.234": the original is never put in `amount`, whose currency it is not.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Iterable

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.payments.stripe import IDEMPOTENCY_METADATA_KEY, PROVIDER, _from_stripe_amount, _malformed
from integration.errors import InvalidInput
from integration.money import Money
from integration.records import MovementKind as K
from integration.records import Settlement, SettlementMovement

__all__ = ["KINDS", "period_params", "itemised_ids", "ensure_itemised", "settlement", "movement"]

KINDS = {
    "charge": K.CHARGE, "payment": K.CHARGE,
    "refund": K.REFUND, "payment_refund": K.REFUND, "refund_failure": K.REFUND_FAILURE,
    "stripe_fee": K.FEE, "stripe_fx_fee": K.FEE, "tax_fee": K.FEE,
    "payout": K.PAYOUT,
}  # fmt: skip
DISPUTE_CATEGORIES = frozenset({"dispute", "dispute_reversal"})
REFUND_KINDS = frozenset({K.REFUND, K.REFUND_FAILURE})
RECONCILED = "completed"  # payout.reconciliation_status: the balance transactions list is whole


def period_params(since: datetime, until: datetime, limit: int) -> dict:
    """GET /v1/payouts's filter for payouts arriving in [since, until); a naive datetime is taken as UTC."""
    return {"arrival_date[gte]": _epoch(since), "arrival_date[lt]": _epoch(until), "limit": limit}


def itemised_ids(payouts: Iterable[dict]) -> list[str]:
    """The ids of the automatic payouts among these, oldest arrival first."""
    rows = []
    for payout in payouts:
        _check_payout(payout)
        if payout["automatic"]:
            rows.append((payout["arrival_date"], payout["created"], payout["id"]))
    return [payout_id for *_, payout_id in sorted(rows)]


def ensure_itemised(payout: dict) -> None:
    """Raise unless Stripe can list this payout's balance transactions now (an automatic payout, reconciled)."""
    _check_payout(payout)
    status = payout.get("reconciliation_status")
    if not payout["automatic"] or status == "not_applicable":
        raise ProviderRejected("Stripe cannot itemise a manual or instant payout: reconcile it against the balance "
                               "history instead", provider=PROVIDER, code="payout_not_itemised")  # fmt: skip
    if status != RECONCILED:  # in_progress, or a word this version does not know: the list may be partial
        raise ProviderUnavailable(f"Stripe has not finished reconciling the payout ({status})", provider=PROVIDER,
                                  code="reconciliation_in_progress")  # fmt: skip


def settlement(payout: dict, transactions: list[dict]) -> Settlement:
    """The payout and its balance transactions (as Stripe lists them, newest first) as our Settlement."""
    _check_payout(payout)
    currency = _currency(payout, "payout")
    descriptor = payout.get("statement_descriptor")
    return Settlement(
        provider=PROVIDER, settlement_id=payout["id"], currency=currency,
        net=_minor(payout["amount"], currency, "payout.amount"), status=payout["status"],
        paid_out_at=_time(payout["arrival_date"]),  # expected, until the status is paid
        movements=tuple(movement(bt) for bt in reversed(transactions)),
        reference=descriptor if isinstance(descriptor, str) and descriptor else None,
    )  # fmt: skip


def movement(bt: dict) -> SettlementMovement:
    """One balance transaction, its source expanded (or only its id), as a SettlementMovement."""
    bt_id, word = bt.get("id"), bt.get("type")
    if bt.get("object") != "balance_transaction" or not isinstance(bt_id, str) or not isinstance(word, str):
        raise _malformed("a balance transaction without its id or type")
    currency = _currency(bt, "balance transaction")
    amount, fee, net = (_minor(bt.get(key), currency, f"balance_transaction.{key}") for key in ("amount", "fee", "net"))
    if net != amount - fee:
        raise _malformed("a balance transaction whose net is not its amount less its fee")
    source = bt.get("source")
    found = source if isinstance(source, dict) else {}
    kind = _kind(word, bt.get("reporting_category"), found)
    refund_id, key = _refund_of(source) if kind in REFUND_KINDS else (None, None)
    created = bt.get("created")
    return SettlementMovement(
        movement_id=bt_id, kind=kind, amount=amount, fee=fee, currency=currency,
        occurred_at=_time(created) if isinstance(created, int) else None, provider_refund_id=refund_id,
        reference=key, payment_id=_payment_of(found), provider_type=word, description=_description(bt, found, currency),
    )  # fmt: skip


def _kind(word: str, category: object, source: dict) -> str:
    if word == "adjustment" and (category in DISPUTE_CATEGORIES or source.get("object") == "dispute"):
        return K.DISPUTE
    return KINDS.get(word, K.ADJUSTMENT)


def _refund_of(source: object) -> tuple[str | None, str | None]:
    """(the refund's id, the key we stamped in its metadata) of a refund row's source."""
    if isinstance(source, str):  # not expanded: the id alone
        return source, None
    if not isinstance(source, dict) or not isinstance(source.get("id"), str):
        return None, None
    metadata = source.get("metadata")
    key = metadata.get(IDEMPOTENCY_METADATA_KEY) if isinstance(metadata, dict) else None
    return source["id"], key if isinstance(key, str) and key else None


def _payment_of(source: dict) -> str | None:
    """The PaymentIntent the source belongs to, else its charge (a charge is its own)."""
    intent = _id_of(source.get("payment_intent"))
    if intent:
        return intent
    if source.get("object") == "charge":
        return _id_of(source.get("id"))
    return _id_of(source.get("charge"))


def _id_of(value: object) -> str | None:
    value = value.get("id") if isinstance(value, dict) else value
    return value if isinstance(value, str) and value else None


def _description(bt: dict, source: dict, currency: str) -> str | None:
    """Stripe's description, and the original amount where the source was in another currency."""
    parts = [bt["description"]] if isinstance(bt.get("description"), str) and bt["description"] else []
    original, code = source.get("amount"), source.get("currency")
    if isinstance(original, int) and isinstance(code, str) and code.upper() != currency:
        money = Money(_minor(original, code.upper(), "source.amount"), code.upper())
        rate = bt.get("exchange_rate")  # shown as Stripe sent it, never computed with
        parts.append(f"{money} converted to {currency}" + (f" at {rate}" if isinstance(rate, (int, float)) else ""))
    return "; ".join(parts) or None


def _check_payout(payout: dict) -> None:
    if payout.get("object") != "payout" or not all(isinstance(payout.get(key), str) for key in ("id", "status")):
        raise _malformed("a payout without its id or status")
    if not all(isinstance(payout.get(name), int) for name in ("amount", "arrival_date", "created")):
        raise _malformed("a payout without its amount or dates")
    if not isinstance(payout.get("automatic"), bool):
        raise _malformed("a payout that does not say whether it was automatic")


def _currency(obj: dict, what: str) -> str:
    code = obj.get("currency")
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise _malformed(f"a {what} without its currency")
    return code.upper()


def _minor(amount: object, currency: str, what: str) -> int:
    """A Stripe integer amount in our minor units of `currency`."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise _malformed(f"{what} that is not an integer")
    try:
        return _from_stripe_amount(amount, currency).amount
    except InvalidInput:
        raise _malformed(f"{what} in an unknown currency") from None


def _epoch(moment: datetime) -> int:
    # The first whole second at or after the moment: with integer seconds, t >= since and t < until hold exactly
    # when t >= ceil(since) and t < ceil(until).
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return math.ceil(aware.timestamp())


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
