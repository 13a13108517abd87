"""The sandbox Stripe's balance: a balance transaction for every movement of money, and the payouts that pay it out.

So the demo and the tests can reconcile a refund with a payout in the shape Stripe gives one. What it follows
(API 2023-08-16: the vendored spec in tests/contracts/, and docs.stripe.com):
- docs.stripe.com/payouts/reconciliation: "Every funds movement in or out of your Stripe account creates a
  BalanceTransaction"; GET /v1/balance_transactions?payout=po_... lists the ones an automatic payout paid out,
  newest first. The payout's own row (type `payout`, reporting_category `payout`, description "STRIPE PAYOUT",
  its source the payout, amount minus what was paid) is among them, as Stripe lists it (a real answer is quoted
  in airbytehq/airbyte#46499). A manual payout cannot be filtered on: 400 "Balance transaction history can only be
  filtered on automatic transfers, not manual." (Stripe's words, as clients quote them); its
  `reconciliation_status` is `not_applicable` (components.schemas.payout).
- components.schemas.balance_transaction: `amount` gross and signed, `fee` positive with its `fee_details`
  (type `stripe_fee`), `net` = amount - fee, `type` and `reporting_category` words of
  docs.stripe.com/reports/balance-transaction-types: `charge`, `refund`, `refund_failure` (a refund that failed
  gives its money back: refund.failure_balance_transaction "reverses the initial balance transaction"), `payout`.
  `source` is the object's id, or the object itself with `expand[]=data.source`.
- GET /v1/payouts: `arrival_date` and `created` as range queries (`[gt]`, `[gte]`, `[lt]`, `[lte]`), `status`,
  `limit` 1-100, `starting_after` / `ending_before`; an unknown parameter is refused as Stripe refuses it
  ("Received unknown parameter: x").

The sandbox's own choices, which Stripe does not document for it: a charge's fee is 1.5 % + 25 cents (Stripe's
standard EEA card price; no fixed part in zero-decimal currencies), rounded half up; a refund has no fee (Stripe
keeps the charge's). Money is available at once (`status` available, `available_on` = `created`), so a payout can
be made whenever a test or the demo asks; it pays out everything unpaid of one account in one currency, whatever
its sign. Each account sees only its own transactions and payouts.
"""
from __future__ import annotations

import time
from itertools import count

from sandbox.http import Reply, error

__all__ = ["Balance", "fee_of", "page_of", "missing", "ZERO_DECIMAL", "PAYOUT_PARAMS", "TRANSACTION_PARAMS"]

ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
FEE_PER_MILLE, FEE_FIXED = 15, 25  # 1.5 % + 25 minor units
DAY = 86400
# The query parameters each list takes (the spec's, by name before any [..]).
PAYOUT_PARAMS = frozenset({"arrival_date", "created", "destination", "ending_before", "expand", "limit", "starting_after", "status"})
TRANSACTION_PARAMS = frozenset({"created", "currency", "ending_before", "expand", "limit", "payout", "source", "starting_after", "type"})
_RANGE = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
_MANUAL = "Balance transaction history can only be filtered on automatic transfers, not manual."


def fee_of(amount: int, currency: str) -> int:
    """Stripe's fee on a charge of `amount` minor units, as the sandbox prices it."""
    fixed = 0 if currency.upper() in ZERO_DECIMAL else FEE_FIXED
    return (amount * FEE_PER_MILLE + 500) // 1000 + fixed


