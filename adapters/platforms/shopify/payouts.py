"""Shopify Payments payouts as settlements: the payouts of a period, and each one's balance transactions.

Followed (Admin GraphQL 2026-10; the vendored schema in sandbox/contracts/, every document below validated against
it in tests/adapters/test_shopify_payouts.py):
- `shopifyPaymentsAccount` (null when the shop has no Shopify Payments account: nothing to settle here).
  `payouts(query:, sortKey: ISSUED_AT)` filtered by `issued_at` ("Date values must be a string surrounded by
  quotes": shopify.dev/docs/api/usage/search-syntax) and by `id`; `balanceTransactions(query:
  "payments_transfer_id:<payout number>")`, the filter the schema documents for a payout's rows (each row's
  `associatedPayout.id` is checked against the payout). Every connection is paged by `pageInfo.endCursor`.
- ShopifyPaymentsBalanceTransaction: `amount` signed (a refund is negative), `fee` "deducted from the transaction
  amount" (REST Transactions resource), `net` (checked: amount - fee, or the row is not read), `type`, `sourceType`,
  `sourceOrderTransactionId` ("The id of the Order Transaction that resulted in this balance transaction"),
  `associatedOrder`, `transactionDate`. The payout itself is listed among them as a TRANSFER row.
- Payout: `net`, `status` (SCHEDULED, PAID, FAILED, CANCELED), `transactionType` (DEPOSIT into the bank, or a
  WITHDRAWAL from it: then `net` is negative here), `issuedAt` (Shopify gives no arrival date), `externalTraceId`.

    type                                               MovementKind
    CHARGE                                             CHARGE
    REFUND                                             REFUND          provider_refund_id: the Refund's number,
    REFUND_FAILURE                                     REFUND_FAILURE  as refund() stores it; reference: our key
    CHARGEBACK_FEE(_REFUND), STRIPE_FEE, ACH_..._FEE   FEE
    DISPUTE_*, CHARGEBACK_HOLD(_RELEASE), source DISPUTE  DISPUTE
    TRANSFER (the payout)                              PAYOUT
    anything else (adjustments, reserves, ...)         ADJUSTMENT

Matching a refund: a balance transaction names the REFUND OrderTransaction, not the Refund. Palautus stores a
gateway refund as the Refund's number (gateway.py `_parse`), so the orders of the payout's refund rows are read
(`order.refunds`, then each Refund's `transactions` and `note`): the Refund holding that transaction gives
`provider_refund_id`, and the `[palautus:<key>]` our note carries gives `reference`. `payment_id` is the paying
SALE or CAPTURE's `paymentId` (its parent's when it has none), as Palautus stores a Shopify payment. A row in
another currency than the order's transaction says so in its description ("10.00 EUR in the order"): `amount` stays
the payout's currency.

Cost: a balance transaction selects about 6 objects, so 100 a page stays near 600 of the 1,000 points a query may
cost; transactions 50 and refunds 10 a call, as admin.py reads refunds. Access: payouts and balance transactions
"Requires The user must have access to payouts" (`read_shopify_payments_payouts`, which the app asks for); the
ShopifyPaymentsAccount page says it "Requires the read_shopify_payments or the read_shopify_payments_accounts access
scope", which the app does not ask for yet. Without it Shopify answers ACCESS_DENIED: a ProviderRejected.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from adapters import fields as f
from adapters.errors import PayloadError, ProviderRejected, SettlementsUnsupported
from adapters.platforms.shopify.admin import PROVIDER, _malformed
from adapters.platforms.shopify.orders import _gid
from integration.errors import InvalidInput
from integration.money import Money, to_minor
from integration.records import MovementKind as K
from integration.records import Settlement, SettlementMovement
from integration.refunds import referenced_key

__all__ = ["PAYOUTS", "PAYOUT", "PAYOUT_TRANSACTIONS", "ORDER_TRANSACTIONS_BY_ID", "ORDER_REFUND_IDS",
           "REFUND_TRANSACTION_IDS", "KINDS", "payout_ids", "read_settlement"]  # fmt: skip

logger = logging.getLogger(__name__)

PAGE, TRANSACTIONS_PER_CALL, REFUNDS_PER_CALL = 100, 50, 10
_MONEY = "{ amount currencyCode }"
PAYOUTS = f"""
query ShopifyPaymentsPayouts($query: String!, $after: String) {{
  shopifyPaymentsAccount {{
    payouts(first: {PAGE}, after: $after, query: $query, sortKey: ISSUED_AT) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ id issuedAt }}
    }}
  }}
}}
"""
PAYOUT = f"""
query ShopifyPaymentsPayout($query: String!) {{
  shopifyPaymentsAccount {{
    payouts(first: 1, query: $query) {{
      nodes {{ id legacyResourceId issuedAt status transactionType externalTraceId net {_MONEY} }}
    }}
  }}
}}
"""
PAYOUT_TRANSACTIONS = f"""
query PayoutBalanceTransactions($query: String!, $after: String) {{
  shopifyPaymentsAccount {{
    balanceTransactions(first: {PAGE}, after: $after, query: $query, sortKey: PROCESSED_AT) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        id type sourceType sourceOrderTransactionId transactionDate adjustmentReason
        amount {_MONEY} fee {_MONEY} net {_MONEY}
        associatedOrder {{ id name }}
        associatedPayout {{ id }}
      }}
    }}
  }}
}}
"""
ORDER_TRANSACTIONS_BY_ID = """
query PayoutOrderTransactions($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on OrderTransaction {
      id kind paymentId
      amountSet { presentmentMoney { amount currencyCode } }
      parentTransaction { id paymentId parentTransaction { paymentId } }
    }
  }
}
"""
ORDER_REFUND_IDS = """
query PayoutOrderRefunds($id: ID!) {
  order(id: $id) { id refunds(first: 250) { id } }
}
"""
REFUND_TRANSACTION_IDS = """
query PayoutRefunds($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Refund { id note transactions(first: 10) { pageInfo { hasNextPage } nodes { id } } }
  }
}
"""

KINDS = {
    "CHARGE": K.CHARGE, "REFUND": K.REFUND, "REFUND_FAILURE": K.REFUND_FAILURE, "TRANSFER": K.PAYOUT,
    "CHARGEBACK_FEE": K.FEE, "CHARGEBACK_FEE_REFUND": K.FEE, "STRIPE_FEE": K.FEE,
    "ACH_BANK_FAILURE_DEBIT_FEE": K.FEE, "ACH_BANK_FAILURE_DEBIT_REVERSAL_FEE": K.FEE,
    "DISPUTE_WITHDRAWAL": K.DISPUTE, "DISPUTE_REVERSAL": K.DISPUTE, "CHARGEBACK_HOLD": K.DISPUTE,
    "CHARGEBACK_HOLD_RELEASE": K.DISPUTE,
}  # fmt: skip
REFUND_KINDS = frozenset({K.REFUND, K.REFUND_FAILURE})
PAYMENT_KINDS = ("SALE", "CAPTURE")
WITHDRAWAL = "WITHDRAWAL"


@dataclass(frozen=True)
class _Row:
    """A balance transaction as read, before its order transaction and refund are looked up."""

    movement: SettlementMovement
    order_gid: str | None
    order_name: str | None
    transaction_id: str | None  # the OrderTransaction's number


def payout_ids(admin, since: datetime, until: datetime) -> list[str]:
    """The gids of the shop's payouts issued in [since, until), oldest first."""
    query = f"issued_at:>='{_iso(since)}' issued_at:<'{_iso(until)}'"
    found = []
    for path, node in _pages(admin, PAYOUTS, {"query": query}, "payouts"):
        found.append((_read(f.field, node, "issuedAt", path, f.datetime_), _read(f.field, node, "id", path, f.string)))
    return [gid for _, gid in sorted(found)]


