"""Payment providers' deliveries: POST /webhooks/payments/stripe/<shop key>, GET
/webhooks/payments/paytrail/<shop key>/<success|cancel> (Paytrail's signed refund callbacks), and POST
/webhooks/payments/paytrail/<shop key>/settlements/<settlement id> (the settlement reports jobs/settlements.py
asked Paytrail for).

A refund can change after it was made: a card refund Stripe accepted may fail
days later (a closed account), and one still pending ends. Each shop has its own
address (the key in the URL picks the shop) and Stripe signs each delivery with
the shop's endpoint secret. As every receiver here: verify, store, enqueue,
answer; the job records what became of the refund.
"""
from __future__ import annotations

import hashlib
import json

from flask import current_app, g, jsonify, request

from adapters.payments import paytrail, stripe
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
    g.delivery_shop = shop.domain if shop is not None else None  # for the operators' count of rejections
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


@bp.get("/payments/paytrail/<shop_key>/<outcome>")
def receive_paytrail(shop_key: str, outcome: str):
    """A refund's final word from Paytrail: a GET to the success or cancel URL we gave, signed over its query.

    Callbacks may come more than once: each is stored once (by its outcome and its signed query) and
    answered 200, as Paytrail asks.
    """
    shop = shop_by_webhook_key(get_session(), shop_key)
    g.delivery_shop = shop.domain if shop is not None else None  # for the operators' count of rejections
    if shop is None:
        raise NotFound("no shop has this callback address")
    keys = current_app.extensions["vault"].open(shop.credentials).get("payments", {}).get(paytrail.PROVIDER, {})
    query = request.args.to_dict(flat=False)
    paytrail.parse_callback(query, keys.get("secret") or "", outcome)  # SignatureError 401, PayloadError 400
    event = paytrail.callback_event(outcome, query)
    body = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    delivery = f"{outcome}:{hashlib.sha256(body).hexdigest()}"
    accept(shop, WebhookEvent(topic=f"refund/{outcome}", delivery_id=delivery, body=body), source=paytrail.PROVIDER)
    return jsonify({"status": "ok"}), 200


@bp.post("/payments/paytrail/<shop_key>/settlements/<int:settlement_id>")
def receive_paytrail_report(shop_key: str, settlement_id: int):
    """A settlement's payment report, POSTed by Paytrail, signed over its raw body and `checkout-*` headers.

    Checked (signature 401, shape 400) and stored as it came, raw, once per body (a repeat is answered 200:
    Paytrail sends a report again until it gets one); the job reads it into the settlement. A report holds every
    payment of a payout: its size limit is MAX_REPORT_BYTES, not the webhooks' (a 413 would be sent again forever).
    """
    body = read_body("MAX_REPORT_BYTES")
    shop = shop_by_webhook_key(get_session(), shop_key)
    g.delivery_shop = shop.domain if shop is not None else None  # for the operators' count of rejections
    if shop is None:
        raise NotFound("no shop has this callback address")
    keys = current_app.extensions["vault"].open(shop.credentials).get("payments", {}).get(paytrail.PROVIDER, {})
    sid = str(settlement_id)
    paytrail.parse_settlement_report(body, request.headers, keys.get("secret") or "", sid)  # 401, 400
    topic, delivery = paytrail.report_ids(sid, body)
    return accept(shop, WebhookEvent(topic=topic[:100], delivery_id=delivery[:255], body=body), source=paytrail.PROVIDER)
