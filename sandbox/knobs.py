"""Benchmark knobs for the sandbox server, both off by default: a latency on every API answer, and the real APIs'
per-account rate limits, answered the way each real API answers them.

Latency (`Sandbox(latency_ms=...)`, `SANDBOX_LATENCY_MS`): every answer of a stand-in API (Shopify, WooCommerce,
Stripe, Klarna, PayPal, Paytrail) waits that long first, in the request's own thread, so requests still overlap
as they do against a real service far away. The control API (`/sandbox/...`) answers at once: it is the harness,
not a stand-in for anything.

Rate limits (`RateLimits`, `SANDBOX_RATE_LIMITS=1`):

- Stripe (docs.stripe.com/rate-limits): "Live mode: 100 read operations and 100 write operations; test mode: 25
  read operations and 25 write operations" per second, per account. A request over the limit is not carried out
  and gets HTTP 429 with Stripe's error object, code `rate_limit` (type `invalid_request_error`, message "Request
  rate limit exceeded."), and no Retry-After: Stripe asks clients to back off on their own. The sandbox's keys are
  test keys, so test mode is the default (`SANDBOX_STRIPE_MODE=live` for the live figures). Each second's
  allowance is a bucket of that many requests, refilled continuously.
- Shopify Admin GraphQL (shopify.dev, "GraphQL Admin API rate limits"): a leaky bucket of cost points per app and
  shop, restoring 100 points/second on the Standard plan (200 Advanced, 1,000 Plus). A query's requested cost is
  computed from the document before it runs (scalars and enums 0, objects 1, a connection 2 plus `first` times
  its node, lists of objects sized by `first` or their `ids`, mutations 10); when the bucket holds less, nothing
  runs and the answer is HTTP 200 with `errors[0].extensions.code` THROTTLED and `extensions.cost` (its
  `requestedQueryCost`, `actualQueryCost` null, and `throttleStatus` {maximumAvailable, currentlyAvailable,
  restoreRate}). Otherwise the requested cost is taken, the query runs, the difference to its actual cost (the
  same rules over what it returned) is given back, and the answer carries `extensions.cost` as Shopify's does.
  The pages consulted give the restore rates, not the bucket sizes; the bucket here holds 20 seconds of restore
  (2,000 points on Standard), the ratio of Shopify's long-documented 1,000-point bucket at 50 points/second.

`RateLimits.summary()` (`GET /sandbox/limits`) counts, per API, the requests answered by operation and those
refused (429 / THROTTLED), so a benchmark can say which calls a flow makes and show it respected the limits.
"""
from __future__ import annotations

import functools
import threading
import time
from collections import Counter

from sandbox.http import Reply, Request, error

__all__ = ["RateLimits", "TokenBucket", "query_cost", "STRIPE_LIMITS", "SHOPIFY_PLANS", "MUTATION_COST"]

# Requests per second per account: (read, write), from Stripe's rate limits page.
STRIPE_LIMITS = {"live": (100, 100), "test": (25, 25)}
# GraphQL Admin cost points: (bucket size, restored per second), by the shop's plan.
SHOPIFY_PLANS = {"standard": (2000, 100), "advanced": (4000, 200), "plus": (20000, 1000)}
MUTATION_COST = 10
STRIPE_RATE_LIMITED = {"error": {
    "type": "invalid_request_error", "code": "rate_limit", "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
    "message": "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
}}  # fmt: skip
THROTTLED = {"message": "Throttled", "extensions": {"code": "THROTTLED",
                                                    "documentation": "https://shopify.dev/api/usage/rate-limits"}}  # fmt: skip


class TokenBucket:
    """`capacity` units, refilled at `rate` per second (a leaky bucket seen from the side of what is left)."""

    def __init__(self, capacity: float, rate: float, clock=time.monotonic):
        self.capacity, self.rate, self.clock = float(capacity), float(rate), clock
        self._level, self._stamp = float(capacity), clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, amount: float) -> bool:
        """Take `amount` if the bucket holds it; False (nothing taken) if not."""
        with self._lock:
            self._refill()
            if self._level < amount:
                return False
            self._level -= amount
            return True

    def give(self, amount: float) -> None:
        with self._lock:
            self._refill()
            self._level = min(self.capacity, self._level + amount)

    def level(self) -> float:
        with self._lock:
            self._refill()
            return self._level


