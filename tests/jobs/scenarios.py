"""One scenario per refund route for the fault matrix: a paid order, a return received, its refund's first run.

A scenario has `fake` (the route's fake in the fake-provider shape: `fail_next`,
`fail_reads`, `status`, `settle`, `posts`, `refunds`, `money_moved`) and
`received_return()`, which takes an order paid through the route to a received
return whose refund job has run once (rq's own retries included), and returns
the refund. Direct routes are exercised on the platform where a merchant meets
them: Stripe on a Shopify shop's headless checkout, Klarna, PayPal and Paytrail
on a WooCommerce store with the provider's credentials; each platform's own
gateway on that platform.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from integration.models import Return
from tests.conftest import STRIPE_KEY, auth, payload
from tests.fakes import FakeKlarna, FakePayPal, FakePaytrail, FakeStripe, FakeWooCommerce, ShopifyGatewayFake, WooCommerceGatewayFake
from tests.fakes import refund_node
from tests.jobs.helpers import AMOUNT, ORDER, RETURN_REQUEST, SWEATER, approve_and_receive, refund_of

__all__ = ["SCENARIOS"]


class _Scenario:
    settles_later = True  # the route can hold a refund in progress and finish it later
    resends_after_unknown = True  # after an answer that leaves the outcome open, it may send again (a key replays)

    def __init__(self, request, fake=None):
        self.request = request
        self.db = request.getfixturevalue("db")
        self.client = request.getfixturevalue("client")
        self.work = request.getfixturevalue("work")
        self.fake = fake

    def needs_pending(self) -> None:
        if not getattr(self.fake, "settles_later", self.settles_later):
            pytest.skip("this route's refunds are final when made: none is ever in progress")


class _OnShopify(_Scenario):
    """An order on the Shopify test shop, paid through `fake.sale()`, its return asked for in Shopify."""

    amount = AMOUNT  # the two returned lines, as tests/jobs/test_return_to_refund.py works out

    def __init__(self, request, make_fake):
        super().__init__(request)
        self.shop = request.getfixturevalue("shop")
        self.post_webhook = request.getfixturevalue("post_webhook")
        self.shopify = request.getfixturevalue("shopify")
        self.fake = make_fake(request)

    sweater = 8490  # one of the order's two sweaters, VAT included

    def received_return(self, meanwhile=None, run: bool = True):
        """`meanwhile()` runs once the refund is written and queued, before its job; `run=False` leaves it queued."""
        self.shopify.transactions = [self.fake.sale()]
        assert self.post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
        self.work()
        assert self.post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1").status_code == 200
        self.work()
        ret = self.db.scalar(select(Return))
        approve_and_receive(self.client, self.shop[1], ret.id)
        if meanwhile is not None:
            meanwhile()
        if run:
            self.work()
        return refund_of(self.db)

    def refund_the_sweater_in_the_admin(self) -> None:
        """The merchant refunds one sweater in Shopify's admin, from the order's sale, naming no return."""
        self.shopify.refund_nodes.append(refund_node(7001, {SWEATER: 1}, {1001: "84.90"}, "2026-12-01T09:00:00Z"))


# The WooCommerce store a WooCommerce scenario registers, and the payment each direct route's plugin records.
STORE_URL = "https://matrix-store.example"
CONSUMER_KEY = "ck_matrix0123456789abcdef0123456789abcdef01"
CONSUMER_SECRET = "cs_matrix0123456789abcdef0123456789abcdef01"
WOO_PAYMENTS = {
    # route -> (payment_method, how the plugin records the provider's payment id)
    "klarna": ("klarna_payments", {"meta": "_wc_klarna_order_id", "value": "c1e3b1c2-0f4b-4d57-9cda-4d1b5f0b6a11"}),
    "paypal": ("ppcp-gateway", {"transaction_id": "2GG279541U471931P"}),
    "paytrail": ("paytrail", {"transaction_id": "a3b5cbd2-5b0a-4a38-9fa5-1d7c0e3f8d44"}),
    "woocommerce": ("paytrail", {"transaction_id": "5770642a-9a02-4ca2-8eaa-cc6260a78eb6"}),
}
WOO_CREDENTIALS = {"klarna": {"username": "K100001_matrix", "password": "klarna-matrix-secret"},
                   "paypal": {"client_id": "matrix-client", "client_secret": "matrix-secret"},
                   "paytrail": {"account": "375917", "secret": "SAIPPUAKAUPPIAS"}}  # fmt: skip


class _OnWooCommerce(_Scenario):
    """An order in a sandbox WooCommerce store paid through `route`'s plugin; its return opened through the API.

    With `direct`, the shop gave Palautus the provider's credentials (the direct route);
    without, WooCommerce's own gateway refunds it (`api_refund: true`).
    """

    def __init__(self, request, route: str, fake_class=None):
        super().__init__(request)
        http = request.getfixturevalue("http")
        self.app = request.getfixturevalue("app")
        self.route = route
        self.store = FakeWooCommerce(http, STORE_URL, client=self.client, consumer_key=CONSUMER_KEY,
                                     consumer_secret=CONSUMER_SECRET)  # fmt: skip
        self.fake = fake_class(http) if fake_class else WooCommerceGatewayFake(self.store)
        if hasattr(self.fake, "deliver_to"):  # a provider that answers later: its callbacks reach the app
            self.fake.deliver_to(self.client)
        if route == "paytrail":  # Paytrail has no replay: after an open outcome it never posts again
            self.resends_after_unknown = False
            self.fake.auto_settle = True  # its callback says succeeded as soon as it took the refund
        payments = {"stripe": {"secret_key": STRIPE_KEY}}
        if route in WOO_CREDENTIALS:
            payments[route] = WOO_CREDENTIALS[route]
        from integration.services.shops import register_shop

        credentials = {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET,
                       "webhook_secret": "whsec_matrix", "payments": payments}  # fmt: skip
        with self.app.extensions["db"].session() as session:
            shop, self.key = register_shop(session, self.app.extensions["vault"], platform="woocommerce", domain=STORE_URL,
                                           credentials=credentials, currency="EUR")  # fmt: skip
            # The store's webhooks, as registration makes them: its orders reach Palautus as they are placed.
            from adapters.platforms import platform_adapter

            platform = platform_adapter("woocommerce").connect(STORE_URL, credentials, self.app.config)
            platform.ensure_webhooks(f"https://palautus.example/webhooks/woocommerce/{shop.webhook_key}", "whsec_matrix")

    sweater = 8990  # the store's Merino sweater, VAT included

    def received_return(self, meanwhile=None, run: bool = True):
        """`meanwhile()` runs once the refund is written and queued, before its job; `run=False` leaves it queued."""
        method, reference = WOO_PAYMENTS[self.route]
        meta = {reference["meta"]: reference["value"]} if "meta" in reference else None
        order = self.store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], payment_method=method,
                                        transaction_id=reference.get("transaction_id"), meta=meta)  # fmt: skip
        self.order = order
        self.work()  # the store's order.created, delivered as it was placed
        lines = [{"line_id": str(row["id"]), "quantity": row["quantity"], "reason": "size_too_small"}
                 for row in order["line_items"]]  # fmt: skip
        answer = self.client.post("/api/v1/returns", headers=auth(self.key), json={"order_id": str(order["id"]), "items": lines})
        assert answer.status_code == 201, answer.get_json()
        approve_and_receive(self.client, self.key, answer.get_json()["id"])
        self.amount = refund_of(self.db).amount  # what the return is owed: the route must move exactly this
        if meanwhile is not None:
            meanwhile()
        if run:
            self.work()
        return refund_of(self.db)

    def refund_the_sweater_in_the_admin(self) -> None:
        """The merchant refunds the sweater in the store's admin ("Refund manually": no gateway), naming no return."""
        line = next(row for row in self.order["line_items"] if row["sku"] == "MERINO-M-GREY")
        self.store.admin_refund(self.order["id"], "89.90", {line["id"]: 1}, reason="refunded by hand")


SCENARIOS = {
    "stripe": lambda request: _OnShopify(request, lambda r: FakeStripe(r.getfixturevalue("http"))),
    "shopify": lambda request: _OnShopify(request, lambda r: ShopifyGatewayFake(r.getfixturevalue("shopify"))),
    "klarna": lambda request: _OnWooCommerce(request, "klarna", FakeKlarna),
    "paypal": lambda request: _OnWooCommerce(request, "paypal", FakePayPal),
    "paytrail": lambda request: _OnWooCommerce(request, "paytrail", FakePaytrail),
    "woocommerce": lambda request: _OnWooCommerce(request, "woocommerce"),
}
