"""Every shop's data is its own: every query is scoped to one shop, and the tests here walk every API route,
every webhook receiver and every job that takes an id with another shop's ids, and expect a refusal.

Two Shopify shops share one database: A has an order, two returns (one from a Shopify delivery with its
refund at Stripe, one opened through the API), privacy requests (the merchant's and Shopify's) and webhook
deliveries (one of them failed); B has an order and a return of its own. Then:

- API: every route the app has under /api/v1 is found in `app.url_map` (a route added later is walked too),
  its path filled with A's ids and called with B's key: 404, nothing of A in the answer, no row of A changed.
  A route whose id parameter has no ids in `PATH_IDS`, or whose request body names ids and has no body in
  `BODIES`, or a route without ids that `NO_ID_ROUTES` does not classify, fails the test: decide how it is
  walked. Listings, with every query filter the OpenAPI document lists filled with A's values, list none of
  A's rows. The same routes answer 401 without a key, with a wrong key, with A's webhook key and with the key
  of a shop that disconnected.
- Webhooks: a delivery signed with A's secret sent to B's address (Stripe, Paytrail, WooCommerce) or under B's
  domain (a Shopify custom app's own secret) is 401; Shopify's app secret is shared by every shop, so a
  delivery about A's order and return sent under B's domain is stored for B and processed for B alone.
- Jobs: every job takes one id and reads the shop from that row; run on one shop's ids, no row of the
  other shop changes and the other shop's platform is never called, even where both shops hold the same
  platform ids.

Every test ends by checking the database's own consistency: every row's foreign keys lead to one shop.
"""
from __future__ import annotations

import hashlib
import hmac
import importlib
import inspect as pyinspect
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, update

from adapters.payments import paytrail
from adapters.platforms.woocommerce.webhooks import sign as woo_sign
from integration.models import Base, Order, PrivacyRequest, Refund, Return, Shop, WebhookEvent, utcnow
from integration.records import MovementKind, Settlement, SettlementMovement
from integration.services.credit_notes import issue_credit_note
from integration.services.settlements import store_settlement
from integration.tasks import Tasks
from tests.conftest import SHOP_DOMAIN, STRIPE_KEY, auth, payload
from tests.fakes import FakeShopify, stripe_sale
from tests.jobs.helpers import ORDER, RETURN_REQUEST, SWEATER, approve_and_receive, open_return, shopify_return

B_DOMAIN = "isolation-b.myshopify.com"
A_ORDER_ID = "5196695273621"  # orders__create.eur_presentment.json
A_EMAIL = "aino.virtanen@example.com"
A_CUSTOMER_ID = "7029431102139"
A_PLATFORM_RETURN_ID = "3547267221"  # returns__request.two_items.json
B_ORDER_ID, B_EMAIL, B_CUSTOMER_ID = "7000000000001", "bertta.b@example.org", "7029431109999"
A_STRIPE_WHSEC, B_STRIPE_WHSEC = "whsec_isolation_shop_a", "whsec_isolation_shop_b"
A_PAYTRAIL, B_PAYTRAIL = "paytrail-secret-of-shop-a", "paytrail-secret-of-shop-b"

# Routes under /api/v1 that answer without a key: the API's own documentation, which holds no shop's data.
PUBLIC = {"api-docs.openapi_json", "api-docs.openapi_swagger_ui", "swagger_ui_asset"}


@pytest.fixture
def config(config):
    """The walk makes hundreds of calls, most of them refused, from one address: no rate limit may answer first
    (429 is a refusal too, but this module checks the answer a shop's key check gives)."""
    return {**config, "API_RATE_LIMIT": "100000 per minute", "FAILED_AUTH_LIMIT": "100000 per minute"}


# --- the database: every row, and the shop each row belongs to -------------------------------------------------------


def _reaches_shops(table, seen=()) -> bool:
    if table.name == "shops":
        return True
    return any(fk.column.table.name not in seen and _reaches_shops(fk.column.table, (*seen, table.name))
               for fk in table.foreign_keys)  # fmt: skip


@dataclass
class Rows:
    """Every row of every table, with the shops its foreign keys lead to (one, or none for a row of no shop)."""

    rows: dict  # (table, primary key) -> row as a dict
    owners: dict  # (table, primary key) -> frozenset of shop ids

    def of(self, shop_id: int) -> dict:
        return {key: row for key, row in self.rows.items() if shop_id in self.owners[key]}

    def ids(self, table: str, shop_id: int) -> set[int]:
        return {key[1][0] for key in self.of(shop_id) if key[0] == table}


def read_rows(db) -> Rows:
    db.rollback()
    db.expire_all()
    tables = {t.name: {tuple(r[c.name] for c in t.primary_key): dict(r) for r in db.execute(select(t)).mappings()}
              for t in Base.metadata.sorted_tables}  # fmt: skip
    memo: dict = {}

    def owners(table, pk) -> frozenset:
        if (table.name, pk) not in memo:
            row, found = tables[table.name][pk], set()
            if table.name == "shops":
                found.add(row["id"])
            for fk in table.foreign_keys:
                value, parent = row[fk.parent.name], fk.column.table
                if value is None:
                    continue
                if parent.name == "shops":
                    found.add(value)
                elif (value,) in tables[parent.name]:
                    found |= owners(parent, (value,))
            memo[(table.name, pk)] = frozenset(found)
        return memo[(table.name, pk)]

    by_name = {t.name: t for t in Base.metadata.sorted_tables}
    rows = {(name, pk): row for name, found in tables.items() for pk, row in found.items()}
    return Rows(rows, {key: owners(by_name[key[0]], key[1]) for key in rows})


def assert_unchanged(before: dict, after: dict, what: str) -> None:
    changed = sorted({key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}, key=str)
    assert not changed, f"{what} changed rows: " + "; ".join(
        f"{key}: {before.get(key)} -> {after.get(key)}" for key in changed[:5])


