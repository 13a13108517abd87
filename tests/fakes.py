"""Fakes of the outside APIs, on `responses`: they keep state the way the real services do.

FakeStripe honours Idempotency-Key as Stripe does (a repeated key replays the
first answer and moves no more money), and can be told to fail in the ways
networks fail. FakeShopify checks every GraphQL document against the real
Admin schema before answering.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from datetime import datetime, timezone
from itertools import count
from urllib.parse import parse_qsl

import requests
from graphql import OperationDefinitionNode, parse, validate

STRIPE = "https://api.stripe.com"


class FakeStripe:
    """Stripe's /v1/refunds, stateful; the fake-provider shape every payment route's fake offers (see FAKE_ROUTES)."""

    # The generic faults of the shape, in this provider's terms.
    FAULTS = {
        "unavailable": "500", "rate_limited": "429", "lost_request": "timeout", "lost_answer": "timeout_after",
        "unknown_outcome": "500_do_not_retry", "saved_failure": "500_saved", "refused": "refused",
    }  # fmt: skip

    def __init__(self, http=None, api_base: str = STRIPE):
        self.refunds: dict[str, dict] = {}  # id -> refund object: the money that really moved
        self.by_key: dict[str, tuple[dict, dict]] = {}  # idempotency key -> (params, answer)
        self.posts: list[tuple[dict, dict]] = []  # (headers, params) of every POST that arrived
        self.faults: list[str] = []  # what the next POSTs do instead of answering normally
        self.read_faults: list[int] = []  # HTTP statuses the next GETs answer instead (401: a rotated key)
        self.status = "succeeded"
        self._ids = count(1)
        if http is None:
            return
        http.add_callback("POST", f"{api_base}/v1/refunds", callback=self._create)
        http.add_callback("GET", re.compile(rf"{re.escape(api_base)}/v1/refunds/re_\w+"), callback=self._get)
        http.add_callback("GET", re.compile(rf"{re.escape(api_base)}/v1/refunds\?.*"), callback=self._list)

    def _create(self, request):
        params = dict(parse_qsl(request.body if isinstance(request.body, str) else request.body.decode()))
        headers = dict(request.headers)
        self.posts.append((headers, params))
        fault = self.faults.pop(0) if self.faults else None
        if fault == "timeout":  # lost on the way there: nothing happened at Stripe
            return 200, {}, requests.ReadTimeout("read timed out")
        if fault == "idempotency_error":  # Stripe refuses the request as it stands: nothing happens
            return 400, {}, json.dumps({"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters"}})
        if fault in ("500", "503", "429"):
            return int(fault), {"Request-Id": "req_fault"}, json.dumps({"error": {"type": "api_error", "message": "fault"}})
        if fault == "refused":  # a validation error: Stripe made nothing
            return 400, {"Request-Id": "req_refused"}, json.dumps({"error": {
                "type": "invalid_request_error", "code": "charge_already_refunded", "message": "Charge has already been refunded."}})
        if fault == "500_do_not_retry":  # Stripe says a retry of this request would not help
            return 500, {"Request-Id": "req_fault", "Stripe-Should-Retry": "false"}, json.dumps(
                {"error": {"type": "api_error", "message": "An unknown error occurred"}})
        key = headers.get("Idempotency-Key")
        if fault == "500_saved" and key not in self.by_key:  # failed once it had begun: saved, and replayed
            self.by_key[key] = (params, {"status": 500, "error": {"type": "api_error", "message": "An unknown error occurred"}})
        if key in self.by_key and self.by_key[key][1].get("status") == 500:
            return 500, {"Request-Id": "req_saved", "Idempotent-Replayed": "true"}, json.dumps(self.by_key[key][1])
        if key in self.by_key:
            first_params, answer = self.by_key[key]
            if first_params != params:
                return 400, {}, json.dumps({"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters"}})
        else:
            answer = self._refund(params)
            self.by_key[key] = (params, answer)
        if fault == "timeout_after":  # made at Stripe, the answer lost on the way back
            return 200, {}, requests.ReadTimeout("read timed out")
        return 200, {"Request-Id": "req_ok", "Idempotent-Replayed": "true"}, json.dumps(answer)

    def _refund(self, params: dict) -> dict:
        refund_id = f"re_{next(self._ids):04d}"
        metadata = {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")}
        refund = {
            "id": refund_id, "object": "refund", "amount": int(params["amount"]), "currency": "eur",
            "payment_intent": params.get("payment_intent"), "status": self.status, "metadata": metadata,
            "reason": params.get("reason"), "failure_reason": "lost_or_stolen_card" if self.status == "failed" else None,
        }  # fmt: skip
        self.refunds[refund_id] = refund
        return refund

    def _read_fault(self):
        status = self.read_faults.pop(0)
        return status, {"Request-Id": "req_read_fault"}, json.dumps(
            {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****"}})

    def _get(self, request):
        if self.read_faults:
            return self._read_fault()
        refund = self.refunds.get(request.url.rsplit("/", 1)[-1])
        if refund is None:
            return 404, {}, json.dumps({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such refund"}})
        return 200, {}, json.dumps(refund)

    def _list(self, request):
        if self.read_faults:
            return self._read_fault()
        query = dict(parse_qsl(request.url.split("?", 1)[1]))
        data = [r for r in self.refunds.values() if r["payment_intent"] == query.get("payment_intent")]
        return 200, {}, json.dumps({"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"})

    # --- the fake-provider shape -------------------------------------------------------------------

    def fail_next(self, *kinds: str) -> None:
        """The next refund requests meet these generic faults, in order."""
        self.faults += [self.FAULTS[kind] for kind in kinds]

    def fail_reads(self, *statuses: int) -> None:
        """The next reads (a refund by id, the list by payment) are refused with these HTTP statuses."""
        self.read_faults += list(statuses)

    def settle(self, status: str = "succeeded") -> None:
        """The provider finishes every refund it was still working on."""
        for refund in self.refunds.values():
            if refund["status"] == "pending":
                refund["status"] = status

    @staticmethod
    def sale(number: int = 1001, amount: str = "189.70") -> dict:
        """The order's payment through this provider, as the shop's platform reports it."""
        return stripe_sale(number, amount)

    def reconcile(self, key: str) -> dict:
        """What Stripe's engineers do after an incident: the saved-500 request turns out to have made its refund."""
        params, _ = self.by_key[key]
        refund = self._refund(params)
        self.by_key[key] = (params, refund)
        return refund

    @property
    def money_moved(self) -> int:
        """Minor units refunded at Stripe, all refunds together."""
        return sum(r["amount"] for r in self.refunds.values() if r["status"] != "failed")


