"""A sandbox Shopify shop: the Admin GraphQL API Palautus calls, the orders and returns behind it, and its webhooks.

Stateful as a real shop is for the calls Palautus makes (Admin API 2026-10):
- every GraphQL document is validated against the vendored Admin schema
  (`sandbox/contracts/`) before it is answered, and a wrong access token gets
  Shopify's 401;
- an order has lines, shipping, VAT lines and transactions; a customer's return
  request can only take units that were sold and not already returned;
- `refundCreate` honours its `@idempotent` key, refuses more units than are left
  on a line, and the refund then shows in the order's refunds;
- return mutations move the return as Shopify does (REQUESTED -> OPEN ->
  CLOSED, or DECLINED / CANCELED) and answer INVALID_STATE otherwise;
- `returnRequest` opens a REQUESTED return from the order's fulfillment line
  items, only as many units as `returnableFulfillments` still shows (none in a
  live return or refunded), with a reason of the enum or of the library
  (`returnReasonDefinitions`), and sends returns/request; `order.returns` lists
  them with their units;
- `orderCancel` cancels an order that has no return in progress (once), voids
  what was only authorized and sends orders/cancelled and orders/updated; it
  refunds nothing (a refund asked of it is refused: refundCreate makes refunds);
- `nodes(ids:)` answers the catalogue's products (type, tags), null for others;
- what a real shop announces by webhook (orders/create and orders/paid,
  orders/updated, orders/cancelled, returns/request,
  returns/approve|decline|close|cancel, refunds/create) is
  handed to `deliver(topic, payload)` in the documented REST shape; the sandbox
  server signs and posts it to the app, the tests collect it in `sent`.

Transport-free: the sandbox server and the test suite's `responses` mock both
call `handle`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from itertools import count
from urllib.parse import urlencode

from sandbox.http import LOST, LOST_AFTER, Reply, Request, error
from sandbox.schema import InvalidDocument, checked_operation
from sandbox.stripe import stripe_sale

__all__ = ["CATALOG", "SandboxShop", "graphql_line", "graphql_order", "refund_node"]

API_VERSION = "2026-10"
TOKEN_HEADER = "X-Shopify-Access-Token"
LOCATION = "gid://shopify/Location/76543210001"
CENT = Decimal("0.01")

# The sandbox shop's catalogue: a Finnish wool shop, prices with VAT (ALV 25.5 % since 1 September 2024).
CATALOG = {
    "MERINO-M-GREY": {"title": "Merino wool sweater", "variant_title": "M", "price": "89.90", "product_id": 8112233445566,
                      "variant_id": 44556677889900, "grams": 450, "product_type": "Sweaters", "tags": ["merino", "wool"]},
    "SOCKS-WOOL-3": {"title": "Wool socks, 3-pack", "variant_title": None, "price": "19.90", "product_id": 8112233449999,
                     "variant_id": 44556677880011, "grams": 150, "product_type": "Socks", "tags": ["wool"]},
    "BEANIE-RED": {"title": "Wool beanie", "variant_title": "Red", "price": "29.00", "product_id": 8112233441111,
                   "variant_id": 44556677882222, "grams": 90, "product_type": "Hats", "tags": ["accessories", "wool"]},
}  # fmt: skip
PRODUCTS_UPDATED = "2026-01-15T08:00:00Z"  # when the sandbox shop's products last changed (Product.updatedAt)
VAT_RATE = Decimal("0.255")
VAT_TITLE = "ALV 25.5%"
SHIPPING = {"title": "Posti SmartPost", "code": "smartpost", "price": "5.90"}
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
# Return mutations: the statuses each may start from, and where it leaves the return (ReturnStatus, 2026-10).
RETURN_MOVES = {
    "returnApproveRequest": ({"REQUESTED"}, "OPEN", "returns/approve"),
    "returnDeclineRequest": ({"REQUESTED"}, "DECLINED", "returns/decline"),
    "returnClose": ({"OPEN"}, "CLOSED", "returns/close"),
    "returnCancel": ({"REQUESTED", "OPEN"}, "CANCELED", "returns/cancel"),
}
# The library of return reasons (`returnReasonDefinitions`): the handles Shopify documents as examples (the
# ReturnReasonDefinition.handle field), with the deprecated ReturnReason each stands closest to (what the returns/*
# webhooks' `return_reason` shows). The ids are the sandbox's own; a test may add or delete definitions.
REASON_DEFINITIONS = (
    ("arrived-late", "Arrived late", "OTHER"), ("comfort", "Comfort", "OTHER"),
    ("too-tight", "Too tight", "SIZE_TOO_SMALL"), ("color-too-bright", "Color too bright", "COLOR"),
    ("quality", "Quality", "DEFECTIVE"),
)  # fmt: skip
# The pages the Admin API documents Palautus sends ask for (`first:`): a longer list says hasNextPage.
RETURNS_PAGE, RETURN_LINES_PAGE = 10, 25  # ORDER_RETURNS: returns(first: 10), returnLineItems(first: 25)
FULFILLMENTS_PAGE, FULFILLMENT_LINES_PAGE = 10, 25  # RETURNABLE_FULFILLMENTS
REASONS_PAGE = 50  # RETURN_REASON_DEFINITIONS: returnReasonDefinitions(first: 50)
ORDER_FULFILLMENTS = 20  # ORDER: fulfillments(first: 20)
STAFF_NOTE_MAX = 255  # orderCancel's staffNote: "Maximum length of 255 characters."
CUSTOMER_NOTE_MAX = 300  # ReturnRequestLineItemInput.customerNote: "Maximum length: 300 characters."


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    """A webhook timestamp: the shop's offset (Helsinki in winter)."""
    return moment.astimezone(timezone(timedelta(hours=2))).isoformat()


