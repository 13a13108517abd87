"""Shopify Payments payouts as settlements on Shopify's gateway route, against the real 2026-10 Admin schema.

Every document validates against the schema; every request's variables coerce, and every canned answer is one the
schema could produce for that document (executed against it), so the answers are in Shopify's documented shape.
"""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone

import pytest
import responses
from graphql import execute, parse, validate
from graphql.execution.values import get_variable_values

from adapters.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable, SettlementsUnsupported
from adapters.platforms.shopify import graphql as documents
from adapters.platforms.shopify import payouts
from adapters.platforms.shopify.admin import ShopifyAdmin
from adapters.platforms.shopify.gateway import ShopifyGatewayRefunds
from adapters.platforms.shopify.platform import ShopifyPlatform
from integration.records import MovementKind, SettlementMovement

SHOP = "palautus-test.myshopify.com"
URL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
KEY = "rf_01HZX3K9Q2"
PAYOUT_GID = "gid://shopify/ShopifyPaymentsPayout/501"
ORDER_1 = "gid://shopify/Order/1001"
ORDER_2 = "gid://shopify/Order/1002"
DOCUMENTS = {name: getattr(payouts, name) for name in payouts.__all__ if name.isupper() and name != "KINDS"}


def gid_type(value, info, abstract_type) -> str:
    return value["id"].split("/")[3]


class FakeShop:
    """Answers each document from its own queue, after checking the request and the answer against the schema."""

    def __init__(self, mock, schema):
        self.schema, self.queues, self.sent = schema, defaultdict(list), []
        mock.add_callback(responses.POST, URL, callback=self._answer)

    def on(self, document: str, *answers) -> None:
        self.queues[document].extend(answers)

    def _answer(self, request):
        body = json.loads(request.body)
        self.sent.append(body)
        operation = parse(body["query"]).definitions[0]
        assert not isinstance(get_variable_values(self.schema, operation.variable_definitions, body["variables"]), list)
        answer = self.queues[body["query"]].pop(0)
        if isinstance(answer, tuple):  # (status, whole body): an error, served as it is
            return answer[0], {"X-Request-Id": "req-9"}, json.dumps(answer[1])
        result = execute(self.schema, parse(body["query"]), root_value=answer, variable_values=body["variables"],
                         type_resolver=gid_type)  # fmt: skip
        assert result.errors is None and result.data == answer, result.errors
        return 200, {"X-Request-Id": "req-1"}, json.dumps({"data": answer})

    def variables(self, document: str) -> list[dict]:
        return [body["variables"] for body in self.sent if body["query"] == document]


@pytest.fixture
def shop(shopify_schema):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:  # the queues are checked instead
        fake = FakeShop(mock, shopify_schema)
        yield fake
        assert not any(fake.queues.values()), "answers left unasked"


@pytest.fixture
def route():
    return ShopifyGatewayRefunds(ShopifyPlatform(ShopifyAdmin(SHOP, "shpat_token")))


def money(amount: str, currency="EUR") -> dict:
    return {"amount": amount, "currencyCode": currency}


def payout(number=501, net="37.05", currency="EUR", direction="DEPOSIT", status="PAID", issued="2026-01-05T10:00:00Z"):
    return {"id": f"gid://shopify/ShopifyPaymentsPayout/{number}", "legacyResourceId": str(number), "issuedAt": issued,
            "status": status, "transactionType": direction, "externalTraceId": "TRACE-501", "net": money(net, currency)}


def account(**connections) -> dict:
    return {"shopifyPaymentsAccount": connections}


def the_payout(node=None) -> dict:
    return account(payouts={"nodes": [node or payout()]})


