"""Fakes of the outside APIs, on `responses`: they keep state the way the real services do.

FakeStripe honours Idempotency-Key as Stripe does (a repeated key replays the
first answer and moves no more money), and can be told to fail in the ways
networks fail. FakeShopify checks every GraphQL document against the real
Admin schema before answering.
"""
from __future__ import annotations

import json
import re
from itertools import count
from urllib.parse import parse_qsl

import requests
from graphql import OperationDefinitionNode, parse, validate

STRIPE = "https://api.stripe.com"


class FakeStripe:
    def __init__(self, http=None, api_base: str = STRIPE):
        self.refunds: dict[str, dict] = {}  # id -> refund object: the money that really moved
        self.by_key: dict[str, tuple[dict, dict]] = {}  # idempotency key -> (params, answer)
        self.posts: list[tuple[dict, dict]] = []  # (headers, params) of every POST that arrived
        self.faults: list[str] = []  # what the next POSTs do instead of answering normally
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

    def _get(self, request):
        refund = self.refunds.get(request.url.rsplit("/", 1)[-1])
        if refund is None:
            return 404, {}, json.dumps({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such refund"}})
        return 200, {}, json.dumps(refund)

    def _list(self, request):
        query = dict(parse_qsl(request.url.split("?", 1)[1]))
        data = [r for r in self.refunds.values() if r["payment_intent"] == query.get("payment_intent")]
        return 200, {}, json.dumps({"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"})

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


class FakeShopify:
    def __init__(self, http, schema, shop: str, version: str = "2026-10"):
        self.schema = schema
        self.calls: list[tuple[str, dict]] = []
        self.transactions: list[dict] = []
        self.refunds: dict[str, str] = {}  # idempotency key -> refund gid
        self.faults: list[int] = []
        self._ids = count(900)
        http.add_callback("POST", f"https://{shop}/admin/api/{version}/graphql.json", callback=self._graphql)

    def operations(self, name: str) -> list[dict]:
        return [variables for op, variables in self.calls if op == name]

    def _graphql(self, request):
        body = json.loads(request.body)
        document = parse(body["query"])
        errors = validate(self.schema, document)
        assert errors == [], f"document does not validate against the Admin schema: {errors}"
        op = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode)).name.value
        self.calls.append((op, body.get("variables") or {}))
        if self.faults:
            status = self.faults.pop(0)
            return status, {"Retry-After": "1"}, json.dumps({"errors": "fault"})
        return 200, {"X-Request-Id": "shopify-req"}, json.dumps({"data": getattr(self, f"_{op}")(body.get("variables") or {})})

    def _OrderTransactions(self, v):
        return {"order": {"id": v["id"], "transactions": self.transactions}}

    def _RefundCreate(self, v):
        key = v["idempotencyKey"]
        self.refunds.setdefault(key, f"gid://shopify/Refund/{next(self._ids)}")
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
    """An OrderTransaction as the Admin API returns it for an order paid through Stripe."""
    return {
        "id": f"gid://shopify/OrderTransaction/{number}", "kind": "SALE", "status": "SUCCESS", "gateway": "stripe",
        "paymentId": payment_id, "receiptJson": "{}", "parentTransaction": None,
        "amountSet": {"presentmentMoney": {"amount": amount, "currencyCode": currency}},
    }  # fmt: skip