class RateLimits:
    """Per-account limits for the sandbox's Stripe and per-shop cost buckets for its Shopify; see the module doc."""

    def __init__(self, stripe_mode: str = "test", shopify_plan: str = "standard", clock=time.monotonic, *,
                 stripe_rates: tuple[int, int] | None = None, shopify_bucket: tuple[int, int] | None = None):  # fmt: skip
        """`stripe_rates` (read, write per second) and `shopify_bucket` (points, restored per second) replace the
        mode's and the plan's figures (tests, and benchmarks that want to see the limits bite)."""
        self.stripe_mode, self.shopify_plan, self.clock = stripe_mode, shopify_plan, clock
        self.stripe_rates = stripe_rates or STRIPE_LIMITS[stripe_mode]
        self.shopify_bucket, self.shopify_restore = shopify_bucket or SHOPIFY_PLANS[shopify_plan]
        self._buckets: dict[tuple, TokenBucket] = {}
        self._lock = threading.Lock()
        self.answered: Counter = Counter()  # (api, operation) -> requests carried out
        self.refused: Counter = Counter()  # (api, operation) -> requests refused as over the limit

    def _bucket(self, key: tuple, capacity: float, rate: float) -> TokenBucket:
        with self._lock:
            if key not in self._buckets:
                self._buckets[key] = TokenBucket(capacity, rate, self.clock)
            return self._buckets[key]

    def _count(self, counter: Counter, api: str, operation: str) -> None:
        with self._lock:
            counter[(api, operation)] += 1

    # --- Stripe ---------------------------------------------------------------------------------------

    def stripe(self, request: Request, accounts: dict) -> Reply | None:
        """None when the request may go on; Stripe's 429 when its account is over this second's allowance.
        `request.path` is Stripe's own (/v1/...); a key the sandbox does not know is left to Stripe's 401."""
        key = request.header("Authorization").partition(" ")[2]
        if not key or (accounts and key not in accounts):
            return None
        write = request.method != "GET"
        rate = self.stripe_rates[1 if write else 0]
        operation = f"{request.method} {_stripe_resource(request.path)}"
        if not self._bucket(("stripe", key, write), rate, rate).take(1):
            self._count(self.refused, "stripe", operation)
            return error(429, STRIPE_RATE_LIMITED, **{"Request-Id": "req_rate_limited"})
        self._count(self.answered, "stripe", operation)
        return None

    # --- Shopify -------------------------------------------------------------------------------------

    def shopify(self, shop, request: Request) -> Reply:
        """The shop's answer to one Admin GraphQL request, under the shop's cost bucket."""
        from sandbox.schema import InvalidDocument, checked_operation

        token = request.header("X-Shopify-Access-Token")
        try:
            body = request.json()
            query, variables = body["query"], body.get("variables") or {}
            operation = checked_operation(shop.schema, query)
        except (ValueError, KeyError, TypeError, InvalidDocument):
            return shop.handle(request)  # the shop's own 400, or its answer to an invalid document
        if shop.access_token is not None and token != shop.access_token:
            return shop.handle(request)  # refused before any cost is counted
        bucket = self._bucket(("shopify", shop.domain), self.shopify_bucket, self.shopify_restore)
        requested = query_cost(shop.schema, query, variables)
        if not bucket.take(requested):
            self._count(self.refused, "shopify", operation)
            return Reply(200, {"errors": [THROTTLED], "extensions": {"cost": self._cost(requested, None, bucket)}})
        try:
            reply = shop.handle(request)
        except BaseException:
            bucket.give(requested)
            raise
        data = reply.body.get("data") if isinstance(reply, Reply) and isinstance(reply.body, dict) else None
        actual = min(requested, query_cost(shop.schema, query, variables, data)) if data is not None else 0
        bucket.give(requested - actual)
        self._count(self.answered, "shopify", operation)
        if isinstance(reply, Reply) and reply.status == 200 and isinstance(reply.body, dict):
            reply.body = {**reply.body, "extensions": {"cost": self._cost(requested, actual, bucket)}}
        return reply

    def _cost(self, requested: int, actual: int | None, bucket: TokenBucket) -> dict:
        return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": {
            "maximumAvailable": bucket.capacity, "currentlyAvailable": int(bucket.level()), "restoreRate": bucket.rate}}

    # --- what it saw ---------------------------------------------------------------------------------

    def summary(self) -> dict:
        """What was answered and refused, per API and operation: {"stripe": {"answered": {...}, "refused": {...}}}."""
        with self._lock:
            found: dict = {}
            for name, counter in (("answered", self.answered), ("refused", self.refused)):
                for (api, operation), n in counter.items():
                    found.setdefault(api, {"answered": {}, "refused": {}})[name][operation] = n
        return {"on": True, "stripe_mode": self.stripe_mode, "stripe_per_second": dict(zip(("read", "write"), self.stripe_rates)),
                "shopify_plan": self.shopify_plan, "shopify_bucket": self.shopify_bucket,
                "shopify_restore_rate": self.shopify_restore, **found}  # fmt: skip