def row(number, type_, amount, fee="0.00", order=None, transaction=None, source=None, reason=None, currency="EUR",
        payout_gid=PAYOUT_GID) -> dict:  # fmt: skip
    net = f"{float(amount) - float(fee):.2f}"  # test data only: two-decimal sums of small numbers
    return {
        "id": f"gid://shopify/ShopifyPaymentsBalanceTransaction/{number}", "type": type_, "sourceType": source or type_,
        "sourceOrderTransactionId": str(transaction) if transaction else None,
        "transactionDate": "2026-01-03T12:00:00Z", "adjustmentReason": reason,
        "amount": money(amount, currency), "fee": money(fee, currency), "net": money(net, currency),
        "associatedOrder": {"id": order, "name": f"#{order.rsplit('/', 1)[-1]}"} if order else None,
        "associatedPayout": {"id": payout_gid},
    }  # fmt: skip


def rows(nodes, more=False, cursor="c2") -> dict:
    return account(balanceTransactions={"pageInfo": {"hasNextPage": more, "endCursor": cursor if more else None},
                                        "nodes": nodes})  # fmt: skip


def transaction(number, kind="SALE", payment_id="pay-1001", amount="100.00", currency="EUR", parent=None) -> dict:
    return {"id": f"gid://shopify/OrderTransaction/{number}", "kind": kind, "paymentId": payment_id,
            "amountSet": {"presentmentMoney": money(amount, currency)},
            "parentTransaction": {"id": f"gid://shopify/OrderTransaction/{parent[0]}", "paymentId": parent[1],
                                  "parentTransaction": None} if parent else None}  # fmt: skip


def refund_node(number, note, *transactions) -> dict:
    return {"id": f"gid://shopify/Refund/{number}", "note": note, "transactions": {
        "pageInfo": {"hasNextPage": False}, "nodes": [{"id": f"gid://shopify/OrderTransaction/{t}"} for t in transactions]}}


def serve_lookups(shop, transactions=(), refunds=None):
    """The order transactions (one call) and, per order, its refund ids and the refunds' transactions."""
    if transactions:
        shop.on(payouts.ORDER_TRANSACTIONS_BY_ID, {"nodes": list(transactions)})
    for order, nodes in (refunds or {}).items():
        shop.on(payouts.ORDER_REFUND_IDS, {"order": {"id": order, "refunds": [{"id": n["id"]} for n in nodes]}})
    if refunds:
        shop.on(payouts.REFUND_TRANSACTION_IDS, {"nodes": [n for nodes in refunds.values() for n in nodes]})


# --- the documents --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_payouts_document_validates_against_the_shopify_2026_10_schema(shopify_schema, name):
    assert validate(shopify_schema, parse(DOCUMENTS[name])) == []


def test_every_balance_transaction_type_we_name_is_in_the_schema_s_enum(shopify_schema):
    assert set(payouts.KINDS) <= set(shopify_schema.get_type("ShopifyPaymentsTransactionType").values)


# --- which payouts a period holds ---------------------------------------------------------------------------


def test_the_period_s_payouts_are_listed_over_every_page_with_quoted_dates(shop, route):
    shop.on(payouts.PAYOUTS,
            account(payouts={"pageInfo": {"hasNextPage": True, "endCursor": "p1"},
                             "nodes": [{"id": PAYOUT_GID, "issuedAt": "2026-01-05T10:00:00Z"}]}),
            account(payouts={"pageInfo": {"hasNextPage": False, "endCursor": None},
                             "nodes": [{"id": "gid://shopify/ShopifyPaymentsPayout/499", "issuedAt": "2026-01-02T10:00:00Z"}]}))  # fmt: skip

    ids = route.settlements(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, 0, 0, 0, 1))

    assert ids == ["gid://shopify/ShopifyPaymentsPayout/499", PAYOUT_GID]  # oldest first
    sent = shop.variables(payouts.PAYOUTS)
    assert sent[0] == {"query": "issued_at:>='2026-01-01T00:00:00Z' issued_at:<'2026-02-01T00:00:01Z'", "after": None}
    assert sent[1]["after"] == "p1"


