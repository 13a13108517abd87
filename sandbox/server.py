"""The sandbox server: sandbox Shopify shops, WooCommerce stores and a Stripe behind one local socket, and their webhooks.

    python -m sandbox            # http://127.0.0.1:8010, or SANDBOX_URL's port

It listens on 127.0.0.1 only, answers only requests addressed to it there
(a Host header naming another name is refused: no DNS rebinding), takes
control requests only as JSON (no cross-site form posts), and refuses to start
under a production configuration; every reply carries `X-Palautus-Sandbox: 1`. Its state lives in
memory and is gone when it stops.

| Path | What answers |
|------|--------------|
| `GET /` | a page that says what this is, with its state |
| `POST /shopify/<domain>/admin/api/<version>/graphql.json` | the shop's Admin GraphQL API |
| `/stripe/v1/...` | Stripe's refunds, PaymentIntents and charges, webhook endpoints |
| `/klarna/ordermanagement/v1/...` | Klarna Order Management: orders and their refunds |
| `/paypal/v1/oauth2/token`, `/paypal/v2/...` | PayPal: access tokens, capture refunds, orders |
| `POST /paytrail/payments/<id>/refund` | Paytrail: refunds, settled by signed callbacks (test account 375917) |
| `POST /sandbox/shopify/shops` | open a shop: `{"domain", "webhook_url", "webhook_secret"?, "stripe_secret_key"?}` -> its access token, webhook secret and Stripe key |
| `POST /sandbox/stripe/accounts` | open a Stripe account -> its secret key |
| `POST /sandbox/stripe/payouts` | Stripe pays out an account's unpaid balance: `{"secret_key", "arrival"?, "automatic"?, "reconciled"?}` -> the payout's id (409 when nothing is unpaid) |
| `POST /sandbox/shopify/shops/<domain>/orders` | a customer orders: `{"items": [{"sku", "quantity"}], "paid_with"}`: `stripe` (a headless checkout), or a gateway of Shopify's checkout (`shopify_payments`, `klarna`, `paytrail`, `paypal`, `gift_card`) |
| `POST /sandbox/shopify/shops/<domain>/returns` | a customer asks to return: `{"order_id", "items": [{"line_item_id", "quantity", "reason", "note"?}]}` |
| `GET /sandbox/shopify/shops/<domain>` | the shop's orders, refunds, returns and webhooks |
| `GET /sandbox/stripe/payments/<id>` | a PaymentIntent, its charge and its refunds |
| `GET /sandbox/paytrail` | Paytrail's payments, refunds and the callbacks it made |
| `POST /sandbox/shopify/shops/<domain>/settle-refunds` | the payments apps answer: `{"status": "SUCCESS" or "FAILURE", "gateway"?}` settles pending refunds (order_transactions/create) |
| `POST /sandbox/woocommerce/stores` | open a WooCommerce store: `{"name", "stripe_secret_key"?}` -> its URL, REST key and Stripe key |
| `POST /sandbox/woocommerce/stores/<name>/orders` | a customer orders: `{"items": [{"sku", "quantity"}], "paid_with"?}`: `stripe` (the default), `paytrail` (taken at the sandbox Paytrail), `klarna_payments`, `ppcp-gateway`, `bacs` |
| `POST /sandbox/woocommerce/stores/<name>/orders/<id>/refunds` | the merchant refunds in the admin: `{"amount", "lines": {"<line id>": units}}` |
| `POST /sandbox/woocommerce/stores/<name>/orders/<id>/trash`, `.../restore` | the merchant trashes or restores an order |
| `GET /sandbox/woocommerce/stores/<name>` | the store's orders, refunds, notes, webhooks |
| `/woocommerce/<name>/wp-json/wc/v3/...` | the store's REST API (OAuth 1.0a: it is on plain http) |
| `GET /sandbox/webhooks` | every webhook delivery and how it went |
| `GET /sandbox/limits` | with the rate-limit knob on: requests answered and refused (429, THROTTLED) per API and operation |

Two knobs for benchmarks, off by default (`sandbox/knobs.py`): `SANDBOX_LATENCY_MS` makes every API answer wait
that long (in its own thread), and `SANDBOX_RATE_LIMITS=1` enforces Stripe's per-account request limits
(`SANDBOX_STRIPE_MODE`, test or live) and Shopify's per-shop cost bucket (`SANDBOX_SHOPIFY_PLAN`).
"""
from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import logging
import re
import secrets
import threading
from decimal import Decimal
import time
import uuid
from datetime import datetime, timezone
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from sandbox.http import SANDBOX_HEADER, Reply, Request, error
from sandbox.knobs import RateLimits
from sandbox.schema import shopify_schema
from sandbox.shopify import API_VERSION, CATALOG, SandboxShop
from sandbox.woocommerce import CATALOG as WOO_CATALOG
from sandbox.klarna import SandboxKlarna
from sandbox.paypal import SandboxPayPal
from sandbox.paytrail import SandboxPaytrail
from sandbox.stripe import SandboxStripe
from sandbox.woocommerce import SandboxStore

