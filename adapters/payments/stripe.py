"""Stripe refunds, API version 2023-08-16: create one, look one up, find one made earlier under a key; and the
payouts a shop's Stripe balance made, each with its balance transactions (adapters/payments/stripe_payouts.py).

Recovery rules (the route port's): Stripe keeps an idempotency key for 24 hours,
so a retry later than that first looks the refund up by the key we stamp in its
metadata; a 5xx answer to a create leaves the outcome unknown (Stripe saves a
500 once the request began executing and replays it for the key), so the refund
is looked up by key before anything is sent again.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import datetime, timedelta
from urllib.parse import quote

from adapters.errors import (
    PayloadError, ProviderError, ProviderMalformed, ProviderRejected, ProviderUnavailable, SignatureError,
)  # fmt: skip
from adapters.http import new_session, retry_after, send, json_object as _json
from adapters.payments import PaymentRef, ProviderRefund, RefundRequest, VoidOutcome
from integration.records import ProviderRefundUpdate, Settlement
from integration.errors import InvalidInput, MissingCredentials
from integration.money import Money, exponent
from integration.refunds import RefundStatus

__all__ = ["StripeProvider", "connect", "refund_step", "verify_signature", "event_ids", "interpret", "WEBHOOK_EVENTS"]

logger = logging.getLogger(__name__)

PROVIDER = "stripe"
# secret_key: a restricted key with write access to refunds (and webhook endpoints, to create ours) is enough;
# webhook_secret: the signing secret of the shop's webhook endpoint for Palautus (made by `shops stripe-webhook`).
CREDENTIALS = ("secret_key", "webhook_secret")
STRIPE_VERSION = "2023-08-16"  # pinned to the spec in tests/contracts/, so response shapes stay put
REFUNDS_PATH = "/v1/refunds"
PAYOUTS_PATH = "/v1/payouts"
BALANCE_TRANSACTIONS_PATH = "/v1/balance_transactions"
LIST_LIMIT = 100
REASON = "requested_by_customer"
IDEMPOTENCY_METADATA_KEY = "palautus_idempotency_key"

HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_STRIPE_VERSION = "Stripe-Version"
HEADER_SHOULD_RETRY = "Stripe-Should-Retry"
HEADER_REQUEST_ID = "Request-Id"

# Refund `status`, as components.schemas.refund documents it.
STATUSES = {
    "pending": RefundStatus.SUBMITTED,
    "requires_action": RefundStatus.SUBMITTED,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}

# https://stripe.com/docs/currencies#zero-decimal
ZERO_DECIMAL_CURRENCIES = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
# https://stripe.com/docs/currencies#special-cases: ISK and UGX became zero-decimal, but the API keeps
# them two-decimal for backwards compatibility (5 ISK is 500); HUF and TWD are zero-decimal only for
# payouts. In charges and refunds all four take two-decimal amounts.
SPECIAL_TWO_DECIMAL_CURRENCIES = frozenset("HUF ISK TWD UGX".split())
# The last digit must be 0 (5.124 KWD must be sent as 5120 or 5130).
THREE_DECIMAL_CURRENCIES = frozenset("BHD JOD KWD OMR TND".split())

CHARGE_PREFIXES = ("ch_", "py_")  # py_ is a charge made with a non-card payment method
# Voiding an authorization: POST /v1/payment_intents/{intent}/cancel, for a PaymentIntent whose status is
# requires_capture (docs.stripe.com/api/payment_intents/cancel; the vendored 2023-08-16 spec). What each
# `status` (components.schemas.payment_intent) means for a void; requires_capture is cancelled first.
PAYMENT_INTENT_PATH = "/v1/payment_intents/{}"
VOID_OUTCOMES = {
    "canceled": VoidOutcome.VOIDED, "succeeded": VoidOutcome.CAPTURED, "processing": VoidOutcome.CAPTURED,
    "requires_payment_method": VoidOutcome.NOTHING, "requires_confirmation": VoidOutcome.NOTHING,
    "requires_action": VoidOutcome.NOTHING,
}  # fmt: skip
PAYMENT_INTENT_PREFIX = "pi_"
RETRYABLE_CONFLICT_CODES = frozenset({"lock_timeout", "idempotency_key_in_use"})
IDEMPOTENCY_ERROR = "idempotency_error"  # error type: the key was used with other parameters
# Stripe keeps idempotency keys for 24 hours; an hour's margin for clocks and queues.
KEY_LIFETIME = timedelta(hours=23)

# Webhooks (docs.stripe.com/webhooks, "Verify manually"; stripe-python's _webhook.py).
SIGNATURE_HEADER = "Stripe-Signature"
WEBHOOK_TOLERANCE = 300  # seconds, stripe-python's DEFAULT_TOLERANCE: an older signed timestamp is a replay
WEBHOOK_ENDPOINTS_PATH = "/v1/webhook_endpoints"
# The endpoint is created with our pinned API version, under which card refunds report their changes as
# charge.refund.updated (refund.updated covers only refunds without a charge before 2024-10-28.acacia);
# both carry the refund object. Both are in the 2023-08-16 spec's enabled_events enum.
WEBHOOK_EVENTS = ("charge.refund.updated", "refund.updated")


def refund_step(currency: str) -> int:
    """The smallest refund in our minor units: 10 for three-decimal currencies, more where Stripe has fewer decimals."""
    code = currency.upper()
    step = 10 ** max(exponent(code) - _stripe_exponent(code), 0)
    return step * 10 if code in THREE_DECIMAL_CURRENCIES else step


def connect(credentials: dict, config: dict, session=None) -> StripeProvider:
    """The route for one shop's Stripe account; MissingCredentials without a secret key."""
    if not credentials.get("secret_key"):
        raise MissingCredentials("the shop has no Stripe secret key in Palautus", provider=PROVIDER)
    return StripeProvider(
        secret_key=credentials["secret_key"], api_base=config["STRIPE_API_BASE"],
        timeout=config["HTTP_TIMEOUT"], session=session,
    )  # fmt: skip


