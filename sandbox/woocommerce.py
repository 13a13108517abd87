"""A sandbox WooCommerce store: the REST API v3 Palautus calls, the orders behind it, and its webhooks.

Stateful as a real store is for the calls Palautus makes (WooCommerce 9/10, REST v3):
- authentication as `WC_REST_Authentication` does it: HTTP Basic or the key in
  the query string on https, OAuth 1.0a one-legged (HMAC-SHA1/SHA256 with
  WooCommerce's own base string, a 15-minute window, nonces once) on plain
  http; no credentials or an unknown key is an anonymous request, refused 401
  `woocommerce_rest_cannot_view`; a wrong secret or signature is 401
  `woocommerce_rest_authentication_error`;
- orders with line items, VAT in `taxes[]` against the order's `tax_lines`,
  shipping, the payment (`payment_method`, `transaction_id`, the gateway's meta);
  listings paged with `X-WP-Total` / `X-WP-TotalPages`, `modified_after`;
- products (`GET /products`, `include`, paged, `_fields`): the catalogue's,
  with categories and tags; a variation is not a product there;
- an order's status set through the API (`PUT /orders/{id}`) must be one
  WooCommerce registers; a change is noted ("Order status changed from
  Processing to Cancelled.") and cancelling puts back in stock what no refund
  put back yet;
- refunds: `amount` must be a string; more than is left is HTTP 500
  `woocommerce_rest_cannot_create_order_refund` "Invalid refund amount.";
  `api_restock` restocks; the 201 answer is in the `edit` context, so without
  `refunded_payment` (listings and `GET .../refunds/{id}` show it); a refund that
  is gone answers 404 `woocommerce_rest_shop_order_refund_invalid_id`;
- `api_refund: true` calls the order's gateway plugin, as `wc_create_refund` /
  `wc_refund_payment` do, by `gateways[payment_method]`:
  "sync" refunds at once (`refunded_payment: true`: Stripe, PayPal Payments, Klarna);
  "paytrail" is Paytrail for WooCommerce: saved with amount "0.00" and the
  plugin's "Refund is still being processed..." appended to the reason, settled
  later by `settle_gateway` (the amount and reason restored, or the refund deleted
  with "Refund was cancelled by the payment provider.");
  "paytrail-refuse" is Paytrail refusing at once: the plugin deletes the refund
  and sets the order `failed`, and WooCommerce dies rendering it (HTTP 500
  `internal_server_error`, a PHP fatal);
  "refuse" is the plugin's WP_Error: HTTP 500 `woocommerce_rest_cannot_create_order_refund`
  with its message, nothing saved. Offline methods (bacs, cheque, cod) and
  methods without a behaviour refuse as WooCommerce does for a gateway without
  refunds ("The payment gateway for this order does not support automatic
  refunds."). What each gateway paid back is in `gateway_refunds` / `money_moved`;
- webhooks: created active with a secret, pinged (`webhook_id=N`, no
  signature) on creation; deliveries signed (base64 HMAC-SHA256 of the raw body)
  with the X-WC-Webhook-* headers, the body encoded as PHP's `wp_json_encode`
  does (`\\/`, ä as `\\u00e4`); **no retries**, and a webhook is disabled after its
  failures pass five, as WooCommerce does.

- the app authorization endpoint (`GET /wc-auth/v1/authorize`, WC_Auth in
  `includes/class-wc-auth.php`) as if the store's admin were logged in and clicked
  Approve (`approve = False`: Deny): its five parameters required, `callback_url`
  https only; a new key pair (`ck_`/`cs_` and 40 hex digits, the scope as its
  permissions) posted as `{key_id, user_id, consumer_key, consumer_secret,
  key_permissions}` JSON to `callback_url` through `key_sender` (else `deliver`); an
  answer other than exactly 200 deletes the key and ends in WooCommerce's 401 error
  page, a 200 redirects (302) to `return_url` with `success=1&user_id=...`. The new
  key works for the REST API as the original one does, within its permissions
  (`check_permissions`: a read key may not write).

Where it differs on purpose: a real store delivers only to public addresses on
ports 80, 443 and 8080; the sandbox delivers to 127.0.0.1 too.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from itertools import count
from urllib.parse import quote, unquote_plus, urlencode, urlsplit

from sandbox.http import LOST, LOST_AFTER, Reply, Request, error

__all__ = ["SandboxStore", "php_json", "wc_oauth_signature"]

API = "/wp-json/wc/v3"
CENT = Decimal("0.01")
VAT_RATE_ID = 1
VAT_PERCENT = Decimal("25.5")
CATALOG = {
    "MERINO-M-GREY": {"name": "Merino wool sweater - M", "price": "89.90", "product_id": 31, "variation_id": 32},
    "SOCKS-WOOL-3": {"name": "Wool socks, 3-pack", "price": "19.90", "product_id": 41, "variation_id": 0},
    "BEANIE-RED": {"name": "Wool beanie - Red", "price": "29.00", "product_id": 51, "variation_id": 52},
}  # fmt: skip
SHIPPING = {"method_title": "Posti SmartPost", "method_id": "flat_rate", "price": "5.90"}
# The catalogue's products as GET /products shows them (a variable product's variations are not products there).
# Term names are stored HTML-escaped, as WordPress keeps them ("Hats &amp; Caps").
PRODUCTS = {
    31: {"name": "Merino wool sweater", "type": "variable", "sku": "MERINO", "price": "89.90", "variations": [32],
         "categories": [{"id": 15, "name": "Sweaters", "slug": "sweaters"}],
         "tags": [{"id": 21, "name": "merino", "slug": "merino"}, {"id": 22, "name": "wool", "slug": "wool"}]},
    41: {"name": "Wool socks, 3-pack", "type": "simple", "sku": "SOCKS-WOOL-3", "price": "19.90", "variations": [],
         "categories": [{"id": 16, "name": "Socks", "slug": "socks"}], "tags": [{"id": 22, "name": "wool", "slug": "wool"}]},
    51: {"name": "Wool beanie", "type": "variable", "sku": "BEANIE", "price": "29.00", "variations": [52],
         "categories": [{"id": 17, "name": "Hats &amp; Caps", "slug": "hats-caps"}],
         "tags": [{"id": 22, "name": "wool", "slug": "wool"}]},
}  # fmt: skip
PRODUCTS_MODIFIED = "2026-01-15T08:00:00"  # GMT, as WooCommerce's date_modified_gmt
# The order statuses the REST API takes (wc_get_order_statuses, without the wc- prefix), and their names as the
# status-transition note says them.
STATUS_NAMES = {"pending": "Pending payment", "processing": "Processing", "on-hold": "On hold", "completed": "Completed",
                "cancelled": "Cancelled", "refunded": "Refunded", "failed": "Failed", "checkout-draft": "Draft"}  # fmt: skip
MAX_FAILURES = 5  # woocommerce_max_webhook_delivery_failures: disabled once failures pass it
OAUTH_WINDOW = 15 * 60  # seconds a signed request's timestamp may be off
# payment_method -> how the store's gateway plugin answers a refund with api_refund true
GATEWAYS = {"paytrail": "paytrail", "stripe": "sync", "ppcp-gateway": "sync", "klarna_payments": "sync", "kco": "sync"}
OFFLINE_METHODS = ("bacs", "cheque", "cod")
GATEWAY_TITLES = {"paytrail": "Paytrail", "stripe": "Credit Card (Stripe)", "ppcp-gateway": "PayPal",
                  "klarna_payments": "Klarna", "kco": "Klarna Checkout", "bacs": "Direct bank transfer",
                  "cheque": "Check payments", "cod": "Cash on delivery"}  # fmt: skip
AUTHORIZE_PATH = "/wc-auth/v1/authorize"
AUTH_PARAMS = ("app_name", "user_id", "return_url", "callback_url", "scope")
SCOPES = ("read", "write", "read_write")
PAYTRAIL_PENDING = (" Refund is still being processed. The status and the amount ({}) of the refund will update "
                    "when the processing is completed.")  # fmt: skip


def _php_values(value):
    """What PHP's json_encode changes: a whole float loses its ".0", an empty object is an empty array."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _php_values(v) for k, v in value.items()} if value else []
    if isinstance(value, list):
        return [_php_values(v) for v in value]
    return value