_CHECKED: dict[tuple[int, str], str] = {}  # (schema, document) -> operation name, validated once per test session


def _checked_operation(schema, query: str) -> str:
    """The document's operation name, once the document validates against the Admin schema."""
    key = (id(schema), query)
    if key not in _CHECKED:
        document = parse(query)
        errors = validate(schema, document)
        assert errors == [], f"document does not validate against the Admin schema: {errors}"
        _CHECKED[key] = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode)).name.value
    return _CHECKED[key]


class FakeShopify:
    def __init__(self, http, schema, shop: str, version: str = "2026-10"):
        self.schema = schema
        self.calls: list[tuple[str, dict]] = []
        self.transactions: list[dict] = []
        self.checkout_token: str | None = None  # set on orders Shopify's own checkout created
        self.orders: dict[str, dict] = {}  # order gid -> the REST order (a webhook body) the Admin API knows
        self.refund_nodes: list[dict] = []  # the order's refunds as ORDER_REFUNDS answers them (see refund_node)
        self.locations: dict[str, str] = {}  # line item id -> Location gid it was fulfilled from
        self.restocked: dict[str, int] = {}  # line item id -> units the shop's own return processing restocked
        self.refunds: dict[str, str] = {}  # idempotency key -> refund gid
        self.recorded: dict[str, tuple[str, dict]] = {}  # idempotency key -> (refund gid, the input it recorded)
        self.faults: list[int] = []  # HTTP statuses the next calls (of any operation) answer instead
        self.faults_for: dict[str, list[int]] = {}  # the same, for one operation only
        self.before: dict[str, object] = {}  # operation -> a callable run as the call arrives (an interleaving)
        self._ids = count(900)
        http.add_callback("POST", f"https://{shop}/admin/api/{version}/graphql.json", callback=self._graphql)

    def operations(self, name: str) -> list[dict]:
        return [variables for op, variables in self.calls if op == name]

    def _graphql(self, request):
        body = json.loads(request.body)
        op = _checked_operation(self.schema, body["query"])
        self.calls.append((op, body.get("variables") or {}))
        if op in self.before:
            self.before.pop(op)()
        own = self.faults_for.get(op)
        if self.faults or own:
            status = own.pop(0) if own else self.faults.pop(0)
            return status, {"Retry-After": "1"}, json.dumps({"errors": "fault"})
        return 200, {"X-Request-Id": "shopify-req"}, json.dumps({"data": getattr(self, f"_{op}")(body.get("variables") or {})})

    def _Order(self, v):
        rest = self.orders.get(v["id"])
        return {"order": graphql_order(rest) if rest else None}

    def _all_refund_nodes(self) -> list[dict]:
        """The refunds Shopify lists for the order: the shop's own, and ours as refundCreate recorded them."""
        ours = [refund_node(int(gid.rsplit("/", 1)[1]), {line["lineItemId"].rsplit("/", 1)[1]: line["quantity"]
                                                         for line in given["refundLineItems"]},
                            {}, "2026-12-01T10:00:00Z", note=given["note"])
                for gid, given in self.recorded.values()]  # fmt: skip
        return self.refund_nodes + ours

    def _OrderRefunds(self, v):
        transactions = [{"id": t["id"], "kind": t["kind"], "status": t["status"],
                         "parentTransaction": t.get("parentTransaction")} for t in self.transactions]  # fmt: skip
        refunds = [{"id": node["id"]} for node in self._all_refund_nodes()]
        return {"order": {"id": v["id"], "presentmentCurrencyCode": "EUR", "refunds": refunds, "transactions": transactions}}

    def _RefundsById(self, v):
        nodes = {node["id"]: node for node in self._all_refund_nodes()}
        return {"nodes": [{**nodes[i], "__typename": "Refund"} if i in nodes else None for i in v["ids"]]}

    def _FulfillmentLocations(self, v):
        fulfillments = [{
            "id": f"gid://shopify/Fulfillment/{n}", "status": "SUCCESS", "location": {"id": location},
            "fulfillmentLineItems": {"pageInfo": {"hasNextPage": False},
                                     "nodes": [{"quantity": 1, "lineItem": {"id": f"gid://shopify/LineItem/{line}"}}]},
        } for n, (line, location) in enumerate(self.locations.items(), 1)]  # fmt: skip
        return {"order": {"id": v["id"], "fulfillmentsCount": {"count": len(fulfillments), "precision": "EXACT"},
                          "fulfillments": fulfillments}}  # fmt: skip

    def _ReturnRestocked(self, v):
        lines = [{
            "id": f"gid://shopify/ReverseFulfillmentOrderLineItem/{n}",
            "fulfillmentLineItem": {"lineItem": {"id": f"gid://shopify/LineItem/{line}"}},
            "dispositions": [{"type": "RESTOCKED", "quantity": units, "location": None}],
        } for n, (line, units) in enumerate(self.restocked.items(), 1)]  # fmt: skip
        order = {"id": "gid://shopify/ReverseFulfillmentOrder/1", "lineItems": {"pageInfo": {"hasNextPage": False}, "nodes": lines}}
        return {"return": {"id": v["id"], "reverseFulfillmentOrders": {"pageInfo": {"hasNextPage": False}, "nodes": [order]}}}

    def _OrderTransactions(self, v):
        return {"order": {"id": v["id"], "checkoutToken": self.checkout_token, "transactions": self.transactions}}

    def _RefundCreate(self, v):
        key = v["idempotencyKey"]
        self.refunds.setdefault(key, f"gid://shopify/Refund/{next(self._ids)}")
        self.recorded.setdefault(key, (self.refunds[key], v["input"]))
        return {"refundCreate": {"refund": {"id": self.refunds[key]}, "userErrors": []}}

    def _TagsAdd(self, v):
        return {"tagsAdd": {"node": {"id": v["id"]}, "userErrors": []}}

    def _status(self, field, v, status):
        gid = v.get("id") or v["input"]["id"]
        return {field: {"return": {"id": gid, "status": status}, "userErrors": []}}

    def _ReturnApproveRequest(self, v):
        return self._status("returnApproveRequest", v, "OPEN")

    def _ReturnDeclineRequest(self, v):
        return self._status("returnDeclineRequest", v, "DECLINED")

    def _ReturnClose(self, v):
        return self._status("returnClose", v, "CLOSED")

    def _ReturnCancel(self, v):
        return self._status("returnCancel", v, "CANCELED")