def _amount(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _set(value: Decimal, currency: str) -> dict:
    """A REST money bag; the sandbox shop sells in its own currency, so both sides are the same."""
    money = {"amount": _amount(value), "currency_code": currency}
    return {"shop_money": dict(money), "presentment_money": dict(money)}


def _vat(gross: Decimal) -> Decimal:
    """The VAT contained in a price that includes it."""
    return (gross * VAT_RATE / (1 + VAT_RATE)).quantize(CENT, ROUND_HALF_UP)


def _tax_line(gross: Decimal, currency: str) -> dict:
    vat = _vat(gross)
    return {"title": VAT_TITLE, "price": _amount(vat), "rate": float(VAT_RATE), "price_set": _set(vat, currency),
            "channel_liable": False}  # fmt: skip


def _numeric(gid: str) -> int:
    return int(gid.rsplit("/", 1)[-1])


def _fulfillment_line_item(line_id: int) -> int:
    """The id of the FulfillmentLineItem that shipped a line (the sandbox ships each line in one piece)."""
    return line_id + 1


class SandboxShop:
    """One shop's Admin GraphQL API and its data, stateful; see the module docstring."""

    def __init__(self, domain: str, schema, *, access_token: str | None = None, currency: str = "EUR",
                 deliver=None, version: str = API_VERSION, strict: bool = True):  # fmt: skip
        """`strict=False` (the tests' fake) answers for orders and returns it was never told of: a refund recorded
        against an unknown order counts for every order, and an unknown return is moved as asked."""
        self.domain = domain
        self.strict = strict
        self.schema = schema
        self.access_token = access_token  # None: any token is taken (the tests check their own)
        self.currency = currency
        self.version = version
        self.deliver = deliver  # callable(topic, payload): how the shop's webhooks leave it
        self.sent: list[tuple[str, dict]] = []  # every webhook the shop announced, in order
        self.calls: list[tuple[str, dict]] = []  # (operation name, variables) of every GraphQL call
        self.transactions: list[dict] = []  # the transactions of an order that has none of its own (tests)
        self.order_transactions: dict[str, list[dict]] = {}  # order gid -> its transactions
        self.checkout_token: str | None = None  # set on orders Shopify's own checkout created
        self.orders: dict[str, dict] = {}  # order gid -> the REST order (a webhook body) the Admin API knows
        self.returns: dict[str, dict] = {}  # return gid -> the REST return (a returns/request body) and its status
        self.refund_nodes: list[dict] = []  # refunds the merchant made in the admin, as REFUNDS_BY_ID answers them
        self.locations: dict[str, str] = {}  # line item id -> Location gid it was fulfilled from
        self.restocked: dict[str, int] = {}  # line item id -> units the shop's own return processing restocked
        self.refunds: dict[str, str] = {}  # idempotency key -> refund gid
        # Refunds that moved money through the shop's gateway: refund gid -> {input, transactions, createdAt}.
        self.gateway_refunds: dict[str, dict] = {}
        # How each gateway settles a refund: "SUCCESS" at once (Shopify Payments, gift cards), "PENDING" (a
        # payments app: settled later, `settle_refunds`), "FAILURE" (the gateway refuses it at once).
        self.gateway_modes: dict[str, str] = {"shopify_payments": "SUCCESS", "gift_card": "SUCCESS", "paytrail": "PENDING",
                                              "klarna": "PENDING", "paypal": "PENDING", "stripe": "SUCCESS"}  # fmt: skip
        self.recorded: dict[str, tuple[str, dict]] = {}  # idempotency key -> (refund gid, the input it recorded)
        self.refund_times: dict[str, str] = {}  # refund gid -> createdAt
        self.tags: dict[str, list[str]] = {}  # order gid -> tags added through the API
        self.faults: list[int] = []  # HTTP statuses the next calls (of any operation) answer instead
        self.faults_for: dict[str, list[int]] = {}  # the same, for one operation only
        self.before: dict[str, object] = {}  # operation -> a callable run as the call arrives (an interleaving)
        self.lost_answers: list[str] = []  # operations whose next call is carried out and its answer lost
        # operation -> what its next calls meet: "lost_request" (never arrives: nothing done), "lost_answer"
        # (done, the answer lost), "500_after" (done, answered 500), "refused" (a userError, nothing done)
        self.op_faults: dict[str, list[str]] = {}
        self.subscriptions: list[dict] = []  # the app's webhook subscriptions: {id, topic, uri}
        # The app's OAuth, once `client_id` and `client_secret` are set (the shop then takes only the token it issued).
        self.client_id: str | None = None
        self.client_secret: str | None = None
        self.scopes = "write_orders,write_returns,read_locations,write_inventory,read_shopify_payments_payouts,read_shopify_payments_accounts,read_products"
        self.codes: dict[str, bool] = {}  # authorization code -> used
        self.refresh_tokens: dict[str, bool] = {}  # refresh token -> still live (it rotates on use)
        self.token_lifetime = 3600
        self.access_token_ends: float | None = None  # when the access token stops working (None: never)
        self.token_requests: list[dict] = []  # every body POSTed to the token endpoint
        # Product gid -> the Product as PRODUCTS_BY_ID selects it (the catalogue's; a deleted product is removed).
        self.products: dict[str, dict] = {
            f"gid://shopify/Product/{item['product_id']}": {
                "id": f"gid://shopify/Product/{item['product_id']}", "title": item["title"],
                "productType": item["product_type"], "tags": list(item["tags"]), "updatedAt": PRODUCTS_UPDATED}
            for item in CATALOG.values()}  # fmt: skip
        self.reason_definitions: list[dict] = [
            {"id": f"gid://shopify/ReturnReasonDefinition/{n}", "handle": handle, "name": name, "deleted": False,
             "legacy": legacy} for n, (handle, name, legacy) in enumerate(REASON_DEFINITIONS, 11)]  # fmt: skip
        self.return_times: dict[str, str] = {}  # return gid -> createdAt (not in the returns/* webhook bodies)
        self.cancellations: dict[str, dict] = {}  # order gid -> the orderCancel variables it was cancelled with
        self._ids = count(900)
        self._numbers = count(1001)
        self._lock = threading.RLock()

    # --- HTTP ------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """The reply to one POST to /admin/api/{version}/graphql.json."""
        if self.access_token is not None and request.header(TOKEN_HEADER) != self.access_token:
            return error(401, {"errors": INVALID_TOKEN})
        if self.access_token_ends is not None and time.time() >= self.access_token_ends:
            return error(401, {"errors": INVALID_TOKEN})
        try:
            body = request.json()
            query, variables = body["query"], body.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return error(400, {"errors": {"query": "Required parameter missing or invalid"}})
        try:
            op = checked_operation(self.schema, query)
        except InvalidDocument as e:  # Shopify answers 200 with the errors, and runs nothing
            self.invalid(e)
            return Reply(200, {"errors": e.errors})
        with self._lock:
            self.calls.append((op, variables))
            if op in self.before:
                self.before.pop(op)()
            own = self.faults_for.get(op)
            if self.faults or own:
                status = own.pop(0) if own else self.faults.pop(0)
                return error(status, {"errors": "fault"}, **{"Retry-After": "1"})
            kinds = self.op_faults.get(op)
            kind = kinds.pop(0) if kinds else None
            if kind not in (None, "lost_request", "lost_answer", "500_after", "refused"):
                raise ValueError(f"unknown fault {kind!r}")
            if kind == "lost_request":  # lost on the way there: nothing happened
                return LOST
            if kind == "refused":
                return Reply(200, {"data": {"refundCreate": {"refund": None, "userErrors": [
                    {"field": ["transactions", "0", "amount"], "message": "Refund amount exceeds the available amount"}]}}})
            data = getattr(self, f"_{op}")(variables)
            if op in self.lost_answers or kind == "lost_answer":  # done at Shopify, the answer lost on the way back
                if op in self.lost_answers:
                    self.lost_answers.remove(op)
                return LOST_AFTER
            if kind == "500_after":  # done, and Shopify answered an error all the same
                return error(500, {"errors": "Internal error. Looks like something went wrong on our end."})
            return Reply(200, {"data": data}, {"X-Request-Id": "sandbox-req"})

    # --- the app's OAuth: the approval screen and the token endpoint ---------------------------------------

    def authorize(self, query: dict) -> Reply:
        """GET /admin/oauth/authorize, as if the merchant approved: back to `redirect_uri` with a signed code."""
        if query.get("client_id") != self.client_id:
            return error(400, {"errors": "invalid client_id"})
        code = secrets.token_hex(16)
        self.codes[code] = False
        params = {"code": code, "host": "c2FuZGJveA", "shop": self.domain, "state": query.get("state", ""),
                  "timestamp": str(int(time.time()))}  # fmt: skip
        params["hmac"] = query_hmac(params, self.client_secret or "")
        return Reply(302, "", {"Location": f"{query.get('redirect_uri')}?{urlencode(params)}"})

    def token(self, request: Request) -> Reply:
        """POST /admin/oauth/access_token: a code, a refresh token or an old offline token for a token pair."""
        with self._lock:
            try:
                body = request.json() or {}
            except ValueError:
                body = dict(request.form())
            self.token_requests.append(dict(body))
            if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
                return error(401, {"error": "invalid_client"})
            grant = body.get("grant_type")
            if grant == "refresh_token":
                if not self.refresh_tokens.get(body.get("refresh_token")):
                    return error(400, {"error": "invalid_grant", "error_description": "refresh token is not valid"})
                self.refresh_tokens[body["refresh_token"]] = False  # it rotates: used once
                return Reply(200, self._issue(expiring=True))
            if grant == "urn:ietf:params:oauth:grant-type:token-exchange":
                if body.get("subject_token") != self.access_token or self.access_token_ends is not None:
                    return error(400, {"error": "invalid_subject_token"})
                return Reply(200, self._issue(expiring=str(body.get("expiring")) == "1"))
            if self.codes.get(body.get("code")) is not False:
                return error(400, {"error": "invalid_request", "error_description": "authorization code was not found or was already used"})
            self.codes[body["code"]] = True
            return Reply(200, self._issue(expiring=str(body.get("expiring")) == "1"))

    def _issue(self, expiring: bool) -> dict:
        """A new token (every earlier one stops working: one expiring token is active per app and shop)."""
        self.access_token = f"shpat_sandbox_{secrets.token_hex(12)}"
        answer = {"access_token": self.access_token, "scope": self.scopes}
        if not expiring:
            self.access_token_ends = None
            return answer
        refresh = f"shprt_sandbox_{secrets.token_hex(12)}"
        self.refresh_tokens[refresh] = True
        self.access_token_ends = time.time() + self.token_lifetime
        return {**answer, "expires_in": self.token_lifetime, "refresh_token": refresh,
                "refresh_token_expires_in": 90 * 24 * 3600}  # fmt: skip

    def expire_access_token(self) -> None:
        """The access token runs out now (an hour has passed)."""
        self.access_token_ends = time.time() - 1

    def _ShopPing(self, v):
        return {"shop": {"id": "gid://shopify/Shop/548380009"}}

    def _WebhookSubscriptions(self, v):
        nodes = [dict(sub) for sub in self.subscriptions if sub["uri"] == v["uri"]]
        return {"webhookSubscriptions": {"nodes": nodes}}

    def _WebhookSubscriptionCreate(self, v):
        uri = v["subscription"].get("uri")
        if not uri:
            return {"webhookSubscriptionCreate": {"webhookSubscription": None,
                                                  "userErrors": [{"field": ["webhookSubscription", "uri"], "message": "Address can't be blank"}]}}  # fmt: skip
        if any(sub["topic"] == v["topic"] and sub["uri"] == uri for sub in self.subscriptions):
            return {"webhookSubscriptionCreate": {"webhookSubscription": None,
                                                  "userErrors": [{"field": ["webhookSubscription", "callbackUrl"],
                                                                  "message": "Address for this topic has already been taken"}]}}  # fmt: skip
        sub = {"id": f"gid://shopify/WebhookSubscription/{next(self._ids)}", "topic": v["topic"], "uri": uri}
        self.subscriptions.append(sub)
        return {"webhookSubscriptionCreate": {"webhookSubscription": dict(sub), "userErrors": []}}

    def invalid(self, problem: InvalidDocument) -> None:
        """A document the schema refused; the test suite's fake makes this fail the test."""

    def operations(self, name: str) -> list[dict]:
        return [variables for op, variables in self.calls if op == name]

    # --- the shop's own side: a customer orders, a customer asks to return ------------------------

    def create_order(self, items: list[tuple[str, int]], *, email: str = "aino.virtanen@example.com",
                     stripe=None, stripe_key: str | None = None, processed_at: datetime | None = None,
                     gateway: str | None = None) -> dict:  # fmt: skip
        """A paid, fulfilled order of `items` (sku, quantity) from CATALOG, announced by orders/create and orders/paid.

        With `stripe` (a SandboxStripe) the total is charged there, in the account
        of `stripe_key`, as a headless checkout does, and the order's SALE
        transaction carries the PaymentIntent. With `gateway` ("shopify_payments",
        or a payments app's: "klarna", "paytrail", "paypal") Shopify's own checkout
        took it: the SALE carries Shopify's payment id, and Shopify refunds it
        through that gateway (`gateway_modes` says how it settles).
        """
        with self._lock:
            moment = processed_at or _now()
            number = next(self._numbers)
            order = self._order(number, items, email, moment)
            gid = order["admin_graphql_api_id"]
            total = Decimal(order["total_price"])
            if stripe is not None:
                payment = stripe.charge(int(total * 100), self.currency, account_key=stripe_key)
                self.order_transactions[gid] = [stripe_sale(next(self._ids), order["total_price"], self.currency, payment["id"])]
                order["payment_gateway_names"] = ["stripe"]
            elif gateway is not None:
                sale = stripe_sale(next(self._ids), order["total_price"], self.currency, None)
                sale.update(gateway=gateway, paymentId=f"{gateway}-{number}", authorizationCode=None)
                self.order_transactions[gid] = [sale]
                order["payment_gateway_names"] = [gateway]
            for line in order["line_items"]:
                self.locations[str(line["id"])] = LOCATION
            self.orders[gid] = order
            self._announce("orders/create", order)
            self._announce("orders/paid", order)
            return order

    def _order(self, number: int, items: list[tuple[str, int]], email: str, moment: datetime) -> dict:
        currency = self.currency
        order_id = 7000000000000 + number
        lines, fulfilled = [], []
        for sku, quantity in items:
            product = CATALOG[sku]
            line_id = next(self._ids) + 12695210000000
            price = Decimal(product["price"])
            line = {
                "id": line_id, "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
                "current_quantity": quantity, "fulfillable_quantity": 0, "fulfillment_service": "manual",
                "fulfillment_status": "fulfilled", "gift_card": False, "grams": product["grams"],
                "name": f"{product['title']} - {product['variant_title']}" if product["variant_title"] else product["title"],
                "price": product["price"], "price_set": _set(price, currency), "product_exists": True,
                "product_id": product["product_id"], "properties": [], "quantity": quantity, "requires_shipping": True,
                "sku": sku, "taxable": True, "title": product["title"], "total_discount": "0.00",
                "total_discount_set": _set(Decimal(0), currency), "variant_id": product["variant_id"],
                "variant_inventory_management": "shopify", "variant_title": product["variant_title"], "vendor": "Villa Oy",
                "tax_lines": [_tax_line(price * quantity, currency)], "duties": [], "discount_allocations": [],
            }  # fmt: skip
            lines.append(line)
            fulfilled.append({"id": line_id, "admin_graphql_api_id": line["admin_graphql_api_id"], "quantity": quantity,
                              "fulfillment_status": "fulfilled", "gift_card": False, "sku": sku, "title": product["title"]})
        goods = sum((Decimal(line["price"]) * line["quantity"] for line in lines), Decimal(0))
        shipping = Decimal(SHIPPING["price"])
        total = goods + shipping
        tax = sum((Decimal(line["tax_lines"][0]["price"]) for line in lines), Decimal(0)) + _vat(shipping)
        stamp = _stamp(moment)
        return {
            "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}", "app_id": 580111,
            "buyer_accepts_marketing": False, "cancel_reason": None, "cancelled_at": None, "closed_at": None,
            "confirmation_number": f"SBX{number:06d}", "confirmed": True, "contact_email": email,
            "created_at": stamp, "currency": currency, "customer_locale": "fi",
            "current_subtotal_price": _amount(goods), "current_subtotal_price_set": _set(goods, currency),
            "current_total_price": _amount(total), "current_total_price_set": _set(total, currency),
            "current_total_tax": _amount(tax), "current_total_tax_set": _set(tax, currency),
            "discount_codes": [], "email": email, "estimated_taxes": False, "financial_status": "paid",
            "fulfillment_status": "fulfilled", "name": f"#{number}", "note": None, "number": number - 1000,
            "order_number": number, "payment_gateway_names": ["manual"], "presentment_currency": currency,
            "order_status_url": f"https://{self.domain}/{_numeric(LOCATION)}/orders/{order_id:x}/authenticate?key=sbx",
            "processed_at": stamp, "source_name": "web", "subtotal_price": _amount(goods),
            "subtotal_price_set": _set(goods, currency), "tags": "", "tax_exempt": False,
            "tax_lines": [{**_tax_line(total, currency), "price": _amount(tax), "price_set": _set(tax, currency)}],
            "taxes_included": True, "test": True, "total_discounts": "0.00", "total_discounts_set": _set(Decimal(0), currency),
            "total_line_items_price": _amount(goods), "total_line_items_price_set": _set(goods, currency),
            "total_outstanding": "0.00", "total_price": _amount(total), "total_price_set": _set(total, currency),
            "total_shipping_price_set": _set(shipping, currency), "total_tax": _amount(tax),
            "total_tax_set": _set(tax, currency), "total_tip_received": "0.00",
            "total_weight": sum(line["grams"] * line["quantity"] for line in lines), "updated_at": stamp, "user_id": None,
            "customer": {"id": 7029431100000 + number, "admin_graphql_api_id": f"gid://shopify/Customer/{7029431100000 + number}",
                         "currency": currency},
            "discount_applications": [],
            "fulfillments": [{"id": 5500000000000 + number, "admin_graphql_api_id": f"gid://shopify/Fulfillment/{5500000000000 + number}",
                              "created_at": stamp, "updated_at": stamp, "location_id": _numeric(LOCATION),
                              "name": f"#{number}.1", "order_id": order_id, "service": "manual", "shipment_status": None,
                              "status": "success", "tracking_company": None, "tracking_number": None, "tracking_numbers": [],
                              "tracking_url": None, "tracking_urls": [], "line_items": fulfilled}],
            "line_items": lines, "refunds": [],
            "shipping_lines": [{
                "id": 4301234500000 + number, "code": SHIPPING["code"], "title": SHIPPING["title"], "source": "shopify",
                "price": SHIPPING["price"], "price_set": _set(shipping, currency),
                "discounted_price": SHIPPING["price"], "discounted_price_set": _set(shipping, currency),
                "tax_lines": [_tax_line(shipping, currency)], "discount_allocations": [],
            }],
        }  # fmt: skip

    def request_return(self, order_gid: str, items: list[tuple[str, int, str, str | None]]) -> dict:
        """The customer asks to return (line item gid, quantity, reason, note) in the shop's own return flow.

        ValueError if a line is not on the order or more units are asked for than
        were sold and are not already in a return or refunded.
        """
        with self._lock:
            order = self.orders.get(order_gid)
            if order is None:
                raise ValueError(f"no order {order_gid}")
            lines = {line["admin_graphql_api_id"]: line for line in order["line_items"]}
            wanted = []
            for line_gid, quantity, reason, note in items:
                line = lines.get(line_gid)
                if line is None:
                    raise ValueError(f"{line_gid} is not a line of {order['name']}")
                if quantity < 1 or quantity > self._returnable(order_gid, line):
                    raise ValueError(f"{line['name']}: {quantity} unit(s) cannot be returned")
                wanted.append((line, quantity, reason, note))
            return self._make_return(order, wanted)

    def _make_return(self, order: dict, wanted: list[tuple[dict, int, str, str | None]]) -> dict:
        """A REQUESTED return of (line, quantity, reason, note) rows, announced by returns/request as Shopify does."""
        order_gid = order["admin_graphql_api_id"]
        rows = []
        for line, quantity, reason, note in wanted:
            row_id = next(self._ids) + 6200524000
            fulfilled = _fulfillment_line_item(line["id"])
            rows.append({
                "id": row_id, "admin_graphql_api_id": f"gid://shopify/ReturnLineItem/{row_id}",
                "fulfillment_line_item": {
                    "id": fulfilled, "admin_graphql_api_id": f"gid://shopify/FulfillmentLineItem/{fulfilled}",
                    "line_item": {"id": line["id"], "admin_graphql_api_id": line["admin_graphql_api_id"]}},
                "quantity": quantity, "return_reason": reason, "return_reason_note": "", "customer_note": note,
            })  # fmt: skip
        return_id = 3547267000 + next(self._ids)
        number = 1 + sum(1 for r in self.returns.values() if r["order"]["admin_graphql_api_id"] == order_gid)
        ret = {
            "id": return_id, "admin_graphql_api_id": f"gid://shopify/Return/{return_id}", "status": "requested",
            "order": {"id": order["id"], "admin_graphql_api_id": order_gid},
            "total_return_line_items": len(rows), "name": f"{order['name']}-R{number}", "return_line_items": rows,
            "return_shipping_fees": [], "exchange_line_items": [], "total_exchange_line_items": 0,
        }  # fmt: skip
        self.returns[ret["admin_graphql_api_id"]] = ret
        self.return_times[ret["admin_graphql_api_id"]] = _now().strftime("%Y-%m-%dT%H:%M:%SZ")
        self._announce("returns/request", ret)
        return ret

    def _returnable(self, order_gid: str, line: dict) -> int:
        """Units of a line that are neither in a live return nor refunded."""
        line_gid = line["admin_graphql_api_id"]
        in_returns = sum(row["quantity"] for r in self.returns.values()
                         if r["order"]["admin_graphql_api_id"] == order_gid and r["status"] not in ("declined", "canceled")
                         for row in r["return_line_items"] if row["fulfillment_line_item"]["line_item"]["admin_graphql_api_id"] == line_gid)  # fmt: skip
        return line["quantity"] - max(in_returns, self._refunded_units(order_gid).get(line_gid, 0))

    def _refunded_units(self, order_gid: str) -> dict[str, int]:
        units: dict[str, int] = {}
        for node in self._all_refund_nodes(order_gid):
            for row in node["refundLineItems"]["nodes"]:
                units[row["lineItem"]["id"]] = units.get(row["lineItem"]["id"], 0) + row["quantity"]
        return units

    def _announce(self, topic: str, payload: dict) -> None:
        self.sent.append((topic, payload))
        if self.deliver is not None:
            self.deliver(topic, json.loads(json.dumps(payload)))

    # --- the Admin API's operations (one method per operation name) --------------------------------

    def _transactions_of(self, order_gid: str) -> list[dict]:
        return self.order_transactions.get(order_gid, self.transactions)

    def _Order(self, v):
        rest = self.orders.get(v["id"])
        return {"order": graphql_order(rest) if rest else None}

    def _all_refund_nodes(self, order_gid: str | None = None) -> list[dict]:
        """The refunds Shopify lists for the order: the shop's own, and ours as refundCreate recorded them."""
        ours = [refund_node(_numeric(gid), {line["lineItemId"].rsplit("/", 1)[1]: line["quantity"]
                                            for line in given["refundLineItems"]},
                            {}, self.refund_times.get(gid, "2026-12-01T10:00:00Z"), note=given["note"],
                            shipping=bool((given.get("shipping") or {}).get("fullRefund")))
                for gid, given in self.recorded.values()
                if order_gid is None or given["orderId"] == order_gid
                or (not self.strict and given["orderId"] not in self.orders)]  # fmt: skip
        gateway = [self._gateway_node(gid, refund) for gid, refund in self.gateway_refunds.items()
                   if order_gid is None or refund["input"]["orderId"] == order_gid]  # fmt: skip
        return self.refund_nodes + ours + gateway

    def _unknown(self, order_gid: str) -> bool:
        return self.strict and order_gid not in self.orders

    def _OrderRefunds(self, v):
        if self._unknown(v["id"]):
            return {"order": None}
        transactions = [{"id": t["id"], "kind": t["kind"], "status": t["status"],
                         "parentTransaction": t.get("parentTransaction")} for t in self._transactions_of(v["id"])]  # fmt: skip
        refunds = [{"id": node["id"]} for node in self._all_refund_nodes(v["id"])]
        return {"order": {"id": v["id"], "presentmentCurrencyCode": self.currency, "refunds": refunds,
                          "transactions": transactions}}  # fmt: skip

    def _RefundsById(self, v):
        nodes = {node["id"]: node for node in self._all_refund_nodes()}
        return {"nodes": [{**nodes[i], "__typename": "Refund"} if i in nodes else None for i in v["ids"]]}

    def _FulfillmentLocations(self, v):
        order = self.orders.get(v["id"])
        ids = {str(line["id"]) for line in order["line_items"]} if order else None
        fulfillments = [{
            "id": f"gid://shopify/Fulfillment/{n}", "status": "SUCCESS", "location": {"id": location},
            "fulfillmentLineItems": {"pageInfo": {"hasNextPage": False},
                                     "nodes": [{"quantity": 1, "lineItem": {"id": f"gid://shopify/LineItem/{line}"}}]},
        } for n, (line, location) in enumerate(self.locations.items(), 1) if ids is None or line in ids]  # fmt: skip
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
        if self._unknown(v["id"]):
            return {"order": None}
        return {"order": {"id": v["id"], "checkoutToken": self.checkout_token, "transactions": self._transactions_of(v["id"])}}

    def _RefundCreate(self, v):
        key, given = v["idempotencyKey"], v["input"]
        if not key:
            return {"refundCreate": {"refund": None, "userErrors": [
                {"field": ["idempotencyKey"], "message": "Idempotency key must not be blank"}]}}
        if key in self.refunds:  # the same key: the first refund again, nothing new
            return {"refundCreate": {"refund": {"id": self.refunds[key]}, "userErrors": []}}
        problems = self._over_refund(given)
        if problems:
            return {"refundCreate": {"refund": None, "userErrors": problems}}
        self.refunds[key] = refund_gid = f"gid://shopify/Refund/{next(self._ids)}"
        self.recorded[key] = (refund_gid, given)
        moment = _now()
        self.refund_times[refund_gid] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        order = self.orders.get(given["orderId"])
        if order is not None:
            body = self._refund_webhook(refund_gid, given, order, moment)
            self._announce("refunds/create", body)
            order["refunds"].append(body)
            self._updated(order, moment)
        return {"refundCreate": {"refund": {"id": refund_gid}, "userErrors": []}}

    # --- refunds that move money through the shop's own gateway ---------------------------------------

    def _GatewayRefundCreate(self, v):
        key, given = v["idempotencyKey"], v["input"]
        if not key or not key.strip():
            return {"refundCreate": {"refund": None, "userErrors": [
                {"field": ["idempotencyKey"], "message": "Idempotency key must not be blank"}]}}
        if key in self.refunds:  # the same key: the first refund again, as it is now
            gid = self.refunds[key]
            return {"refundCreate": {"refund": self._gateway_node(gid, self.gateway_refunds[gid]), "userErrors": []}}
        problems = self._over_refund(given) + self._over_paid(given)
        if problems:
            return {"refundCreate": {"refund": None, "userErrors": problems}}
        self.refunds[key] = refund_gid = f"gid://shopify/Refund/{next(self._ids)}"
        moment = _now()
        transactions = []
        for row in given.get("transactions") or []:
            status = self.gateway_modes.get(row["gateway"], "SUCCESS")
            transaction = {
                "id": f"gid://shopify/OrderTransaction/{next(self._ids)}", "kind": "REFUND", "status": status,
                "gateway": row["gateway"], "errorCode": "GENERIC_ERROR" if status == "FAILURE" else None,
                "processedAt": _stamp(moment) if status != "PENDING" else None, "paymentId": None,
                "authorizationCode": None, "receiptJson": "{}",
                "amountSet": {"presentmentMoney": {"amount": row["amount"], "currencyCode": given.get("currency") or self.currency}},
                "parentTransaction": {"id": row["parentId"], "paymentId": None, "authorizationCode": None},
            }  # fmt: skip
            transactions.append(transaction)
            self._transactions_of(given["orderId"]).append(transaction)
        self.gateway_refunds[refund_gid] = refund = {"input": given, "transactions": transactions,
                                                     "createdAt": _stamp(moment)}  # fmt: skip
        order = self.orders.get(given["orderId"])
        if order is not None:
            body = self._refund_webhook(refund_gid, given, order, moment)
            body["transactions"] = [self._rest_transaction(t, given["orderId"]) for t in transactions]
            self._announce("refunds/create", body)
            order["refunds"].append(body)
            self._updated(order, moment)
        for transaction in transactions:
            if transaction["status"] != "PENDING":  # the topic fires only for success, failure and error
                self._announce("order_transactions/create", self._rest_transaction(transaction, given["orderId"]))
        return {"refundCreate": {"refund": self._gateway_node(refund_gid, refund), "userErrors": []}}

    def _GatewayRefund(self, v):
        refund = self.gateway_refunds.get(v["id"])
        return {"refund": self._gateway_node(v["id"], refund) if refund else None}

    def settle_refunds(self, status: str = "SUCCESS", gateway: str | None = None) -> int:
        """The payments app answers: every PENDING refund transaction (of `gateway`) ends SUCCESS, FAILURE or ERROR,
        and order_transactions/create says so. The number settled."""
        with self._lock:
            settled = 0
            for refund in self.gateway_refunds.values():
                for transaction in refund["transactions"]:
                    if transaction["status"] == "PENDING" and gateway in (None, transaction["gateway"]):
                        transaction.update(status=status, processedAt=_stamp(_now()),
                                           errorCode=None if status == "SUCCESS" else "GENERIC_ERROR")  # fmt: skip
                        settled += 1
                        self._announce("order_transactions/create", self._rest_transaction(transaction, refund["input"]["orderId"]))
            return settled

    def _over_paid(self, given: dict) -> list[dict]:
        """Shopify's userErrors for refund transactions that do not fit the order's payments."""
        if not given.get("transactions"):
            return []
        known = {t["id"]: t for t in self._transactions_of(given["orderId"])}
        problems = []
        for n, row in enumerate(given["transactions"]):
            parent = known.get(row.get("parentId"))
            if row.get("kind") != "REFUND":
                problems.append({"field": ["transactions", str(n), "kind"], "message": "Kind must be refund"})
            elif parent is None or parent["kind"] not in ("SALE", "CAPTURE") or parent["status"] != "SUCCESS":
                problems.append({"field": ["transactions", str(n), "parentId"], "message": "Parent transaction does not exist"})
            elif parent.get("gateway") != row.get("gateway"):
                problems.append({"field": ["transactions", str(n), "gateway"], "message": "Gateway does not match the parent transaction"})
            else:
                taken = sum(Decimal(t["amountSet"]["presentmentMoney"]["amount"]) for t in known.values()
                            if t["kind"] == "REFUND" and t["status"] in ("SUCCESS", "PENDING")
                            and (t.get("parentTransaction") or {}).get("id") == parent["id"])  # fmt: skip
                left = Decimal(parent["amountSet"]["presentmentMoney"]["amount"]) - taken
                if Decimal(row["amount"]) > left:
                    problems.append({"field": ["transactions", str(n), "amount"],
                                     "message": f"Refund amount must be less than or equal to {_amount(left)}"})  # fmt: skip
        return problems

    def _gateway_node(self, refund_gid: str, refund: dict) -> dict:
        """A refund through the gateway as REFUNDS_BY_ID, GATEWAY_REFUND and refundCreate select it."""
        given = refund["input"]
        node = refund_node(_numeric(refund_gid), {row["lineItemId"].rsplit("/", 1)[1]: row["quantity"]
                                                   for row in given.get("refundLineItems") or []},
                           {}, refund["createdAt"], note=given.get("note"),
                           shipping=bool((given.get("shipping") or {}).get("fullRefund")))  # fmt: skip
        node["transactions"]["nodes"] = [
            {k: t[k] for k in ("id", "kind", "status", "gateway", "errorCode", "processedAt", "amountSet", "parentTransaction")}
            for t in refund["transactions"]
        ]  # fmt: skip
        return node

    @staticmethod
    def _rest_transaction(transaction: dict, order_gid: str) -> dict:
        """An OrderTransaction as the REST webhooks show it (order_transactions/create, refunds/create)."""
        money = transaction["amountSet"]["presentmentMoney"]
        number = _numeric(transaction["id"])
        return {
            "id": number, "admin_graphql_api_id": transaction["id"], "order_id": _numeric(order_gid),
            "kind": transaction["kind"].lower(), "gateway": transaction["gateway"], "status": transaction["status"].lower(),
            "message": None, "created_at": transaction.get("processedAt"), "test": True, "authorization": None,
            "parent_id": _numeric(transaction["parentTransaction"]["id"]), "processed_at": transaction.get("processedAt"),
            "error_code": (transaction.get("errorCode") or "").lower() or None, "source_name": "external",
            "amount": money["amount"], "currency": money["currencyCode"], "payment_id": None,
            "manual_payment_gateway": False,
        }  # fmt: skip

    def _updated(self, order: dict, moment: datetime) -> None:
        """The order changed: Shopify sends orders/updated with its new state."""
        order["updated_at"] = _stamp(moment)
        self._announce("orders/updated", order)

    def _over_refund(self, given: dict) -> list[dict]:
        """Shopify's userErrors for refund lines the order does not have, or more units than are left on them."""
        order = self.orders.get(given["orderId"])
        if order is None:
            return [{"field": ["orderId"], "message": "Order does not exist"}] if self.strict else []
        lines = {line["admin_graphql_api_id"]: line for line in order["line_items"]}
        refunded = self._refunded_units(given["orderId"])
        problems = []
        if (given.get("shipping") or {}).get("fullRefund") and any(
                node["refundShippingLines"]["nodes"] for node in self._all_refund_nodes(given["orderId"])):  # fmt: skip
            problems.append({"field": ["shipping", "fullRefund"], "message": "Shipping has already been refunded"})
        for n, row in enumerate(given.get("refundLineItems") or []):
            line = lines.get(row["lineItemId"])
            if line is None:
                problems.append({"field": ["refundLineItems", str(n), "lineItemId"], "message": "Line item does not exist"})
            elif row["quantity"] > line["quantity"] - refunded.get(row["lineItemId"], 0):
                problems.append({"field": ["refundLineItems", str(n), "quantity"],
                                 "message": "Quantity cannot refund more items than were purchased"})  # fmt: skip
        return problems

    def _refund_webhook(self, refund_gid: str, given: dict, order: dict, moment: datetime) -> dict:
        """The refunds/create body Shopify sends for a refund recorded through the API."""
        currency = order["presentment_currency"]
        lines = {line["admin_graphql_api_id"]: line for line in order["line_items"]}
        rows = []
        for row in given.get("refundLineItems") or []:
            line = lines[row["lineItemId"]]
            gross = Decimal(line["price"]) * row["quantity"]  # the shop's prices include VAT, so its subtotals do too
            vat = _vat(gross)
            rows.append({
                "id": next(self._ids) + 560011220000, "quantity": row["quantity"], "line_item_id": line["id"],
                "location_id": _numeric(row["locationId"]) if row.get("locationId") else None,
                "restock_type": "return" if row.get("restockType") == "RETURN" else "no_restock",
                "subtotal": float(gross), "total_tax": float(vat),
                "subtotal_set": _set(gross, currency), "total_tax_set": _set(vat, currency),
                "line_item": {k: line.get(k) for k in ("id", "variant_id", "title", "quantity", "sku", "variant_title", "vendor",
                                                   "product_id", "name", "price", "price_set", "tax_lines", "admin_graphql_api_id")},
            })  # fmt: skip
        shipping = []
        if (given.get("shipping") or {}).get("fullRefund") and order.get("shipping_lines"):
            ship = order["shipping_lines"][0]
            shipping = [{"id": next(self._ids), "shipping_line_id": ship["id"], "subtotal_amount_set": ship["price_set"],
                         "shipping_line": {"id": ship["id"], "title": ship["title"], "price": ship["price"]}}]  # fmt: skip
        return {
            "id": _numeric(refund_gid), "admin_graphql_api_id": refund_gid, "order_id": order["id"],
            "created_at": _stamp(moment), "processed_at": _stamp(moment), "note": given.get("note"), "user_id": None,
            "restock": any(row["restock_type"] == "return" for row in rows), "duties": [],
            "total_duties_set": _set(Decimal(0), currency), "return": None, "refund_shipping_lines": shipping,
            "order_adjustments": [], "refund_line_items": rows, "transactions": [],
        }  # fmt: skip

    def _TagsAdd(self, v):
        tags = self.tags.setdefault(v["id"], [])
        new = [tag for tag in v["tags"] if tag not in tags]
        tags += new
        order = self.orders.get(v["id"])
        if new and order is not None:
            order["tags"] = ", ".join(tags)
            self._updated(order, _now())
        return {"tagsAdd": {"node": {"id": v["id"]}, "userErrors": []}}

    def _ReturnStatus(self, v):
        ret = self.returns.get(v["id"])
        return {"return": {"id": v["id"], "status": ret["status"].upper()} if ret else None}

    def _move(self, field: str, v: dict):
        gid = v.get("id") or v["input"]["id"]
        starts, status, topic = RETURN_MOVES[field]
        ret = self.returns.get(gid)
        if ret is None and not self.strict:  # a return only the tests know of: answered as moved
            return {field: {"return": {"id": gid, "status": status}, "userErrors": []}}
        if ret is None:
            return {field: {"return": None, "userErrors": [{"field": ["id"], "code": "NOT_FOUND", "message": "Return does not exist"}]}}
        if ret["status"].upper() not in starts:
            return {field: {"return": None, "userErrors": [
                {"field": ["id"], "code": "INVALID_STATE", "message": f"Return is {ret['status'].upper()}, not {' or '.join(sorted(starts))}"}]}}
        ret["status"] = status.lower()
        self._announce(topic, self._status_webhook(field, ret, v))
        return {field: {"return": {"id": gid, "status": status}, "userErrors": []}}

    @staticmethod
    def _status_webhook(field: str, ret: dict, v: dict) -> dict:
        """The returns/* body, in each topic's own documented shape (see tests/payloads/shopify/)."""
        head = {"id": ret["id"], "admin_graphql_api_id": ret["admin_graphql_api_id"]}
        if field == "returnApproveRequest":
            return {**head, "status": ret["status"], "order": dict(ret["order"]),
                    "total_return_line_items": ret["total_return_line_items"], "name": ret["name"],
                    "return_line_items": [], "return_shipping_fees": [], "exchange_line_items": [],
                    "total_exchange_line_items": 0}  # fmt: skip
        if field == "returnDeclineRequest":
            given = v["input"]
            return {**head, "status": ret["status"], "order": dict(ret["order"]),
                    "decline": {"reason": given.get("declineReason", "OTHER").lower(), "note": given.get("declineNote")}}
        return {**head, "order_id": ret["order"]["id"], "status": ret["status"]}  # returns/close, returns/cancel

    def _ReturnApproveRequest(self, v):
        return self._move("returnApproveRequest", v)

    def _ReturnDeclineRequest(self, v):
        return self._move("returnDeclineRequest", v)

    def _ReturnClose(self, v):
        return self._move("returnClose", v)

    def _ReturnCancel(self, v):
        return self._move("returnCancel", v)

    # --- a return opened in Palautus, opened in the shop too (adapters/platforms/shopify/return_request.py) ------

    def _OrderReturns(self, v):
        """The order's returns, oldest first, each with its units per line (ORDER_RETURNS)."""
        order_gid = v["id"]
        if self._unknown(order_gid):
            return {"order": None}
        returns = [(gid, r) for gid, r in self.returns.items() if r["order"]["admin_graphql_api_id"] == order_gid]
        nodes = []
        for gid, ret in returns[:RETURNS_PAGE]:
            rows = ret["return_line_items"]
            nodes.append({"id": gid, "status": ret["status"].upper(),
                          "createdAt": self.return_times.get(gid, "2026-12-01T10:00:00Z"),
                          "returnLineItems": {"pageInfo": {"hasNextPage": len(rows) > RETURN_LINES_PAGE}, "nodes": [
                              {"quantity": row["quantity"], "fulfillmentLineItem": {"lineItem": {
                                  "id": row["fulfillment_line_item"]["line_item"]["admin_graphql_api_id"]}}}
                              for row in rows[:RETURN_LINES_PAGE]]}})  # fmt: skip
        return {"order": {"id": order_gid, "returns": {"pageInfo": {"hasNextPage": len(returns) > RETURNS_PAGE},
                                                       "nodes": nodes}}}  # fmt: skip

    def _returnable_fulfillments(self, order_gid: str) -> list[tuple[dict, list[tuple[dict, int]]]]:
        """The order's shipped fulfillments with (line, units Shopify still takes back) of each; none left: left out."""
        order = self.orders.get(order_gid)
        if order is None:
            return []
        lines = {line["id"]: line for line in order["line_items"]}
        left = {line_id: self._returnable(order_gid, line) for line_id, line in lines.items()}
        found = []
        for fulfillment in order.get("fulfillments") or []:
            if fulfillment.get("status") != "success":  # cancelled, failed: nothing was shipped to return
                continue
            rows = []
            for shipped in fulfillment.get("line_items") or []:
                line = lines.get(shipped["id"])
                units = min(shipped["quantity"], left.get(shipped["id"], 0)) if line else 0
                if units > 0:
                    rows.append((line, units))
                    left[shipped["id"]] -= units
            if rows:
                found.append((fulfillment, rows))
        return found

    def _ReturnableFulfillments(self, v):
        """What the customer may still send back, per fulfillment line item: units in a live return or refunded are
        not (RETURNABLE_FULFILLMENTS)."""
        found = self._returnable_fulfillments(v["orderId"])
        nodes = [{
            "id": f"gid://shopify/ReturnableFulfillment/{fulfillment['id']}",
            "returnableFulfillmentLineItems": {"pageInfo": {"hasNextPage": len(rows) > FULFILLMENT_LINES_PAGE}, "nodes": [
                {"quantity": units, "fulfillmentLineItem": {
                    "id": f"gid://shopify/FulfillmentLineItem/{_fulfillment_line_item(line['id'])}",
                    "lineItem": {"id": line["admin_graphql_api_id"]}}} for line, units in rows[:FULFILLMENT_LINES_PAGE]]},
        } for fulfillment, rows in found[:FULFILLMENTS_PAGE]]  # fmt: skip
        return {"returnableFulfillments": {"pageInfo": {"hasNextPage": len(found) > FULFILLMENTS_PAGE}, "nodes": nodes}}

    def _ReturnReasonDefinitions(self, v):
        """The library of return reasons, filtered by `handles` and `ids` when given (RETURN_REASON_DEFINITIONS)."""
        handles, ids = v.get("handles"), v.get("ids")
        found = [d for d in self.reason_definitions
                 if (handles is None or d["handle"] in handles) and (ids is None or d["id"] in ids)]  # fmt: skip
        return {"returnReasonDefinitions": {"nodes": [{k: d[k] for k in ("id", "handle", "deleted")}
                                                      for d in found[:REASONS_PAGE]]}}  # fmt: skip

    def _ReturnRequest(self, v):
        """returnRequest: a REQUESTED return for the merchant to approve or decline, announced by returns/request.
        Units are taken only from the order's fulfillment line items and only as many as are still returnable; a
        reason is an enum value or a definition of the library (`returnShippingFee` and `restockingFee` are taken
        and not kept: the sandbox has no fees)."""
        given = v["input"]
        order = self.orders.get(given["orderId"])
        if order is None:
            return self._return_refused(["input", "orderId"], "NOT_FOUND", "Order does not exist")
        items = given.get("returnLineItems") or []
        if not items:
            return self._return_refused(["input", "returnLineItems"], "BLANK", "Return line items can't be blank")
        shipped = {f"gid://shopify/FulfillmentLineItem/{_fulfillment_line_item(line['id'])}": (line, units)
                   for _, rows in self._returnable_fulfillments(given["orderId"]) for line, units in rows}  # fmt: skip
        every_line = {f"gid://shopify/FulfillmentLineItem/{_fulfillment_line_item(line['id'])}"
                      for line in order["line_items"]}  # fmt: skip
        definitions = {d["id"]: d for d in self.reason_definitions}
        asked: dict[str, int] = {}
        wanted = []
        for n, item in enumerate(items):
            at = ["input", "returnLineItems", str(n)]
            gid, quantity = item["fulfillmentLineItemId"], item["quantity"]
            if gid not in every_line:
                return self._return_refused([*at, "fulfillmentLineItemId"], "NOT_FOUND", "Fulfillment line item does not exist")
            if quantity < 1:
                return self._return_refused([*at, "quantity"], "GREATER_THAN", "Quantity must be greater than 0")
            asked[gid] = asked.get(gid, 0) + quantity
            if gid not in shipped or asked[gid] > shipped[gid][1]:
                return self._return_refused([*at, "quantity"], "INVALID",
                                            "Quantity is greater than the quantity that can be returned")  # fmt: skip
            if len(item.get("customerNote") or "") > CUSTOMER_NOTE_MAX:
                return self._return_refused([*at, "customerNote"], "TOO_LONG",
                                            f"Customer note is too long (maximum is {CUSTOMER_NOTE_MAX} characters)")  # fmt: skip
            reason = (item.get("returnReason") or "UNKNOWN").lower()
            if item.get("returnReasonDefinitionId") is not None:
                definition = definitions.get(item["returnReasonDefinitionId"])
                if definition is None:
                    return self._return_refused([*at, "returnReasonDefinitionId"], "NOT_FOUND",
                                                "Return reason definition does not exist")  # fmt: skip
                reason = definition["legacy"].lower()
            wanted.append((shipped[gid][0], quantity, reason, item.get("customerNote")))
        ret = self._make_return(order, wanted)
        return {"returnRequest": {"return": {"id": ret["admin_graphql_api_id"], "status": "REQUESTED"}, "userErrors": []}}

    @staticmethod
    def _return_refused(field: list[str], code: str, message: str) -> dict:
        return {"returnRequest": {"return": None, "userErrors": [{"field": field, "message": message, "code": code}]}}

    # --- products, as the return policy's rules read them (adapters/platforms/shopify/products.py) -------------

    def _ProductsById(self, v):
        """nodes(ids:) over the shop's products: null for an id it has no product of (deleted, or another kind)."""
        return {"nodes": [dict(self.products[gid]) if gid in self.products else None for gid in v["ids"]]}

    # --- cancelling an order (a withdrawal before delivery) -------------------------------------------------

    def _OrderCancelled(self, v):
        order = self.orders.get(v["id"])
        if order is None:
            return {"order": None}
        return {"order": {"id": v["id"], "cancelledAt": _utc(order["cancelled_at"])}}

    def _OrderCancel(self, v):
        """orderCancel as the Admin API answers it: refused (orderCancelUserErrors) for an order cancelled already
        or with a return in progress or a payment still pending authorization; otherwise the order is cancelled at
        once, what was only authorized is voided, and orders/cancelled and orders/updated go out. The answer is
        the Job Shopify cancels in, done (the sandbox has no background jobs). The sandbox refunds nothing on
        cancelling: a refund asked for (`refund`, or `refundMethod`) is refused, for refundCreate to make."""
        gid = v["orderId"]
        order = self.orders.get(gid)
        if order is None:
            return self._cancel_refused(["orderId"], "NOT_FOUND", "Order does not exist")
        if order.get("cancelled_at"):
            return self._cancel_refused(["orderId"], "INVALID", "Order has already been cancelled")
        if any(r["order"]["admin_graphql_api_id"] == gid and r["status"] in ("requested", "open") for r in self.returns.values()):
            return self._cancel_refused(["orderId"], "INVALID", "Order has returns in progress and cannot be cancelled")
        transactions = self._transactions_of(gid)
        if any(t["kind"] == "AUTHORIZATION" and t["status"] == "PENDING" for t in transactions):
            return self._cancel_refused(["orderId"], "INVALID", "Order has pending payment authorizations")
        method = v.get("refundMethod") or {}
        if v.get("refund") or method.get("originalPaymentMethodsRefund") or method.get("storeCreditRefund"):
            return self._cancel_refused(["refundMethod"], "INVALID",
                                        "The sandbox shop cancels without refunding: refund through refundCreate")  # fmt: skip
        if len(v.get("staffNote") or "") > STAFF_NOTE_MAX:
            return self._cancel_refused(["staffNote"], "INVALID",
                                        f"Staff note is too long (maximum is {STAFF_NOTE_MAX} characters)")  # fmt: skip
        moment = _now()
        self.cancellations[gid] = dict(v)
        closed = {(t.get("parentTransaction") or {}).get("id") for t in transactions
                  if t["kind"] in ("CAPTURE", "VOID") and t["status"] == "SUCCESS"}  # fmt: skip
        for held in [t for t in transactions if t["kind"] == "AUTHORIZATION" and t["status"] == "SUCCESS" and t["id"] not in closed]:
            transactions.append({**held, "id": f"gid://shopify/OrderTransaction/{next(self._ids)}", "kind": "VOID",
                                 "processedAt": _stamp(moment), "parentTransaction": {"id": held["id"]}})  # fmt: skip
        if not any(t["kind"] in ("SALE", "CAPTURE") and t["status"] == "SUCCESS" for t in transactions) and any(
                t["kind"] == "VOID" for t in transactions):  # fmt: skip
            order["financial_status"] = "voided"
        order["cancelled_at"] = _stamp(moment)
        order["cancel_reason"] = v["reason"].lower()
        order["updated_at"] = _stamp(moment)
        self._announce("orders/cancelled", order)
        self._announce("orders/updated", order)
        return {"orderCancel": {"job": {"id": f"gid://shopify/Job/{uuid.uuid4()}", "done": True}, "orderCancelUserErrors": []}}

    @staticmethod
    def _cancel_refused(field: list[str], code: str, message: str) -> dict:
        return {"orderCancel": {"job": None, "orderCancelUserErrors": [{"field": field, "message": message, "code": code}]}}

    # --- what the sandbox's pages show --------------------------------------------------------------

    def _given(self, refund_gid: str) -> dict | None:
        """The refundCreate input a refund was recorded with (None for the merchant's own)."""
        return next((given for gid, given in self.recorded.values() if gid == refund_gid), None)

    def summary(self) -> dict:
        with self._lock:
            return {
                "domain": self.domain, "orders": [
                    {"id": gid, "name": o["name"], "total": o["total_price"], "currency": o["currency"],
                     "cancelled_at": o.get("cancelled_at"),
                     "transactions": self._transactions_of(gid), "tags": self.tags.get(gid, []),
                     "refunds": [{"id": node["id"], "note": node["note"], "lines": node["refundLineItems"]["nodes"],
                                  "recorded_as": self._given(node["id"])}
                                 for node in self._all_refund_nodes(gid) if gid in self.orders]}
                    for gid, o in self.orders.items()],
                "returns": [{"id": gid, "name": r["name"], "status": r["status"].upper(),
                             "order": r["order"]["admin_graphql_api_id"]} for gid, r in self.returns.items()],
                "webhooks_sent": [topic for topic, _ in self.sent],
            }  # fmt: skip


# --- a REST order as Shopify's Admin GraphQL ORDER document answers it ------------------------------


def _bag(rest_set: dict) -> dict:
    money = rest_set["presentment_money"]
    return {"presentmentMoney": {"amount": money["amount"], "currencyCode": money["currency_code"]}}


def _taxes(rest_lines: list) -> list:
    return [{"rate": t["rate"], "ratePercentage": t["rate"] * 100, "priceSet": _bag(t["price_set"])}
            for t in rest_lines]  # fmt: skip


def _utc(text: str | None) -> str | None:
    """Shopify's GraphQL timestamps are UTC with a Z; the webhook's carry the shop's offset."""
    moment = datetime.fromisoformat(text).astimezone(timezone.utc) if text else None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def graphql_line(line: dict) -> dict:
    return {
        "id": line["admin_graphql_api_id"], "title": line["title"], "name": line["name"], "sku": line["sku"],
        "quantity": line["quantity"], "isGiftCard": bool(line.get("gift_card")),
        "product": {"id": f"gid://shopify/Product/{line['product_id']}"} if line["product_id"] else None,
        "variant": {"id": f"gid://shopify/ProductVariant/{line['variant_id']}"} if line["variant_id"] else None,
        "originalUnitPriceSet": _bag(line["price_set"]),
        "discountAllocations": [{"allocatedAmountSet": _bag(a["amount_set"])} for a in line["discount_allocations"]],
        "taxLines": _taxes(line["tax_lines"]),
    }  # fmt: skip


# Order.fulfillment_status (REST) -> Order.displayFulfillmentStatus (OrderDisplayFulfillmentStatus).
FULFILLMENT_STATUSES = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED", "restocked": "RESTOCKED", None: "UNFULFILLED"}
# Fulfillment.status (REST) -> the displayStatus (FulfillmentDisplayStatus) of a fulfillment no carrier reported on.
FULFILLMENT_DISPLAY = {"success": "FULFILLED", "cancelled": "CANCELED", "failure": "FAILURE", "error": "FAILURE",
                       "open": "SUBMITTED", "pending": "SUBMITTED"}  # fmt: skip
# Fulfillment.shipment_status (REST): the carrier's last word, which the displayStatus shows once there is one.
SHIPMENT_DISPLAY = {"label_printed": "LABEL_PRINTED", "label_purchased": "LABEL_PURCHASED", "confirmed": "CONFIRMED",
                    "in_transit": "IN_TRANSIT", "out_for_delivery": "OUT_FOR_DELIVERY", "attempted_delivery": "ATTEMPTED_DELIVERY",
                    "delayed": "DELAYED", "ready_for_pickup": "READY_FOR_PICKUP", "picked_up": "PICKED_UP",
                    "delivered": "DELIVERED", "failure": "FAILURE", "carrier_picked_up": "CARRIER_PICKED_UP"}  # fmt: skip


def graphql_fulfillment(rest: dict) -> dict:
    """A REST fulfillment as ORDER selects it. REST keeps no delivery time: a delivered fulfillment's `updated_at`
    stands in for `deliveredAt`, as the adapter reads a webhook's (adapters/platforms/shopify/facts.py)."""
    status = rest.get("status") or "success"
    display = SHIPMENT_DISPLAY.get(rest.get("shipment_status")) or FULFILLMENT_DISPLAY.get(status, "SUBMITTED")
    delivered = display in ("DELIVERED", "PICKED_UP")
    return {"status": status.upper(), "createdAt": _utc(rest.get("created_at")),
            "deliveredAt": _utc(rest.get("updated_at")) if delivered else None, "displayStatus": display}


def graphql_order(rest: dict, lines: slice = slice(None), cursor: str | None = None) -> dict:
    """The `order` node ORDER answers for the order a webhook body describes (one page of its lines)."""
    return {
        "id": rest["admin_graphql_api_id"], "name": rest["name"], "email": rest["email"],
        "currencyCode": rest["currency"], "presentmentCurrencyCode": rest["presentment_currency"],
        "taxesIncluded": rest["taxes_included"], "displayFinancialStatus": rest["financial_status"].upper(),
        "processedAt": _utc(rest["processed_at"]), "cancelledAt": _utc(rest["cancelled_at"]),
        "updatedAt": _utc(rest["updated_at"]),
        "displayFulfillmentStatus": FULFILLMENT_STATUSES.get(rest.get("fulfillment_status"), "UNFULFILLED"),
        "customerLocale": rest.get("customer_locale"),
        "fulfillmentsCount": {"count": len(rest.get("fulfillments") or []), "precision": "EXACT"},
        "fulfillments": [graphql_fulfillment(f) for f in (rest.get("fulfillments") or [])[:ORDER_FULFILLMENTS]],
        "totalPriceSet": _bag(rest["total_price_set"]),
        "shippingLines": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"discountedPriceSet": _bag(s["discounted_price_set"]), "taxLines": _taxes(s["tax_lines"])}
            for s in rest["shipping_lines"]]},
        "lineItems": {"pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor},
                      "nodes": [graphql_line(line) for line in rest["line_items"][lines]]},
    }  # fmt: skip


