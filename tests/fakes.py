"""The sandboxes (`sandbox/`) behind the `responses` mock: the test suite's fakes of the outside APIs.

One code base with the sandbox server: FakeStripe is SandboxStripe and
FakeShopify is SandboxShop, with only the transport swapped, plus what tests
need on top (a document the Admin schema refuses fails the test at once).
"""
from __future__ import annotations

import re

import requests

from sandbox.http import Reply, Request
from sandbox.schema import InvalidDocument
from sandbox.server import HTTPSandbox
from sandbox.shopify import SandboxShop, graphql_line, graphql_order, refund_node
from sandbox.shopify import _bag as bag, _taxes as taxes, _utc as utc
from sandbox.stripe import SandboxStripe, stripe_sale
from sandbox.woocommerce import SandboxStore

__all__ = ["FAKE_ROUTES", "FakeServer", "FakeShopify", "FakeStripe", "FakeWooCommerce", "as_responses", "bag", "graphql_line", "graphql_order",
           "refund_node", "stripe_sale", "taxes", "utc"]  # fmt: skip

STRIPE = "https://api.stripe.com"


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
        http.add_callback("GET", re.compile(rf"{re.escape(api_base)}/v1/.*"), callback=answer)


class FakeShopify(SandboxShop):
    """SandboxShop on `responses`, for one shop; webhooks it would send are kept in `sent`."""

    def __init__(self, http, schema, shop: str, version: str = "2026-10"):
        super().__init__(shop, schema, version=version, strict=False)
        http.add_callback("POST", f"https://{shop}/admin/api/{version}/graphql.json",
                          callback=lambda request: as_responses(self.handle(_request(request))))  # fmt: skip

    def invalid(self, problem: InvalidDocument) -> None:
        raise AssertionError(str(problem))


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


# Every payment route's fake, by the route's name in adapters.payments.ROUTES: the refund fault
# matrix (tests/jobs/test_refund_matrix.py) runs for each, and a route without one fails it.
FAKE_ROUTES = {"stripe": FakeStripe}