def assert_every_row_belongs_to_one_shop(db) -> None:
    """No row links two shops' data (a return on another shop's order, a refund paid from another's payment)."""
    found = read_rows(db)
    mixed = {key: sorted(owners) for key, owners in found.owners.items() if len(owners) > 1}
    assert not mixed, f"rows whose foreign keys lead to more than one shop: {mixed}"


def test_every_table_leads_to_a_shop():
    """A new table must say whose it is (a foreign key chain to shops): then every check here covers it."""
    assert [t.name for t in Base.metadata.sorted_tables if not _reaches_shops(t)] == []


# --- two shops with data ------------------------------------------------------------------------------------------


def b_order() -> dict:
    """A's order, made B's: another order id, number, customer and e-mail (the same lines and products)."""
    text = json.dumps(payload(ORDER))
    for old, new in ((A_ORDER_ID, B_ORDER_ID), (A_EMAIL, B_EMAIL), (A_CUSTOMER_ID, B_CUSTOMER_ID), ("#1106", "#2001"),
                     ('"order_number": 1106', '"order_number": 2001')):  # fmt: skip
        text = text.replace(old, new)
    return json.loads(text)


def data_request(domain: str, email: str, order_id: str) -> dict:
    body = payload("customers__data_request.sample.json")
    body.update(shop_domain=domain, customer={"id": int(A_CUSTOMER_ID), "email": email}, orders_requested=[int(order_id)])
    return body


@dataclass
class World:
    a: Shop
    key_a: str
    b: Shop
    key_b: str
    shopify_b: FakeShopify
    a_returns: list[int] = field(default_factory=list)
    b_return: int = 0


@pytest.fixture
def world(app, client, register, post_webhook, work, shopify, stripe, db, http, shopify_schema) -> World:
    a, key_a = register(payments={"stripe": {"secret_key": STRIPE_KEY, "webhook_secret": A_STRIPE_WHSEC},
                                  "paytrail": {"account": "375917", "secret": A_PAYTRAIL}})  # fmt: skip
    b, key_b = register(domain=B_DOMAIN, payments={"stripe": {"secret_key": STRIPE_KEY, "webhook_secret": B_STRIPE_WHSEC},
                                                   "paytrail": {"account": "375918", "secret": B_PAYTRAIL}})  # fmt: skip
    shopify_b = FakeShopify(http, shopify_schema, B_DOMAIN)
    shopify_b.transactions = [stripe_sale()]
    w = World(a, key_a, b, key_b, shopify_b)
    # A: a Shopify return refunded through Stripe (still pending there), and one opened through the API.
    stripe.status = "pending"
    first = shopify_return(post_webhook, work, shopify, db)
    approve_and_receive(client, key_a, first.id)
    work()
    w.a_returns = [first.id, open_return(client, key_a, {SWEATER: 1})]
    # A's privacy requests: the merchant's export, and Shopify's data request (an alert on A until fetched).
    answer = client.post("/api/v1/privacy/exports", json={"email": A_EMAIL}, headers=auth(key_a))
    assert answer.status_code == 201, answer.get_json()
    assert post_webhook("customers/data_request", data_request(SHOP_DOMAIN, A_EMAIL, A_ORDER_ID),
                        webhook_id="a-data-request").status_code == 200  # fmt: skip
    # A failed delivery of A's (an erasure naming another shop), for POST /events/{id}/retry.
    body = payload("customers__redact.sample.json")
    body["shop_domain"] = "someone-else.myshopify.com"
    assert post_webhook("customers/redact", body, webhook_id="a-failed").status_code == 200
    work()
    # B: an order of its own and a return opened on it through the API.
    assert post_webhook("orders/create", b_order(), webhook_id="b-order", domain=B_DOMAIN).status_code == 200
    work()
    answer = client.post("/api/v1/returns", headers=auth(key_b), json={
        "order_id": B_ORDER_ID, "items": [{"line_id": SWEATER, "quantity": 1, "reason": "size_too_small"}]})  # fmt: skip
    assert answer.status_code == 201, answer.get_json()
    w.b_return = answer.get_json()["id"]

    # A payout each, and a credit note of A's (its refund booked as paid for the moment it is issued): B has none.
    for shop, payout in ((a, "po_of_shop_a"), (b, "po_of_shop_b")):
        movement = SettlementMovement(f"txn_{payout}", MovementKind.CHARGE, 1000, 0, "EUR")
        store_settlement(db, shop, "stripe", Settlement("stripe", payout, "EUR", 1000, "paid", None, (movement,)))
    db.commit()
    refund = db.scalar(select(Refund))
    db.get(Shop, a.id).books = {"credit_notes": True}
    status, refund.status, refund.completed_at = refund.status, "succeeded", utcnow()
    db.commit()
    assert issue_credit_note(db, refund.id).number == 1
    refund.status, refund.completed_at = status, None
    db.commit()
    rows = read_rows(db)
    assert len(rows.ids("refunds", a.id)) == 1 and rows.ids("refunds", b.id) == set()
    assert len(rows.ids("privacy_requests", a.id)) == 2
    assert "failed" in {rows.rows[("webhook_events", (i,))]["status"] for i in rows.ids("webhook_events", a.id)}
    assert any(k.startswith("privacy request") for k in db.get(Shop, a.id).alerts)
    yield w
    assert_every_row_belongs_to_one_shop(db)


def secrets_of(rows: Rows, shop: Shop) -> set[str]:
    """Strings that name the shop's data: none may appear in an answer to another shop."""
    found = {shop.domain, shop.webhook_key, shop.api_key_prefix}
    for (table, _), row in rows.of(shop.id).items():
        if table == "orders":
            found |= {row["email"], row["name"]}
        elif table == "returns":
            found |= {row["code"], row["customer_note"]}
        elif table == "return_items":
            found.add(row["reason_note"])
        elif table == "refunds":
            found |= {row["idempotency_key"], row["provider_refund_id"]}
        elif table == "privacy_requests":
            found.add(row["customer_email"])
    return {s for s in found if s and len(s) >= 5}