def read_settlement(admin, payout_id: str) -> Settlement:
    """One payout (its gid or number) with every balance transaction in it, matched to orders and refunds."""
    number = _payout_number(payout_id)
    payout = _payout(admin, number)
    variables = {"query": f"payments_transfer_id:{number}"}
    pages = _pages(admin, PAYOUT_TRANSACTIONS, variables, "balanceTransactions")
    rows = [_read(_parse_row, node, path, payout["id"]) for path, node in pages]
    transactions = _order_transactions(admin, sorted({r.transaction_id for r in rows if r.transaction_id}))
    refund_orders = sorted({r.order_gid for r in rows if r.order_gid and r.movement.kind in REFUND_KINDS})
    refunds = _refunds_by_transaction(admin, refund_orders)
    return Settlement(
        provider=PROVIDER, settlement_id=payout["id"], currency=payout["currency"], net=payout["net"],
        status=payout["status"], paid_out_at=payout["issued_at"], reference=payout["trace"],
        movements=tuple(_matched(row, transactions, refunds) for row in rows),
    )  # fmt: skip


# --- reading pages and objects --------------------------------------------------------------------------------


def _pages(admin, document: str, variables: dict, connection: str):
    """(path, node) of every node of the account's `connection`, page after page."""
    after = None
    while True:
        data, _ = admin.query(document, {**variables, "after": after})
        account = _account(data)
        path = f"shopifyPaymentsAccount.{connection}"
        page = _read(f.field, account, connection, "shopifyPaymentsAccount", f.object_)
        nodes = _read(f.each, page, "nodes", path, required=True)
        info = _read(f.field, page, "pageInfo", path, f.object_)
        more = _read(f.field, info, "hasNextPage", f"{path}.pageInfo", f.bool_)
        cursor = _read(f.field, info, "endCursor", f"{path}.pageInfo", f.string, required=more)
        yield from nodes
        if not more:
            return
        if cursor == after:
            raise _malformed(f"{path}: a next page under the same cursor")
        after = cursor


