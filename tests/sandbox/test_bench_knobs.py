"""The sandbox's benchmark knobs: a latency that keeps requests overlapping, and the real APIs' rate limits, answered
as Stripe and Shopify answer them and understood by Palautus's own adapters as "try again later"."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from adapters.errors import ProviderUnavailable
from adapters.payments import ROUTES
from adapters.platforms import PLATFORMS
from adapters.platforms.shopify import graphql as gql
from sandbox.knobs import RateLimits, query_cost
from sandbox.server import HTTPSandbox, Sandbox, WebhookSender
from tests.sandbox.conftest import SHOP


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _serve(shopify_schema, inbox, **knobs):
    sandbox = Sandbox(shopify_schema, sender=WebhookSender(delays=(0.05,)), **knobs)
    server = HTTPSandbox(sandbox.answer)
    opened = sandbox.open_shop(SHOP, inbox.url)
    config = {"SHOPIFY_API_BASE": f"{server.url}/shopify/{{shop}}", "SHOPIFY_API_VERSION": "2026-10",
              "STRIPE_API_BASE": f"{server.url}/stripe", "HTTP_TIMEOUT": 5.0}  # fmt: skip
    return sandbox, server, opened, config


@pytest.fixture
def served(shopify_schema, inbox):
    """Start a sandbox with the given knobs; every one started is closed after the test."""
    servers = []

    def start(**knobs):
        sandbox, server, opened, config = _serve(shopify_schema, inbox, **knobs)
        servers.append(server)
        return sandbox, server, opened, config

    yield start
    for server in servers:
        server.close()


def test_the_knobs_are_off_by_default(served):
    sandbox, server, opened, config = served()
    assert sandbox.latency == 0 and sandbox.limits is None
    assert requests.get(f"{server.url}/sandbox/limits").json() == {"on": False}
    answer = requests.post(config["SHOPIFY_API_BASE"].format(shop=SHOP) + "/admin/api/2026-10/graphql.json",
                           json={"query": gql.SHOP_PING, "variables": {}},
                           headers={"X-Shopify-Access-Token": opened["access_token"]})  # fmt: skip
    assert answer.status_code == 200 and "extensions" not in answer.json()  # the answers are as they were


def test_latency_delays_every_api_answer_in_its_own_thread_but_not_the_control_api(served):
    sandbox, server, opened, config = served(latency_ms=300)
    started = time.perf_counter()
    assert requests.get(f"{server.url}/sandbox/state").ok
    assert time.perf_counter() - started < 0.25  # the harness answers at once

    key = opened["stripe_secret_key"]
    took: list[float] = []

    def read():
        t = time.perf_counter()
        answer = requests.get(f"{server.url}/stripe/v1/refunds", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        took.append(time.perf_counter() - t)

    threads = [threading.Thread(target=read) for _ in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(took) == 4 and min(took) >= 0.29  # each waited
    assert time.perf_counter() - started < 0.9  # together, not one after another (4 x 0.3 s)


def test_a_kept_alive_connection_waits_the_latency_and_no_more(served):
    # The answer's headers and body are two writes: with Nagle's algorithm on, the body would wait for the
    # client's delayed ACK (about 40 ms) on every request after a connection's first.
    sandbox, server, opened, config = served(latency_ms=100)
    session = requests.Session()
    headers = {"Authorization": f"Bearer {opened['stripe_secret_key']}"}
    assert session.get(f"{server.url}/stripe/v1/refunds", headers=headers).ok
    took = []
    for _ in range(5):
        started = time.perf_counter()
        assert session.get(f"{server.url}/stripe/v1/refunds", headers=headers).ok
        took.append(time.perf_counter() - started)
    assert min(took) >= 0.099 and sum(took) / len(took) < 0.125


def test_stripe_answers_429_rate_limit_past_the_accounts_allowance_per_second(served):
    clock = Clock()
    sandbox, server, opened, config = served(limits=RateLimits(clock=clock))  # test mode: 25 reads, 25 writes
    key = opened["stripe_secret_key"]
    payment = sandbox.stripe.charge(5000, "eur", account_key=key)
    route = ROUTES["stripe"].connect({"secret_key": key}, config)

    statuses = [requests.get(f"{server.url}/stripe/v1/refunds", headers={"Authorization": f"Bearer {key}"}).status_code
                for _ in range(26)]  # fmt: skip
    assert statuses == [200] * 25 + [429]
    refused = requests.get(f"{server.url}/stripe/v1/refunds", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert refused.json()["error"]["code"] == "rate_limit" and refused.json()["error"]["type"] == "invalid_request_error"

    with pytest.raises(ProviderUnavailable) as raised:  # Palautus's adapter: try again later, nothing concluded
        route.get_refund("re_0001")
    assert raised.value.status == 429 and raised.value.code == "rate_limit"

    # Writes have an allowance of their own, as has every other account.
    made = requests.post(f"{server.url}/stripe/v1/refunds", data={"payment_intent": payment["id"], "amount": "100"},
                         headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k1"})  # fmt: skip
    assert made.status_code == 200
    other = sandbox.stripe.open_account()
    assert requests.get(f"{server.url}/stripe/v1/refunds", headers={"Authorization": f"Bearer {other}"}).status_code == 200

    clock.now += 1  # a second later the account may read again
    assert requests.get(f"{server.url}/stripe/v1/refunds", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    seen = requests.get(f"{server.url}/sandbox/limits").json()["stripe"]
    assert seen["refused"] == {"GET /v1/refunds": 2, "GET /v1/refunds/{id}": 1}
    assert seen["answered"]["POST /v1/refunds"] == 1 and seen["answered"]["GET /v1/refunds"] == 27


def test_stripe_live_mode_allows_100_a_second(served):
    clock = Clock()
    sandbox, server, opened, config = served(limits=RateLimits("live", clock=clock))
    key = opened["stripe_secret_key"]
    statuses = [requests.get(f"{server.url}/stripe/v1/refunds", headers={"Authorization": f"Bearer {key}"}).status_code
                for _ in range(101)]  # fmt: skip
    assert statuses.count(200) == 100 and statuses[-1] == 429


def test_shopify_charges_each_query_its_cost_and_answers_throttled_when_the_bucket_is_short(served):
    clock = Clock()
    limits = RateLimits(clock=clock, shopify_bucket=(260, 10))  # a small bucket: ORDER_REFUNDS asks 253 points
    sandbox, server, opened, config = served(limits=limits)
    shop = sandbox.shops[SHOP]
    order = shop.create_order([("BEANIE-RED", 1)], stripe=sandbox.stripe, stripe_key=opened["stripe_secret_key"])
    platform = PLATFORMS["shopify"].connect(SHOP, {"access_token": opened["access_token"]}, config)
    url = config["SHOPIFY_API_BASE"].format(shop=SHOP) + "/admin/api/2026-10/graphql.json"
    headers = {"X-Shopify-Access-Token": opened["access_token"]}
    query = {"query": gql.ORDER_REFUNDS, "variables": {"id": order["admin_graphql_api_id"]}}

    answer = requests.post(url, json=query, headers=headers).json()
    cost = answer["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 253 == query_cost(shop.schema, gql.ORDER_REFUNDS, {"id": "x"})
    assert 0 < cost["actualQueryCost"] < 10  # no refunds listed: the difference is given back
    assert cost["throttleStatus"] == {"maximumAvailable": 260, "currentlyAvailable": 260 - cost["actualQueryCost"],
                                      "restoreRate": 10}  # fmt: skip
    platform.tag_order(str(order["id"]), ["one"])  # a mutation: 10 points, kept
    calls = len(shop.calls)

    throttled = requests.post(url, json=query, headers=headers)  # 253 asked, about 247 left: nothing runs
    assert throttled.status_code == 200 and len(shop.calls) == calls
    body = throttled.json()
    assert "data" not in body and body["errors"][0]["extensions"]["code"] == "THROTTLED"
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 253 and cost["actualQueryCost"] is None
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    short = 253 - cost["throttleStatus"]["currentlyAvailable"]

    with pytest.raises(ProviderUnavailable) as raised:  # Palautus's adapter waits as long as the bucket needs
        platform.order_refunds(str(order["id"]))
    assert raised.value.code == "THROTTLED" and raised.value.retry_after == pytest.approx(short / 10, abs=0.01)

    clock.now += raised.value.retry_after + 0.1  # restored meanwhile: the same call runs
    assert platform.order_refunds(str(order["id"])) == []
    seen = requests.get(f"{server.url}/sandbox/limits").json()["shopify"]
    assert seen["refused"] == {"OrderRefunds": 2}
    assert seen["answered"] == {"OrderRefunds": 2, "TagsAdd": 1}


def test_shopify_refuses_a_wrong_token_before_counting_any_cost(served):
    sandbox, server, opened, config = served(limits=RateLimits(shopify_bucket=(20, 1)))
    url = config["SHOPIFY_API_BASE"].format(shop=SHOP) + "/admin/api/2026-10/graphql.json"
    for _ in range(3):
        refused = requests.post(url, json={"query": gql.TAGS_ADD, "variables": {"id": "gid://shopify/Order/1", "tags": ["x"]}},
                                headers={"X-Shopify-Access-Token": "shpat_wrong"})  # fmt: skip
        assert refused.status_code == 401
    ping = requests.post(url, json={"query": gql.SHOP_PING, "variables": {}},
                         headers={"X-Shopify-Access-Token": opened["access_token"]})  # fmt: skip
    assert ping.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] >= 18


def test_query_costs_follow_shopifys_rules(shopify_schema):
    from adapters.platforms.shopify import orders

    assert query_cost(shopify_schema, gql.SHOP_PING, {}) == 1  # one object
    assert query_cost(shopify_schema, gql.REFUND_CREATE, {"input": {}, "idempotencyKey": "k"}) == 10  # a mutation
    ten = query_cost(shopify_schema, gql.REFUNDS_BY_ID, {"ids": [f"gid://shopify/Refund/{n}" for n in range(10)]})
    assert ten == 10 * query_cost(shopify_schema, gql.REFUNDS_BY_ID, {"ids": ["gid://shopify/Refund/1"]})
    assert 500 < ten < 1000 and query_cost(shopify_schema, orders.ORDER, {"id": "x"}) < 1000  # the adapters' estimates
    # Measured on an answer: a connection costs what it returned.
    data = {"shop": {"id": "gid://shopify/Shop/1"}}
    assert query_cost(shopify_schema, gql.SHOP_PING, {}, data) == 1