def assert_nothing_of(response, secrets: set[str], request_text: str) -> None:
    """Nothing of the other shop in the answer, but what the request itself said (an id it asked for, echoed)."""
    text = response.get_data(as_text=True)
    leaked = sorted(s for s in secrets if s in text and s not in request_text)
    assert not leaked, f"the answer names another shop's data {leaked}: {text[:500]}"


# --- the API -------------------------------------------------------------------------------------------------------

# Path parameter -> a shop's ids for it (the ids the path takes: row ids, or the platform's order id). Every
# route's id parameter must be here.
PATH_IDS = {
    "return_id": lambda rows, shop_id: sorted(rows.ids("returns", shop_id)),
    "event_id": lambda rows, shop_id: sorted(rows.ids("webhook_events", shop_id)),
    "request_id": lambda rows, shop_id: sorted(rows.ids("privacy_requests", shop_id)),
    "order_id": lambda rows, shop_id: sorted(row["platform_order_id"] for (t, _), row in rows.of(shop_id).items()
                                             if t == "orders"),
    "settlement_row_id": lambda rows, shop_id: sorted(rows.ids("settlements", shop_id)),
    # A credit note is addressed by its number in its shop's series: A's are numbers B has not issued (world).
    "number": lambda rows, shop_id: sorted(row["number"] for (t, _), row in rows.of(shop_id).items()
                                           if t == "credit_notes"),
}  # fmt: skip


def paths(rule: str, werkzeug_rule, rows: Rows, shop_id: int) -> list[str]:
    """The rule's path for every combination of the shop's ids its parameters take."""
    names = sorted(werkzeug_rule.arguments)
    return [fill(rule, dict(zip(names, values)))
            for values in itertools.product(*(PATH_IDS[name](rows, shop_id) for name in names))]  # fmt: skip


# (method, rule) -> the body sent, naming A's ids wherever the body takes ids. A route whose request body names
# an id (a property ending in _id or _ids, at any depth) must be here.
BODIES = {
    ("POST", "/api/v1/returns"): lambda w, rows: {"order_id": A_ORDER_ID, "items": [{"line_id": SWEATER, "quantity": 1}]},
    ("POST", "/api/v1/returns/<int(min=1, max=2147483647):return_id>/receive"): lambda w, rows: {
        "items": [{"item_id": i, "condition": "new", "restock": True} for i in sorted(rows.ids("return_items", w.a.id))]},
    ("POST", "/api/v1/privacy/exports"): lambda w, rows: {"email": A_EMAIL, "customer_id": A_CUSTOMER_ID, "order_ids": [A_ORDER_ID]},
    ("POST", "/api/v1/privacy/redactions"): lambda w, rows: {"email": A_EMAIL, "customer_id": A_CUSTOMER_ID, "order_ids": [A_ORDER_ID]},
    ("PUT", "/api/v1/shop/policy"): lambda w, rows: {"window_days": 7, "auto_approve": True},
    # A payout id is the provider's, read with the caller's own keys: the provider shows a shop only its own.
    ("POST", "/api/v1/settlements/read"): lambda w, rows: {"route": "stripe", "settlement_id": "po_of_shop_a"},
    ("PUT", "/api/v1/books/settings"): lambda w, rows: {"chart": "bas", "timezone": "Europe/Stockholm"},
}  # fmt: skip

LAST_MONTH = {"from": "2026-01-01", "to": "2026-12-31"}

# Routes without an id in their path, by what they do with the caller's key:
# ("listing", table): lists the caller's rows of that table; ("own",): acts on the caller's own shop;
# ("create", status): creates from the body (with A's ids): the status expected; ("disconnect",): run last.
NO_ID_ROUTES = {
    ("GET", "/api/v1/returns"): ("listing", "returns"),
    ("GET", "/api/v1/refunds"): ("listing", "refunds"),
    ("GET", "/api/v1/events"): ("listing", "webhook_events"),
    ("GET", "/api/v1/privacy/requests"): ("listing", "privacy_requests"),
    ("GET", "/api/v1/shop"): ("own",),
    ("PUT", "/api/v1/shop/policy"): ("own",),
    ("POST", "/api/v1/returns"): ("create", 404),
    ("POST", "/api/v1/privacy/exports"): ("create", 201),
    ("POST", "/api/v1/privacy/redactions"): ("create", 201),
    ("POST", "/api/v1/dashboard-links"): ("create", 201),  # a sign-in link to the caller's own dashboard
    ("POST", "/api/v1/shop/disconnect"): ("disconnect",),
    ("GET", "/api/v1/settlements"): ("listing", "settlements"),
    ("GET", "/api/v1/credit-notes"): ("listing", "refunds", "refund_id"),  # a note's refund: listed by its number
    ("POST", "/api/v1/settlements/read"): ("create", 202),
    # Reports over the caller's own data (a period's ledger, insight): answered, nothing of another shop in them.
    ("GET", "/api/v1/insight/products"): ("report", {}),
    ("GET", "/api/v1/insight/products.csv"): ("report", {}),
    ("GET", "/api/v1/insight/refund-times"): ("report", {}),
    ("GET", "/api/v1/insight/feedback"): ("report", {}),
    ("GET", "/api/v1/books/rows"): ("report", LAST_MONTH),
    ("GET", "/api/v1/books/vat-summary"): ("report", LAST_MONTH),
    ("GET", "/api/v1/books/export/rows.csv"): ("report", LAST_MONTH),
    ("GET", "/api/v1/books/export/procountor.json"): ("report", LAST_MONTH),
    ("GET", "/api/v1/books/export/netvisor.zip"): ("report", LAST_MONTH),
    ("GET", "/api/v1/books/export/sie"): ("report", LAST_MONTH),
    ("GET", "/api/v1/books/settings"): ("report", {}),
    ("PUT", "/api/v1/books/settings"): ("report", {}),
}