def php_json(value) -> bytes:
    """JSON as PHP's `wp_json_encode` writes it: compact, `/` escaped, ä as \\u00e4."""
    return json.dumps(_php_values(value), separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def _rfc3986(text: str) -> str:
    return quote(text, safe="-._~")


def wc_oauth_signature(method: str, url: str, params: dict, secret: str, algorithm: str = "HMAC-SHA256") -> str:
    """The signature WooCommerce computes for a one-legged OAuth 1.0a request (WC_REST_Authentication).

    `params` are the request's parameters as PHP decoded them ($_GET). The base string is METHOD &
    rawurlencode(home URL + path) & the pairs, sorted by key with strcmp, each rawurlencode(key)=rawurlencode(value)
    and the whole encoded again (so `=` is %3D and `&` is %26); the key is the consumer secret and "&".
    """
    pairs = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    query = "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in pairs)
    base = "&".join((method.upper(), _rfc3986(url), _rfc3986(query)))
    digest = hashlib.sha256 if algorithm == "HMAC-SHA256" else hashlib.sha1
    return base64.b64encode(hmac.new(f"{secret}&".encode(), base.encode(), digest).digest()).decode()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _gmt(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _local(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")  # the sandbox store's time zone is UTC


def _amount(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _split(gross: Decimal) -> tuple[Decimal, Decimal]:
    """(net, tax) of a price entered with VAT, each rounded to the cent, adding up to it."""
    tax = (gross * VAT_PERCENT / (100 + VAT_PERCENT)).quantize(CENT, ROUND_HALF_UP)
    return gross - tax, tax


def _error(status: int, code: str, message: str) -> Reply:
    return error(status, {"code": code, "message": message, "data": {"status": status}})


def _wp_die(message: str) -> Reply:
    """WC_Auth's failure: wp_die("Error: ...", "Access denied", 401), an HTML page."""
    text = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Reply(401, f"<!DOCTYPE html><html><head><title>Access denied</title></head><body><p>Error: {text}.</p>"
                      "</body></html>", {"Content-Type": "text/html; charset=UTF-8"})  # fmt: skip


def _formatted_url(url: str) -> str:
    """WC_Auth::get_formatted_url: urldecode (once more, after PHP decoded the query), https:// if no scheme."""
    url = unquote_plus(url)
    return url if "://" in url else "https://" + url


def _valid_url(url: str) -> bool:
    """About what PHP's FILTER_VALIDATE_URL takes: a scheme and a host, no spaces."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.scheme and parts.hostname) and not any(c.isspace() for c in url)


def _add_query_arg(url: str, **args) -> str:
    """WordPress's add_query_arg: the arguments appended to the URL's own query."""
    base, _, fragment = url.partition("#")
    joined = base + ("&" if "?" in base else "?") + urlencode(args)
    return joined + ("#" + fragment if fragment else "")


class SandboxStore:
    """One WooCommerce store's REST API and its data, stateful; see the module docstring."""

    def __init__(self, url: str = "https://store.example", *, consumer_key: str | None = None,
                 consumer_secret: str | None = None, currency: str = "EUR", deliver=None):  # fmt: skip
        """`deliver(url, body, headers)` posts a webhook and returns the HTTP status (None when unreachable)."""
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.https = parts.scheme == "https"
        self.origin, self.base_path = f"{parts.scheme}://{parts.netloc}", parts.path  # WordPress may live in a folder
        self.consumer_key = consumer_key or f"ck_{secrets.token_hex(20)}"
        self.consumer_secret = consumer_secret or f"cs_{secrets.token_hex(20)}"
        self.currency = currency
        self.deliver = deliver
        self.orders: dict[int, dict] = {}
        self.refunds: dict[int, list[dict]] = {}  # order id -> its refunds, newest first (as WooCommerce lists)
        self.notes: dict[int, list[dict]] = {}
        self.webhooks: dict[int, dict] = {}  # id -> the webhook, its secret and its failure count
        self.stock: dict[int, int] = {}  # product or variation id -> units put back in stock by refunds and cancelling
        self.line_restocked: dict[int, int] = {}  # line item id -> its units put back in stock (its _reduced_stock spent)
        self.products: dict[int, dict] = {product_id: self._product(product_id, row) for product_id, row in PRODUCTS.items()}
        self.calls: list[tuple[str, str]] = []  # (method, path) of every API call
        self.sent: list[tuple[str, bytes]] = []  # (topic, body) of every webhook delivery attempted
        self.pings: list[tuple[int, int | None]] = []  # (webhook id, status answered)
        self.faults: list[int] = []  # HTTP statuses the next API calls answer instead
        self.lost_answers: list[str] = []  # "POST refunds": the next such call is done, and its answer lost
        # "POST refunds" -> what its next calls meet: an HTTP status (answered, nothing done), "lost_request"
        # (never arrives), "lost_answer" (done, the answer lost), "500_after" (done, answered 500), "refused"
        # (the gateway plugin refuses: woocommerce_rest_cannot_create_order_refund)
        self.op_faults: dict[str, list] = {}
        self.read_faults: list[int] = []  # HTTP statuses the next reads of one refund answer instead
        self.refund_posts: list[dict] = []  # the body of every refund POST that arrived
        # payment_method -> how its gateway plugin answers `api_refund: true` (see the module docstring)
        self.gateways: dict[str, str] = dict(GATEWAYS)
        self.gateway_refusal = "Refund failed: the payment provider declined the refund."  # what "refuse" answers
        self.gateway_refunds: list[dict] = []  # {order_id, refund_id, payment_method, amount (cents)}: money moved
        self._pending: dict[int, dict] = {}  # refund id -> a Paytrail refund waiting for its callback
        self.nonces: set[str] = set()
        self.strip_authorization = False  # a host that drops the Authorization header (some do)
        # Keys made by the app authorization endpoint: consumer key -> {key_id, secret, permissions, description}.
        self.api_keys: dict[str, dict] = {}
        self.approve = True  # the admin on the authorize page clicks Approve (False: Deny)
        self.key_sender = None  # posts the new key to callback_url as `deliver` does; None: `deliver`
        self.key_deliveries: list[tuple[str, int | None]] = []  # (callback_url, status answered)
        self._ids = count(100)
        self._lock = threading.RLock()

    # --- HTTP ---------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path = request.path[len(self.base_path):] if request.path.startswith(self.base_path + "/") else request.path
        if path.rstrip("/") == AUTHORIZE_PATH and request.method == "GET":
            return self.authorize(request.query)
        if not path.startswith(API):
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        with self._lock:
            refused = self._authenticate(request)
            if refused:
                return refused
            self.calls.append((request.method, path[len(API):]))
            if self.faults:
                status = self.faults.pop(0)
                return _error(status, "internal_server_error", "There has been a critical error on this website.")
            what = f"{request.method} {path.rsplit('/', 1)[-1]}"
            kinds = self.op_faults.get(what)
            kind = kinds.pop(0) if kinds else None
            if what == "POST refunds":
                try:
                    self.refund_posts.append(request.json())
                except ValueError:
                    pass
            if isinstance(kind, int):
                return _error(kind, "internal_server_error", "There has been a critical error on this website.")
            if kind == "lost_request":
                return LOST
            if kind == "refused":
                return _error(500, "woocommerce_rest_cannot_create_order_refund", self.gateway_refusal)
            if self.read_faults and request.method == "GET" and re.search(r"/refunds/[0-9]+$", path):
                return _error(self.read_faults.pop(0), "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
            reply = self._route(request.method, path[len(API):], request)
            if what in self.lost_answers or kind == "lost_answer":
                if what in self.lost_answers:
                    self.lost_answers.remove(what)
                return LOST_AFTER
            if kind == "500_after":
                return _error(500, "internal_server_error", "There has been a critical error on this website.")
            return reply

    def _authenticate(self, request: Request) -> Reply | None:
        params = request.query
        if not self.https:
            return self._oauth(request)
        scheme, _, token = request.header("Authorization").partition(" ")
        key = secret = None
        if params.get("consumer_key") and params.get("consumer_secret"):  # both in the query: they win over the header
            key, secret = params.get("consumer_key"), params.get("consumer_secret")
        elif scheme.lower() == "basic" and not self.strip_authorization:
            try:
                key, _, secret = base64.b64decode(token).decode().partition(":")
            except ValueError:
                key = None
        known = self._secret_of(key)
        if not key or known is None:  # no key, or one it does not know: an anonymous request
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if not hmac.compare_digest(secret or "", known):
            return _error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        return self._check_permissions(key, request.method)

    def _secret_of(self, key: str | None) -> str | None:
        """The consumer secret of a key the store knows: its first one, or one the authorize endpoint made."""
        if key and key == self.consumer_key:
            return self.consumer_secret
        granted = self.api_keys.get(key or "")
        return granted["secret"] if granted else None

    def _check_permissions(self, key: str, method: str) -> Reply | None:
        """WC_REST_Authentication::check_permissions: a read key may not write, a write key may not read."""
        permissions = self.api_keys[key]["permissions"] if key in self.api_keys else "read_write"
        if method in ("GET", "HEAD") and permissions not in ("read", "read_write"):
            return _error(401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions.")
        if method in ("POST", "PUT", "PATCH", "DELETE") and permissions not in ("write", "read_write"):
            return _error(401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions.")
        return None

    def _oauth(self, request: Request) -> Reply | None:
        params = dict(request.query)
        needed = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
        missing = [k for k in needed if not params.get(k)]
        if len(missing) == len(needed):  # no OAuth at all: an anonymous request, refused by the endpoint
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if missing:
            return _error(401, "woocommerce_rest_authentication_missing_parameter",
                          f"Missing OAuth parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        secret = self._secret_of(params["oauth_consumer_key"])
        if secret is None:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return _error(401, "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid.")
        expected = wc_oauth_signature(request.method, self.origin + request.path, params, secret, method)
        if not hmac.compare_digest(expected, params["oauth_signature"].replace(" ", "+")):
            return _error(401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match.")
        stamp = params["oauth_timestamp"]
        if not stamp.isdigit() or abs(int(stamp) - time.time()) > OAUTH_WINDOW:
            return _error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        if (stamp, params["oauth_nonce"]) in self.nonces:
            return _error(401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used.")
        self.nonces.add((stamp, params["oauth_nonce"]))
        return self._check_permissions(params["oauth_consumer_key"], request.method)

    # --- the app authorization endpoint (WC_Auth) ------------------------------------------------------------

    def authorize(self, query: dict) -> Reply:
        """GET /wc-auth/v1/authorize, the store's admin logged in: Approve (or Deny, with `approve` False).

        Approve makes a key pair, posts it to `callback_url` and, only if that answered exactly 200,
        sends the browser on to `return_url` (302); otherwise the key is deleted and the admin sees
        WooCommerce's error page (401), as `WC_Auth::auth_endpoint` does.
        """
        for name in AUTH_PARAMS:
            if not query.get(name):
                return _wp_die(f"Missing parameter {name}")
        scope, user_id = query["scope"], query["user_id"]
        if scope not in SCOPES:
            return _wp_die(f"Invalid scope {scope}")
        return_url, callback_url = _formatted_url(query["return_url"]), _formatted_url(query["callback_url"])
        for url in (return_url, callback_url):
            if not _valid_url(url):
                return _wp_die(f"The {url} is not a valid URL")
        if not callback_url.lower().startswith("https://"):
            return _wp_die("The callback_url needs to be over SSL")
        if not self.approve:  # the Deny button: back to return_url, no key made
            return Reply(302, "", {"Location": _add_query_arg(return_url, success=0, user_id=user_id)})
        with self._lock:
            key_id = next(self._ids)
            key, secret = f"ck_{secrets.token_hex(20)}", f"cs_{secrets.token_hex(20)}"
            self.api_keys[key] = {"key_id": key_id, "secret": secret, "permissions": scope,
                                  "description": f"{query['app_name'][:170]} - API ({_now():%Y-%m-%d %H:%M:%S})"}  # fmt: skip
        body = php_json({"key_id": key_id, "user_id": user_id, "consumer_key": key, "consumer_secret": secret,
                         "key_permissions": scope})  # fmt: skip
        # Sent without holding the store's lock: the app may call the REST API with the new key before it answers.
        send = self.key_sender or self.deliver
        status = send(callback_url, body, {"Content-Type": "application/json;charset=UTF-8"}) if send else None
        self.key_deliveries.append((callback_url, status))
        if status != 200:  # only exactly 200 keeps the key (post_consumer_data), then maybe_delete_key
            with self._lock:
                self.api_keys.pop(key, None)
            return _wp_die("An error occurred in the request and at the time were unable to send the consumer data")
        return Reply(302, "", {"Location": _add_query_arg(return_url, success=1, user_id=user_id)})

    def revoke_key(self, consumer_key: str) -> None:
        """The merchant revokes a key under WooCommerce > Settings > Advanced > REST API."""
        with self._lock:
            self.api_keys.pop(consumer_key, None)

    def _route(self, method: str, path: str, request: Request) -> Reply:
        parts = path.strip("/").split("/")
        body = request.json() if request.body else {}
        if parts == ["orders"] and method == "GET":
            return self._list_orders(request.query)
        if parts == ["products"] and method == "GET":
            return self._list_products(request.query)
        if len(parts) >= 2 and parts[0] == "orders":
            order = self.orders.get(int(parts[1])) if parts[1].isdigit() else None
            if order is None:
                return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            rest = parts[2:]
            if rest == [] and method == "GET":
                return Reply(200, _fields(order, request.query.get("_fields")))
            if rest == [] and method in ("PUT", "POST"):
                return self._update_order(order, body)
            if rest == ["refunds"] and method == "GET":
                return self._page(self.refunds.get(order["id"], []), request.query)
            if rest == ["refunds"] and method == "POST":
                return self._refund(order, body)
            if len(rest) == 2 and rest[0] == "refunds" and method == "GET":
                refund = next((r for r in self.refunds.get(order["id"], []) if str(r["id"]) == rest[1]), None)
                if refund is None:
                    return _error(404, "woocommerce_rest_shop_order_refund_invalid_id", "Invalid ID.")
                return Reply(200, refund)
            if rest == ["notes"] and method == "GET":
                notes = self.notes.get(order["id"], [])
                kind = request.query.get("type", "any")
                shown = [n for n in notes if kind == "any" or (kind == "customer") == n["customer_note"]]
                return Reply(200, shown)
            if rest == ["notes"] and method == "POST":
                return self._note(order, body)
        if parts == ["webhooks"] and method == "GET":
            hooks = [self._shown_hook(w) for w in sorted(self.webhooks.values(), key=lambda w: w["id"])]
            if request.query.get("status", "all") != "all":
                hooks = [w for w in hooks if w["status"] == request.query["status"]]
            return self._page(hooks, request.query)
        if parts == ["webhooks"] and method == "POST":
            return self._create_webhook(body)
        if len(parts) == 2 and parts[0] == "webhooks" and method in ("PUT", "POST"):
            hook = self.webhooks.get(int(parts[1])) if parts[1].isdigit() else None
            if hook is None:
                return _error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
            return self._update_webhook(hook, body)
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    @staticmethod
    def _page(rows: list, query: dict) -> Reply:
        per_page = int(query.get("per_page") or 10)
        page = int(query.get("page") or 1)
        if not 1 <= per_page <= 100:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        pages = max(1, -(-len(rows) // per_page))
        chunk = rows[(page - 1) * per_page: page * per_page]
        return Reply(200, chunk, {"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages)})

    def _list_orders(self, query: dict) -> Reply:
        rows = sorted(self.orders.values(), key=lambda o: (o["date_modified_gmt"], o["id"]))
        if query.get("modified_after"):
            after = query["modified_after"].replace("Z", "")[:19]
            rows = [o for o in rows if o["date_modified_gmt"] > after]  # GMT either way: the store's zone is UTC
        # An array parameter: WordPress takes a comma-separated list (wp_parse_list); "any" leaves the trash out.
        wanted = {part.strip() for part in query.get("status", "any").split(",") if part.strip()}
        rows = [o for o in rows if (o["status"] != "trash" if "any" in wanted else False) or o["status"] in wanted]
        if query.get("order", "desc") == "desc":
            rows.reverse()
        return self._page(rows, query)

    def _product(self, product_id: int, row: dict) -> dict:
        """A product as the REST API shows it (`view` context, the fields the return policy and a listing need)."""
        return {
            "id": product_id, "name": row["name"], "slug": row["name"].lower().replace(",", "").replace(" ", "-"),
            "permalink": f"{self.url}/product/{product_id}/", "date_created": PRODUCTS_MODIFIED,
            "date_created_gmt": PRODUCTS_MODIFIED, "date_modified": PRODUCTS_MODIFIED,
            "date_modified_gmt": PRODUCTS_MODIFIED, "type": row["type"], "status": "publish", "sku": row["sku"],
            "price": row["price"], "regular_price": row["price"], "categories": [dict(c) for c in row["categories"]],
            "tags": [dict(t) for t in row["tags"]], "variations": list(row["variations"]),
        }  # fmt: skip

    def _list_products(self, query: dict) -> Reply:
        """GET /products: newest first (orderby date), `include` a comma-separated list of ids, paged, `_fields`."""
        rows = sorted(self.products.values(), key=lambda p: (p["date_created_gmt"], p["id"]), reverse=True)
        if query.get("include"):
            wanted = [part.strip() for part in query["include"].split(",") if part.strip()]
            if not all(part.isdigit() for part in wanted):
                return _error(400, "rest_invalid_param", "Invalid parameter(s): include")
            rows = [p for p in rows if str(p["id"]) in wanted]
        page = self._page(rows, query)
        if page.status == 200:
            page.body = [_fields(p, query.get("_fields")) for p in page.body]
        return page

    # --- the shop's side: a customer orders, the merchant works in the admin --------------------------------

    def create_order(self, items: list[tuple[str, int]], *, email: str = "aino.virtanen@example.com",
                     stripe=None, stripe_key: str | None = None, status: str = "processing",
                     payment_method: str | None = None, transaction_id: str | None = None,
                     meta: dict | None = None) -> dict:  # fmt: skip
        """A paid order of `items` (sku, quantity), charged through the sandbox Stripe as the Stripe
        Gateway plugin does (`transaction_id` the charge, `_stripe_intent_id` the PaymentIntent); or, with
        `payment_method`, paid through that gateway plugin (a bank transfer for "bacs"), no Stripe involved."""
        with self._lock:
            moment = _now()
            order_id = next(self._ids)
            lines, goods_tax = [], Decimal(0)
            for sku, quantity in items:
                product = CATALOG[sku]
                net, tax = _split(Decimal(product["price"]) * quantity)
                goods_tax += tax
                lines.append({
                    "id": next(self._ids), "name": product["name"], "product_id": product["product_id"],
                    "variation_id": product["variation_id"], "quantity": quantity, "tax_class": "",
                    "subtotal": _amount(net), "subtotal_tax": _amount(tax), "total": _amount(net), "total_tax": _amount(tax),
                    "taxes": [{"id": VAT_RATE_ID, "total": _amount(tax), "subtotal": _amount(tax)}], "meta_data": [],
                    "sku": sku, "price": float(net / quantity), "image": {"id": "", "src": ""}, "parent_name": None,
                })  # fmt: skip
            ship_net, ship_tax = _split(Decimal(SHIPPING["price"]))
            total = sum((Decimal(line["total"]) + Decimal(line["total_tax"]) for line in lines), Decimal(0)) + ship_net + ship_tax
            order = {
                "id": order_id, "parent_id": 0, "status": status, "currency": self.currency, "version": "10.3.0",
                "prices_include_tax": True, "date_created": _local(moment), "date_created_gmt": _gmt(moment),
                "date_modified": _local(moment), "date_modified_gmt": _gmt(moment),
                "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": _amount(ship_net),
                "shipping_tax": _amount(ship_tax), "cart_tax": _amount(goods_tax), "total": _amount(total),
                "total_tax": _amount(goods_tax + ship_tax), "customer_id": 0, "order_key": f"wc_order_{secrets.token_hex(6)}",
                "billing": {"first_name": "Aino", "last_name": "Virtanen", "email": email, "country": "FI"},
                "shipping": {"first_name": "Aino", "last_name": "Virtanen", "country": "FI"},
                "payment_method": "", "payment_method_title": "", "transaction_id": "",
                "customer_note": "", "date_completed": None, "date_completed_gmt": None,
                "date_paid": None, "date_paid_gmt": None, "cart_hash": "", "number": str(order_id),
                "meta_data": [], "line_items": lines,
                "tax_lines": [{"id": next(self._ids), "rate_code": "FI-ALV-1", "rate_id": VAT_RATE_ID, "label": "ALV",
                               "compound": False, "tax_total": _amount(goods_tax), "shipping_tax_total": _amount(ship_tax),
                               "rate_percent": float(VAT_PERCENT), "meta_data": []}],
                "shipping_lines": [{"id": next(self._ids), "method_title": SHIPPING["method_title"],
                                    "method_id": SHIPPING["method_id"], "instance_id": "1", "total": _amount(ship_net),
                                    "total_tax": _amount(ship_tax), "taxes": [{"id": VAT_RATE_ID, "total": _amount(ship_tax),
                                                                               "subtotal": ""}], "meta_data": []}],
                "fee_lines": [], "coupon_lines": [], "refunds": [], "set_paid": False,
            }  # fmt: skip
            if stripe is not None and status in ("processing", "completed"):
                payment = stripe.charge(int(total * 100), self.currency, account_key=stripe_key)
                order.update(payment_method="stripe", payment_method_title="Credit Card (Stripe)",
                             transaction_id=payment["latest_charge"], date_paid=_local(moment), date_paid_gmt=_gmt(moment))
                order["meta_data"] += [{"id": next(self._ids), "key": "_stripe_intent_id", "value": payment["id"]},
                                       {"id": next(self._ids), "key": "_stripe_charge_captured", "value": "yes"},
                                       {"id": next(self._ids), "key": "_stripe_currency", "value": self.currency}]  # fmt: skip
            if payment_method is not None and status in ("processing", "completed", "on-hold"):
                order.update(payment_method=payment_method, payment_method_title=GATEWAY_TITLES.get(payment_method, payment_method),
                             transaction_id="" if payment_method in OFFLINE_METHODS
                             else transaction_id or f"{payment_method}-{secrets.token_hex(8)}",
                             date_paid=_local(moment), date_paid_gmt=_gmt(moment))  # fmt: skip
                order["meta_data"] += [{"id": next(self._ids), "key": key, "value": value} for key, value in (meta or {}).items()]
            self.orders[order_id] = order
            self.refunds[order_id], self.notes[order_id] = [], []
            self._announce("order.created", order)
            return order

    def admin_refund(self, order_id: int, amount: str, lines: dict[int, int] | None = None, reason: str = "") -> dict:
        """The merchant refunds in the store's admin ("Refund manually"): no gateway is called."""
        order = self.orders[order_id]
        items = []
        for line_id, quantity in (lines or {}).items():
            line = next(row for row in order["line_items"] if row["id"] == line_id)
            net = Decimal(line["total"]) * quantity / line["quantity"]
            tax = Decimal(line["total_tax"]) * quantity / line["quantity"]
            items.append({"id": line_id, "quantity": quantity, "refund_total": _amount(net),
                          "refund_tax": [{"id": VAT_RATE_ID, "refund_total": _amount(tax)}]})  # fmt: skip
        with self._lock:
            answer = self._refund(order, {"amount": amount, "reason": reason, "api_refund": False, "line_items": items})
        if answer.status != 201:
            raise ValueError(answer.body["message"])
        return answer.body

    def trash(self, order_id: int) -> None:
        with self._lock:
            order = self.orders[order_id]
            order["status"] = "trash"
            self._touch(order)
            self._announce("order.deleted", {"id": order_id})

    def restore(self, order_id: int, status: str = "processing") -> None:
        with self._lock:
            order = self.orders[order_id]
            order["status"] = status
            self._touch(order)
            self._announce("order.restored", order)

    def _touch(self, order: dict) -> None:
        """date_modified moves on, by at least a second (WooCommerce keeps seconds)."""
        moment = max(_now(), datetime.fromisoformat(order["date_modified_gmt"]).replace(tzinfo=timezone.utc))
        if _gmt(moment) == order["date_modified_gmt"]:
            moment += timedelta(seconds=1)
        order["date_modified"], order["date_modified_gmt"] = _local(moment), _gmt(moment)

    # --- the REST API's writes --------------------------------------------------------------------------------

    def _update_order(self, order: dict, body: dict) -> Reply:
        for meta in body.get("meta_data") or []:
            found = next((m for m in order["meta_data"] if m["key"] == meta.get("key")), None)
            if found:
                found["value"] = meta.get("value")
            else:
                order["meta_data"].append({"id": next(self._ids), "key": meta.get("key"), "value": meta.get("value")})
        if "status" in body:
            status = body["status"]
            if status not in STATUS_NAMES:  # the endpoint's schema: an enum of the registered statuses
                return _error(400, "rest_invalid_param", "Invalid parameter(s): status")
            if status != order["status"]:
                self._transition(order, status)
        self._touch(order)
        self._announce("order.updated", order)
        return Reply(200, order)

    def _transition(self, order: dict, status: str) -> None:
        """WC_Order::status_transition: the new status, its note, and what the status's hooks do. Cancelled:
        wc_maybe_increase_stock_levels puts back what the order took from stock and no refund has put back yet
        (each line's _reduced_stock). The Stripe plugin would release a charge it only authorized
        (`_stripe_charge_captured` no) on cancelling; the sandbox store does not reach Stripe for that (the charges
        of its own orders are captured)."""
        before = order["status"]
        order["status"] = status
        self._add_note(order, f"Order status changed from {STATUS_NAMES.get(before, before)} to {STATUS_NAMES[status]}.")
        if status == "cancelled" and before in ("processing", "completed", "on-hold"):
            for line in order["line_items"]:
                units = line["quantity"] - self.line_restocked.get(line["id"], 0)
                if units > 0:
                    product = line["variation_id"] or line["product_id"]
                    self.stock[product] = self.stock.get(product, 0) + units
                    self.line_restocked[line["id"]] = line["quantity"]

    def _refund(self, order: dict, body: dict) -> Reply:
        amount = body.get("amount")
        if amount is not None and not isinstance(amount, str):
            return _error(400, "rest_invalid_param", "Invalid parameter(s): amount")
        refunded = sum(Decimal(r["amount"]) for r in self.refunds[order["id"]])
        left = Decimal(order["total"]) - refunded
        value = Decimal(amount or "0")
        if value < 0 or value > left:
            return _error(500, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount.")
        gateway = None
        if body.get("api_refund", True):
            method = order.get("payment_method") or ""
            gateway = None if method in OFFLINE_METHODS else self.gateways.get(method)
            if gateway is None:  # wc_refund_payment: a gateway without refunds (an offline one) cannot pay it back
                return _error(500, "woocommerce_rest_cannot_create_order_refund",
                              "The payment gateway for this order does not support automatic refunds.")
            if gateway == "refuse":  # the plugin's WP_Error: wc_create_refund deletes the refund it saved
                return _error(500, "woocommerce_rest_cannot_create_order_refund", self.gateway_refusal)
        rows, shipping = [], []
        lines = {row["id"]: row for row in order["line_items"]}
        ships = {row["id"]: row for row in order["shipping_lines"]}
        for item in body.get("line_items") or []:
            taxes = [{"id": t["id"], "total": "-" + t["refund_total"], "subtotal": "-" + t["refund_total"]}
                     for t in item.get("refund_tax") or []]  # fmt: skip
            tax = sum((Decimal(t["refund_total"]) for t in item.get("refund_tax") or []), Decimal(0))
            if item["id"] in lines:  # WooCommerce checks the amount only, never the units left on a line
                line, quantity = lines[item["id"]], int(item.get("quantity") or 0)
                rows.append({
                    "id": next(self._ids), "name": line["name"], "product_id": line["product_id"],
                    "variation_id": line["variation_id"], "quantity": -quantity, "tax_class": "",
                    "subtotal": "-" + item.get("refund_total", "0"), "subtotal_tax": "-" + _amount(tax),
                    "total": "-" + item.get("refund_total", "0"), "total_tax": "-" + _amount(tax), "taxes": taxes,
                    "meta_data": [{"id": next(self._ids), "key": "_refunded_item_id", "value": str(line["id"])}],
                    "sku": line["sku"], "price": -float(Decimal(item.get("refund_total", "0")) / max(quantity, 1)),
                })  # fmt: skip
                if body.get("api_restock") and quantity:
                    product = line["variation_id"] or line["product_id"]
                    self.stock[product] = self.stock.get(product, 0) + quantity
                    self.line_restocked[line["id"]] = self.line_restocked.get(line["id"], 0) + quantity
            elif item["id"] in ships:
                shipping.append({"id": next(self._ids), "method_title": ships[item["id"]]["method_title"],
                                 "total": "-" + item.get("refund_total", "0"), "total_tax": "-" + _amount(tax), "taxes": taxes,
                                 "meta_data": [{"id": next(self._ids), "key": "_refunded_item_id", "value": str(item["id"])}]})  # fmt: skip
            else:
                return _error(500, "woocommerce_rest_cannot_create_order_refund", "Invalid line item.")
        moment = _now()
        refund = {
            "id": next(self._ids), "date_created": _local(moment), "date_created_gmt": _gmt(moment),
            "amount": _amount(value), "reason": body.get("reason") or "", "refunded_by": 1, "refunded_payment": False,
            "meta_data": [{"id": next(self._ids), "key": m.get("key"), "value": m.get("value")} for m in body.get("meta_data") or []],
            "line_items": rows, "shipping_lines": shipping, "tax_lines": [], "fee_lines": [],
        }  # fmt: skip
        if gateway == "paytrail-refuse":
            # Paytrail refused in the plugin's woocommerce_order_refunded hook: the refund deleted, the order failed,
            # and WooCommerce's controller dies rendering a refund that is gone (a PHP fatal).
            self._add_note(order, "Refunding process started. Reason: " + refund["reason"])
            self._add_note(order, "Something went wrong with the refund and it was cancelled.")
            order["status"] = "failed"
            self._touch(order)
            self._announce("order.updated", order)
            return _error(500, "internal_server_error", "There has been a critical error on this website.")
        if gateway is not None:
            refund["refunded_payment"] = True
        if gateway == "sync":
            self.gateway_refunds.append({"order_id": order["id"], "refund_id": refund["id"], "payment_method": order["payment_method"],
                                         "amount": int(value * 100)})  # fmt: skip
        elif gateway == "paytrail":  # Paytrail took the refund; its callback settles it later
            self._add_note(order, "Refunding process started. Reason: " + refund["reason"])
            self._pending[refund["id"]] = {"order_id": order["id"], "amount": value, "reason": refund["reason"]}
            refund["amount"], refund["reason"] = "0.00", refund["reason"] + PAYTRAIL_PENDING.format(_amount(value))
        self.refunds[order["id"]].insert(0, refund)
        order["refunds"].insert(0, {"id": refund["id"], "reason": refund["reason"], "total": "-" + refund["amount"]})
        if value == left:
            order["status"] = "refunded"
        self._touch(order)
        self._announce("order.updated", order)
        return Reply(201, {k: v for k, v in refund.items() if k != "refunded_payment"})  # the `edit` context

    def settle_gateway(self, order_id: int, ok: bool = True) -> list[int]:
        """Paytrail's callback for the order's pending refunds: `ok` restores each one's amount and reason (the money
        went back); otherwise the plugin deletes the refund and notes "Refund was cancelled by the payment provider."
        (its cancel callback leaves the order's status alone). The refunds settled."""
        with self._lock:
            order = self.orders[order_id]
            settled = [rid for rid, p in self._pending.items() if p["order_id"] == order_id]
            for refund_id in settled:
                pending = self._pending.pop(refund_id)
                refund = next(r for r in self.refunds[order_id] if r["id"] == refund_id)
                summary = next(r for r in order["refunds"] if r["id"] == refund_id)
                if ok:
                    refund["amount"], refund["reason"] = _amount(pending["amount"]), pending["reason"]
                    summary.update(reason=refund["reason"], total="-" + refund["amount"])
                    self.gateway_refunds.append({"order_id": order_id, "refund_id": refund_id, "payment_method": order["payment_method"],
                                                 "amount": int(pending["amount"] * 100)})  # fmt: skip
                    self._add_note(order, "Refund process completed.")
                else:
                    self.refunds[order_id].remove(refund)
                    order["refunds"].remove(summary)
                    self._add_note(order, "Refund was cancelled by the payment provider.")
            if settled:
                self._touch(order)
                self._announce("order.updated", order)
            return settled

    @property
    def money_moved(self) -> int:
        """Cents the store's gateways paid back, in all."""
        return sum(row["amount"] for row in self.gateway_refunds)

    def _add_note(self, order: dict, text: str) -> None:
        moment = _now()
        self.notes[order["id"]].insert(0, {"id": next(self._ids), "author": "system", "date_created": _local(moment),
                                           "date_created_gmt": _gmt(moment), "note": text, "customer_note": False})  # fmt: skip

    def _refunded_units(self, order_id: int, line_id: int) -> int:
        return sum(-row["quantity"] for refund in self.refunds[order_id] for row in refund["line_items"]
                   if any(m["key"] == "_refunded_item_id" and m["value"] == str(line_id) for m in row["meta_data"]))  # fmt: skip

    def _note(self, order: dict, body: dict) -> Reply:
        if not isinstance(body.get("note"), str) or not body["note"]:
            return _error(400, "rest_missing_callback_param", "Missing parameter(s): note")
        moment = _now()
        note = {"id": next(self._ids), "author": "Palautus", "date_created": _local(moment), "date_created_gmt": _gmt(moment),
                "note": body["note"], "customer_note": bool(body.get("customer_note"))}  # fmt: skip
        self.notes[order["id"]].insert(0, note)
        return Reply(201, note)

    # --- webhooks -----------------------------------------------------------------------------------------------

    def _create_webhook(self, body: dict) -> Reply:
        topic = body.get("topic")
        if not isinstance(topic, str) or not re.fullmatch(r"[a-z_]+\.[a-z_]+", topic):
            return _error(400, "rest_invalid_param", "Invalid parameter(s): topic")
        if not isinstance(body.get("delivery_url"), str):
            return _error(400, "rest_missing_callback_param", "Missing parameter(s): delivery_url")
        moment = _now()
        hook = {
            "id": next(self._ids), "name": body.get("name") or f"Webhook created on {_local(moment)}",
            "status": body.get("status") or "active", "topic": topic, "resource": topic.split(".")[0],
            "event": topic.split(".")[1], "hooks": [f"woocommerce_{topic.replace('.', '_')}"],
            "delivery_url": body["delivery_url"], "date_created": _local(moment), "date_created_gmt": _gmt(moment),
            "date_modified": _local(moment), "date_modified_gmt": _gmt(moment),
            "secret": body.get("secret") or secrets.token_urlsafe(32), "failures": 0,
        }  # fmt: skip
        self.webhooks[hook["id"]] = hook
        if hook["status"] == "active":
            self._ping(hook)
        return Reply(201, self._shown_hook(hook))

    def _update_webhook(self, hook: dict, body: dict) -> Reply:
        for key in ("name", "status", "delivery_url", "secret"):
            if key in body:
                hook[key] = body[key]
        if body.get("status") == "active":
            hook["failures"] = 0
            self._ping(hook)
        hook["date_modified_gmt"] = _gmt(_now())
        return Reply(200, self._shown_hook(hook))

    @staticmethod
    def _shown_hook(hook: dict) -> dict:
        """The webhook as the REST API shows it: never its secret, nor the failure count."""
        return {k: v for k, v in hook.items() if k not in ("secret", "failures")}

    def _ping(self, hook: dict) -> None:
        status = self.deliver(hook["delivery_url"], f"webhook_id={hook['id']}".encode(),
                              {"Content-Type": "application/x-www-form-urlencoded"}) if self.deliver else None  # fmt: skip
        self.pings.append((hook["id"], status))

    def _announce(self, topic: str, payload: dict) -> None:
        """Deliver `topic` to every active webhook for it, once each: WooCommerce never retries."""
        for hook in list(self.webhooks.values()):
            if hook["topic"] != topic or hook["status"] != "active":
                continue
            body = php_json(payload)
            headers = {
                "Content-Type": "application/json", "User-Agent": "WooCommerce/10.3.0 Hookshot (WordPress/6.8)",
                "X-WC-Webhook-Source": self.url + "/", "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": hook["resource"], "X-WC-Webhook-Event": hook["event"],
                "X-WC-Webhook-Signature": base64.b64encode(hmac.new(hook["secret"].encode(), body, hashlib.sha256).digest()).decode(),
                "X-WC-Webhook-ID": str(hook["id"]),
                "X-WC-Webhook-Delivery-ID": hashlib.md5(f"{hook['id']}{int(time.time())}".encode()).hexdigest(),
            }  # fmt: skip
            self.sent.append((topic, body))
            status = self.deliver(hook["delivery_url"], body, headers) if self.deliver else 200
            if status is not None and 200 <= status <= 302:
                hook["failures"] = 0
            elif hook["failures"] > MAX_FAILURES:
                hook["status"] = "disabled"
            else:
                hook["failures"] += 1

    def summary(self) -> dict:
        with self._lock:
            return {
                "url": self.url,
                "orders": [{"id": o["id"], "status": o["status"], "total": o["total"], "payment_method": o["payment_method"],
                            "transaction_id": o["transaction_id"], "refunds": self.refunds[o["id"]],
                            "notes": self.notes[o["id"]], "meta_data": o["meta_data"]} for o in self.orders.values()],
                "webhooks": [self._shown_hook(w) | {"failures": w["failures"]} for w in self.webhooks.values()],
                "stock_returned": self.stock, "deliveries": len(self.sent),
                "api_keys": [{"key_id": k["key_id"], "truncated_key": key[-7:], "permissions": k["permissions"],
                              "description": k["description"]} for key, k in self.api_keys.items()],
            }  # fmt: skip


def _fields(order: dict, fields: str | None) -> dict:
    if not fields:
        return order
    wanted = {f.strip() for f in fields.split(",")}
    return {k: v for k, v in order.items() if k in wanted}
