"""POST /webhooks/shopify: Shopify's deliveries, answered in milliseconds.

Verify the HMAC on the raw bytes before anything else, store the delivery in
the inbox (a repeat is acknowledged and not stored twice), enqueue its
processing, answer 200. No call to Shopify or a payment provider happens here.
"""
from __future__ import annotations

import logging

from flask import current_app, g, request

from adapters.platforms.shopify import webhooks as shopify
from adapters.platforms.shopify.platform import NAME, normalize_domain
from integration.db import get_session
from integration.errors import InvalidInput, NotFound
from integration.models import WebhookEvent
from integration.services.shops import shop_by_domain
from webhooks import bp
from webhooks.intake import accept, check_json, read_body

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
        return shop_by_domain(session, NAME, normalize_domain(domain), include_uninstalled=True)
    except InvalidInput:
        return None


@bp.post("/shopify")
def receive_shopify():
    body = read_body()
    delivery = shopify.read_delivery(request.headers)
    shop = _find_shop(get_session(), delivery.shop_domain)
    # For the operators' count of rejections: the header is the caller's word until the signature is checked.
    g.delivery_shop = f"{shop.domain} (unverified header)" if shop is not None else None
    shopify.verify(body, delivery.signature, _secret_for(shop))
    g.delivery_shop = shop.domain if shop is not None else None
    if shop is None:
        raise NotFound(f"shop {delivery.shop_domain} is not installed")
    check_json(body)
    return accept(shop, WebhookEvent(
        topic=delivery.topic, delivery_id=delivery.webhook_id, event_id=delivery.event_id,
        api_version=delivery.api_version, triggered_at=delivery.triggered_at, body=body,
    ))  # fmt: skip
