"""POST /webhooks/woocommerce/<shop key>: a WooCommerce store's deliveries, answered in milliseconds.

WooCommerce never retries a delivery and disables a webhook after a few
failures, so anything signed is stored and answered 200; a refusal is kept for
what is really wrong (401 bad signature, 400 malformed, 404 unknown store).
The key in the URL picks the store: each store's webhooks carry their own secret.
"""
from __future__ import annotations

import logging

from flask import current_app, g, jsonify, request

from adapters.platforms.woocommerce import webhooks as woo
from adapters.platforms.woocommerce.platform import NAME, normalize_domain
from integration.db import get_session
from integration.errors import InvalidInput, NotFound
from integration.models import WebhookEvent
from integration.services.shops import raise_alert, shop_by_webhook_key
from webhooks import bp
from webhooks.intake import accept, check_json, read_body

logger = logging.getLogger(__name__)


@bp.post("/woocommerce/<shop_key>")
def receive_woocommerce(shop_key: str):
    body = read_body()
    session = get_session()
    shop = shop_by_webhook_key(session, shop_key)
    g.delivery_shop = shop.domain if shop is not None else None  # for the operators' count of rejections
    if shop is None or shop.platform != NAME:
        raise NotFound("no WooCommerce store has this webhook address")
    if woo.is_ping(request.headers, body):
        # Only an exact 200 clears the ping; it changes nothing here.
        logger.info("woocommerce ping", extra={"shop_id": shop.id, "webhook_id": woo.ping_webhook_id(body)})
        return jsonify({"status": "pong"}), 200
    delivery = woo.read_delivery(request.headers)
    secret = current_app.extensions["vault"].open(shop.credentials).get("webhook_secret")
    woo.verify(body, delivery.signature, secret)
    payload = check_json(body)
    _check_source(shop, delivery.source)
    return accept(shop, WebhookEvent(
        topic=delivery.topic, delivery_id=woo.delivery_key(delivery.topic, _resource_id(payload), body),
        event_id=delivery.delivery_id, body=body,
    ))  # fmt: skip


def _resource_id(payload: dict) -> str | None:
    value = payload.get("id")
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _check_source(shop, source: str) -> None:
    """A store that moved (http to https, a new domain) still signs with our secret: store, flag, answer 200."""
    try:
        same = normalize_domain(source) == shop.domain
    except InvalidInput:
        same = False
    if not same and raise_alert(shop, "source", f"deliveries come from {source[:200]!r}, not the store URL on record "
                                                 f"{shop.domain}: update the store's address in Palautus"):  # fmt: skip
        get_session().commit()  # the alert; the delivery is stored on its own (webhooks/intake.py)
        logger.warning("woocommerce delivery from another source", extra={"shop_id": shop.id})
