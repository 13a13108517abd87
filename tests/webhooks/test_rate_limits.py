"""Webhook requests that fail their signature are slowed down per address; a correctly signed delivery never is."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from integration.models import WebhookEvent
from tests.conftest import shopify_headers


@pytest.fixture
def config(config):
    return {**config, "FAILED_AUTH_LIMIT": "3 per minute"}


def test_bad_signatures_are_answered_429_past_the_limit_and_a_signed_delivery_from_there_is_still_stored(
    client, shop, db
):
    body = json.dumps({"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1"}).encode()
    forged = shopify_headers(body, "orders/create", secret="not-the-app-secret")
    statuses = [client.post("/webhooks/shopify", data=body, headers=forged).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    signed = client.post("/webhooks/shopify", data=body, headers=shopify_headers(body, "orders/create"))
    assert signed.status_code == 200
    assert db.scalar(select(func.count()).select_from(WebhookEvent)) == 1
