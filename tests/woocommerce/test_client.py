"""The store client: Basic on https with the query fallback, OAuth 1.0a on http checked as WooCommerce checks it,
pages by X-WP-TotalPages, and WooCommerce's errors as refusals or outages."""
from __future__ import annotations

import pytest

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.platforms.woocommerce.client import WooClient
from tests.fakes import FakeWooCommerce
from tests.woocommerce.conftest import CONSUMER_KEY, CONSUMER_SECRET


def client_for(store, secret=CONSUMER_SECRET):
    return WooClient(store.url, CONSUMER_KEY, secret, timeout=5)


@pytest.fixture
def https_store(http):
    return FakeWooCommerce(http, "https://store.example", consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)


@pytest.fixture
def http_store(http):
    return FakeWooCommerce(http, "http://127.0.0.1:8080/shop", consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)


def test_https_uses_basic_auth(https_store, http):
    https_store.create_order([("BEANIE-RED", 1)])
    assert len(client_for(https_store).pages("/orders")) == 1
    assert http.calls[-1].request.headers["Authorization"].startswith("Basic ")
    assert "consumer_secret" not in http.calls[-1].request.url


def test_a_host_that_strips_authorization_gets_the_key_in_the_query_from_then_on(https_store, http):
    https_store.strip_authorization = True
    https_store.create_order([("BEANIE-RED", 1)])
    client = client_for(https_store)
    assert len(client.pages("/orders")) == 1 and client.query_auth
    assert "consumer_key=" in http.calls[-1].request.url
    client.pages("/orders")
    assert sum("consumer_key=" not in c.request.url for c in http.calls) == 1  # only the first try went without


def test_plain_http_is_signed_with_oauth1_as_woocommerce_checks_it(http_store, http):
    order = http_store.create_order([("BEANIE-RED", 2)])
    client = client_for(http_store)
    rows = client.pages("/orders", {"modified_after": "2020-01-01T00:00:00", "dates_are_gmt": "true", "status": "any"})
    assert [row["id"] for row in rows] == [order["id"]]
    put = client.put(f"/orders/{order['id']}", {"meta_data": [{"key": "palautus_status", "value": "palautus-refunded"}]})
    assert put["meta_data"][-1]["value"] == "palautus-refunded"
    url = http.calls[-1].request.url
    assert "oauth_signature=" in url and "oauth_signature_method=HMAC-SHA256" in url and CONSUMER_SECRET not in url


def test_a_wrong_secret_is_refused_and_the_message_carries_no_secret(http_store, https_store):
    for store in (http_store, https_store):
        with pytest.raises(ProviderRejected) as refused:
            client_for(store, secret="cs_wrong").get("/orders")
        assert refused.value.status == 401 and refused.value.code == "woocommerce_rest_authentication_error"
        assert "cs_wrong" not in str(refused.value) and CONSUMER_KEY not in str(refused.value)


def test_pages_are_followed_to_the_last(https_store):
    for _ in range(205):
        https_store.create_order([("SOCKS-WOOL-3", 1)])
    assert len(client_for(https_store).pages("/orders")) == 205


def test_a_refusal_with_a_woocommerce_code_is_permanent_and_an_outage_is_not(https_store):
    order = https_store.create_order([("SOCKS-WOOL-3", 1)])
    client = client_for(https_store)
    with pytest.raises(ProviderRejected) as refused:  # HTTP 500, but WooCommerce saying no
        client.post(f"/orders/{order['id']}/refunds", {"amount": "999.00", "api_refund": False})
    assert (refused.value.status, refused.value.code) == (500, "woocommerce_rest_cannot_create_order_refund")
    assert "Invalid refund amount" in str(refused.value)
    https_store.faults = [503]
    with pytest.raises(ProviderUnavailable):
        client.get(f"/orders/{order['id']}")
    with pytest.raises(ProviderRejected) as missing:
        client.get("/orders/999999")
    assert missing.value.status == 404


def test_an_answer_that_is_not_woocommerces_is_an_outage_never_a_refusal(http):
    """A firewall's or proxy's page, even a 401 or 404, says nothing about the store's data: try again later."""
    import responses

    client = WooClient("https://proxied.example", CONSUMER_KEY, CONSUMER_SECRET, timeout=5)
    for status, body in [(403, "<html>Access denied by the firewall</html>"), (404, "<html>Not Found</html>"),
                         (401, '{"error": "proxy authentication required"}'),
                         (502, '{"code": "bad_gateway"}')]:  # fmt: skip
        http.add(responses.GET, "https://proxied.example/wp-json/wc/v3/orders/1", body=body, status=status)
        with pytest.raises(ProviderUnavailable):
            client.get("/orders/1")
        http.remove(responses.GET, "https://proxied.example/wp-json/wc/v3/orders/1")