def _public(obj: dict) -> dict:
    """An object as Stripe shows it: without the sandbox's own bookkeeping (keys starting with _)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _invalid(param: str, message: str) -> Reply:
    return error(400, {"error": {"type": "invalid_request_error", "param": param, "message": message}})


def missing(kind: str, what: str) -> Reply:
    """Stripe's 404 for an id it does not know (or that is another account's)."""
    return error(404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                 "message": f"No such {kind}: '{what}'"}})  # fmt: skip


def page_of(items: list[dict], query: dict, url: str, kind: str) -> Reply:
    """One page of a list already newest first: `limit` (1-100, 10 by default), `starting_after`, `ending_before`."""
    raw = query.get("limit") or "10"
    try:
        limit = int(raw)
    except ValueError:
        return _invalid("limit", f"Invalid integer: {raw}")
    if not 1 <= limit <= 100:
        return _invalid("limit", f"This value must be {'greater than or equal to 1' if limit < 1 else 'less than or equal to 100'}.")
    ids = [item["id"] for item in items]
    for cursor in ("starting_after", "ending_before"):
        if query.get(cursor) and query[cursor] not in ids:
            return _invalid(cursor, f"No such {kind}: '{query[cursor]}'")
    if query.get("ending_before"):
        end = ids.index(query["ending_before"])
        data, more = items[max(end - limit, 0):end], end > limit
    else:
        start = ids.index(query["starting_after"]) + 1 if query.get("starting_after") else 0
        data, more = items[start:start + limit], len(items) > start + limit
    return Reply(200, {"object": "list", "data": data, "has_more": more, "url": url})


def _unknown(query: dict, known: frozenset) -> Reply | None:
    for name in query:
        if name.split("[")[0] not in known:
            return _invalid(name, f"Received unknown parameter: {name}")
    return None


def _ranges(query: dict, obj: dict, fields: tuple[str, ...]) -> bool | Reply:
    """Whether `obj` is within every range the query gives on `fields` (an exact value, or [gt]/[gte]/[lt]/[lte])."""
    for name, raw in query.items():
        field, _, op = name.partition("[")
        if field not in fields:
            continue
        op = op.rstrip("]") or None
        if op is not None and op not in _RANGE:
            return _invalid(name, f"Received unknown parameter: {name}")
        try:
            bound = int(raw)
        except ValueError:
            return _invalid(name, f"Invalid integer: {raw}")
        if not (obj[field] == bound if op is None else _RANGE[op](obj[field], bound)):
            return False
    return True


class Balance:
    """One sandbox Stripe's balance transactions and payouts, every account's, each marked with its account."""

    def __init__(self, clock=time.time):
        self.clock = clock  # seconds since the epoch: tests may set a fixed one
        self.transactions: list[dict] = []  # oldest first; _account, _payout (None until paid out), _seq
        self.payouts: dict[str, dict] = {}  # id -> payout, with _account and _seq
        self._txn_ids, self._payout_ids = count(1), count(1)

    # --- what moves money ----------------------------------------------------------------------------

    def add(self, account: str | None, type_: str, amount: int, currency: str, source: str, *, fee: int = 0,
            description: str | None = None, payout: str | None = None) -> dict:  # fmt: skip
        """A new balance transaction in `account`'s unpaid balance (or paid in `payout`, for the payout's own row)."""
        seq = next(self._txn_ids)
        now = int(self.clock())
        fees = [{"amount": fee, "application": None, "currency": currency, "description": "Stripe processing fees",
                 "type": "stripe_fee"}] if fee else []  # fmt: skip
        txn = {
            "id": f"txn_sandbox{seq:08d}", "object": "balance_transaction", "amount": amount, "available_on": now,
            "created": now, "currency": currency, "description": description, "exchange_rate": None, "fee": fee,
            "fee_details": fees, "net": amount - fee, "reporting_category": type_, "source": source,
            "status": "available", "type": type_, "_account": account, "_payout": payout, "_seq": seq,
        }  # fmt: skip
        self.transactions.append(txn)
        return txn

    def charged(self, payment: dict) -> dict:
        """A customer's charge: its amount in, less Stripe's fee."""
        amount, currency = payment["amount"], payment["currency"]
        return self.add(payment.get("account"), "charge", amount, currency, payment["charge"], fee=fee_of(amount, currency))

    def refunded(self, refund: dict) -> None:
        """A refund that succeeded: its amount out (once; the refund names its transaction, as Stripe's does)."""
        if refund.get("balance_transaction") is None:
            txn = self.add(refund.get("account"), "refund", -refund["amount"], refund["currency"], refund["id"])
            refund["balance_transaction"] = txn["id"]

    def refund_failed(self, refund: dict) -> None:
        """A refund that had taken its money out failed: the money comes back (refund_failure)."""
        if refund.get("balance_transaction") is not None and refund.get("failure_balance_transaction") is None:
            txn = self.add(refund.get("account"), "refund_failure", refund["amount"], refund["currency"], refund["id"])
            refund["failure_balance_transaction"] = txn["id"]

    def pay_out(self, account: str | None, arrival: int | None = None, *, automatic: bool = True,
                reconciled: bool = True, currency: str | None = None) -> dict | None:  # fmt: skip
        """A payout of everything unpaid of the account in one currency (the oldest unpaid one's unless given);
        None when nothing is unpaid. Not `reconciled`: Stripe is still itemising it (in_progress)."""
        unpaid = [t for t in self.transactions if t["_account"] == account and t["_payout"] is None
                  and (currency is None or t["currency"] == currency.lower())]  # fmt: skip
        if not unpaid:
            return None
        unpaid = [t for t in unpaid if t["currency"] == unpaid[0]["currency"]]
        seq, now = next(self._payout_ids), int(self.clock())
        payout_id = f"po_sandbox{seq:08d}"
        amount = sum(t["net"] for t in unpaid)
        for txn in unpaid:
            txn["_payout"] = payout_id
        own = self.add(account, "payout", -amount, unpaid[0]["currency"], payout_id, description="STRIPE PAYOUT",
                       payout=payout_id)  # fmt: skip
        status = "not_applicable" if not automatic else "completed" if reconciled else "in_progress"
        payout = {
            "id": payout_id, "object": "payout", "amount": amount, "arrival_date": now - now % DAY if arrival is None else arrival,
            "automatic": automatic, "balance_transaction": own["id"], "created": now, "currency": own["currency"],
            "description": "STRIPE PAYOUT", "destination": "ba_sandbox0001", "failure_balance_transaction": None,
            "failure_code": None, "failure_message": None, "livemode": False, "metadata": {}, "method": "standard",
            "original_payout": None, "reconciliation_status": status, "reversed_by": None, "source_type": "card",
            "statement_descriptor": None, "status": "in_transit" if status == "in_progress" else "paid",
            "type": "bank_account", "_account": account, "_seq": seq,
        }  # fmt: skip
        self.payouts[payout_id] = payout
        return _public(payout)

    def reconciled(self, payout_id: str) -> None:
        """Stripe has finished itemising a payout: its list is whole (completed), and it arrived (paid)."""
        payout = self.payouts[payout_id]
        if payout["reconciliation_status"] == "in_progress":
            payout["reconciliation_status"], payout["status"] = "completed", "paid"

    # --- what Stripe answers -------------------------------------------------------------------------

    def list_payouts(self, query: dict, account: str | None) -> Reply:
        """GET /v1/payouts: the account's payouts, newest first."""
        refused = _unknown(query, PAYOUT_PARAMS)
        if refused:
            return refused
        found = []
        for payout in sorted(self.payouts.values(), key=lambda p: (p["created"], p["_seq"]), reverse=True):
            if payout["_account"] != account or query.get("status", payout["status"]) != payout["status"]:
                continue
            within = _ranges(query, payout, ("arrival_date", "created"))
            if isinstance(within, Reply):
                return within
            if within:
                found.append(_public(payout))
        return page_of(found, query, "/v1/payouts", "payout")

    def get_payout(self, payout_id: str, account: str | None) -> Reply:
        """GET /v1/payouts/{id}."""
        payout = self.payouts.get(payout_id)
        if payout is None or payout["_account"] != account:
            return missing("payout", payout_id)
        return Reply(200, _public(payout))

    def list_transactions(self, query: dict, account: str | None, source_of) -> Reply:
        """GET /v1/balance_transactions: the account's, newest first; `source_of(id)` gives a source expanded."""
        refused = _unknown(query, TRANSACTION_PARAMS)
        if refused:
            return refused
        expand = query.get("expand[]")
        if expand not in (None, "data.source"):
            return _invalid("expand", f"This property cannot be expanded ({expand}).")
        payout = query.get("payout")
        if payout:
            known = self.payouts.get(payout)
            if known is None or known["_account"] != account:
                return missing("payout", payout)
            if not known["automatic"]:
                return _invalid("payout", _MANUAL)
        found = []
        for txn in sorted(self.transactions, key=lambda t: (t["created"], t["_seq"]), reverse=True):
            if txn["_account"] != account or not self._wanted(txn, query):
                continue
            within = _ranges(query, txn, ("created",))
            if isinstance(within, Reply):
                return within
            if within:
                found.append(self._shown(txn, source_of if expand else None))
        return page_of(found, query, "/v1/balance_transactions", "balance_transaction")

    def get_transaction(self, txn_id: str, account: str | None, source_of, expand: bool) -> Reply:
        """GET /v1/balance_transactions/{id}."""
        txn = next((t for t in self.transactions if t["id"] == txn_id and t["_account"] == account), None)
        if txn is None:
            return missing("balance_transaction", txn_id)
        return Reply(200, self._shown(txn, source_of if expand else None))

    @staticmethod
    def _wanted(txn: dict, query: dict) -> bool:
        return all(query.get(name, txn[key]) == txn[key] for name, key in
                   (("payout", "_payout"), ("type", "type"), ("source", "source"), ("currency", "currency")))  # fmt: skip

    def _shown(self, txn: dict, source_of=None) -> dict:
        shown = _public(txn)
        if source_of is not None:
            payout = self.payouts.get(txn["source"])
            shown["source"] = _public(payout) if payout is not None else source_of(txn["source"]) or txn["source"]
        return shown

    def summary(self) -> dict:
        """Every payout made, and the unpaid net per account and currency (the sandbox's page)."""
        unpaid: dict[str, int] = {}
        for txn in self.transactions:
            if txn["_payout"] is None:
                key = f"{txn['_account']}:{txn['currency']}"
                unpaid[key] = unpaid.get(key, 0) + txn["net"]
        return {"payouts": [_public(p) | {"account": p["_account"]} for p in self.payouts.values()], "unpaid": unpaid}
