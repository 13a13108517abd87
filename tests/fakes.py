"""The sandboxes (`sandbox/`) behind the `responses` mock: the test suite's fakes of the outside APIs.

One code base with the sandbox server: FakeStripe is SandboxStripe and
FakeShopify is SandboxShop, with only the transport swapped, plus what tests
need on top (a document the Admin schema refuses fails the test at once).
"""
from __future__ import annotations

import re

import requests

from sandbox.http import Reply, Request
from sandbox.klarna import SandboxKlarna
from sandbox.paypal import SandboxPayPal
from sandbox.paytrail import SandboxPaytrail
from sandbox.schema import InvalidDocument
from sandbox.server import HTTPSandbox
from sandbox.shopify import SandboxShop, graphql_line, graphql_order, refund_node
from sandbox.shopify import _bag as bag, _taxes as taxes, _utc as utc
from sandbox.stripe import SandboxStripe, stripe_sale
from sandbox.woocommerce import SandboxStore

__all__ = ["FAKE_ROUTES", "FakeKlarna", "FakePayPal", "FakePaytrail", "FakeServer", "FakeShopify", "FakeStripe", "FakeWooCommerce",
           "ShopifyGatewayFake", "WooCommerceGatewayFake", "as_responses", "bag", "graphql_line", "graphql_order", "refund_node", "shopify_payments_sale",
           "stripe_sale", "taxes", "utc"]  # fmt: skip

STRIPE = "https://api.stripe.com"
KLARNA = "https://api.klarna.com"
PAYPAL = "https://api-m.paypal.com"
PAYTRAIL = "https://services.paytrail.com"


def as_responses(reply) -> tuple:
    """A sandbox reply as a `responses` callback answers: a lost one is a read timeout."""
    if not isinstance(reply, Reply):
        return 200, {}, requests.ReadTimeout("read timed out")
    return reply.status, reply.headers, reply.text()


def _request(request) -> Request:
    return Request.of(request.method, request.url, dict(request.headers), request.body)


class FakeStripe(SandboxStripe):
    """SandboxStripe on `responses`; it refunds payments it never took (the tests' orders say Stripe took them)."""

    def __init__(self, http=None, api_base: str = STRIPE):
        super().__init__(open_book=True)
        if http is None:
            return
        answer = lambda request: as_responses(self.handle(_request(request)))  # noqa: E731
        http.add_callback("POST", f"{api_base}/v1/refunds", callback=answer)
        http.add_callback("POST", f"{api_base}/v1/webhook_endpoints", callback=answer)
        http.add_callback("GET", re.compile(rf"{re.escape(api_base)}/v1/.*"), callback=answer)

    def deliver_to(self, client) -> None:
        """Stripe's events go to the app under test (Flask's test client), at their endpoint's path."""
        self.answers: list[int] = []

        def post(url: str, body: bytes, headers: dict) -> int:
            status = client.post("/" + url.split("://", 1)[-1].split("/", 1)[1], data=body, headers=headers).status_code
            self.answers.append(status)
            return status

        self.deliver = post


class FakeKlarna(SandboxKlarna):
    """SandboxKlarna on `responses`; it refunds orders it never saw (the tests' orders say Klarna took the money)."""

    settles_later = False  # Klarna's refunds are final when made

    def __init__(self, http=None, api_base: str = KLARNA):
        super().__init__(open_book=True)
        if http is None:
            return
        answer = lambda request: as_responses(self.handle(_request(request)))  # noqa: E731
        orders = re.escape(f"{api_base}/ordermanagement/v1/orders/")
        http.add_callback("POST", re.compile(rf"{orders}[^/]+/refunds"), callback=answer)
        http.add_callback("GET", re.compile(rf"{orders}.*"), callback=answer)


class FakePayPal(SandboxPayPal):
    """SandboxPayPal on `responses`; it refunds captures it never made (the tests' orders say PayPal took them)."""

    def __init__(self, http=None, api_base: str = PAYPAL):
        super().__init__(open_book=True)
        if http is None:
            return
        answer = lambda request: as_responses(self.handle(_request(request)))  # noqa: E731
        http.add_callback("POST", f"{api_base}/v1/oauth2/token", callback=answer)
        http.add_callback("POST", re.compile(rf"{re.escape(api_base)}/v2/payments/captures/[^/]+/refund"), callback=answer)
        http.add_callback("GET", re.compile(rf"{re.escape(api_base)}/v2/.*"), callback=answer)