def test_a_shop_without_shopify_payments_has_no_settlements(shop, route):
    shop.on(payouts.PAYOUTS, {"shopifyPaymentsAccount": None})
    with pytest.raises(SettlementsUnsupported, match="no Shopify Payments account"):
        route.settlements(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc))


# --- one payout ------------------------------------------------------------------------------------------------


def full_payout(shop):
    """A payout of every kind of row over two pages, with its order transactions and refunds."""
    shop.on(payouts.PAYOUT, the_payout())
    shop.on(payouts.PAYOUT_TRANSACTIONS,
            rows([row(1, "CHARGE", "100.00", fee="2.95", order=ORDER_1, transaction=9001),
                  row(2, "REFUND", "-20.00", order=ORDER_1, transaction=9002),
                  row(3, "CHARGEBACK_FEE", "-15.00", order=ORDER_2, source="DISPUTE"),
                  row(4, "DISPUTE_WITHDRAWAL", "-50.00", order=ORDER_2, transaction=9004, source="DISPUTE")], more=True),
            rows([row(5, "ADJUSTMENT", "10.00", reason="Correction"),
                  row(6, "RESERVED_FUNDS", "-5.00", source="ADJUSTMENT"),
                  row(7, "REFUND_FAILURE", "20.00", order=ORDER_1, transaction=9002, source="REFUND"),
                  row(8, "TRANSFER", "-37.05", source="TRANSFER")]))  # fmt: skip
    serve_lookups(shop, [transaction(9001), transaction(9002, "REFUND", None, "20.00", parent=(9001, "pay-1001")),
                         transaction(9004, payment_id="pay-1002")],
                  {ORDER_1: [refund_node(777, f"Return #R1001-1 [palautus:{KEY}]", 9002), refund_node(778, None, 9010)]})


def test_a_payout_is_read_with_every_row_over_every_page(shop, route):
    full_payout(shop)
    result = route.settlement(PAYOUT_GID)

    assert (result.provider, result.settlement_id, result.currency, result.net, result.status, result.reference) == (
        "shopify", PAYOUT_GID, "EUR", 3705, "paid", "TRACE-501")
    assert result.paid_out_at == datetime(2026, 1, 5, 10, tzinfo=timezone.utc)
    assert shop.variables(payouts.PAYOUT) == [{"query": "id:501"}]
    assert shop.variables(payouts.PAYOUT_TRANSACTIONS) == [{"query": "payments_transfer_id:501", "after": None},
                                                           {"query": "payments_transfer_id:501", "after": "c2"}]
    assert shop.variables(payouts.ORDER_TRANSACTIONS_BY_ID) == [{"ids": [
        "gid://shopify/OrderTransaction/9001", "gid://shopify/OrderTransaction/9002", "gid://shopify/OrderTransaction/9004"]}]
    assert shop.variables(payouts.ORDER_REFUND_IDS) == [{"id": ORDER_1}]  # only the order a refund row names
    assert [m.movement_id.rsplit("/", 1)[-1] for m in result.movements] == [str(n) for n in range(1, 9)]


def test_every_row_maps_to_a_movement_kind_and_keeps_shopify_s_word(shop, route):
    full_payout(shop)
    kinds = [(m.provider_type, m.kind, m.amount) for m in route.settlement(PAYOUT_GID).movements]
    assert kinds == [
        ("CHARGE", MovementKind.CHARGE, 10000), ("REFUND", MovementKind.REFUND, -2000),
        ("CHARGEBACK_FEE", MovementKind.FEE, -1500), ("DISPUTE_WITHDRAWAL", MovementKind.DISPUTE, -5000),
        ("ADJUSTMENT", MovementKind.ADJUSTMENT, 1000), ("RESERVED_FUNDS", MovementKind.ADJUSTMENT, -500),
        ("REFUND_FAILURE", MovementKind.REFUND_FAILURE, 2000), ("TRANSFER", MovementKind.PAYOUT, -3705),
    ]  # fmt: skip


