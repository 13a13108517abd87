"""WooCommerce webhook deliveries: the ping, the X-WC-Webhook-* headers, the signature, the dedupe key.

From WooCommerce's `includes/class-wc-webhook.php`:
- a webhook is pinged when it is created or activated: a form body `webhook_id=N`
  with no signature and no X-WC headers; only an exact 200 clears it;
- `X-WC-Webhook-Signature` is base64(HMAC-SHA256(secret, raw body)); the body is
  PHP's `wp_json_encode` output (`/` escaped as `\\/`, ä as `\\u00e4`), so
  only the bytes as received verify, never a re-serialisation;
- `X-WC-Webhook-Delivery-ID` is a hash of the webhook id and the current second,
  not unique per event, so a delivery is known by shop, topic, resource id and a
  SHA-256 of its body instead;
- `X-WC-Webhook-Source` is the store's home URL, with a trailing slash.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from adapters.errors import PayloadError, SignatureError
from adapters.webhook_signatures import sign, verify  # what X-WC-Webhook-Signature carries

__all__ = ["Delivery", "delivery_key", "is_ping", "read_delivery", "sign", "verify"]

HEADER_SOURCE = "X-WC-Webhook-Source"
HEADER_TOPIC = "X-WC-Webhook-Topic"
HEADER_RESOURCE = "X-WC-Webhook-Resource"
HEADER_EVENT = "X-WC-Webhook-Event"
HEADER_SIGNATURE = "X-WC-Webhook-Signature"
HEADER_WEBHOOK_ID = "X-WC-Webhook-ID"
HEADER_DELIVERY_ID = "X-WC-Webhook-Delivery-ID"

_TOPIC = re.compile(r"^[a-z_]+\.[a-z_]+$")
_PING = re.compile(rb"^webhook_id=[0-9]{1,20}$")


@dataclass(frozen=True)
class Delivery:
    topic: str  # "order.updated"
    source: str  # the store's home URL as the store sent it
    signature: str
    webhook_id: str | None
    delivery_id: str | None


def is_ping(headers, body: bytes) -> bool:
    """The ping a store sends when a webhook is created or activated: `webhook_id=N`, no WooCommerce headers."""
    return not headers.get(HEADER_SIGNATURE) and not headers.get(HEADER_TOPIC) and _PING.match(body.strip()) is not None


def ping_webhook_id(body: bytes) -> str:
    return dict(parse_qsl(body.decode("ascii", "replace")))["webhook_id"]


def read_delivery(headers) -> Delivery:
    """The delivery's headers; SignatureError without a signature, PayloadError without a usable topic."""
    signature = headers.get(HEADER_SIGNATURE, "").strip()
    if not signature:
        raise SignatureError(f"missing {HEADER_SIGNATURE} header")
    topic = headers.get(HEADER_TOPIC, "").strip().lower()
    if not _TOPIC.match(topic) or len(topic) > 100:
        raise PayloadError(f"{HEADER_TOPIC} must be a topic such as order.updated")
    return Delivery(
        topic=topic,
        source=headers.get(HEADER_SOURCE, "").strip()[:2048],
        signature=signature,
        webhook_id=_token(headers.get(HEADER_WEBHOOK_ID)),
        delivery_id=_token(headers.get(HEADER_DELIVERY_ID)),
    )


def _token(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if re.fullmatch(r"[\x21-\x7e]{1,255}", value) else None


# Topics whose body is the same every time (order.deleted is only {"id": N}): a trash, a restore and a
# second trash, even within one second, must not look like one delivery. Each of their deliveries is kept
# (the job reads the order's state from the store, so a repeat does no harm).
SAME_BODY_TOPICS = ("order.deleted",)


def delivery_key(topic: str, resource_id: str | None, body: bytes) -> str:
    """What makes a delivery the same delivery: its topic, its resource and its exact bytes; for a body that
    never changes, nothing does, and every delivery is its own."""
    key = f"{topic}:{resource_id or '-'}:{hashlib.sha256(body).hexdigest()}"
    return f"{key}:{uuid.uuid4().hex}" if topic in SAME_BODY_TOPICS else key