# Free-text query filters -> A's values (a filter with an enum is tried with every value it allows).
QUERY_VALUES = {
    "order": lambda w, rows: [A_ORDER_ID],
    "code": lambda w, rows: [row["code"] for (t, _), row in rows.of(w.a.id).items() if t == "returns"],
    "route": lambda w, rows: sorted({row["route"] for (t, _), row in rows.of(w.a.id).items() if t == "settlements"}),
    "refund_id": lambda w, rows: sorted(rows.ids("refunds", w.a.id)),
}
PAGING = {"page", "page_size"}
# Query parameters no listing has, naming A: refused (400), never read as a scope.
def smuggled_filters(w: World) -> list[dict]:
    return [{"shop_id": w.a.id}, {"shop": w.a.domain}, {"order_id": A_ORDER_ID}]

PARAM = re.compile(r"<(?:[^<>:]+:)?(\w+)>")


def api_routes(app) -> list[tuple[str, str, object]]:
    """(method, rule, Rule) of every route under /api/v1 that needs a key."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") and rule.endpoint not in PUBLIC:
            found += [(method, rule.rule, rule) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(found, key=lambda r: (r[1], r[0]))


def openapi_operation(document: dict, method: str, rule: str) -> dict:
    path = PARAM.sub(lambda m: "{" + m.group(1) + "}", rule)
    return document["paths"][path][method.lower()]


def body_id_fields(document: dict, operation: dict) -> set[str]:
    """The id-like properties (…_id, …_ids) of the operation's request body, at any depth."""
    found: set[str] = set()

    def walk(schema, depth=0):
        if depth > 8 or not isinstance(schema, dict):
            return
        if "$ref" in schema:
            return walk(document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], depth + 1)
        for name, inner in (schema.get("properties") or {}).items():
            if name.endswith(("_id", "_ids")):
                found.add(name)
            walk(inner, depth + 1)
        for key in ("items", "allOf", "oneOf", "anyOf"):
            for inner in (schema.get(key) if isinstance(schema.get(key), list) else [schema.get(key)]):
                walk(inner, depth + 1)

    for content in (operation.get("requestBody") or {}).get("content", {}).values():
        walk(content.get("schema"))
    return found


def fill(rule: str, values: dict) -> str:
    return PARAM.sub(lambda m: str(values[m.group(1)]), rule)


def call(client, method: str, path: str, headers: dict, body=None):
    kwargs = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {} if body is None else body
    return client.open(path, method=method, **kwargs)


def test_the_walk_covers_every_route_and_every_id(app, client):
    """Every route under /api/v1 that takes a key is walked: its path ids, its body ids and its kind are known."""
    document = client.get("/api/v1/openapi.json").get_json()
    routes = api_routes(app)
    assert routes, "no API routes found"
    for method, rule, werkzeug_rule in routes:
        unknown = set(werkzeug_rule.arguments) - set(PATH_IDS)
        assert not unknown, f"{method} {rule}: no ids of another shop for {unknown}: add them to PATH_IDS"
        if not werkzeug_rule.arguments:
            assert (method, rule) in NO_ID_ROUTES, f"{method} {rule}: say in NO_ID_ROUTES how it is walked"
        ids = body_id_fields(document, openapi_operation(document, method, rule))
        assert not ids or (method, rule) in BODIES, f"{method} {rule}: its body takes {ids}: add a body to BODIES"
    assert set(NO_ID_ROUTES) <= {(m, r) for m, r, _ in routes}, "NO_ID_ROUTES names a route the app no longer has"
    public = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")} & PUBLIC
    assert public == PUBLIC