def stripe_sale(number: int = 1001, amount: str = "189.70", currency: str = "EUR", payment_id: str = "pi_3PalautusTest0001") -> dict:
    """An OrderTransaction as the Admin API returns it for a Stripe payment a headless checkout took.

    The checkout created the order through the API: Shopify gave the transaction no
    payment id of its own, and the PaymentIntent is in its authorizationCode.
    """
    return {
        "id": f"gid://shopify/OrderTransaction/{number}", "kind": "SALE", "status": "SUCCESS", "gateway": "stripe",
        "paymentId": None, "authorizationCode": payment_id, "receiptJson": "{}", "parentTransaction": None,
        "amountSet": {"presentmentMoney": {"amount": amount, "currencyCode": currency}},
    }  # fmt: skip


class FakeServer:
    """One of these fakes behind a real socket, for a real worker process to call.

    `answer(request)` returns (status, headers, body), or None to drop the connection unanswered.
    """

    def __init__(self, answer):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._reply("GET")

            def do_POST(self):
                self._reply("POST")

            def _reply(self, method):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                request = SimpleNamespace(method=method, url=self.path, body=body, headers=dict(self.headers))
                reply = answer(request)
                if reply is None:  # no answer at all: the connection is dropped
                    return
                status, headers, payload = reply
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- a webhook's REST order as Shopify's Admin GraphQL ORDER document answers it --------------------


