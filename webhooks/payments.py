"""Payment providers' deliveries about refunds: POST /webhooks/payments/stripe/<shop key>.

A refund can change after it was made: a card refund Stripe accepted may fail
days later (a closed account), and one still pending ends. Each shop has its own
address (the key in the URL picks the shop) and Stripe signs each delivery with
the shop's endpoint secret. As every receiver here: verify, store, enqueue,
answer; the job records what became of the refund.
"""
from __future__ import annotations

from flask import current_app, request

from adapters.payments import stripe
from integration.db import get_session
from integration.errors import NotFound
from integration.models import WebhookEvent
from integration.services.shops import shop_by_webhook_key
from webhooks import bp
from webhooks.intake import accept, check_json, read_body


@bp.post("/payments/stripe/<shop_key>")
def receive_stripe(shop_key: str):
    body = read_body()
    shop = shop_by_webhook_key(get_session(), shop_key)
    if shop is None:
        raise NotFound("no shop has this webhook address")
    keys = current_app.extensions["vault"].open(shop.credentials).get("payments", {}).get(stripe.PROVIDER, {})
    # During a rotation Stripe signs with both secrets for a while: the new one and the one it replaced.
    stripe.verify_signature(body, request.headers.get(stripe.SIGNATURE_HEADER),
                            [keys.get("webhook_secret") or "", keys.get("previous_webhook_secret") or ""])  # fmt: skip
    event = check_json(body)
    topic, event_id = stripe.event_ids(event)
    api_version = event.get("api_version") if isinstance(event.get("api_version"), str) else None
    return accept(shop, WebhookEvent(topic=topic[:100], delivery_id=event_id[:255], body=body,
                                     api_version=api_version[:20] if api_version else None), source=stripe.PROVIDER)  # fmt: skip