def test_another_shops_key_reaches_nothing_of_the_shop_through_any_route(app, client, world, db):
    w = world
    document = client.get("/api/v1/openapi.json").get_json()
    rows = read_rows(db)
    secrets, a_rows = secrets_of(rows, w.a), rows.of(w.a.id)
    b = auth(w.key_b)
    walked, last = set(), []

    def check(method, path, answer, body, status):
        """The answer's status; nothing of A's in it (but what the request named); no row of A's changed."""
        request_text = path + json.dumps(body)
        assert answer.status_code == status, (method, path, answer.get_data(as_text=True)[:300])
        assert_nothing_of(answer, secrets, request_text)
        assert_unchanged(a_rows, read_rows(db).of(w.a.id), f"{method} {path} with B's key")

    for method, rule, werkzeug_rule in api_routes(app):
        walked.add((method, rule))
        body_of = BODIES.get((method, rule))
        body = body_of(w, rows) if body_of else None
        if werkzeug_rule.arguments:  # every id of A's in the path: 404, as for an id that does not exist
            a_paths = paths(rule, werkzeug_rule, rows, w.a.id)
            assert a_paths, f"{method} {rule}: A has no ids for it: give A data the route can be walked with"
            for path in a_paths:
                answer = call(client, method, path, b, body)
                check(method, path, answer, body, 404)
                assert answer.get_json()["error"] == "not_found"
            if method == "GET":  # B's own: answered, and what it shows of B's (an order's returns...) is B's alone
                for path in paths(rule, werkzeug_rule, rows, w.b.id):
                    answer = call(client, method, path, b)
                    check(method, path, answer, None, 200)
            continue
        kind = NO_ID_ROUTES[(method, rule)]
        if kind[0] == "listing":
            operation = openapi_operation(document, method, rule)
            queries = [{}]
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query" or parameter["name"] in PAGING:
                    continue
                name, schema = parameter["name"], parameter.get("schema", {})
                assert "enum" in schema or name in QUERY_VALUES, f"{method} {rule}: no values of A's for ?{name}="
                values = schema["enum"] if "enum" in schema else QUERY_VALUES[name](w, rows)
                queries += [{name: value, "page_size": 100} for value in values]
            for smuggled in smuggled_filters(w):  # a filter the listing does not have may not widen it: 400
                path = f"{rule}?{urlencode(smuggled)}"
                answer = call(client, method, path, b)
                check(method, path, answer, None, 400)
            for query in queries:
                path = rule + ("?" + urlencode(query) if query else "")
                answer = call(client, method, path, b)
                check(method, path, answer, None, 200)
                listed = {item[kind[2] if len(kind) > 2 else "id"] for item in answer.get_json()}
                assert not listed & rows.ids(kind[1], w.a.id), f"{path} lists A's {kind[1]}"
                assert listed <= read_rows(db).ids(kind[1], w.b.id), f"{path} lists rows that are not B's"
        elif kind[0] == "report":
            path = rule + ("?" + urlencode(kind[1]) if kind[1] else "")
            answer = call(client, method, path, b, body)
            check(method, path, answer, body, 200)
        elif kind[0] == "own":
            answer = call(client, method, rule, b, body)
            check(method, rule, answer, body, 200)
            assert answer.get_json()["domain"] == B_DOMAIN
        elif kind[0] == "create":
            answer = call(client, method, rule, b, body)
            check(method, rule, answer, body, kind[1])
            export = (answer.get_json() or {}).get("export") or {}
            if "orders" in export:  # an export for B naming A's customer: B holds nothing of theirs
                assert (export["orders"], export["returns"], export["inbox_events"]) == ([], [], [])
        else:
            last.append((method, rule, body))

    # B's own return, received with A's return items: 404, as for an unknown item.
    a_items = sorted(rows.ids("return_items", w.a.id))
    receive = {"items": [{"item_id": i} for i in a_items]}
    answer = call(client, "POST", f"/api/v1/returns/{w.b_return}/receive", b, receive)
    check("POST", f"/api/v1/returns/{w.b_return}/receive", answer, receive, 404)
    assert db.get(Return, w.b_return).status == "requested"

    assert [r for _, r, _ in last] == ["/api/v1/shop/disconnect"]
    for method, rule, body in last:  # B disconnects: A is still installed, and its key still works
        answer = call(client, method, rule, b, body)
        check(method, rule, answer, body, 200)
        assert answer.get_json()["domain"] == B_DOMAIN
    mine = client.get("/api/v1/shop", headers=auth(w.key_a))
    assert mine.status_code == 200 and mine.get_json()["domain"] == SHOP_DOMAIN
    listed = client.get("/api/v1/returns", headers=auth(w.key_a)).get_json()
    assert [r["id"] for r in listed] == sorted(w.a_returns, reverse=True)

    assert walked == {(m, r) for m, r, _ in api_routes(app)} and len(walked) >= 20


def test_without_a_valid_key_every_route_is_401_and_changes_nothing(app, client, world, db):
    w = world
    rows = read_rows(db)
    secrets = secrets_of(rows, w.a) | secrets_of(rows, w.b)
    assert client.post("/api/v1/shop/disconnect", headers=auth(w.key_b)).status_code == 200
    before = read_rows(db).rows
    keys = {
        "no key": {}, "not bearer": {"Authorization": f"Basic {w.key_a}"}, "unknown key": auth("plt_nobody_has_this_key"),
        "a webhook key": auth(w.a.webhook_key), "a disconnected shop's key": auth(w.key_b),
    }  # fmt: skip
    for method, rule, werkzeug_rule in api_routes(app):
        for path in paths(rule, werkzeug_rule, rows, w.a.id):
            body_of = BODIES.get((method, rule))
            body = body_of(w, rows) if body_of else None
            for what, headers in keys.items():
                answer = call(client, method, path, headers, body)
                assert answer.status_code == 401, (what, method, path, answer.get_data(as_text=True)[:300])
                assert answer.headers["WWW-Authenticate"] == 'Bearer realm="palautus"'
                assert answer.get_json()["error"] == "unauthorized"
                assert_nothing_of(answer, secrets, path + json.dumps(body))
    assert_unchanged(before, read_rows(db).rows, "requests without a valid key")