def bag(rest_set: dict) -> dict:
    money = rest_set["presentment_money"]
    return {"presentmentMoney": {"amount": money["amount"], "currencyCode": money["currency_code"]}}


def taxes(rest_lines: list) -> list:
    return [{"rate": t["rate"], "ratePercentage": t["rate"] * 100, "priceSet": bag(t["price_set"])}
            for t in rest_lines]  # fmt: skip


def utc(text: str | None) -> str | None:
    """Shopify's GraphQL timestamps are UTC with a Z; the webhook's carry the shop's offset."""
    moment = datetime.fromisoformat(text).astimezone(timezone.utc) if text else None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def graphql_line(line: dict) -> dict:
    return {
        "id": line["admin_graphql_api_id"], "title": line["title"], "name": line["name"], "sku": line["sku"],
        "quantity": line["quantity"],
        "product": {"id": f"gid://shopify/Product/{line['product_id']}"} if line["product_id"] else None,
        "variant": {"id": f"gid://shopify/ProductVariant/{line['variant_id']}"} if line["variant_id"] else None,
        "originalUnitPriceSet": bag(line["price_set"]),
        "discountAllocations": [{"allocatedAmountSet": bag(a["amount_set"])} for a in line["discount_allocations"]],
        "taxLines": taxes(line["tax_lines"]),
    }  # fmt: skip


def graphql_order(rest: dict, lines: slice = slice(None), cursor: str | None = None) -> dict:
    """The `order` node ORDER answers for the order a webhook body describes (one page of its lines)."""
    return {
        "id": rest["admin_graphql_api_id"], "name": rest["name"], "email": rest["email"],
        "currencyCode": rest["currency"], "presentmentCurrencyCode": rest["presentment_currency"],
        "taxesIncluded": rest["taxes_included"], "displayFinancialStatus": rest["financial_status"].upper(),
        "processedAt": utc(rest["processed_at"]), "cancelledAt": utc(rest["cancelled_at"]),
        "updatedAt": utc(rest["updated_at"]),
        "totalPriceSet": bag(rest["total_price_set"]),
        "shippingLines": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"discountedPriceSet": bag(s["discounted_price_set"]), "taxLines": taxes(s["tax_lines"])}
            for s in rest["shipping_lines"]]},
        "lineItems": {"pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor},
                      "nodes": [graphql_line(line) for line in rest["line_items"][lines]]},
    }  # fmt: skip


# Every payment route's fake, by the route's name in adapters.payments.ROUTES: the refund fault
# matrix (tests/jobs/test_refund_matrix.py) runs for each, and a route without one fails it.
FAKE_ROUTES = {"stripe": FakeStripe}


def refund_node(refund_id: int, lines: dict[str, int], taken: dict[int, str], created_at: str,
                return_id: int | None = None, status: str = "SUCCESS", note: str | None = None) -> dict:  # fmt: skip
    """A Refund as the Admin API's REFUNDS_BY_ID answers it: units per line id, amounts per parent transaction."""
    return {
        "id": f"gid://shopify/Refund/{refund_id}", "createdAt": created_at, "note": note,
        "return": {"id": f"gid://shopify/Return/{return_id}"} if return_id else None,
        "refundLineItems": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"quantity": n, "lineItem": {"id": f"gid://shopify/LineItem/{line}"}} for line, n in lines.items()]},
        "refundShippingLines": {"nodes": []},
        "transactions": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"kind": "REFUND", "status": status, "amountSet": {"presentmentMoney": {"amount": amount, "currencyCode": "EUR"}},
             "parentTransaction": {"id": f"gid://shopify/OrderTransaction/{parent}"}} for parent, amount in taken.items()]},
    }  # fmt: skip
