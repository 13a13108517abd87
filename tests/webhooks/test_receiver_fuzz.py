"""Property tests: whatever bytes and headers arrive, the receiver answers on purpose and stores only on 200."""
from __future__ import annotations

import json
import uuid

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from integration.models import WebhookEvent
from tests.conftest import SHOP_DOMAIN, SHOPIFY_SECRET, shopify_headers, sign_shopify
from tests.webhooks.conftest import fresh


@pytest.fixture
def config(config):
    """Hundreds of bad signatures from one address: each must be a 401 here; the slow-down past FAILED_AUTH_LIMIT
    (a 429) is tested in tests/webhooks/test_rate_limits.py."""
    return {**config, "FAILED_AUTH_LIMIT": "100000 per minute"}

URL = "/webhooks/shopify"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# What an HTTP server can hand over as a header value: latin-1, no line breaks (control characters included:
# some servers pass them on).
header_text = st.text(st.characters(min_codepoint=0, max_codepoint=0xFF, exclude_characters="\r\n"), max_size=300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=3000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.text(max_size=10), json_values, max_size=6).map(
        lambda d: json.dumps(d, ensure_ascii=False).encode()
    ),
)


def stored(db) -> int:
    return fresh(db).scalar(select(func.count()).select_from(WebhookEvent))


def answered_on_purpose(response) -> dict:
    """Never a 500, always JSON, an error shape on failure, and no traceback."""
    assert response.status_code < 500, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and SHOPIFY_SECRET not in text
    body = json.loads(response.get_data())
    if response.status_code != 200:
        assert isinstance(body["error"], str) and isinstance(body["message"], str) and body["message"]
    return body


def is_json_object(body: bytes) -> bool:
    """The contract: strict UTF-8, RFC 8259 JSON (no NaN), only real characters, an object at the top."""

    def no_constants(name):
        raise ValueError(name)

    try:
        value = json.loads(body.decode("utf-8"), parse_constant=no_constants)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # no escaped lone surrogate
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        return False
    return isinstance(value, dict)


@FUZZ
@given(body=bodies, signature=header_text)
def test_any_body_with_a_signature_that_is_not_its_hmac_gets_401_and_stores_nothing(
    client, shop, db, queued, body, signature
):
    if signature.strip() == sign_shopify(body):
        return
    before, queue = stored(db), len(queued())

    response = client.post(URL, data=body, headers=shopify_headers(body, "orders/create", **{
        "X-Shopify-Hmac-Sha256": signature, "X-Shopify-Webhook-Id": str(uuid.uuid4()),
    }))  # fmt: skip

    answered_on_purpose(response)
    assert response.status_code == 401
    assert (stored(db), len(queued())) == (before, queue)


@FUZZ
@given(body=bodies)
def test_any_correctly_signed_body_is_stored_exactly_when_it_is_a_json_object(client, shop, db, queued, body):
    before, queue = stored(db), len(queued())

    response = client.post(URL, data=body, headers=shopify_headers(body, "orders/create", webhook_id=str(uuid.uuid4())))

    answered_on_purpose(response)
    if is_json_object(body):
        assert response.status_code == 200
        assert (stored(db), len(queued())) == (before + 1, queue + 1)
        event = fresh(db).get(WebhookEvent, response.get_json()["event_id"])
        assert event.body == body
    else:
        assert response.status_code == 400
        assert (stored(db), len(queued())) == (before, queue)


optional_header = st.none() | header_text


@FUZZ
@given(
    topic=optional_header, webhook_id=optional_header, event_id=optional_header,
    api_version=optional_header, triggered_at=optional_header,
    domain=st.none() | header_text | st.sampled_from([SHOP_DOMAIN, SHOP_DOMAIN.upper(), f" https://{SHOP_DOMAIN}/ "]),
)  # fmt: skip
def test_any_header_values_on_a_signed_delivery_never_give_a_500_and_store_only_on_200(
    client, shop, db, queued, topic, webhook_id, event_id, api_version, triggered_at, domain
):
    body = b'{"id": 5196695273621}'
    headers = shopify_headers(body, "orders/create", **{
        "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Event-Id": event_id,
        "X-Shopify-API-Version": api_version, "X-Shopify-Triggered-At": triggered_at, "X-Shopify-Shop-Domain": domain,
    })  # fmt: skip
    before = stored(db)

    response = client.post(URL, data=body, headers=headers)

    answer = answered_on_purpose(response)
    assert response.status_code in (200, 400, 404)
    if response.status_code != 200:
        assert stored(db) == before
        return
    assert stored(db) == before + (answer["status"] == "accepted")
    if answer["status"] == "duplicate":  # an id an earlier example used: the row stored then
        return
    event = fresh(db).get(WebhookEvent, answer["event_id"])
    assert event.delivery_id == webhook_id.strip() and event.topic == topic.strip().lower()
    assert all(v is None or v.isprintable() and v.isascii() for v in (event.event_id, event.api_version))
    assert event.triggered_at is None or event.triggered_at.utcoffset().total_seconds() == 0