def refund_node(refund_id: int, lines: dict[str, int], taken: dict[int, str], created_at: str,
                return_id: int | None = None, status: str = "SUCCESS", note: str | None = None,
                shipping: bool = False) -> dict:  # fmt: skip
    """A Refund as the Admin API's REFUNDS_BY_ID answers it: units per line id, amounts per parent transaction."""
    return {
        "id": f"gid://shopify/Refund/{refund_id}", "createdAt": created_at, "note": note,
        "return": {"id": f"gid://shopify/Return/{return_id}"} if return_id else None,
        "refundLineItems": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"quantity": n, "lineItem": {"id": f"gid://shopify/LineItem/{line}"}} for line, n in lines.items()]},
        "refundShippingLines": {"nodes": [{"id": f"gid://shopify/RefundShippingLine/{refund_id}"}] if shipping else []},
        "transactions": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"kind": "REFUND", "status": status, "amountSet": {"presentmentMoney": {"amount": amount, "currencyCode": "EUR"}},
             "parentTransaction": {"id": f"gid://shopify/OrderTransaction/{parent}"}} for parent, amount in taken.items()]},
    }  # fmt: skip


def query_hmac(params: dict, secret: str) -> str:
    """Shopify's signature of an install or callback query: hex HMAC-SHA256 of the sorted `name=value` pairs."""
    def escape(text: str, name: bool = False) -> str:
        text = str(text).replace("%", "%25").replace("&", "%26")
        return text.replace("=", "%3D") if name else text

    message = "&".join(f"{escape(key, True)}={escape(params[key])}" for key in sorted(params) if key not in ("hmac", "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