def test_the_public_documentation_names_no_shop(client, world, db):
    secrets = secrets_of(read_rows(db), world.a) | secrets_of(read_rows(db), world.b)
    secrets.discard(A_EMAIL)  # the document's own example address (SubjectIn), which the test order also uses
    for path in ("/api/v1/openapi.json", "/api/v1/docs"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert_nothing_of(answer, secrets, path)


# --- webhooks --------------------------------------------------------------------------------------------------------


def events_of(db, shop_id: int) -> list[WebhookEvent]:
    db.rollback()
    db.expire_all()
    return db.scalars(select(WebhookEvent).where(WebhookEvent.shop_id == shop_id).order_by(WebhookEvent.id)).all()


def test_shopify_deliveries_about_one_shop_sent_under_anothers_domain_change_only_that_other_shop(
    client, world, post_webhook, work, db, shopify
):
    """Shopify signs every shop's deliveries with the one app secret, so the receiver cannot tell a delivery
    about A sent under B's X-Shopify-Shop-Domain from B's own: it is verified, stored as B's and answered 200.
    What keeps A safe is that processing looks every id in the body up among B's rows only: A's order and
    return bodies give B its own order and return under the same platform ids (B's platform is the one read),
    A's refund and transactions touch only B's copy, and a body that names A's shop (a compliance or uninstall
    body, an order whose `order_status_url` is on A's myshopify.com host) fails ("names the shop ..., not ...")
    and changes nothing. No row of A changes, A's Shopify is never called,
    and A stays installed.
    """
    w = world
    before, calls_a = read_rows(db).of(w.a.id), len(shopify.calls)
    events_b = len(events_of(db, w.b.id))
    refund = payload("refunds__create.two_lines.json")
    transaction = payload("order_transactions__create.refund_failed.json")  # a refund's money, on A's order
    assert transaction["order_id"] == int(A_ORDER_ID)
    close = payload("returns__close.sample.json")
    close["id"], close["admin_graphql_api_id"] = int(A_PLATFORM_RETURN_ID), f"gid://shopify/Return/{A_PLATFORM_RETURN_ID}"
    redact = payload("customers__redact.sample.json")
    redact.update(shop_domain=B_DOMAIN, customer={"id": int(A_CUSTOMER_ID), "email": A_EMAIL},
                  orders_to_redact=[int(A_ORDER_ID)])  # fmt: skip
    naming_a = {"shop_domain": SHOP_DOMAIN}
    deliveries = [
        ("orders/create", payload(ORDER)), ("orders/updated", payload(ORDER)),
        ("returns/request", payload(RETURN_REQUEST)), ("refunds/create", refund), ("order_transactions/create", transaction),
        ("customers/data_request", data_request(B_DOMAIN, A_EMAIL, A_ORDER_ID)), ("customers/redact", redact),
        ("returns/close", close),
        ("orders/updated", {**payload(ORDER), "order_status_url": f"https://{SHOP_DOMAIN}/1/orders/ab/authenticate?key=k"}),
        ("customers/redact", {**payload("customers__redact.sample.json"), **naming_a}),
        ("customers/data_request", {**payload("customers__data_request.sample.json"), **naming_a}),
        ("shop/redact", {**payload("shop__redact.sample.json"), **naming_a}),
        ("app/uninstalled", {"id": 954889, "domain": SHOP_DOMAIN, "myshopify_domain": SHOP_DOMAIN}),
    ]  # fmt: skip
    for n, (topic, body) in enumerate(deliveries):
        answer = post_webhook(topic, body, webhook_id=f"about-a-under-b-{n}", domain=B_DOMAIN)
        assert answer.status_code == 200, (topic, answer.get_data(as_text=True))
        work()
        if topic == "customers/data_request" and body["shop_domain"] == B_DOMAIN:
            # B's export for A's customer holds B's rows alone (the copies the deliveries above gave B, if any);
            # read now: the erasure that follows drops the export.
            rows = read_rows(db)
            [done] = db.scalars(select(PrivacyRequest).where(PrivacyRequest.shop_id == w.b.id,
                                                             PrivacyRequest.kind == "customer_data_request")).all()  # fmt: skip
            assert done.status == "done" and done.export["orders"], done.export
            assert {r["id"] for r in done.export["returns"]} <= rows.ids("returns", w.b.id)
            assert {e["id"] for e in done.export["inbox_events"]} <= rows.ids("webhook_events", w.b.id)

    stored = events_of(db, w.b.id)[events_b:]
    assert [e.topic for e in stored] == [topic for topic, _ in deliveries]  # every one stored as B's
    for event in stored[-5:]:  # the bodies naming A's shop
        assert event.status == "failed" and SHOP_DOMAIN in event.error and B_DOMAIN in event.error, event.error
    assert_unchanged(before, read_rows(db).of(w.a.id), "deliveries about A under B's domain")
    assert len(shopify.calls) == calls_a, "A's Shopify was called for B's deliveries"
    db.expire_all()
    assert db.get(Shop, w.a.id).uninstalled_at is None and db.get(Shop, w.b.id).uninstalled_at is None
    # They were applied, to B: B has its own copy of the order and of the return, under A's platform ids.
    copy = db.scalar(select(Order).where(Order.shop_id == w.b.id, Order.platform_order_id == A_ORDER_ID))
    assert copy is not None and copy.shop_refunds
    assert db.scalar(select(Return).where(Return.shop_id == w.b.id, Return.platform_return_id == A_PLATFORM_RETURN_ID))


def test_a_shopify_custom_apps_own_secret_signs_for_its_shop_alone(register, post_webhook, db):
    """A custom app signs with a secret of its own: a delivery it signed is refused under another shop's domain,
    and the shared app secret is refused for the custom app's domain."""
    c, _ = register(domain="custom-c.myshopify.com", webhook_secret="own-secret-of-c")
    d, _ = register(domain="custom-d.myshopify.com", webhook_secret="own-secret-of-d")
    shared, _ = register(domain="shared-e.myshopify.com")
    body = payload(ORDER)
    for domain in (d.domain, shared.domain):
        answer = post_webhook("orders/create", body, webhook_id="c-signed", domain=domain, secret="own-secret-of-c")
        assert answer.status_code == 401 and answer.get_json()["error"] == "unauthorized"
    assert post_webhook("orders/create", body, webhook_id="shared-signed", domain=c.domain).status_code == 401
    assert post_webhook("orders/create", body, webhook_id="c-signed", domain=c.domain,
                        secret="own-secret-of-c").status_code == 200  # fmt: skip
    assert [e.delivery_id for s in (c, d, shared) for e in events_of(db, s.id)] == ["c-signed"]


def stripe_headers(body: bytes, secret: str) -> dict:
    stamp = int(time.time())
    v1 = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v1={v1}"}


def test_stripe_events_are_verified_with_the_secret_of_the_shop_whose_address_they_reach(client, world, stripe, work, db):
    """Each shop has its own Stripe address (its webhook key) and endpoint secret. An event signed with A's secret
    is 401 at B's address (and B's at A's). An event B's own endpoint signed that names A's refund (its Stripe
    id and our key) is stored for B, and its processing looks for the refund among B's refunds only: A's
    refund stays as it was. The same event at A's address, signed with A's secret, does settle it."""
    w = world
    refund = db.scalar(select(Refund))
    assert refund.status == "submitted"
    [at_stripe] = stripe.refunds.values()
    event = {"id": "evt_isolation_1", "object": "event", "type": "charge.refund.updated", "api_version": "2023-08-16",
             "data": {"object": {**at_stripe, "status": "failed", "failure_reason": "lost_or_stolen_card"}}}  # fmt: skip
    body = json.dumps(event).encode()
    at_a, at_b = f"/webhooks/payments/stripe/{w.a.webhook_key}", f"/webhooks/payments/stripe/{w.b.webhook_key}"
    stored = {s.id: len(events_of(db, s.id)) for s in (w.a, w.b)}
    assert client.post(at_b, data=body, headers=stripe_headers(body, A_STRIPE_WHSEC)).status_code == 401
    assert client.post(at_a, data=body, headers=stripe_headers(body, B_STRIPE_WHSEC)).status_code == 401
    assert {s.id: len(events_of(db, s.id)) for s in (w.a, w.b)} == stored

    before = read_rows(db).of(w.a.id)
    assert client.post(at_b, data=body, headers=stripe_headers(body, B_STRIPE_WHSEC)).status_code == 200
    work()
    [b_event] = events_of(db, w.b.id)[stored[w.b.id]:]
    assert b_event.platform == "stripe" and b_event.status == "processed"
    assert_unchanged(before, read_rows(db).of(w.a.id), "B's Stripe event naming A's refund")

    assert client.post(at_a, data=body, headers=stripe_headers(body, A_STRIPE_WHSEC)).status_code == 200
    work()
    db.expire_all()
    assert db.get(Refund, refund.id).status == "failed"  # the same event, A's own: it was potent


def paytrail_query(secret: str, **params) -> str:
    checkout = {"checkout-account": "375917", "checkout-algorithm": "sha256", "checkout-status": "ok", **params}
    checkout["signature"] = paytrail.sign(checkout, b"", secret)
    # Our own URL parameter, naming no refund: a callback is tied to a refund only by what Paytrail signed.
    return urlencode({paytrail.KEY_PARAM: "palautus-1-names-no-refund", **checkout})


def test_paytrail_callbacks_are_verified_with_the_secret_of_the_shop_whose_address_they_reach(client, world, work, db):
    """A callback signed with A's Paytrail secret is 401 at B's address (and B's at A's), whatever refund it names;
    B's own signed callback naming A's refund (its key as the stamp) is stored for B and changes nothing of A."""
    w = world
    refund = db.scalar(select(Refund))
    names_a = {"checkout-stamp": refund.idempotency_key, "checkout-transaction-id": refund.provider_refund_id}
    at_a, at_b = (f"/webhooks/payments/paytrail/{s.webhook_key}/success" for s in (w.a, w.b))
    stored = {s.id: len(events_of(db, s.id)) for s in (w.a, w.b)}
    before = read_rows(db).of(w.a.id)
    assert client.get(f"{at_b}?{paytrail_query(A_PAYTRAIL, **names_a)}").status_code == 401
    assert client.get(f"{at_a}?{paytrail_query(B_PAYTRAIL, **names_a)}").status_code == 401
    assert {s.id: len(events_of(db, s.id)) for s in (w.a, w.b)} == stored
    assert client.get(f"{at_b}?{paytrail_query(B_PAYTRAIL, **names_a)}").status_code == 200
    work()
    [b_event] = events_of(db, w.b.id)[stored[w.b.id]:]
    assert b_event.platform == "paytrail" and b_event.status != "processed"  # no refund of B's: kept, B told
    assert "no refund of this shop matches" in b_event.error
    assert_unchanged(before, read_rows(db).of(w.a.id), "B's Paytrail callback naming A's refund")


def test_woocommerce_deliveries_are_verified_with_the_secret_of_the_store_whose_address_they_reach(app, client, register, db):
    """Each store's deliveries come to its own address (its webhook key) signed with its own secret: another
    store's signature is 401 there, and a Shopify shop's address takes no WooCommerce delivery (404)."""
    from integration.services.shops import register_shop

    stores = {}
    with app.extensions["db"].session() as session:
        for name in ("a", "b"):
            shop, _ = register_shop(session, app.extensions["vault"], platform="woocommerce",
                                    domain=f"https://{name}-store.example", currency="EUR",
                                    credentials={"consumer_key": f"ck_{name}", "consumer_secret": f"cs_{name}",
                                                 "webhook_secret": f"woo-secret-of-{name}"})  # fmt: skip
            session.expunge(shop)
            stores[name] = shop
    shopify_shop, _ = register(domain="not-a-store.myshopify.com")
    body = json.dumps({"id": 727, "status": "processing", "billing": {"email": "a@example.fi"}}).encode()

    def post(key: str, secret: str, source: str):
        return client.post(f"/webhooks/woocommerce/{key}", data=body, headers={
            "Content-Type": "application/json", "X-WC-Webhook-Source": source + "/", "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "updated", "X-WC-Webhook-ID": "31",
            "X-WC-Webhook-Signature": woo_sign(body, secret), "X-WC-Webhook-Delivery-ID": "4d6c3a1e2f0b9a8c"})  # fmt: skip

    a, b = stores["a"], stores["b"]
    assert post(b.webhook_key, "woo-secret-of-a", a.domain).status_code == 401
    assert post(b.webhook_key, "woo-secret-of-a", b.domain).status_code == 401
    assert post(a.webhook_key, "woo-secret-of-b", b.domain).status_code == 401
    assert post(shopify_shop.webhook_key, "woo-secret-of-a", a.domain).status_code == 404  # not a store's address
    assert [events_of(db, s.id) for s in (a, b, shopify_shop)] == [[], [], []]
    assert post(a.webhook_key, "woo-secret-of-a", a.domain).status_code == 200
    assert [len(events_of(db, s.id)) for s in (a, b)] == [1, 0]


# --- jobs ------------------------------------------------------------------------------------------------------------


# Jobs about a whole shop that also take what its provider calls something (a payout's id, a period): they read the
# shop from its id, and the provider, asked with that shop's own keys, answers only about that shop's payouts.
SHOP_JOBS = {"read_settlement": ("shop_id", "route", "settlement_id"), "read_settlements": ("shop_id", "route", "since", "until")}


def test_the_shop_jobs_take_the_shop_s_id_then_only_the_provider_s_words(app, monkeypatch):
    from jobs.queue import RQTasks

    queued = []
    monkeypatch.setattr(RQTasks, "_enqueue", lambda self, func, *args, **kw: queued.append((func, args)))
    for name, parameters in SHOP_JOBS.items():
        signature = pyinspect.signature(getattr(Tasks, name)).parameters
        assert tuple(n for n in signature if n != "self") == parameters
        assert signature["shop_id"].annotation in (int, "int")
        assert all(signature[n].annotation in (str, "str") for n in parameters[1:])
        getattr(app.extensions["tasks"], name)(7, *("x" for _ in parameters[1:]))
    for func, args in queued:
        module, _, attr = func.rpartition(".")
        job = list(pyinspect.signature(getattr(importlib.import_module(module), attr)).parameters)
        assert job[0] == "shop_id" and args[0] == 7 and len(job) == len(args), (func, job)


def test_every_job_takes_one_id_and_no_shop(app, monkeypatch):
    """The jobs Palautus queues take the id of one row and nothing else: no shop id, no second id. Each reads
    its row and takes the shop from it (push_refund and sync_refund: refund.ret.shop_id; sync_return:
    ret.shop_id; process_webhook: event.shop_id, set by the receiver that verified the delivery; read_payments:
    order.shop_id; read_products and open_shop_return: the order's or the return's shop; carry_out_withdrawal:
    withdrawal.shop_id; send_message: message.shop_id; connect_shop and catch_up_shop: the shop itself), so no job can be handed a row with another shop's
    context: the only ids a job meets that are not its row's are platform and provider ids in a delivery's
    body, and those it looks up among its shop's rows (the webhook tests above, and the next test)."""
    from jobs.queue import RQTasks

    queued = []
    monkeypatch.setattr(RQTasks, "_enqueue", lambda self, func, *args, **kw: queued.append((func, args)))
    tasks = app.extensions["tasks"]
    names = [n for n, f in vars(Tasks).items() if callable(f) and not n.startswith("_") and n not in SHOP_JOBS]
    assert len(names) == 11
    for name in names:
        [(_, argument)] = [(n, p) for n, p in pyinspect.signature(getattr(Tasks, name)).parameters.items() if n != "self"]
        assert argument.name.endswith("_id") and argument.annotation in (int, "int"), (name, argument)
        getattr(tasks, name)(7)
    for func, args in queued + [("jobs.catch_up.catch_up_shop", (7,))]:
        module, _, attr = func.rpartition(".")
        parameters = list(pyinspect.signature(getattr(importlib.import_module(module), attr)).parameters.values())
        assert args == (7,) and len(parameters) == 1 and parameters[0].name.endswith("_id"), (func, parameters)


def test_jobs_run_on_one_shops_ids_change_nothing_of_the_other_even_under_the_same_platform_ids(
    client, world, post_webhook, work, shopify, stripe, db
):
    """B holds its own order and return under A's platform ids (A's deliveries under B's domain) and a refund
    of its own. Every job run on A's ids (push_refund and sync_refund on each refund, sync_return on each
    return, process_webhook on each delivery) changes no row of B's and never calls B's Shopify; every job run
    on B's ids changes no row of A's and never calls A's Shopify. (connect_shop and catch_up_shop take only the
    shop's own id and are for WooCommerce stores: nothing to mismatch, see the test above.)"""
    from jobs.events import process_webhook
    from jobs.refunds import push_refund
    from jobs.sync import sync_refund, sync_return

    w = world
    for n, (topic, body) in enumerate([("orders/create", payload(ORDER)), ("returns/request", payload(RETURN_REQUEST))]):
        assert post_webhook(topic, body, webhook_id=f"copy-{n}", domain=B_DOMAIN).status_code == 200
        work()
    copy = db.scalar(select(Return).where(Return.shop_id == w.b.id, Return.platform_return_id == A_PLATFORM_RETURN_ID))
    approve_and_receive(client, w.key_b, copy.id)
    work()
    # Work for every job: both refunds paid at Stripe (push_refund reads it, then sync_refund records it in the
    # shop) and every platform return behind ours in the shop (sync_return moves it).
    stripe.settle("succeeded")
    db.execute(update(Return).where(Return.platform_return_id.is_not(None)).values(shop_status="REQUESTED"))
    db.commit()
    rows = read_rows(db)
    assert rows.ids("refunds", w.b.id) and rows.ids("orders", w.b.id)
    synced = {shop.id: rows.ids("returns", shop.id) for shop in (w.a, w.b)}

    def jobs(shop_id: int) -> list:
        return ([(push_refund, i) for i in rows.ids("refunds", shop_id)]
                + [(sync_refund, i) for i in rows.ids("refunds", shop_id)]
                + [(sync_return, i) for i in rows.ids("returns", shop_id)]
                + [(process_webhook, i) for i in rows.ids("webhook_events", shop_id)])  # fmt: skip

    for mine, other, others_fake in ((w.a, w.b, w.shopify_b), (w.b, w.a, shopify)):
        for job, row_id in jobs(mine.id):
            before, calls = read_rows(db).of(other.id), len(others_fake.calls)
            job(row_id)
            work()
            assert_unchanged(before, read_rows(db).of(other.id), f"{job.__name__}({row_id}) of shop {mine.domain}")
            assert len(others_fake.calls) == calls, f"{job.__name__}({row_id}) called {other.domain}'s Shopify"
    # The jobs did their work, each in its own shop.
    db.expire_all()
    assert [r.status for r in db.scalars(select(Refund).order_by(Refund.id))] == ["succeeded", "succeeded"]
    assert all(r.shop_synced_at for r in db.scalars(select(Refund)))
    for fake in (shopify, w.shopify_b):
        assert {op for op, _ in fake.calls} >= {"RefundCreate", "ReturnApproveRequest"}, fake.domain
    assert all(db.get(Return, i).shop_status != "REQUESTED" for ids in synced.values() for i in ids
               if db.get(Return, i).platform_return_id)  # fmt: skip
