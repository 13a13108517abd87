"""POST /webhooks/shopify: Shopify's deliveries, answered in milliseconds.

Verify the HMAC on the raw bytes before anything else, store the delivery in
the inbox (a repeat is acknowledged and not stored twice), enqueue its
processing, answer 200. No call to Shopify or a payment provider happens here.
"""
from __future__ import annotations

import json
import logging

from flask import current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from adapters.errors import PayloadError, SignatureError
from adapters.platforms.shopify import webhooks as shopify
from integration.db import get_session
from integration.errors import InvalidInput, NotFound
from integration.models import WebhookEvent
from integration.services.inbox import EventStatus, store_event
from adapters.platforms.shopify.platform import normalize_domain
from integration.services.shops import shop_by_domain
from webhooks import bp

logger = logging.getLogger(__name__)


def _secret_for(shop) -> str:
    """A custom app's own secret when the shop has one, else the app's client secret."""
    if shop is not None:
        own = current_app.extensions["vault"].open(shop.credentials).get("webhook_secret")
        if own:
            return own
    return current_app.config["SHOPIFY_CLIENT_SECRET"]


def _find_shop(session, domain: str):
    try:
        return shop_by_domain(session, "shopify", normalize_domain(domain), include_uninstalled=True)
    except InvalidInput:
        return None


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _check_json(body: bytes) -> None:
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


def _read_body() -> bytes:
    """The raw body, 413 past MAX_WEBHOOK_BYTES, also when it comes chunked without a length."""
    limit = current_app.config["MAX_WEBHOOK_BYTES"]
    # One byte of room: a chunked body is otherwise cut at the limit without an error,
    # and then fails its signature (401) instead of being called too large.
    request.max_content_length = limit + 1
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


@bp.post("/shopify")
def receive_shopify():
    body = _read_body()
    delivery = shopify.read_delivery(request.headers)
    session = get_session()
    shop = _find_shop(session, delivery.shop_domain)
    shopify.verify(body, delivery.signature, _secret_for(shop))
    if shop is None:
        raise NotFound(f"shop {delivery.shop_domain} is not installed")
    _check_json(body)
    event, created = store_event(session, WebhookEvent(
        shop_id=shop.id, platform="shopify", topic=delivery.topic, delivery_id=delivery.webhook_id,
        event_id=delivery.event_id, api_version=delivery.api_version, triggered_at=delivery.triggered_at, body=body,
    ))  # fmt: skip
    if created or event.status == EventStatus.RECEIVED:
        # A repeat of a delivery still waiting (its enqueue may have failed) is enqueued again.
        current_app.extensions["tasks"].process_webhook(event.id)
    logger.info("webhook stored", extra={"event_id": event.id, "topic": event.topic, "duplicate": not created})
    return jsonify({"status": "accepted" if created else "duplicate", "event_id": event.id}), 200


@bp.errorhandler(SignatureError)
def _unauthorized(error):
    # Say nothing about which part failed: the caller may be probing.
    return jsonify({"error": "unauthorized", "message": "webhook signature is missing or invalid"}), 401