def _account(data: dict) -> dict:
    account = data.get("shopifyPaymentsAccount")
    if account is None:
        raise SettlementsUnsupported("the shop has no Shopify Payments account: its payments are settled by the "
                                     "providers it takes them with")  # fmt: skip
    return _read(f.object_, account, "shopifyPaymentsAccount")


def _payout(admin, number: str) -> dict:
    data, request_id = admin.query(PAYOUT, {"query": f"id:{number}"})
    page = _read(f.field, _account(data), "payouts", "shopifyPaymentsAccount", f.object_)
    for path, node in _read(f.each, page, "nodes", "payouts", required=True):
        if _read(f.field, node, "legacyResourceId", path, f.string) == number:
            return _parse_payout(node, path)
    raise ProviderRejected(f"the shop has no Shopify Payments payout {number}", provider=PROVIDER, code="not_found",
                           request_id=request_id)  # fmt: skip


def _parse_payout(node: dict, path: str) -> dict:
    net, currency = _read(_money, node, "net", path)
    direction = _read(f.field, node, "transactionType", path, f.string)
    return {
        "id": _read(f.field, node, "id", path, f.string), "currency": currency,
        "net": -abs(net) if direction == WITHDRAWAL else abs(net),
        "status": _read(f.field, node, "status", path, f.string).lower(),
        "issued_at": _read(f.field, node, "issuedAt", path, f.datetime_),
        "trace": _read(f.field, node, "externalTraceId", path, f.note, required=False),
    }  # fmt: skip


def _parse_row(node: dict, path: str, payout_gid: str) -> _Row:
    """A balance transaction of this payout; one of another payout means the filter was not ours to trust."""
    belongs = f.field(f.field(node, "associatedPayout", path, f.object_), "id", f"{path}.associatedPayout", f.string,
                      required=False)  # fmt: skip
    if belongs is not None and belongs != payout_gid:
        raise PayloadError(f"{path}.associatedPayout.id: a balance transaction of another payout")
    amount, currency = _money(node, "amount", path)
    fee, fee_currency = _money(node, "fee", path)
    net, net_currency = _money(node, "net", path)
    if {fee_currency, net_currency} != {currency} or net != amount - fee:
        raise PayloadError(f"{path}: net is not amount less fee in one currency")
    word = f.field(node, "type", path, f.string)
    source = f.field(node, "sourceType", path, f.string, required=False)
    kind = KINDS.get(word, K.DISPUTE if source == "DISPUTE" else K.ADJUSTMENT)
    order = f.field(node, "associatedOrder", path, f.object_, required=False) or {}
    transaction = f.field(node, "sourceOrderTransactionId", path, _big_int, required=False)
    movement = SettlementMovement(
        movement_id=f.field(node, "id", path, f.string), kind=kind, amount=amount, fee=fee, currency=currency,
        occurred_at=f.field(node, "transactionDate", path, f.datetime_), provider_type=word,
        description=f.field(node, "adjustmentReason", path, f.note, required=False),
    )  # fmt: skip
    order_path = f"{path}.associatedOrder"
    return _Row(movement, f.field(order, "id", order_path, f.string, required=False),
                f.field(order, "name", order_path, f.note, required=False), transaction)  # fmt: skip


def _order_transactions(admin, numbers: list[str]) -> dict[str, tuple[str | None, Money | None]]:
    """OrderTransaction number -> (the payment's paymentId, the transaction's amount in the order's currency)."""
    found = {}
    gids = [f"gid://shopify/OrderTransaction/{number}" for number in numbers]
    for start in range(0, len(gids), TRANSACTIONS_PER_CALL):
        data, _ = admin.query(ORDER_TRANSACTIONS_BY_ID, {"ids": gids[start:start + TRANSACTIONS_PER_CALL]})
        for i, node in enumerate(_read(f.field, data, "nodes", "", f.list_)):
            if isinstance(node, dict) and node.get("id"):
                number, facts = _read(_transaction_facts, node, f"nodes[{i}]")
                found[number] = facts
    return found


def _transaction_facts(node: dict, path: str) -> tuple[str, tuple[str | None, Money | None]]:
    number = f.field(node, "id", path, _gid("OrderTransaction"))
    parent = f.field(node, "parentTransaction", path, f.object_, required=False) or {}
    paying = node if f.field(node, "kind", path, f.string) in PAYMENT_KINDS else parent
    grandparent = paying.get("parentTransaction") if isinstance(paying.get("parentTransaction"), dict) else {}
    payment_id = paying.get("paymentId") or grandparent.get("paymentId")
    money = f.field(f.field(node, "amountSet", path, f.object_), "presentmentMoney", f"{path}.amountSet", f.object_)
    amount, currency = _money({"m": money}, "m", f"{path}.amountSet.presentmentMoney")
    return number, (payment_id if isinstance(payment_id, str) and payment_id else None, Money(amount, currency))