def test_the_rows_other_than_the_payout_add_up_to_what_was_paid_out(shop, route):
    full_payout(shop)
    result = route.settlement(PAYOUT_GID)
    assert sum(m.amount - m.fee for m in result.movements if m.kind != MovementKind.PAYOUT) == result.net


def test_a_charge_keeps_its_fee_apart_and_names_its_payment(shop, route):
    full_payout(shop)
    charge = route.settlement(PAYOUT_GID).movements[0]
    assert charge == SettlementMovement(
        movement_id="gid://shopify/ShopifyPaymentsBalanceTransaction/1", kind=MovementKind.CHARGE, amount=10000,
        fee=295, currency="EUR", occurred_at=datetime(2026, 1, 3, 12, tzinfo=timezone.utc), payment_id="pay-1001",
        provider_type="CHARGE", description="#1001",
    )  # fmt: skip


def test_our_refund_is_matched_to_the_refund_number_the_route_stores_and_to_our_key(shop, route):
    full_payout(shop)
    movements = route.settlement(PAYOUT_GID).movements
    shop.on(documents.GATEWAY_REFUND, {"refund": {"id": "gid://shopify/Refund/777", "createdAt": "2026-01-03T11:00:00Z",
        "note": f"[palautus:{KEY}]", "transactions": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"id": "gid://shopify/OrderTransaction/9002", "kind": "REFUND", "status": "SUCCESS",
             "gateway": "shopify_payments", "errorCode": None, "processedAt": "2026-01-03T11:00:00Z",
             "amountSet": {"presentmentMoney": money("20.00")}, "parentTransaction": {"id": "gid://shopify/OrderTransaction/9001"}}]}}})  # fmt: skip
    stored = route.get_refund("777").provider_refund_id

    refund, failure = movements[1], movements[6]
    assert (refund.provider_refund_id, refund.reference, refund.payment_id) == (stored, KEY, "pay-1001")
    assert (failure.kind, failure.provider_refund_id, failure.reference) == (MovementKind.REFUND_FAILURE, "777", KEY)
    assert stored == "777"


def test_rows_that_are_no_refund_name_no_refund(shop, route):
    full_payout(shop)
    named = [m.provider_type for m in route.settlement(PAYOUT_GID).movements if m.provider_refund_id]
    assert named == ["REFUND", "REFUND_FAILURE"]


def test_a_refund_made_elsewhere_is_matched_without_a_key_and_an_unknown_one_says_so(shop, route):
    shop.on(payouts.PAYOUT, the_payout(payout(net="15.00")))
    shop.on(payouts.PAYOUT_TRANSACTIONS, rows([row(1, "REFUND", "-5.00", order=ORDER_1, transaction=9010),
                                               row(2, "REFUND", "-5.00", order=ORDER_1, transaction=9099)]))  # fmt: skip
    serve_lookups(shop, [transaction(9010, "REFUND", None, "5.00", parent=(9001, "pay-1001"))],
                  {ORDER_1: [refund_node(778, "Damaged in transit", 9010)]})
    admin_refund, unknown = route.settlement(PAYOUT_GID).movements
    assert (admin_refund.provider_refund_id, admin_refund.reference) == ("778", None)
    assert unknown.provider_refund_id is None and "not found among the order's refunds" in unknown.description


def test_a_converted_refund_stays_in_the_payout_s_currency_and_says_what_it_was(shop, route):
    shop.on(payouts.PAYOUT, the_payout(payout(net="-11.50", currency="USD")))
    shop.on(payouts.PAYOUT_TRANSACTIONS, rows([row(1, "REFUND", "-11.50", order=ORDER_1, transaction=9002, currency="USD")]))
    serve_lookups(shop, [transaction(9002, "REFUND", None, "10.00", "EUR", parent=(9001, "pay-1001"))],
                  {ORDER_1: [refund_node(777, f"[palautus:{KEY}]", 9002)]})
    (movement,) = route.settlement(PAYOUT_GID).movements
    assert (movement.currency, movement.amount, movement.provider_refund_id) == ("USD", -1150, "777")
    assert movement.description == "#1001; 10.00 EUR in the order, USD in the payout"


