"""The sandbox server on a real socket, with Palautus's own adapters talking to it."""
from __future__ import annotations

import pytest

from adapters.payments import ROUTES
from adapters.platforms import PLATFORMS
from sandbox.server import HTTPSandbox, Sandbox, WebhookSender

SHOP = "villa-test.myshopify.com"


class Inbox:
    """Where the sandbox shop's webhooks go: every delivery kept, answered with the statuses queued for its topic
    (200 once none are left)."""

    def __init__(self):
        self.deliveries = []
        self.statuses: dict[str, list[int]] = {}
        self.server = HTTPSandbox(self._answer)
        self.url = f"{self.server.url}/webhooks/shopify"

    def _answer(self, request):
        from sandbox.http import Reply

        self.deliveries.append(request)
        queued = self.statuses.get(request.header("X-Shopify-Topic"), [])
        return Reply(queued.pop(0) if queued else 200, {})


@pytest.fixture
def inbox():
    box = Inbox()
    yield box
    box.server.close()


@pytest.fixture
def world(shopify_schema, inbox):
    """The sandbox, served; its shop sends webhooks to `inbox`, retrying quickly."""
    sandbox = Sandbox(shopify_schema, sender=WebhookSender(delays=(0.05, 0.05, 0.05)))
    server = HTTPSandbox(sandbox.answer)
    shop = sandbox.open_shop(SHOP, inbox.url)
    key = sandbox.stripe.open_account()
    config = {"SHOPIFY_API_BASE": f"{server.url}/shopify/{{shop}}", "SHOPIFY_API_VERSION": "2026-10",
              "STRIPE_API_BASE": f"{server.url}/stripe", "HTTP_TIMEOUT": 5.0}  # fmt: skip
    yield type("World", (), {
        "sandbox": sandbox, "url": server.url, "shop": sandbox.shops[SHOP], "opened": shop, "stripe_key": key,
        "config": config,
        "platform": PLATFORMS["shopify"].connect(SHOP, {"access_token": shop["access_token"]}, config),
        "route": ROUTES["stripe"].connect({"secret_key": key}, config),
    })  # fmt: skip
    server.close()
