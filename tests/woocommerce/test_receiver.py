"""POST /webhooks/woocommerce/<key>: the ping, the signature over the bytes as PHP wrote them, duplicates,
the source check, and the same refusals as Shopify's receiver, each changing nothing."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from adapters.platforms.woocommerce.webhooks import sign
from integration.models import Shop, WebhookEvent
from sandbox.woocommerce import php_json
from tests.woocommerce.conftest import STORE_URL, WEBHOOK_SECRET

ORDER = {"id": 727, "status": "processing", "currency": "EUR", "billing": {"email": "aino@example.fi"},
         "note": "Palautus/Helsinki \u2014 \u00e4\u00f6", "line_items": []}  # fmt: skip


def headers(body: bytes, topic="order.updated", secret=WEBHOOK_SECRET, source=STORE_URL + "/", **extra):
    return {"Content-Type": "application/json", "X-WC-Webhook-Source": source, "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": topic.split(".")[0], "X-WC-Webhook-Event": topic.split(".")[1],
            "X-WC-Webhook-Signature": sign(body, secret), "X-WC-Webhook-ID": "31",
            "X-WC-Webhook-Delivery-ID": "4d6c3a1e2f0b9a8c7d6e5f4a3b2c1d0e", **extra}  # fmt: skip


@pytest.fixture
def post(client, woo_shop):
    shop = woo_shop[0]

    def _post(body: bytes, hdrs=None, key=shop.webhook_key):
        return client.post(f"/webhooks/woocommerce/{key}", data=body, headers=hdrs if hdrs is not None else headers(body))

    return _post


def count(db) -> int:
    return db.scalar(select(func.count()).select_from(WebhookEvent))


def test_the_ping_is_answered_exactly_200_and_changes_nothing(post, db):
    answer = post(b"webhook_id=31", {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200 and count(db) == 0


def test_the_bytes_php_wrote_verify_and_a_python_reserialisation_does_not(post, db):
    body = php_json(ORDER)
    assert b"\\/" in body and b"\\u2014" in body  # PHP's escapes
    assert post(body).status_code == 200 and count(db) == 1
    again = json.dumps(json.loads(body)).encode()  # the same JSON, other bytes
    answer = post(again, headers(body))  # signed for PHP's bytes
    assert answer.status_code == 401 and "signature" in answer.get_json()["message"] and count(db) == 1


def test_a_repeated_delivery_is_stored_once_even_under_a_new_delivery_id(post, db):
    body = php_json(ORDER)
    assert post(body).get_json()["status"] == "accepted"
    repeat = post(body, headers(body, **{"X-WC-Webhook-Delivery-ID": "another-second"}))
    assert repeat.status_code == 200 and repeat.get_json()["status"] == "duplicate" and count(db) == 1
    changed = php_json({**ORDER, "status": "completed"})
    assert post(changed).get_json()["status"] == "accepted" and count(db) == 2


@pytest.mark.parametrize("case, body, make, status", [
    ("no signature", b"{}", lambda b: {k: v for k, v in headers(b).items() if k != "X-WC-Webhook-Signature"}, 401),
    ("another secret", b'{"id":1}', lambda b: headers(b, secret="not-ours"), 401),
    ("not json", b"{nope", headers, 400),
    ("a list", b"[1,2]", headers, 400),
    ("no topic", b'{"id":1}', lambda b: {k: v for k, v in headers(b).items() if k != "X-WC-Webhook-Topic"}, 400),
])  # fmt: skip
def test_bad_deliveries_are_refused_clearly_and_store_nothing(post, db, case, body, make, status):
    answer = post(body, make(body))
    assert answer.status_code == status and answer.get_json()["message"]
    assert "Traceback" not in answer.get_data(as_text=True) and WEBHOOK_SECRET not in answer.get_data(as_text=True)
    assert count(db) == 0


def test_an_unknown_store_key_is_404(post, db):
    body = php_json(ORDER)
    assert post(body, key="not-a-store-key").status_code == 404 and count(db) == 0


def test_an_oversized_body_is_413(post, db, app):
    body = b'{"id":1,"pad":"' + b"x" * app.config["MAX_WEBHOOK_BYTES"] + b'"}'
    assert post(body).status_code == 413 and count(db) == 0


def test_a_delivery_from_another_source_is_stored_flagged_and_answered_200(post, db, woo_shop):
    body = php_json(ORDER)
    answer = post(body, headers(body, source="http://store.example/"))  # the store moved from https to http
    assert answer.status_code == 200 and count(db) == 1
    alerts = db.get(Shop, woo_shop[0].id).alerts
    assert "not the store URL on record" in alerts["source"]["message"]


def test_deliveries_to_the_right_source_raise_no_alert(post, db, woo_shop):
    body = php_json(ORDER)
    assert post(body, headers(body, source="https://STORE.example/")).status_code == 200
    assert db.get(Shop, woo_shop[0].id).alerts == {}