def test_a_withdrawal_is_money_taken_from_the_merchant(shop, route):
    shop.on(payouts.PAYOUT, the_payout(payout(net="25.00", direction="WITHDRAWAL", status="SCHEDULED")))
    shop.on(payouts.PAYOUT_TRANSACTIONS, rows([row(1, "ADJUSTMENT", "-25.00")]))
    result = route.settlement("501")  # the number alone does too
    assert (result.net, result.status) == (-2500, "scheduled")


# --- what cannot be read ------------------------------------------------------------------------------------


def test_a_payout_the_shop_does_not_have_is_rejected(shop, route):
    shop.on(payouts.PAYOUT, account(payouts={"nodes": []}))
    with pytest.raises(ProviderRejected) as raised:
        route.settlement(PAYOUT_GID)
    assert raised.value.code == "not_found"


def test_a_settlement_id_that_is_no_payout_is_rejected_before_any_call(shop, route):
    with pytest.raises(ProviderRejected) as raised:
        route.settlement("gid://shopify/ShopifyPaymentsPayout/50 OR id:1")
    assert (raised.value.code, shop.sent) == ("settlement_id_invalid", [])


def test_a_server_error_is_retryable(shop, route):
    shop.on(payouts.PAYOUT, (503, {"errors": "Service Unavailable"}))
    with pytest.raises(ProviderUnavailable) as raised:
        route.settlement(PAYOUT_GID)
    assert raised.value.status == 503 and not isinstance(raised.value, ProviderMalformed)


def test_a_missing_scope_is_a_rejection(shop, route):
    shop.on(payouts.PAYOUT, (200, {"errors": [{"message": "Access denied for shopifyPaymentsAccount field.",
                                               "extensions": {"code": "ACCESS_DENIED"}}]}))  # fmt: skip
    with pytest.raises(ProviderRejected) as raised:
        route.settlement(PAYOUT_GID)
    assert raised.value.code == "ACCESS_DENIED"


@pytest.mark.parametrize("broken, message", [
    (lambda r: r.update(net=money("99.00")), "net is not amount less fee"),
    (lambda r: r.update(fee=money("0.00", "USD")), "net is not amount less fee"),
    (lambda r: r.update(associatedPayout={"id": "gid://shopify/ShopifyPaymentsPayout/502"}), "another payout"),
    (lambda r: r.update(amount=money("1.001")), "more decimals"),
    (lambda r: r.update(sourceOrderTransactionId=9001), "BigInt"),
    (lambda r: r.pop("transactionDate"), "transactionDate: missing"),
])  # fmt: skip
def test_a_row_not_in_the_documented_shape_is_malformed(shop, route, broken, message):
    shop.on(payouts.PAYOUT, the_payout())
    node = row(1, "CHARGE", "100.00", fee="2.95")
    broken(node)
    shop.on(payouts.PAYOUT_TRANSACTIONS, (200, {"data": rows([node])}))
    with pytest.raises(ProviderMalformed, match=message):
        route.settlement(PAYOUT_GID)


def test_a_page_that_repeats_its_cursor_is_malformed_not_followed_for_ever(shop, route):
    shop.on(payouts.PAYOUT, the_payout())
    shop.on(payouts.PAYOUT_TRANSACTIONS, rows([row(1, "ADJUSTMENT", "1.00")], more=True, cursor="same"),
            rows([row(2, "ADJUSTMENT", "1.00")], more=True, cursor="same"))
    with pytest.raises(ProviderMalformed, match="same cursor"):
        route.settlement(PAYOUT_GID)
