"""The steps every platform's receiver shares: the raw body within its limit, strict JSON, the inbox.

A receiver for a new platform reads its own headers and checks its own
signature, then hands the verified delivery to `accept`.
"""
from __future__ import annotations

import json
import logging

from flask import current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from adapters.errors import PayloadError
from integration.logs import correlation_id
from integration.models import WebhookEvent, utcnow
from integration.services.inbox import EventStatus, store_event

__all__ = ["read_body", "check_json", "accept"]

logger = logging.getLogger(__name__)


def read_body(limit_key: str = "MAX_WEBHOOK_BYTES") -> bytes:
    """The raw body, 413 past the configured limit (MAX_WEBHOOK_BYTES; a settlement report's is larger), also when it
    comes chunked without a length."""
    limit = current_app.config[limit_key]
    # One byte of room: a chunked body is otherwise cut at the limit without an error,
    # and then fails its signature (401) instead of being called too large.
    request.max_content_length = limit + 1
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def check_json(body: bytes) -> dict:
    """The body as one JSON object in strict UTF-8 that a database can store; PayloadError if it is not."""
    # Strict UTF-8 (RFC 8259): json.loads(bytes) would also take UTF-16/32 and
    # encoded lone surrogates. RecursionError is what absurd nesting raises.
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
        # "\ud800" is valid JSON but no character: no database could store it, so no job could finish.
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as e:  # UnicodeError is a ValueError
        raise PayloadError(f"body is not valid UTF-8 JSON: {e}") from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    return payload


def accept(shop, event: WebhookEvent, source: str | None = None):
    """Store a verified delivery once and answer 200; a repeat is acknowledged. The outbox relay queues it.

    `shop`: the shop it is for (its `id` and `platform`); `source`: who sent it when not the shop's platform
    (a payment provider, by its route's name).
    """
    event.shop_id, event.platform = shop.id, source or shop.platform
    event.correlation_id = correlation_id()
    # Stored stamped queued: this process's relay queues it next (webhooks/outbox.py), and takes the stamp back
    # if Redis refuses; the sweeper queues it if this process dies first.
    event.enqueued_at = utcnow()
    stored = store_event(current_app.extensions["db"].intake, event)
    if stored.created or stored.status == EventStatus.RECEIVED.value:
        # A repeat of a delivery still waiting is queued again: its first answer may never have left a process that
        # died after the commit (the job is skipped if it turns out to be done already).
        current_app.extensions["outbox"].notify(stored.id, event.correlation_id)
    g.delivery_outcome = "stored" if stored.created else "duplicate"  # for /metrics
    logger.info("webhook stored", extra={"event_id": stored.id, "topic": event.topic, "duplicate": not stored.created})
    return jsonify({"status": "accepted" if stored.created else "duplicate", "event_id": stored.id}), 200
