"""Shopify webhook deliveries: the headers Shopify sends and its HMAC signature."""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from adapters.errors import PayloadError, SignatureError

__all__ = ["HEADER_HMAC", "Delivery", "read_delivery", "verify", "sign"]

# Header names as shopify.dev documents them (apps/build/webhooks/delivery-structure);
# they are case-insensitive, and HTTP/2 lower-cases them.
HEADER_TOPIC = "X-Shopify-Topic"
HEADER_HMAC = "X-Shopify-Hmac-Sha256"
HEADER_SHOP = "X-Shopify-Shop-Domain"
HEADER_API_VERSION = "X-Shopify-API-Version"
HEADER_WEBHOOK_ID = "X-Shopify-Webhook-Id"
HEADER_EVENT_ID = "X-Shopify-Event-Id"
HEADER_TRIGGERED_AT = "X-Shopify-Triggered-At"


@dataclass(frozen=True)
class Delivery:
    """What the headers of one delivery say."""

    topic: str
    shop_domain: str
    signature: str
    webhook_id: str
    event_id: str | None
    api_version: str | None
    triggered_at: datetime | None


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)): what Shopify puts in X-Shopify-Hmac-Sha256."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(body: bytes, signature: str, secret: str) -> None:
    """Raise SignatureError unless `signature` is the HMAC of exactly these bytes; constant time."""
    if not signature or not secret:
        raise SignatureError("missing signature")
    if not hmac.compare_digest(sign(body, secret).encode(), signature.strip().encode()):
        raise SignatureError("signature does not match the body")


def _timestamp(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def read_delivery(headers) -> Delivery:
    """The delivery's headers; SignatureError without a signature, PayloadError without the rest."""
    signature = headers.get(HEADER_HMAC, "")
    if not signature:
        raise SignatureError(f"missing {HEADER_HMAC} header")
    missing = [h for h in (HEADER_TOPIC, HEADER_SHOP, HEADER_WEBHOOK_ID) if not headers.get(h, "").strip()]
    if missing:
        raise PayloadError(f"missing header: {', '.join(missing)}")
    triggered = _timestamp(headers.get(HEADER_TRIGGERED_AT))
    return Delivery(
        topic=headers[HEADER_TOPIC].strip().lower(),
        shop_domain=headers[HEADER_SHOP].strip().lower(),
        signature=signature,
        webhook_id=headers[HEADER_WEBHOOK_ID].strip()[:255],
        event_id=(headers.get(HEADER_EVENT_ID) or "").strip()[:255] or None,
        api_version=(headers.get(HEADER_API_VERSION) or "").strip()[:20] or None,
        triggered_at=triggered if triggered and triggered.tzinfo else None,
    )
