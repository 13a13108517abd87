"""Shopify webhook deliveries: the headers Shopify sends and its HMAC signature."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from adapters.errors import PayloadError, SignatureError
from adapters.webhook_signatures import sign, verify  # what X-Shopify-Hmac-Sha256 carries

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

# Headers are not covered by the signature, so what we store from them is checked
# against the columns: printable ASCII without spaces, within the column's length.
# Topics stay permissive ("customer.tags_added" has a dot): an unknown topic must
# still be acknowledged, not refused.
_TOKEN = re.compile(r"[\x21-\x7e]+")


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


def _timestamp(value: str | None) -> datetime | None:
    """An aware UTC time, or None for anything else (naive, not a date, out of range once in UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00")) if value else None
        return parsed.astimezone(timezone.utc) if parsed and parsed.utcoffset() is not None else None
    except (ValueError, OverflowError):
        return None


def _is_token(value: str, size: int) -> bool:
    return len(value) <= size and _TOKEN.fullmatch(value) is not None


def _optional(value: str | None, size: int) -> str | None:
    """An informational header: kept when printable ASCII, truncated to its column."""
    value = (value or "").strip()[:size]
    return value if _is_token(value, size) else None


def read_delivery(headers) -> Delivery:
    """The delivery's headers; SignatureError without a signature, PayloadError without the rest."""
    signature = headers.get(HEADER_HMAC, "")
    if not signature:
        raise SignatureError(f"missing {HEADER_HMAC} header")
    missing = [h for h in (HEADER_TOPIC, HEADER_SHOP, HEADER_WEBHOOK_ID) if not headers.get(h, "").strip()]
    if missing:
        raise PayloadError(f"missing header: {', '.join(missing)}")
    topic, webhook_id = headers[HEADER_TOPIC].strip().lower(), headers[HEADER_WEBHOOK_ID].strip()
    if not _is_token(topic, 100):
        raise PayloadError(f"{HEADER_TOPIC} must be 1-100 printable ASCII characters without spaces")
    if not _is_token(webhook_id, 255):
        # Never truncated: two long ids sharing a prefix would be taken for one delivery.
        raise PayloadError(f"{HEADER_WEBHOOK_ID} must be 1-255 printable ASCII characters without spaces")
    return Delivery(
        topic=topic,
        shop_domain=headers[HEADER_SHOP].strip().lower(),
        signature=signature,
        webhook_id=webhook_id,
        event_id=_optional(headers.get(HEADER_EVENT_ID), 255),
        api_version=_optional(headers.get(HEADER_API_VERSION), 20),
        triggered_at=_timestamp(headers.get(HEADER_TRIGGERED_AT)),
    )