def _stripe_resource(path: str) -> str:
    """/v1/refunds/re_123 -> /v1/refunds/{id}: one operation, whatever object it names (a verb after the object,
    /v1/payment_intents/pi_123/cancel, stays: /v1/payment_intents/{id}/cancel)."""
    parts = path.split("/")
    return "/".join(part if i < 3 or (i > 3 and part.isalpha()) else "{id}" for i, part in enumerate(parts))


# --- the GraphQL Admin API's calculated query cost ---------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _parsed(query: str):
    from graphql import parse

    return parse(query)


def query_cost(schema, query: str, variables: dict | None = None, data: dict | None = None) -> int:
    """The document's cost as Shopify calculates it: requested (from the document) or, given the answer's `data`,
    actual (from what it returned)."""
    from graphql import FragmentDefinitionNode, OperationDefinitionNode, OperationType

    document = _parsed(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(operation.selection_set.selections)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    counter = _Cost(schema, variables or {}, fragments, measured=data is not None)
    return counter.selections(operation.selection_set, schema.query_type, data)


class _Cost:
    def __init__(self, schema, variables: dict, fragments: dict, measured: bool):
        self.schema, self.variables, self.fragments, self.measured = schema, variables, fragments, measured

    def selections(self, selection_set, parent, data, size: int = 1) -> int:
        """The cost of a selection on an object of type `parent` (its value `data` when measured); `size`: how
        many nodes a connection's `nodes` or `edges` stand for, when not measured."""
        from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode

        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                field = getattr(parent, "fields", {}).get(name)
                if field is None:  # __typename, or a field of another type in an abstract selection
                    continue
                key = selection.alias.value if selection.alias else name
                value = data.get(key) if isinstance(data, dict) else None
                total += self.field(selection, field, value, size)
            elif isinstance(selection, (InlineFragmentNode, FragmentSpreadNode)):
                if isinstance(selection, FragmentSpreadNode):
                    selection = self.fragments[selection.name.value]
                condition = selection.type_condition
                kind = self.schema.get_type(condition.name.value) if condition else parent
                if self.measured and isinstance(data, dict) and data.get("__typename") not in (None, kind.name):
                    continue  # measured: only the fragment of the type that came back
                total += self.selections(selection.selection_set, kind, data, size)
        return total

    def field(self, node, field, value, size: int) -> int:
        from graphql import GraphQLList, get_named_type, get_nullable_type, is_leaf_type, value_from_ast_untyped

        named = get_named_type(field.type)
        if is_leaf_type(named):
            return 0
        args = {a.name.value: value_from_ast_untyped(a.value, self.variables) for a in node.arguments or ()}
        if named.name.endswith("Connection"):
            wanted = args.get("first") or args.get("last") or 0
            return 2 + self.selections(node.selection_set, named, value, int(wanted))
        if isinstance(get_nullable_type(field.type), GraphQLList):
            if self.measured:
                items = value if isinstance(value, list) else []
                return sum(1 + self.selections(node.selection_set, named, item) for item in items)
            if "first" in args or "ids" in args:
                count = args.get("first") or len(args.get("ids") or ()) or 1
            elif node.name.value in ("nodes", "edges"):
                count = size  # a connection's page: as many as the connection asked for
            else:
                count = 1
            return int(count) * (1 + self.selections(node.selection_set, named, None))
        return 1 + self.selections(node.selection_set, named, value if self.measured else None)