class FakePaytrail(SandboxPaytrail):
    """SandboxPaytrail on `responses`; it refunds payments it never took (the tests' orders say Paytrail took them).

    `credentials`: merchant id -> secret it checks and signs with, besides Paytrail's test account. Its refund
    callbacks reach the app under test once `deliver_to(client)` is called."""

    def __init__(self, http=None, api_base: str = PAYTRAIL, credentials: dict | None = None):
        super().__init__(open_book=True, credentials=credentials)
        if http is None:
            return
        answer = lambda request: as_responses(self.handle(_request(request)))  # noqa: E731
        http.add_callback("POST", re.compile(rf"{re.escape(api_base)}/payments/[^/]+/refund"), callback=answer,
                          content_type="application/json")  # fmt: skip

    def deliver_to(self, client) -> None:
        """Paytrail's GETs to the refunds' callback URLs go to the app under test, at their path and query."""
        self.callback = lambda url: client.get("/" + url.split("://", 1)[-1].split("/", 1)[1]).status_code


class FakeShopify(SandboxShop):
    """SandboxShop on `responses`, for one shop; webhooks it would send are kept in `sent`."""

    def __init__(self, http, schema, shop: str, version: str = "2026-10"):
        super().__init__(shop, schema, version=version, strict=False)
        self.cancelled: dict[str, dict] = {}  # order gid -> the orderCancel variables it was cancelled with
        http.add_callback("POST", f"https://{shop}/admin/api/{version}/graphql.json",
                          callback=lambda request: as_responses(self.handle(_request(request))))  # fmt: skip
        http.add_callback("POST", f"https://{shop}/admin/oauth/access_token",
                          callback=lambda request: as_responses(self.token(_request(request))))  # fmt: skip

    def invalid(self, problem: InvalidDocument) -> None:
        raise AssertionError(str(problem))

    # orderCancel (a withdrawal before delivery), as the Admin API answers it: a job, the order cancelled, nothing
    # refunded here (the tests' orders are refunded by Palautus).
    def _OrderCancel(self, v):
        self.cancelled[v["orderId"]] = dict(v)
        job = f"gid://shopify/Job/{len(self.cancelled)}"
        return {"orderCancel": {"job": {"id": job, "done": False}, "orderCancelUserErrors": []}}

    def _OrderCancelled(self, v):
        done = v["id"] in self.cancelled
        return {"order": {"id": v["id"], "cancelledAt": "2026-12-02T10:00:00Z" if done else None}}


class FakeWooCommerce(SandboxStore):
    """SandboxStore on `responses` at `url`; its webhooks are posted to the app through `client` (Flask's test client).

    WooCommerce delivers only to a public address, so the delivery URL's host is
    ignored here and its path is posted to the app under test.
    """

    def __init__(self, http, url: str = "https://store.example", client=None, **kwargs):
        super().__init__(url, deliver=self._post if client is not None else None, **kwargs)
        self.client = client
        self.answers: list[int] = []  # what the app answered each delivery and ping
        self.unreachable = False  # Palautus is down: deliveries fail without reaching it
        for method in ("GET", "POST", "PUT"):
            http.add_callback(method, re.compile(rf"{re.escape(self.url)}/wp-json/.*"), content_type="application/json",
                              callback=lambda request: as_responses(self.handle(_request(request))))  # fmt: skip

    def _post(self, url: str, body: bytes, headers: dict) -> int | None:
        if self.unreachable:
            self.answers.append(None)
            return None
        path = "/" + url.split("://", 1)[-1].split("/", 1)[1]
        status = self.client.post(path, data=body, headers=headers).status_code
        self.answers.append(status)
        return status


class FakeServer(HTTPSandbox):
    """An answering callable behind a real socket, for a real worker process to call.

    `answer(request)` gets a sandbox Request and returns a Reply, or None to drop the connection unanswered.
    """


def shopify_payments_sale(number: int = 1001, amount: str = "189.70", gateway: str = "shopify_payments") -> dict:
    """A payment Shopify's own checkout took (Shopify Payments, or a payments app's gateway): Shopify's to refund."""
    return {**stripe_sale(number, amount=amount), "gateway": gateway, "paymentId": f"shopify-pay-{number}",
            "authorizationCode": None}  # fmt: skip


