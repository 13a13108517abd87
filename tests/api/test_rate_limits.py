"""Rate limits on the merchant API: per API key, and per address for calls without a valid key; the client's
address read through PROXY_HOPS proxies only; a limit store that is down lets calls through."""
from __future__ import annotations

import pytest

from tests.conftest import auth


@pytest.fixture
def config(config):
    return {**config, "API_RATE_LIMIT": "5 per minute", "FAILED_AUTH_LIMIT": "3 per minute"}


def test_each_api_key_has_its_own_limit_and_past_it_the_answer_is_a_documented_429(client, register):
    _, first = register("first-shop.myshopify.com")
    _, second = register("second-shop.myshopify.com")
    assert [client.get("/api/v1/shop", headers=auth(first)).status_code for _ in range(5)] == [200] * 5
    limited = client.get("/api/v1/returns", headers=auth(first))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["error"] == "too_many_requests"
    assert client.get("/api/v1/shop", headers=auth(second)).status_code == 200  # another shop is not slowed down
    assert first not in str(client.application.extensions["tasks"].connect().keys("*"))  # Redis holds a hash


def test_guessing_keys_is_slowed_down_per_address_while_a_valid_key_still_works(client, shop):
    guesses = [client.get("/api/v1/shop", headers=auth(f"plt_guess{n}")).status_code for n in range(4)]
    assert guesses == [401, 401, 401, 429]
    assert client.get("/api/v1/shop", headers=auth(shop[1])).status_code == 200  # the shop's own key is not refused
    elsewhere = client.get("/api/v1/shop", headers=auth("plt_guess"), environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert elsewhere.status_code == 401


def test_forwarded_addresses_are_believed_only_through_the_proxies_the_operator_declared(app, client):
    spoofed = [client.get("/api/v1/shop", headers={**auth(f"plt_x{n}"), "X-Forwarded-For": f"198.51.100.{n}"})
               for n in range(4)]  # fmt: skip
    assert [r.status_code for r in spoofed] == [401, 401, 401, 429]  # no proxy declared: the header changes nothing


@pytest.mark.parametrize("hops", [1])
def test_behind_a_declared_proxy_each_client_counts_for_itself(config, hops):
    from integration.app import create_app

    client = create_app({**config, "PROXY_HOPS": hops}).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    answers = [client.get("/api/v1/shop", headers={**auth(f"plt_x{n}"), "X-Forwarded-For": f"198.51.100.{n}"},
                          environ_base=proxy).status_code for n in range(6)]  # fmt: skip
    assert answers == [401] * 6
    again = [client.get("/api/v1/shop", headers={**auth(f"plt_y{n}"), "X-Forwarded-For": "198.51.100.77"},
                        environ_base=proxy).status_code for n in range(4)]  # fmt: skip
    assert again == [401, 401, 401, 429]


def test_a_limit_store_that_is_down_lets_calls_through(config, register):
    from integration.app import create_app

    app = create_app({**config, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"})  # nothing listens there
    _, key = register()
    client = app.test_client()
    assert [client.get("/api/v1/shop", headers=auth(key)).status_code for _ in range(7)] == [200] * 7
    assert [client.get("/api/v1/shop", headers=auth("plt_bad")).status_code for _ in range(5)] == [401] * 5


def test_answers_over_https_carry_hsts_and_none_over_plain_http(client, shop):
    secure = client.get("/api/v1/shop", headers=auth(shop[1]), base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    plain = client.get("/api/v1/shop", headers=auth(shop[1]))
    assert "Strict-Transport-Security" not in plain.headers and plain.headers["X-Content-Type-Options"] == "nosniff"