class StripeProvider:
    """The PaymentProvider port over Stripe's /v1/refunds."""

    name = PROVIDER
    key_lifetime = KEY_LIFETIME

    def __init__(self, secret_key: str, api_base: str = "https://api.stripe.com", timeout=10.0, session=None):
        self._secret_key = secret_key
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self._session = session or new_session()

    def __repr__(self) -> str:
        return f"StripeProvider(api_base={self.api_base!r})"

    @staticmethod
    def refund_step(currency: str) -> int:
        return refund_step(currency)

    @staticmethod
    def outcome_unknown(error: Exception) -> bool:
        """After sending: a 5xx (whatever Stripe-Should-Retry says), or an idempotency_error (the key was used
        with other parameters: an earlier request under it may have made the refund). Look it up by key."""
        if not isinstance(error, ProviderError):
            return False
        return (error.status or 0) >= 500 or error.code == IDEMPOTENCY_ERROR

    def refund(self, request: RefundRequest) -> ProviderRefund:
        """Refund part or all of a payment; Stripe replays its first answer for a repeated key."""
        payment_id = request.payment.payment_id or ""
        form = [
            _payment_param(payment_id),
            ("amount", str(_to_stripe_amount(request.amount))),
            ("reason", REASON),
            *_metadata_params({**request.metadata, IDEMPOTENCY_METADATA_KEY: request.idempotency_key}),
        ]
        headers = {HEADER_IDEMPOTENCY_KEY: request.idempotency_key}
        result = _parse_refund(self._call("POST", REFUNDS_PATH, data=form, headers=headers))
        ids = {"provider_refund_id": result.provider_refund_id, "provider_status": result.provider_status}
        logger.info("stripe refund created", extra=ids)
        return result

    def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        """The refund's current state at Stripe."""
        path = f"{REFUNDS_PATH}/{quote(provider_refund_id, safe='')}"
        return _parse_refund(self._call("GET", path))

    def find_refund(self, request: RefundRequest) -> ProviderRefund | None:
        """The payment's refund whose metadata carries this key, over every page; None if none does."""
        for refund in self._refunds_of(request.payment.payment_id or ""):
            if (refund.get("metadata") or {}).get(IDEMPOTENCY_METADATA_KEY) == request.idempotency_key:
                return _parse_refund(refund)
        return None

    def void(self, payment: PaymentRef) -> VoidOutcome:
        """Cancel the PaymentIntent if it waits for capture; one cancelled before is VOIDED, one paid CAPTURED."""
        intent_id = payment.payment_id or ""
        if not intent_id.startswith(PAYMENT_INTENT_PREFIX):
            raise _rejected("only a PaymentIntent's authorization can be voided", "void_not_supported")
        path = PAYMENT_INTENT_PATH.format(quote(intent_id, safe=""))
        status = _intent_status(self._call("GET", path))
        if status == "requires_capture":
            try:  # the same key on every retry: Stripe answers a repeat with its first answer
                status = _intent_status(self._call("POST", f"{path}/cancel", data=[("cancellation_reason", REASON)],
                                                   headers={HEADER_IDEMPOTENCY_KEY: f"palautus-void-{intent_id}"}))
            except ProviderRejected:  # captured or cancelled meanwhile: the intent says which
                status = _intent_status(self._call("GET", path))
        if status not in VOID_OUTCOMES:
            raise _rejected(f"the PaymentIntent is {status} and cannot be voided", "void_not_possible")
        logger.info("stripe void: %s", status, extra={"payment_intent": intent_id})
        return VOID_OUTCOMES[status]

    def create_webhook_endpoint(self, url: str) -> tuple[str, str]:
        """A webhook endpoint at `url` for refund changes, with our API version; (its id, its signing secret).

        Stripe shows the secret only in this answer: the caller keeps it (sealed with the shop's credentials).
        """
        form = [("url", url), *[("enabled_events[]", name) for name in WEBHOOK_EVENTS], ("api_version", STRIPE_VERSION),
                ("description", "Palautus: refunds that change after they were made"), ("metadata[palautus]", "refunds")]  # fmt: skip
        endpoint = self._call("POST", WEBHOOK_ENDPOINTS_PATH, data=form)
        endpoint_id, secret = endpoint.get("id"), endpoint.get("secret")
        if not isinstance(endpoint_id, str) or not isinstance(secret, str) or not secret.startswith("whsec_"):
            raise _malformed("a webhook endpoint without its id or signing secret")
        logger.info("stripe webhook endpoint created", extra={"endpoint_id": endpoint_id})
        return endpoint_id, secret

    def settlements(self, since: datetime, until: datetime) -> list[str]:
        """The automatic payouts arriving in [since, until), oldest first: Stripe itemises no manual payout."""
        from adapters.payments import stripe_payouts as payouts  # it builds on this module's units and errors

        return payouts.itemised_ids(self._pages(PAYOUTS_PATH, payouts.period_params(since, until, LIST_LIMIT)))

    def settlement(self, settlement_id: str) -> Settlement:
        """One payout (po_...) with every balance transaction it paid out, their sources expanded."""
        from adapters.payments import stripe_payouts as payouts

        payout = self._call("GET", f"{PAYOUTS_PATH}/{quote(settlement_id, safe='')}")
        payouts.ensure_itemised(payout)
        params = {"payout": settlement_id, "limit": LIST_LIMIT, "expand[]": "data.source"}
        return payouts.settlement(payout, list(self._pages(BALANCE_TRANSACTIONS_PATH, params)))

    def _refunds_of(self, payment_id: str):
        return self._pages(REFUNDS_PATH, dict([_payment_param(payment_id)], limit=LIST_LIMIT))

    def _pages(self, path: str, params: dict):
        """Every object of a Stripe list, page after page (`starting_after` the last one's id)."""
        params = dict(params)
        while True:
            data = self._call("GET", path, params=params)
            page = data.get("data")
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise _malformed("a list without a data array of objects")
            yield from page
            if not data.get("has_more") or not page:
                return
            params["starting_after"] = page[-1].get("id")
            if not isinstance(params["starting_after"], str):
                raise _malformed("a list whose last object has no id")

    def _call(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> dict:
        headers = {
            "Authorization": f"Bearer {self._secret_key}",
            HEADER_STRIPE_VERSION: STRIPE_VERSION,
            **(headers or {}),
        }
        response = send(
            self._session, method, self.api_base + path,
            provider=PROVIDER, timeout=self.timeout, headers=headers, **kwargs,
        )
        if not 200 <= response.status_code < 300:
            raise self._error(response)
        body = _json(response)
        if body is None:
            raise _malformed("an answer that is not a JSON object", response)
        return body

    def _error(self, response) -> ProviderRejected | ProviderUnavailable:
        """The error for a non-2xx answer, carrying Stripe's message but never the body."""
        error = (_json(response) or {}).get("error")
        error = error if isinstance(error, dict) else {}
        code = error.get("code") or error.get("type")
        message = str(error.get("message") or "Stripe returned an error without a message")
        message = message.replace(self._secret_key, "[redacted]")[:500]  # Stripe masks keys; be sure
        kind = ProviderUnavailable if _should_retry(response, code) else ProviderRejected
        exc = kind(
            message,
            provider=PROVIDER,
            status=response.status_code,
            code=code,
            request_id=response.headers.get(HEADER_REQUEST_ID),
            retry_after=retry_after(response),
        )
        ids = {"status": exc.status, "code": code, "request_id": exc.request_id}
        logger.warning("stripe request failed, retryable=%s", exc.should_retry, extra=ids)
        return exc


def _should_retry(response, code: str | None) -> bool:
    # Stripe's own header wins, as in stripe-python's _http_client._should_retry.
    header = (response.headers.get(HEADER_SHOULD_RETRY) or "").strip().lower()
    if header in ("true", "false"):
        return header == "true"
    status = response.status_code
    if status == 409:  # a concurrent request holds the object or the key
        return code in RETRYABLE_CONFLICT_CODES
    return status == 429 or status >= 500 or status < 400


def _to_stripe_amount(money: Money) -> int:
    """Our minor units as the integer Stripe wants; ProviderRejected, before any call, if impossible."""
    if money.amount <= 0:
        raise _rejected(f"a refund must be positive, got {money}", "amount_invalid")
    amount = _shift(money.amount, _stripe_exponent(money.currency) - exponent(money.currency))
    if amount is None:
        raise _rejected(f"{money} cannot be expressed in Stripe's unit", "amount_invalid")
    if money.currency in THREE_DECIMAL_CURRENCIES and amount % 10:
        raise _rejected(f"{money}: Stripe takes three-decimal amounts in whole tens", "amount_invalid")
    return amount


def _from_stripe_amount(amount: int, currency: str) -> Money:
    code = currency.upper()
    minor = _shift(amount, exponent(code) - _stripe_exponent(code))
    if minor is None:
        raise _malformed(f"an amount not expressible in {code} minor units")
    return Money(minor, code)


def _stripe_exponent(currency: str) -> int:
    if currency in SPECIAL_TWO_DECIMAL_CURRENCIES:
        return 2
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    return 3 if currency in THREE_DECIMAL_CURRENCIES else 2


def _shift(amount: int, places: int) -> int | None:
    """amount * 10**places, or None when a negative shift would drop digits."""
    if places >= 0:
        return amount * 10**places
    whole, rest = divmod(amount, 10**-places)
    return None if rest else whole


def _intent_status(intent: dict) -> str:
    status = intent.get("status")
    if intent.get("object") != "payment_intent" or not isinstance(status, str):
        raise _malformed("a PaymentIntent without its status")
    return status


def _payment_param(payment_id: str) -> tuple[str, str]:
    if payment_id.startswith(CHARGE_PREFIXES):
        return ("charge", payment_id)
    if payment_id.startswith(PAYMENT_INTENT_PREFIX):
        return ("payment_intent", payment_id)
    raise _rejected("the payment id is neither a Stripe payment intent nor a charge", "payment_id_invalid")


def _metadata_params(metadata: dict[str, str]) -> list[tuple[str, str]]:
    """Stripe's nested form encoding: metadata[key]=value."""
    return [(f"metadata[{key}]", str(value)) for key, value in metadata.items()]


def _parse_refund(refund: dict) -> ProviderRefund:
    """A Stripe refund object in our vocabulary; ProviderUnavailable if it lacks what we need."""
    refund_id, status = refund.get("id"), refund.get("status")
    if not isinstance(refund_id, str) or not isinstance(status, str):
        raise _malformed("a refund without id or status")
    if not isinstance(refund.get("amount"), int) or not isinstance(refund.get("currency"), str):
        raise _malformed("a refund without amount or currency")
    try:
        money = _from_stripe_amount(refund["amount"], refund["currency"])
    except InvalidInput:
        raise _malformed("a refund in an unknown currency") from None
    if status not in STATUSES:
        logger.warning("unknown stripe refund status", extra={"provider_refund_id": refund_id})
    ours = STATUSES.get(status, RefundStatus.SUBMITTED)  # an unknown word is never final: keep polling
    reason = refund.get("failure_reason") if ours is RefundStatus.FAILED else None
    return ProviderRefund(refund_id, ours, money, provider_status=status, failure_reason=reason)


def _rejected(message: str, code: str) -> ProviderRejected:
    return ProviderRejected(message, provider=PROVIDER, code=code)


def _malformed(what: str, response=None) -> ProviderMalformed:
    # Retryable on purpose (ProviderMalformed is a ProviderUnavailable): the refund may exist at Stripe, so never
    # report it as failed.
    return ProviderMalformed(
        f"Stripe returned {what}",
        provider=PROVIDER,
        status=getattr(response, "status_code", None),
        code="unexpected_response",
        request_id=response.headers.get(HEADER_REQUEST_ID) if response is not None else None,
    )


# --- webhooks: a refund that changes after it was made (it may fail days later) -------------------


def verify_signature(body: bytes, header: str | None, secrets: list[str], now: float | None = None) -> None:
    """Raise SignatureError unless one of `secrets` signed this body (during a rotation Stripe signs with each).

    `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`: HMAC-SHA256 with the whole `whsec_...`
    secret over "<t>.<raw body>", hex, compared in constant time with every v1 (other
    schemes, such as test mode's v0, are ignored). A timestamp older than
    WEBHOOK_TOLERANCE is refused (a replay), as stripe-python does.
    """
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    secrets = [secret for secret in secrets if secret]
    if timestamp is None or not signatures or not secrets:
        raise SignatureError("missing Stripe signature")
    signed = f"{timestamp}.".encode() + body
    expected = [hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets]
    if not any(hmac.compare_digest(mine.encode(), theirs.encode()) for mine in expected for theirs in signatures):
        raise SignatureError("Stripe signature does not match the body")
    if (now if now is not None else time.time()) - timestamp > WEBHOOK_TOLERANCE:
        raise SignatureError("Stripe signature is too old")


def event_ids(event: dict) -> tuple[str, str]:
    """(type, id) of a Stripe event; PayloadError if it is not one."""
    if not isinstance(event.get("id"), str) or not event["id"] or not isinstance(event.get("type"), str):
        raise PayloadError("not a Stripe event: id and type are required")
    return event["type"], event["id"]


def interpret(topic: str, payload: object) -> ProviderRefundUpdate | None:
    """A refund event as the refund's new state; None for other events. PayloadError if malformed."""
    if topic not in WEBHOOK_EVENTS:
        return None
    data = payload.get("data") if isinstance(payload, dict) else None
    refund = data.get("object") if isinstance(data, dict) else None
    if not isinstance(refund, dict):
        raise PayloadError("data.object: a refund object is required")
    try:
        parsed = _parse_refund(refund)
    except ProviderError as e:
        raise PayloadError(f"data.object: {e.message}") from None
    key = (refund.get("metadata") or {}).get(IDEMPOTENCY_METADATA_KEY) if isinstance(refund.get("metadata"), dict) else None
    return ProviderRefundUpdate(PROVIDER, parsed.provider_refund_id, parsed.status, parsed.amount, parsed.provider_status,
                                parsed.failure_reason, idempotency_key=key if isinstance(key, str) else None)  # fmt: skip
