"""POST /webhooks/shopify: Shopify's deliveries, answered in milliseconds.

Verify the HMAC on the raw bytes before anything else, store the delivery in
the inbox (a repeat is acknowledged and not stored twice), answer 200; the
outbox relay queues its processing (webhooks/outbox.py). No call to Shopify,
a payment provider or Redis happens while Shopify waits.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from cachetools import TTLCache
from flask import current_app, g, request

from adapters.errors import SignatureError
from adapters.platforms.shopify import webhooks as shopify
from adapters.platforms.shopify.platform import NAME, normalize_domain
from integration.db import get_session
from integration.errors import InvalidInput, NotFound
from integration.models import WebhookEvent
from integration.services.shops import shop_by_domain
from webhooks import bp
from webhooks.intake import accept, check_json, read_body

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Door:
    """What the receiver needs of a shop: kept DOOR_SECONDS per process, so a delivery costs one database
    statement (its insert). A rotated secret is read again at the first delivery it fails; the secret it
    replaced is taken for DOOR_SECONDS at most."""

    id: int
    platform: str
    domain: str
    secret: str


DOOR_SECONDS = 10
_lock = threading.Lock()


def _doors() -> TTLCache:
    """This app's doors (each app its own: a test's shops are not another's)."""
    doors = current_app.extensions.get("shopify_doors")
    if doors is None:
        with _lock:
            doors = current_app.extensions.setdefault("shopify_doors", TTLCache(maxsize=4096, ttl=DOOR_SECONDS))
    return doors


def _door_key(domain: str) -> str | None:
    """The header's domain as the shop is registered under it; None for one that names no shop."""
    try:
        return normalize_domain(domain)
    except InvalidInput:
        return None


def _load_door(key: str | None) -> _Door | None:
    """The shop installed (or once installed) under this normalized domain, from the database; None if none."""
    shop = shop_by_domain(get_session(), NAME, key, include_uninstalled=True) if key is not None else None
    if shop is None:
        return None
    # A custom app's own secret when the shop has one, else the app's client secret.
    own = current_app.extensions["vault"].open(shop.credentials).get("webhook_secret")
    door = _Door(shop.id, shop.platform, shop.domain, own or current_app.config["SHOPIFY_CLIENT_SECRET"])
    doors = _doors()
    with _lock:
        doors[key] = door
    return door


def _cached_door(key: str | None) -> _Door | None:
    doors = _doors()
    with _lock:
        return doors.get(key) if key is not None else None


@bp.post("/shopify")
def receive_shopify():
    body = read_body()
    delivery = shopify.read_delivery(request.headers)
    key = _door_key(delivery.shop_domain)
    door = cached = _cached_door(key)
    if door is None:
        door = _load_door(key)
    # For the operators' count of rejections: the header is the caller's word until the signature is checked.
    g.delivery_shop = f"{door.domain} (unverified header)" if door is not None else None
    secret = door.secret if door is not None else current_app.config["SHOPIFY_CLIENT_SECRET"]
    try:
        shopify.verify(body, delivery.signature, secret)
    except SignatureError:
        if cached is None or (door := _load_door(key)) is None or door.secret == secret:
            raise
        shopify.verify(body, delivery.signature, door.secret)  # the secret changed since it was kept
    g.delivery_shop = door.domain if door is not None else None
    if door is None:
        raise NotFound(f"shop {delivery.shop_domain} is not installed")
    check_json(body)
    return accept(door, WebhookEvent(
        topic=delivery.topic, delivery_id=delivery.webhook_id, event_id=delivery.event_id,
        api_version=delivery.api_version, triggered_at=delivery.triggered_at, body=body,
    ))  # fmt: skip