def _refunds_by_transaction(admin, order_gids: list[str]) -> dict[str, tuple[str, str | None]]:
    """REFUND OrderTransaction number -> (its Refund's number, the key our note names) over these orders."""
    refund_gids = []
    for order_gid in order_gids:
        data, _ = admin.query(ORDER_REFUND_IDS, {"id": order_gid})
        order = _read(f.field, data, "order", "", f.object_, required=False) or {}
        listed = _read(f.each, order, "refunds", "order")
        refund_gids += [_read(f.field, node, "id", path, f.string) for path, node in listed]
    found = {}
    for start in range(0, len(refund_gids), REFUNDS_PER_CALL):
        data, _ = admin.query(REFUND_TRANSACTION_IDS, {"ids": refund_gids[start:start + REFUNDS_PER_CALL]})
        for i, node in enumerate(_read(f.field, data, "nodes", "", f.list_)):
            if isinstance(node, dict) and node.get("id"):
                found.update(_read(_refund_transactions, node, f"nodes[{i}]"))
    return found


def _refund_transactions(node: dict, path: str) -> dict[str, tuple[str, str | None]]:
    refund = f.field(node, "id", path, _gid("Refund"))
    key = referenced_key(f.field(node, "note", path, f.text, required=False))
    page = f.field(node, "transactions", path, f.object_)
    info = f.field(page, "pageInfo", f"{path}.transactions", f.object_)
    if f.field(info, "hasNextPage", f"{path}.transactions.pageInfo", f.bool_):
        logger.warning("a refund with more transactions than Palautus reads", extra={"platform_refund_id": refund})
    rows = f.each(page, "nodes", f"{path}.transactions", required=True)
    return {f.field(t, "id", p, _gid("OrderTransaction")): (refund, key) for p, t in rows}


def _matched(row: _Row, transactions: dict, refunds: dict) -> SettlementMovement:
    """The row with its payment, its refund and, where the order was in another currency, what it was there."""
    movement = row.movement
    payment_id, original = transactions.get(row.transaction_id, (None, None))
    refund_id, key = refunds.get(row.transaction_id, (None, None)) if movement.kind in REFUND_KINDS else (None, None)
    notes = [row.order_name, movement.description]
    if original is not None and original.currency != movement.currency:
        notes.append(f"{original} in the order, {movement.currency} in the payout")
    if movement.kind in REFUND_KINDS and refund_id is None:
        notes.append("its refund was not found among the order's refunds")
    return SettlementMovement(
        movement.movement_id, movement.kind, movement.amount, movement.fee, movement.currency, movement.occurred_at,
        provider_refund_id=refund_id, reference=key, payment_id=payment_id, provider_type=movement.provider_type,
        description="; ".join(note for note in notes if note) or None,
    )  # fmt: skip


# --- field readers ------------------------------------------------------------------------------------------------


def _read(reader, *args, **kwargs):
    """Any fields reader; a PayloadError (which names the JSON path, never a value) becomes ProviderMalformed."""
    try:
        return reader(*args, **kwargs)
    except PayloadError as e:
        raise _malformed(f"a payouts answer not in the documented shape: {e}") from None


def _money(obj: dict, key: str, path: str) -> tuple[int, str]:
    """A MoneyV2 as (signed minor units, currency)."""
    money = f.field(obj, key, path, f.object_)
    where = f.at(path, key)
    currency = f.field(money, "currencyCode", where, f.currency)
    amount = f.field(money, "amount", where, f.string)
    try:
        return to_minor(amount, currency), currency
    except InvalidInput as e:
        raise PayloadError(f"{where}.amount: {e.message}") from None


def _big_int(value: object, path: str) -> str:
    if isinstance(value, str) and value.isdigit():  # BigInt is "encoded as a string"
        return str(int(value))
    f.fail(path, "a BigInt string", value)


def _payout_number(payout_id: str) -> str:
    number = str(payout_id or "").rsplit("/", 1)[-1]
    if not number.isdigit():
        raise ProviderRejected("not a Shopify Payments payout id", provider=PROVIDER, code="settlement_id_invalid")
    return str(int(number))


def _iso(moment: datetime) -> str:
    """The moment in UTC to the second, rounded up: with whole-second times, t >= since and t < until hold exactly
    when they hold for the rounded bounds. A naive datetime is taken as UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    if aware.microsecond:
        aware += timedelta(seconds=1)
    return aware.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