class ShopifyGatewayFake:
    """The fake-provider shape over a FakeShopify's own gateway: the refund route that is the shop itself.

    The generic faults meet GatewayRefundCreate; reads are GatewayRefund; `status = "pending"` makes the
    gateway a payments app that settles later (`settle`).
    """

    OP = "GatewayRefundCreate"
    FAULTS = {"unavailable": 503, "rate_limited": 429, "unknown_outcome": 500, "lost_request": "lost_request",
              "lost_answer": "lost_answer", "saved_failure": "500_after", "refused": "refused"}  # fmt: skip

    def __init__(self, shopify: SandboxShop, gateway: str = "shopify_payments"):
        self.shopify, self.gateway = shopify, gateway

    def sale(self, number: int = 1001, amount: str = "189.70") -> dict:
        return shopify_payments_sale(number, amount, self.gateway)

    def fail_next(self, *kinds: str) -> None:
        for kind in kinds:
            fault = self.FAULTS[kind]
            if isinstance(fault, int):  # answered before anything is done
                self.shopify.faults_for.setdefault(self.OP, []).append(fault)
            else:
                self.shopify.op_faults.setdefault(self.OP, []).append(fault)

    def fail_reads(self, *statuses: int) -> None:
        self.shopify.faults_for.setdefault("GatewayRefund", []).extend(statuses)

    @property
    def status(self) -> str:
        return self.shopify.gateway_modes.get(self.gateway, "SUCCESS")

    @status.setter
    def status(self, value: str) -> None:
        self.shopify.gateway_modes[self.gateway] = {"pending": "PENDING", "succeeded": "SUCCESS", "failed": "FAILURE"}[value]

    def settle(self, status: str = "succeeded") -> None:
        self.shopify.settle_refunds("SUCCESS" if status == "succeeded" else "FAILURE")

    @property
    def posts(self) -> list[dict]:
        return self.shopify.operations(self.OP)

    def keys_sent(self) -> set[str]:
        return {variables["idempotencyKey"] for variables in self.posts}

    @property
    def refunds(self) -> dict:
        return self.shopify.gateway_refunds

    @property
    def money_moved(self) -> int:
        return sum(round(float(t["amountSet"]["presentmentMoney"]["amount"]) * 100)
                   for refund in self.shopify.gateway_refunds.values() for t in refund["transactions"]
                   if t["status"] == "SUCCESS")  # fmt: skip


class WooCommerceGatewayFake:
    """The fake-provider shape over a FakeWooCommerce store's own gateway (`api_refund: true`), for Paytrail orders.

    The generic faults meet the refund POST; reads are GETs of one refund; `status = "pending"` is Paytrail
    for WooCommerce's way (the refund saved at 0, settled by Paytrail's callback: `settle`).
    """

    OP = "POST refunds"
    FAULTS = {"unavailable": 503, "rate_limited": 429, "unknown_outcome": "500_after", "lost_request": "lost_request",
              "lost_answer": "lost_answer", "saved_failure": "500_after", "refused": "refused"}  # fmt: skip

    def __init__(self, store, method: str = "paytrail"):
        self.store, self.method = store, method
        store.gateways[method] = "sync"  # settles at once unless told otherwise

    def fail_next(self, *kinds: str) -> None:
        self.store.op_faults.setdefault(self.OP, []).extend(self.FAULTS[kind] for kind in kinds)

    def fail_reads(self, *statuses: int) -> None:
        self.store.read_faults.extend(statuses)

    @property
    def status(self) -> str:
        return self.store.gateways[self.method]

    @status.setter
    def status(self, value: str) -> None:
        self.store.gateways[self.method] = {"pending": "paytrail", "succeeded": "sync", "failed": "refuse"}[value]

    def settle(self, status: str = "succeeded") -> None:
        for order_id in list(self.store.orders):
            self.store.settle_gateway(order_id, ok=status == "succeeded")

    @property
    def posts(self) -> list[dict]:
        return self.store.refund_posts

    def keys_sent(self) -> set[str]:
        return {m["value"] for body in self.posts for m in body.get("meta_data") or [] if m.get("key") == "palautus_refund_key"}

    @property
    def refunds(self) -> list[dict]:
        return self.store.gateway_refunds

    @property
    def money_moved(self) -> int:
        return self.store.money_moved


# Every direct payment route's fake, by the route's name in adapters.payments.ROUTES: the refund fault
# matrix (tests/jobs/test_refund_matrix.py) runs for each, and for each platform's own gateway.
FAKE_ROUTES = {"stripe": FakeStripe, "klarna": FakeKlarna, "paypal": FakePayPal, "paytrail": FakePaytrail}