__all__ = ["HTTPSandbox", "Sandbox", "WebhookSender", "sign"]

logger = logging.getLogger("sandbox")

HOST = "127.0.0.1"  # never another interface: a sandbox is for this machine only
# Shopify retries a failed delivery 8 times over 4 hours; the sandbox does it 8 times within about a minute.
RETRY_DELAYS = (1, 2, 4, 8, 15, 30, 30, 30)
DELIVERY_TIMEOUT = 5  # seconds Shopify waits for an answer
_SHOP_PATH = re.compile(r"^/shopify/([a-z0-9][a-z0-9.-]*)/admin/api/([0-9]{4}-[0-9]{2})/graphql\.json$")
_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_STORE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


def sign(body: bytes, secret: str) -> str:
    """X-Shopify-Hmac-Sha256: base64 of the HMAC-SHA256 of the raw body with the app's secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck connection never holds up shutting down


class HTTPSandbox:
    """One answering callable behind a real socket on 127.0.0.1.

    `answer(request)` returns a Reply, or an object with `made` (LOST, LOST_AFTER)
    or None to drop the connection unanswered.
    """

    def __init__(self, answer, port: int = 0):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body leave in two writes: with Nagle's algorithm on, a client that keeps its
            # connection alive waits for its own delayed ACK (about 40 ms) before every answer's body.
            disable_nagle_algorithm = True

            def _any(self):
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size).decode("utf-8", "replace")
                reply = answer(Request.of(self.command, self.path, dict(self.headers), body))
                if not isinstance(reply, Reply):  # lost: no answer at all
                    self.close_connection = True
                    return
                payload = reply.text().encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", SANDBOX_HEADER: "1", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.httpd = _Server((HOST, port), Handler)
        self.url = f"http://{HOST}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class WebhookSender:
    """Delivers a shop's webhooks as Shopify does: signed, with its headers, retried when not answered 2xx."""

    def __init__(self, delays=RETRY_DELAYS):
        self.delays = delays
        self.log: list[dict] = []  # one entry per delivery, updated as its attempts happen
        self._due: list[tuple[float, int, dict]] = []
        self._wake = threading.Condition()
        self._session = requests.Session()
        threading.Thread(target=self._run, daemon=True).start()

    def send(self, shop: SandboxShop, url: str, secret: str, topic: str, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        entry = {
            "id": str(uuid.uuid4()), "topic": topic, "shop": shop.domain, "url": url, "attempts": 0, "status": "queued",
            "headers": {
                "Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign(body, secret),
                "X-Shopify-Shop-Domain": shop.domain, "X-Shopify-API-Version": shop.version,
                "X-Shopify-Webhook-Id": str(uuid.uuid4()), "X-Shopify-Event-Id": str(uuid.uuid4()),
                "X-Shopify-Triggered-At": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            },
        }  # fmt: skip
        with self._wake:
            self.log.append(entry)
            heapq.heappush(self._due, (time.monotonic(), len(self.log), {"entry": entry, "body": body}))
            self._wake.notify()
        return entry

    def deliver_once(self, url: str, body: bytes, headers: dict) -> int | None:
        """One WooCommerce delivery, now and only once (WooCommerce never retries); the status, None if unreachable."""
        entry = {"id": str(uuid.uuid4()), "topic": headers.get("X-WC-Webhook-Topic", "ping"),
                 "shop": headers.get("X-WC-Webhook-Source", "").rstrip("/") or None, "url": url, "attempts": 1,
                 "status": "sending"}  # fmt: skip
        with self._wake:
            self.log.append(entry)
        try:
            got = self._session.post(url, data=body, headers=headers, timeout=(1, 60), allow_redirects=False).status_code
        except requests.RequestException as e:
            got = type(e).__name__
        with self._wake:
            entry["answer"] = got
            entry["status"] = "delivered" if isinstance(got, int) and 200 <= got <= 302 else "gave up"
        return got if isinstance(got, int) else None

    def call_back(self, url: str) -> int | None:
        """One GET to a provider's callback URL (Paytrail's refund callbacks), now; the status, None if unreachable."""
        entry = {"id": str(uuid.uuid4()), "topic": "refund callback", "shop": None, "url": url.split("?", 1)[0],
                 "attempts": 1, "status": "sending"}  # fmt: skip
        with self._wake:
            self.log.append(entry)
        try:
            got = self._session.get(url, timeout=(1, 60), allow_redirects=False).status_code
        except requests.RequestException as e:
            got = type(e).__name__
        with self._wake:
            entry["answer"] = got
            entry["status"] = "delivered" if isinstance(got, int) and 200 <= got < 300 else "gave up"
        return got if isinstance(got, int) else None

    def settled(self) -> bool:
        """Whether every delivery has been answered 2xx or given up on."""
        with self._wake:
            return all(e["status"] in ("delivered", "gave up") for e in self.log)

    def deliveries(self) -> list[dict]:
        """A copy of the log, without the headers (they carry the signature)."""
        with self._wake:
            return [{k: v for k, v in e.items() if k != "headers"} for e in self.log]

    def _run(self):
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(timeout=(self._due[0][0] - time.monotonic()) if self._due else None)
                _, order, job = heapq.heappop(self._due)
            try:
                self._attempt(order, job)
            except Exception:  # never lose the only sender thread
                logger.exception("webhook delivery failed unexpectedly")
                job["entry"]["status"] = "gave up"

    def _attempt(self, order: int, job: dict):
        entry = job["entry"]
        with self._wake:
            entry["attempts"] += 1
        try:
            # Shopify follows no redirect (a 3xx counts as a failure) and waits 5 s for the answer.
            answer = self._session.post(entry["url"], data=job["body"], headers=entry["headers"],
                                        timeout=(1, DELIVERY_TIMEOUT), allow_redirects=False)  # fmt: skip
            got = answer.status_code
        except requests.RequestException as e:
            got = type(e).__name__
        ok = isinstance(got, int) and 200 <= got < 300
        with self._wake:
            entry["answer"] = got
            if ok:
                entry["status"] = "delivered"
                return
            if entry["attempts"] > len(self.delays):
                entry["status"] = "gave up"
                logger.warning("webhook %s to %s given up after %d attempts", entry["topic"], entry["url"], entry["attempts"])
                return
            entry["status"] = "retrying"
            heapq.heappush(self._due, (time.monotonic() + self.delays[entry["attempts"] - 1], order, job))
            self._wake.notify()


class Sandbox:
    """The sandbox world: shops, a Stripe, the webhooks between them, and the control API."""

    def __init__(self, schema=None, sender: WebhookSender | None = None, *, latency_ms: float = 0,
                 limits: RateLimits | None = None):  # fmt: skip
        """`latency_ms`: every API answer waits that long first; `limits`: the real APIs' rate limits (knobs.py)."""
        self.schema = schema or shopify_schema()
        self.latency = latency_ms / 1000
        self.limits = limits
        self.stripe = SandboxStripe()
        self.klarna = SandboxKlarna()  # Klarna Order Management (refunds of Klarna orders)
        self.paypal = SandboxPayPal()  # PayPal Payments v2 (OAuth2 tokens, capture refunds)
        self.paytrail = SandboxPaytrail()  # Paytrail Payment API (refunds, signed callbacks); its test account
        self.shops: dict[str, SandboxShop] = {}
        self.subscriptions: dict[str, tuple[str, str]] = {}  # domain -> (webhook url, secret)
        self.stripe_keys: dict[str, str] = {}  # domain or store name -> the Stripe account its checkout charges through
        self.stores: dict[str, SandboxStore] = {}  # name -> a WooCommerce store at /woocommerce/<name>
        self.sender = sender or WebhookSender()
        self.stripe.deliver = self.sender.deliver_once  # refund events to the shops' Stripe webhook endpoints
        self.paytrail.callback = self.sender.call_back  # Paytrail's signed refund callbacks
        self.paytrail.auto_settle = True  # a sandbox refund settles at once (its callback says so)
        self._lock = threading.Lock()

    # --- the control API ---------------------------------------------------------------------------

    def open_shop(self, domain: str, webhook_url: str, webhook_secret: str | None = None,
                  stripe_secret_key: str | None = None) -> dict:  # fmt: skip
        """A shop that sends its webhooks to `webhook_url`; its headless checkout charges through the Stripe
        account of `stripe_secret_key` (a new one when not given). Opening a domain again replaces its shop."""
        domain = (domain or "").strip().lower()
        if not _DOMAIN.match(domain):
            raise ValueError("domain must be a shop's myshopify.com domain, e.g. villa-demo.myshopify.com")
        if not re.match(r"^https?://", webhook_url or ""):
            raise ValueError("webhook_url must be the app's http(s) address for Shopify webhooks")
        secret = webhook_secret or secrets.token_hex(32)
        token = f"shpat_sandbox_{secrets.token_hex(16)}"
        if stripe_secret_key and stripe_secret_key not in self.stripe.accounts:
            raise ValueError("stripe_secret_key is not a key of this sandbox's Stripe (POST /sandbox/stripe/accounts)")
        stripe_key = stripe_secret_key or self.stripe.open_account()
        with self._lock:
            self.stripe_keys[domain] = stripe_key
            shop = SandboxShop(domain, self.schema, access_token=token, deliver=lambda t, p: self._deliver(domain, t, p))
            self.shops[domain] = shop
            self.subscriptions[domain] = (webhook_url, secret)
        return {"domain": domain, "access_token": token, "webhook_secret": secret, "stripe_secret_key": stripe_key,
                "admin_api": f"/shopify/{domain}/admin/api/{API_VERSION}/graphql.json"}  # fmt: skip

    def open_store(self, name: str, base_url: str, stripe_secret_key: str | None = None) -> dict:
        """A WooCommerce store at `base_url`/woocommerce/<name> (a WordPress in a folder, on plain http, so its
        REST API takes OAuth 1.0a); its checkout charges through the Stripe account of `stripe_secret_key`."""
        name = (name or "").strip().lower()
        if not _STORE_NAME.match(name):
            raise ValueError("name must be 1-41 lower-case letters, digits or hyphens, e.g. villa-woo")
        if stripe_secret_key and stripe_secret_key not in self.stripe.accounts:
            raise ValueError("stripe_secret_key is not a key of this sandbox's Stripe (POST /sandbox/stripe/accounts)")
        stripe_key = stripe_secret_key or self.stripe.open_account()
        store = SandboxStore(f"{base_url.rstrip('/')}/woocommerce/{name}", deliver=self.sender.deliver_once)
        with self._lock:
            self.stores[name] = store
            self.stripe_keys[name] = stripe_key
        return {"name": name, "url": store.url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
                "stripe_secret_key": stripe_key}  # fmt: skip

    def _deliver(self, domain: str, topic: str, payload: dict) -> None:
        url, secret = self.subscriptions[domain]
        self.sender.send(self.shops[domain], url, secret, topic, payload)

    def answer(self, request: Request):
        host = request.header("Host").rsplit(":", 1)[0].strip("[]").lower()
        if host not in ("127.0.0.1", "localhost", "::1"):  # a page elsewhere reaching it through DNS rebinding
            return error(403, {"error": "forbidden", "message": "the sandbox answers requests to 127.0.0.1 only"})
        if self.latency and not _is_control(request.path):
            time.sleep(self.latency)  # in this request's own thread: other requests are answered meanwhile
        try:
            return self._route(request)
        except (ValueError, KeyError, TypeError) as e:
            return error(400, {"error": "bad_request", "message": str(e)})
        except Exception:
            logger.exception("sandbox request failed")
            return error(500, {"error": "sandbox_error", "message": "the sandbox failed; see its log"})

    def _route(self, request: Request):
        path = request.path.rstrip("/") or "/"
        for prefix, provider in (("/stripe/", self.stripe), ("/klarna/", self.klarna), ("/paypal/", self.paypal),
                                 ("/paytrail/", self.paytrail)):
            if path.startswith(prefix):
                request.path = path[len(prefix) - 1:]
                refused = self.limits.stripe(request, self.stripe.accounts) if self.limits and provider is self.stripe else None
                return refused or provider.handle(request)
        if path.startswith("/woocommerce/"):
            store = self.stores.get(path.split("/")[2])
            return store.handle(request) if store else error(404, {"code": "rest_no_route", "message": "No such store."})
        if m := _SHOP_PATH.match(path):
            shop = self.shops.get(m.group(1))
            if shop is None or request.method != "POST":
                return error(404, {"errors": "Not Found"})
            if m.group(2) != shop.version:  # a misconfigured SHOPIFY_API_VERSION should not go unnoticed
                return error(404, {"errors": f"Not Found: the sandbox answers API version {shop.version} only"})
            return self.limits.shopify(shop, request) if self.limits else shop.handle(request)
        if path == "/" and request.method == "GET":
            return Reply(200, self.page(), {"Content-Type": "text/html; charset=utf-8"})
        return self._control(request.method, path, request)

    def _control(self, method: str, path: str, request: Request):
        parts = path.strip("/").split("/")
        if parts[:1] != ["sandbox"]:
            return error(404, {"error": "not_found", "message": f"nothing at {method} {path} in the sandbox"})
        route = (method, *parts[1:])
        if method == "POST" and not request.header("Content-Type").lower().startswith("application/json"):
            # A form posted by some web page cannot send JSON without the browser asking first.
            return error(415, {"error": "unsupported_media_type", "message": "send the control API JSON (Content-Type: application/json)"})
        if route == ("POST", "shopify", "shops"):
            given = request.json() or {}
            return Reply(201, self.open_shop(given.get("domain"), given.get("webhook_url"), given.get("webhook_secret"),
                                             given.get("stripe_secret_key")))  # fmt: skip
        if route == ("POST", "stripe", "accounts"):
            return Reply(201, {"secret_key": self.stripe.open_account()})
        if route == ("POST", "stripe", "payouts"):
            return self._pay_out(request.json() or {})
        if route == ("GET", "webhooks"):
            return Reply(200, {"deliveries": self.sender.deliveries(), "settled": self.sender.settled()})
        if route == ("GET", "state"):
            return Reply(200, self.state())
        if route == ("GET", "limits"):
            return Reply(200, self.limits.summary() if self.limits else {"on": False})
        if route == ("GET", "paytrail"):
            return Reply(200, self.paytrail.summary())
        if route[:3] == ("GET", "stripe", "payments") and len(route) == 4:
            found = self.stripe.payment(route[3])
            if found is None:
                return error(404, {"error": "not_found", "message": f"no payment {route[3]}"})
            return Reply(200, found)
        if route == ("POST", "woocommerce", "stores"):
            given = request.json() or {}
            base = f"http://{request.header('Host')}"
            return Reply(201, self.open_store(given.get("name"), base, given.get("stripe_secret_key")))
        if route[1:3] == ("woocommerce", "stores") and len(route) >= 4:
            store = self.stores.get(route[3])
            if store is None:
                return error(404, {"error": "not_found", "message": f"no sandbox store {route[3]}"})
            return self._store_control(route[3], store, route[0], route[4:], request)
        if route[1:3] == ("shopify", "shops") and len(route) >= 4:
            shop = self.shops.get(route[3])
            if shop is None:
                return error(404, {"error": "not_found", "message": f"no sandbox shop {route[3]}"})
            return self._shop_control(shop, route[0], route[4:], request)
        return error(404, {"error": "not_found", "message": f"nothing at {method} {path} in the sandbox"})

    def _pay_out(self, given: dict) -> Reply:
        """An automatic payout (or, asked, a manual one or one still being itemised) of the account's unpaid balance."""
        key = given.get("secret_key")
        if key not in self.stripe.accounts:
            raise ValueError("secret_key must be a key of this sandbox's Stripe (POST /sandbox/stripe/accounts)")
        arrival = given.get("arrival")
        if arrival is not None and not isinstance(arrival, int):
            raise ValueError("arrival: the payout's arrival_date, in seconds since the epoch")
        payout_id = self.stripe.pay_out(key, arrival, automatic=given.get("automatic", True) is not False,
                                        reconciled=given.get("reconciled", True) is not False)  # fmt: skip
        if payout_id is None:
            return error(409, {"error": "nothing_to_pay_out", "message": "the account has no unpaid balance transactions"})
        return Reply(201, {"id": payout_id})

    def _shop_control(self, shop: SandboxShop, method: str, rest: tuple, request: Request):
        if method == "GET" and not rest:
            return Reply(200, shop.summary())
        given = request.json() or {}
        if method == "POST" and rest == ("orders",):
            items = [(item["sku"], int(item.get("quantity", 1))) for item in given.get("items") or []]
            unknown = [sku for sku, _ in items if sku not in CATALOG]
            if not items or unknown:
                raise ValueError(f"items must name skus of the catalogue ({', '.join(CATALOG)}); unknown: {unknown}")
            paid_with = given.get("paid_with", "stripe")
            email = given.get("email") or "aino.virtanen@example.com"
            if paid_with == "stripe":  # a headless checkout took it at Stripe
                return Reply(201, shop.create_order(items, email=email, stripe=self.stripe,
                                                    stripe_key=self.stripe_keys[shop.domain]))  # fmt: skip
            if paid_with not in SHOPIFY_GATEWAYS:
                raise ValueError(f"paid_with: stripe (a headless checkout) or a gateway of Shopify's checkout: "
                                 f"{', '.join(SHOPIFY_GATEWAYS)}")  # fmt: skip
            return Reply(201, shop.create_order(items, email=email, gateway=paid_with))
        if method == "POST" and rest == ("settle-refunds",):  # the payments app answers Shopify's refund sessions
            status = str(given.get("status") or "SUCCESS").upper()
            if status not in ("SUCCESS", "FAILURE", "ERROR"):
                raise ValueError("status: SUCCESS, FAILURE or ERROR")
            return Reply(200, {"settled": shop.settle_refunds(status, given.get("gateway"))})
        if method == "POST" and rest == ("returns",):
            items = [(item["line_item_id"], int(item.get("quantity", 1)), item.get("reason", "other"), item.get("note"))
                     for item in given.get("items") or []]  # fmt: skip
            return Reply(201, shop.request_return(given["order_id"], items))
        return error(404, {"error": "not_found", "message": "no such sandbox shop action"})

    def _store_control(self, name: str, store: SandboxStore, method: str, rest: tuple, request: Request):
        if method == "GET" and not rest:
            return Reply(200, store.summary())
        given = request.json() or {}
        if method == "POST" and rest == ("orders",):
            items = [(item["sku"], int(item.get("quantity", 1))) for item in given.get("items") or []]
            unknown = [sku for sku, _ in items if sku not in WOO_CATALOG]
            if not items or unknown:
                raise ValueError(f"items must name skus of the catalogue ({', '.join(WOO_CATALOG)}); unknown: {unknown}")
            paid_with = given.get("paid_with", "stripe")
            if paid_with == "stripe":
                return Reply(201, store.create_order(items, stripe=self.stripe, stripe_key=self.stripe_keys[name]))
            if paid_with not in WOO_GATEWAYS:
                raise ValueError(f"paid_with: stripe or a gateway plugin's id: {', '.join(WOO_GATEWAYS)}")
            # Paytrail for WooCommerce: the payment is really taken at the sandbox Paytrail (its test account),
            # so a refund made there directly has a payment to go back to.
            transaction = self.paytrail.payment(_woo_total(items)) if paid_with == "paytrail" else None
            return Reply(201, store.create_order(items, payment_method=paid_with, transaction_id=transaction))
        if method == "POST" and len(rest) == 3 and rest[0] == "orders" and rest[1].isdigit():
            order_id = int(rest[1])
            if order_id not in store.orders:
                return error(404, {"error": "not_found", "message": f"no order {order_id}"})
            if rest[2] == "refunds":  # the merchant refunds in the store's admin
                lines = {int(k): int(v) for k, v in (given.get("lines") or {}).items()}
                return Reply(201, store.admin_refund(order_id, str(given["amount"]), lines, given.get("reason", "")))
            if rest[2] == "trash":
                store.trash(order_id)
                return Reply(200, {"status": "trash"})
            if rest[2] == "restore":
                store.restore(order_id)
                return Reply(200, {"status": store.orders[order_id]["status"]})
        return error(404, {"error": "not_found", "message": "no such sandbox store action"})

    # --- what it shows ------------------------------------------------------------------------------

    def state(self) -> dict:
        return {
            "sandbox": True, "shops": [shop.summary() for shop in self.shops.values()],
            "stores": [store.summary() for store in self.stores.values()],
            "stripe": self.stripe.summary(),
            "webhooks": {"delivered": sum(e["status"] == "delivered" for e in self.sender.deliveries()),
                         "total": len(self.sender.deliveries())},
        }  # fmt: skip

    def page(self) -> str:
        state = json.dumps(self.state(), indent=2)
        return (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Palautus sandbox</title>"
            "<body style='font-family:system-ui;max-width:60rem;margin:2rem auto'>"
            "<p style='background:#fde68a;padding:1rem;font-weight:bold'>SANDBOX: a stand-in for Shopify and Stripe on this "
            "machine. No real shop, no real money. Palautus refuses to use it in production.</p>"
            "<h1>Palautus sandbox</h1><p>Control API: <code>/sandbox/shopify/shops</code>, <code>/sandbox/stripe/accounts</code>, "
            "<code>/sandbox/webhooks</code>. State:</p>"
            f"<pre style='background:#f4f4f5;padding:1rem;overflow:auto'>{escape(state)}</pre></body></html>"
        )


# Gateways of Shopify's own checkout a sandbox order can be paid through (Shopify refunds them itself).
SHOPIFY_GATEWAYS = ("shopify_payments", "klarna", "paytrail", "paypal", "gift_card")
# WooCommerce gateway plugins a sandbox store's order can be paid through, besides Stripe.
WOO_GATEWAYS = ("paytrail", "klarna_payments", "ppcp-gateway", "bacs")


def _is_control(path: str) -> bool:
    """The sandbox's own pages and control API: the harness, never slowed by the latency knob."""
    return path == "/" or path == "/sandbox" or path.startswith("/sandbox/")


def _woo_total(items: list[tuple[str, int]]) -> int:
    """What the sandbox store charges for `items`: their prices and the shipping, VAT included, in cents."""
    from sandbox.woocommerce import SHIPPING as WOO_SHIPPING

    total = sum(Decimal(WOO_CATALOG[sku]["price"]) * quantity for sku, quantity in items) + Decimal(WOO_SHIPPING["price"])
    return int(total * 100)


def main() -> int:
    import os
    from urllib.parse import urlsplit

    from dotenv import load_dotenv

    from integration.config import ROOT, ConfigError, is_production, load_config

    load_dotenv(ROOT / ".env")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(levelname)s %(message)s")
    try:
        config = load_config()
    except ConfigError as e:
        print(f"sandbox: configuration refused: {e}", flush=True)
        return 2
    if is_production(config):
        print("sandbox: refusing to start under PALAUTUS_ENV=production", flush=True)
        return 2
    port = int(os.environ.get("SANDBOX_PORT") or urlsplit(config["SANDBOX_URL"]).port or 8010)
    latency = float(os.environ.get("SANDBOX_LATENCY_MS") or 0)
    limits = None
    if os.environ.get("SANDBOX_RATE_LIMITS", "").strip().lower() in ("1", "true", "on", "yes"):
        limits = RateLimits(os.environ.get("SANDBOX_STRIPE_MODE") or "test", os.environ.get("SANDBOX_SHOPIFY_PLAN") or "standard")
    server = HTTPSandbox(Sandbox(latency_ms=latency, limits=limits).answer, port=port)
    print(f"Sandbox Shopify and Stripe (not real ones) on {server.url}", flush=True)
    if latency or limits:
        print(f"Benchmark knobs: {latency:g} ms per API answer; rate limits "
              f"{f'on (Stripe {limits.stripe_mode} mode, Shopify {limits.shopify_plan} plan)' if limits else 'off'}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
