"""PayPal refunds, Payments v2: refund a capture, look a refund up, find one made earlier under a key.

Recovery rules (the route port's): PayPal stores a `PayPal-Request-Id` for 45
days and answers a repeat with "the latest status of the previous request", so a
retry within 44 days sends again under the same id; a retry later than that first
looks the refund up by the key we put in its `invoice_id` and `custom_id`. A 5xx,
a 409 (RESOURCE_CONFLICT / PREVIOUS_REQUEST_IN_PROGRESS: a request under the id
is still running) and a timeout or dropped connection leave the outcome unknown,
so the refund is looked up by key before anything is sent again.

Looking up by key: a capture lists no refunds, so `find_refund` reads the
capture's Orders v2 order (`supplementary_data.related_ids.order_id`) and looks
in its `purchase_units[].payments.refunds[]`. A capture with no related order
(not made through Orders v2) cannot be searched: `find_refund` then raises
ProviderRejected coded `cannot_look_up`, which the refund job takes as "could
not look" and holds the refund (never as "there is none", nor as failed).

Errors: PayPal's body is `{name, message, debug_id, details[{issue, description,
field}]}`; the code is the first `details[].issue`, else `name`, and the request
id is `debug_id` (or the `Paypal-Debug-Id` header). 409, 429 and 5xx ->
ProviderUnavailable (Retry-After kept); 400, 401 (after one retry with a new
token), 403, 404 and 422 -> ProviderRejected. Some 422 issues depend on the
account's or the capture's state and may pass later (STATE_DEPENDENT_ISSUES:
REFUND_FAILED_INSUFFICIENT_FUNDS, PENDING_CAPTURE, TRANSACTION_DISPUTED): they are
refusals all the same; Palautus never retries a refusal by itself, a merchant
starts the refund again after it failed.

Auth: OAuth2 client credentials (`POST /v1/oauth2/token`, HTTP Basic). The access
token is cached process-wide per (API base, client id, SHA-256 of the secret)
until five minutes before `expires_in` runs out, fetched once under a lock by
concurrent callers; a 401 from an API call drops it, fetches a new one and
repeats that call once (safe: the refund POST carries its PayPal-Request-Id).
Neither the client secret nor a token ever appears in errors, reprs or logs.

Settlements (the port's `settlements`/`settlement`): PayPal pays out no settlements of
its own, so a settlement here is one UTC day of one currency's balance-affecting
transactions, read from the Transaction Search API (`GET /v1/reporting/transactions`,
which needs the REST app's "Transaction Search" option: without it PayPal answers 403,
a ProviderRejected). Transactions appear there up to three hours late, so a day is
listed only once PayPal reports it whole. Why a day, the sources followed and the
mapping: paypal_settlements.py.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import quote, urlencode

from adapters.errors import PayloadError, ProviderError, ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.http import new_session, retry_after, send, json_object as _json
from adapters.payments import PaymentRef, ProviderRefund, RefundRequest, VoidOutcome, paypal_settlements
from adapters.payments.settling import midnight
from integration.errors import InvalidInput, MissingCredentials
from integration.money import Money, exponent, to_minor
from integration.records import Settlement
from integration.refunds import RefundStatus

__all__ = ["PayPalProvider", "connect", "refund_step", "forget_tokens"]

logger = logging.getLogger(__name__)

PROVIDER = "paypal"
CREDENTIALS = ("client_id", "client_secret")  # a REST app's credentials; refunds need .../payments/refund scope
API_BASE = "https://api-m.paypal.com"  # live; the operator's PAYPAL_API_BASE decides
TOKEN_PATH = "/v1/oauth2/token"
CAPTURE_PATH = "/v2/payments/captures/{}"
REFUND_CAPTURE_PATH = "/v2/payments/captures/{}/refund"
REFUND_PATH = "/v2/payments/refunds/{}"
ORDER_PATH = "/v2/checkout/orders/{}"
# Voiding (developer.paypal.com/docs/api/payments/v2, "Void authorized payment"): POST .../authorizations/{id}/void
# releases what an authorization still holds; after a partial capture it releases the rest. `status`es
# [PP-OAS authorization_status]: CREATED and PENDING hold money not taken yet.
AUTHORIZATION_PATH = "/v2/payments/authorizations/{}"
VOIDABLE = frozenset({"CREATED", "PENDING", "PARTIALLY_CAPTURED"})
VOID_OUTCOMES = {"VOIDED": VoidOutcome.VOIDED, "CAPTURED": VoidOutcome.CAPTURED,
                 "PARTIALLY_CAPTURED": VoidOutcome.CAPTURED, "DENIED": VoidOutcome.NOTHING,
                 "EXPIRED": VoidOutcome.NOTHING}  # fmt: skip

HEADER_REQUEST_ID = "PayPal-Request-Id"
HEADER_PREFER = "Prefer"
PREFER_REPRESENTATION = "return=representation"
HEADER_DEBUG_ID = "Paypal-Debug-Id"

# Refund `status` [PP-OAS refund_status]. PENDING may later turn into any of the others.
STATUSES = {
    "COMPLETED": RefundStatus.SUCCEEDED,
    "PENDING": RefundStatus.SUBMITTED,
    "FAILED": RefundStatus.FAILED,
    "CANCELLED": RefundStatus.FAILED,
}

# developer.paypal.com/docs/api/reference/currency-codes/: "This currency does not support decimals."
ZERO_DECIMAL_CURRENCIES = frozenset("HUF JPY TWD".split())
# captures.refund-422 issues that depend on the account's or capture's state and may pass later. Still
# refusals: nothing was refunded, and Palautus never sends a refused refund again by itself.
STATE_DEPENDENT_ISSUES = frozenset({"REFUND_FAILED_INSUFFICIENT_FUNDS", "PENDING_CAPTURE", "TRANSACTION_DISPUTED"})
# Statuses after which a request may have been carried out, or may still be.
UNKNOWN_OUTCOME_STATUSES = frozenset({409})
TRANSPORT_CODES = ("timeout", "connection_error")  # adapters.http's codes for a request that got no answer

# Payments v2 gives PayPal-Request-Id no length; Orders v2 caps it at 108, so we keep to that.
MAX_REQUEST_ID = 108
MAX_INVOICE_ID = MAX_CUSTOM_ID = 127  # refund_request.invoice_id / custom_id, 1-127
MAX_NOTE_TO_PAYER = 255  # refund_request.note_to_payer, 1-255
# PayPal keeps a PayPal-Request-Id for 45 days; a day's margin for clocks and queues.
KEY_LIFETIME = timedelta(days=44)
TOKEN_MARGIN = 300.0  # seconds before `expires_in` runs out that a cached token is no longer used


def refund_step(currency: str) -> int:
    """The smallest refund in our minor units: 1, or 100 where PayPal takes no decimals that ISO has (HUF, TWD)."""
    code = currency.upper()
    return 10 ** max(exponent(code) - _paypal_exponent(code), 0)


def connect(credentials: dict, config: dict, session=None) -> PayPalProvider:
    """The route for one shop's PayPal REST app; MissingCredentials without both client id and secret."""
    if not credentials.get("client_id") or not credentials.get("client_secret"):
        raise MissingCredentials("the shop has no PayPal client id and secret in Palautus", provider=PROVIDER)
    return PayPalProvider(
        client_id=credentials["client_id"], client_secret=credentials["client_secret"],
        api_base=config.get("PAYPAL_API_BASE") or API_BASE, timeout=config["HTTP_TIMEOUT"], session=session,
    )  # fmt: skip


# --- the access tokens, shared by every provider instance in the process ---------------------------


class _TokenCache:
    """Access tokens by (API base, client id, SHA-256 of the secret), each until shortly before it expires."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}  # key -> (token, use until)
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, key: tuple[str, str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self._guard:
            found = self._tokens.get(key)
            if found is None or self.clock() >= found[1]:
                return None
            return found[0]

    def put(self, key: tuple[str, str, str], token: str, expires_in: float) -> None:
        with self._guard:
            self._tokens[key] = (token, self.clock() + max(expires_in - TOKEN_MARGIN, 0.0))

    def drop(self, key: tuple[str, str, str], token: str) -> None:
        """Forget the token, unless another caller has already replaced it with a new one."""
        with self._guard:
            if self._tokens.get(key, (None,))[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()


TOKENS = _TokenCache()


def forget_tokens() -> None:
    """Drop every cached access token (tests; an operator rotating credentials needs nothing: a 401 does it)."""
    TOKENS.clear()


class PayPalProvider:
    """The PaymentRoute port over PayPal's Payments v2 capture refunds."""

    name = PROVIDER
    key_lifetime = KEY_LIFETIME

    def __init__(self, client_id: str, client_secret: str, api_base: str = API_BASE, timeout=10.0, session=None):
        self._client_id = client_id
        self._client_secret = client_secret
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self._session = session or new_session()
        self._token_key = (self.api_base, client_id, hashlib.sha256(client_secret.encode()).hexdigest())

    def __repr__(self) -> str:
        return f"PayPalProvider(api_base={self.api_base!r})"

    @staticmethod
    def refund_step(currency: str) -> int:
        return refund_step(currency)

    @staticmethod
    def outcome_unknown(error: Exception) -> bool:
        """After sending: a 5xx, a 409 (a request under the same id still running), no answer at all, or
        DUPLICATE_INVOICE_ID (a refund under our key, which is its invoice_id, exists: look it up, never fail)."""
        if not isinstance(error, ProviderError):
            return False
        status = error.status or 0
        no_answer = error.status is None and error.code in TRANSPORT_CODES
        return status >= 500 or status in UNKNOWN_OUTCOME_STATUSES or no_answer or error.code == "DUPLICATE_INVOICE_ID"

    def refund(self, request: RefundRequest) -> ProviderRefund:
        """Refund part or all of a capture; PayPal answers a repeated PayPal-Request-Id with the first refund."""
        capture_id = request.payment.payment_id or ""
        if not capture_id:
            raise _rejected("the payment has no PayPal capture id", "payment_id_invalid")
        key = request.idempotency_key
        if not key or len(key) > min(MAX_REQUEST_ID, MAX_INVOICE_ID, MAX_CUSTOM_ID):
            raise _rejected(f"a refund key must be 1-{MAX_REQUEST_ID} characters for PayPal", "idempotency_key_invalid")
        body = {
            "amount": {"value": _to_paypal_value(request.amount), "currency_code": request.amount.currency},
            # Unique per refund: PayPal refuses an invoice_id used before on the capture (DUPLICATE_INVOICE_ID),
            # and both carry the key so that find_refund can recognise the refund in the order.
            "invoice_id": key,
            "custom_id": key,
        }
        return_code = str(request.metadata.get("return_code") or "").strip()
        if return_code:
            body["note_to_payer"] = f"Return {return_code}"[:MAX_NOTE_TO_PAYER]
        headers = {HEADER_REQUEST_ID: key, HEADER_PREFER: PREFER_REPRESENTATION}
        path = REFUND_CAPTURE_PATH.format(quote(capture_id, safe=""))
        answer = self._call("POST", path, json=body, headers=headers)
        try:
            result = self._complete(answer)
        except ProviderRejected as e:
            # PayPal took the refund; only the read of it was refused: never a refusal of the refund itself.
            raise ProviderMalformed(f"PayPal made the refund but it could not be read ({e.message})", provider=PROVIDER,
                                    code="unexpected_response", request_id=e.request_id) from e  # fmt: skip
        ids = {"provider_refund_id": result.provider_refund_id, "provider_status": result.provider_status}
        logger.info("paypal refund created", extra=ids)
        return result

    def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        """The refund's current state at PayPal."""
        return _parse_refund(self._call("GET", REFUND_PATH.format(quote(provider_refund_id, safe=""))))

    def find_refund(self, request: RefundRequest) -> ProviderRefund | None:
        """The capture's refund whose invoice_id or custom_id is this key, read through the capture's order.

        None if the order has no such refund; ProviderRejected (`cannot_look_up`) if the capture has no
        Orders v2 order to read refunds from: not being able to look is not finding nothing.
        """
        capture_id = request.payment.payment_id or ""
        if not capture_id:
            raise _rejected("the payment has no PayPal capture id", "payment_id_invalid")
        capture = self._call("GET", CAPTURE_PATH.format(quote(capture_id, safe="")))
        supplementary = capture.get("supplementary_data")
        related = supplementary.get("related_ids") if isinstance(supplementary, dict) else None
        order_id = related.get("order_id") if isinstance(related, dict) else None
        if not isinstance(order_id, str) or not order_id:
            raise _rejected("the PayPal capture belongs to no Orders v2 order, so its refunds cannot be listed",
                            "cannot_look_up")  # fmt: skip
        order = self._call("GET", ORDER_PATH.format(quote(order_id, safe="")))
        key = request.idempotency_key
        for refund in _order_refunds(order):
            if key in (refund.get("invoice_id"), refund.get("custom_id")):
                return self._complete(refund)
        return None

    def void(self, payment: PaymentRef) -> VoidOutcome:
        """Void the authorization (its payment id) if it still holds money; one voided before is VOIDED again."""
        authorization_id = payment.payment_id or ""
        if not authorization_id:
            raise _rejected("the payment has no PayPal authorization id", "payment_id_invalid")
        path = AUTHORIZATION_PATH.format(quote(authorization_id, safe=""))
        status = _authorization_status(self._call("GET", path))
        if status in VOIDABLE:
            headers = {HEADER_REQUEST_ID: f"palautus-void-{authorization_id}"[:MAX_REQUEST_ID],
                       HEADER_PREFER: PREFER_REPRESENTATION}  # fmt: skip
            try:
                answered = _authorization_status(self._call("POST", f"{path}/void", headers=headers, json={}))
            except ProviderRejected:  # captured or voided meanwhile: the authorization says which
                answered = _authorization_status(self._call("GET", path))
            status = "PARTIALLY_CAPTURED" if status == "PARTIALLY_CAPTURED" and answered == "VOIDED" else answered
        if status not in VOID_OUTCOMES:
            raise _rejected(f"the authorization is {status} and cannot be voided", "void_not_possible")
        logger.info("paypal void: %s", status, extra={"authorization_id": authorization_id})
        return VOID_OUTCOMES[status]

    def settlements(self, since: datetime, until: datetime) -> list[str]:
        """"YYYY-MM-DD:CUR" for each UTC day starting in [since, until) that moved money and that PayPal has
        reported whole, oldest first (a day still within its three-hour delay is left for a later call)."""
        now = datetime.now(timezone.utc)
        infos, refreshed = [], []
        for start, end in paypal_settlements.windows(*paypal_settlements.scan_range(since, until, now)):
            found, when = self._transactions(start, end)
            infos.extend(found)
            refreshed.append(when)
        whole_until = paypal_settlements.reported_until(refreshed, now)
        return _parsed(paypal_settlements.listed_days, infos, since, until, whole_until)

    def settlement(self, settlement_id: str) -> Settlement:
        """One UTC day's balance-affecting transactions in one currency, over every page of them."""
        try:
            day, currency = paypal_settlements.parse_id(settlement_id)
        except ValueError:
            raise _rejected("a PayPal settlement id is a UTC day and a currency: YYYY-MM-DD:EUR",
                            "settlement_id_invalid") from None  # fmt: skip
        start = midnight(day)
        infos, refreshed = self._transactions(start, start + timedelta(days=1), currency)
        whole = paypal_settlements.reported_until([refreshed], datetime.now(timezone.utc)) >= start + timedelta(days=1)
        return _parsed(paypal_settlements.settlement, settlement_id, infos, whole)

    def _transactions(self, start: datetime, end: datetime, currency: str | None = None):
        """Every balance-affecting transaction_info in [start, end), over all pages, and when PayPal last refreshed."""
        infos, number, pages, refreshed = [], 1, 1, None
        while number <= pages:
            params = urlencode(paypal_settlements.query(start, end, number, currency))
            answer = self._call("GET", f"{paypal_settlements.TRANSACTIONS_PATH}?{params}")
            found, pages, refreshed = _parsed(paypal_settlements.page, answer)
            infos.extend(found)
            number += 1
        return infos, refreshed

    # --- HTTP ------------------------------------------------------------------------------------

    def _complete(self, refund: dict) -> ProviderRefund:
        """A refund from an answer that may be minimal (id, status, links): read it whole when it has no amount."""
        if not isinstance(refund.get("amount"), dict):
            refund_id = refund.get("id")
            if not isinstance(refund_id, str) or not refund_id:
                raise _malformed("a refund without id or status")
            return self.get_refund(refund_id)
        return _parse_refund(refund)

    def _call(self, method: str, path: str, *, headers: dict | None = None, json: dict | None = None) -> dict:
        """One API call with a Bearer token; a 401 drops the token and repeats the call once with a new one."""
        token = self._access_token()
        response = self._send(method, path, token, headers, json)
        if response.status_code == 401:
            TOKENS.drop(self._token_key, token)
            logger.info("paypal access token refused, fetching a new one")
            token = self._access_token()
            response = self._send(method, path, token, headers, json)
        if not 200 <= response.status_code < 300:
            raise self._error(response, token)
        body = _json(response)
        if body is None:
            raise _malformed("an answer that is not a JSON object", response)
        return body

    def _send(self, method: str, path: str, token: str, headers: dict | None, json: dict | None):
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
        kwargs = {"json": json} if json is not None else {}  # requests sets Content-Type: application/json
        return send(
            self._session, method, self.api_base + path,
            provider=PROVIDER, timeout=self.timeout, headers=headers, **kwargs,
        )  # fmt: skip

    def _access_token(self) -> str:
        """The cached token, or a new one; concurrent callers in the process fetch it once."""
        token = TOKENS.get(self._token_key)
        if token is not None:
            return token
        with TOKENS.lock(self._token_key):
            token = TOKENS.get(self._token_key)  # another caller may have fetched it meanwhile
            if token is None:
                token, expires_in = self._fetch_token()
                TOKENS.put(self._token_key, token, expires_in)
            return token

    def _fetch_token(self) -> tuple[str, float]:
        response = send(
            self._session, "POST", self.api_base + TOKEN_PATH, provider=PROVIDER, timeout=self.timeout,
            data={"grant_type": "client_credentials"}, auth=(self._client_id, self._client_secret),
            headers={"Accept": "application/json"},
        )  # fmt: skip
        if not 200 <= response.status_code < 300:
            raise self._error(response, None, token_endpoint=True)
        body = _json(response) or {}
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise _malformed("a token answer without an access_token", response)
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in < 0:
            expires_in = 0  # used for this call only
        logger.info("paypal access token fetched", extra={"expires_in": expires_in})
        return token, float(expires_in)

    def _error(self, response, token: str | None, token_endpoint: bool = False) -> ProviderError:
        """The error for a non-2xx answer, carrying PayPal's message but never the body, a secret or a token."""
        body = _json(response) or {}
        details = body.get("details") if isinstance(body.get("details"), list) else []
        detail = next((d for d in details if isinstance(d, dict) and isinstance(d.get("issue"), str)), {})
        code = detail.get("issue") or _text(body.get("name")) or _text(body.get("error"))  # OAuth: {error, ...}
        message = _text(body.get("message")) or _text(body.get("error_description"))
        message = message or "PayPal returned an error without a message"
        if isinstance(detail.get("description"), str):
            message = f"{message.rstrip('.')}: {detail['description']}"
        status = response.status_code
        if token_endpoint and status == 401:
            message = f"PayPal refused the client credentials ({message})"
        if code in STATE_DEPENDENT_ISSUES:
            message += " (it depends on the capture's or account's state: the merchant may try again later)"
        message = self._redact(message, token)[:500]
        retryable = status in (409, 429) or status >= 500 or status < 400
        kind = ProviderUnavailable if retryable else ProviderRejected
        exc = kind(
            message,
            provider=PROVIDER,
            status=status,
            code=code,
            request_id=_text(body.get("debug_id")) or response.headers.get(HEADER_DEBUG_ID),
            retry_after=retry_after(response),
        )
        ids = {"status": exc.status, "code": code, "request_id": exc.request_id}
        logger.warning("paypal request failed, retryable=%s", exc.should_retry, extra=ids)
        return exc

    def _redact(self, text: str, token: str | None) -> str:
        for secret in (self._client_secret, token, TOKENS.get(self._token_key)):
            if secret:
                text = text.replace(secret, "[redacted]")
        return text


def _parsed(parse, *args):
    """A settlement parser's result; an answer not in Transaction Search's documented shape is ProviderMalformed."""
    try:
        return parse(*args)
    except PayloadError as e:
        raise _malformed(f"a transaction search answer not in the documented shape ({e})") from None


def _order_refunds(order: dict):
    units = order.get("purchase_units")
    if not isinstance(units, list):
        raise _malformed("an order without purchase_units")
    for unit in units:
        payments = unit.get("payments") if isinstance(unit, dict) else None
        refunds = payments.get("refunds") if isinstance(payments, dict) else None
        if refunds is None:
            continue
        if not isinstance(refunds, list):
            raise _malformed("an order whose refunds are not a list")
        yield from (refund for refund in refunds if isinstance(refund, dict))


def _authorization_status(authorization: dict) -> str:
    status = authorization.get("status")
    if not isinstance(status, str) or not status:
        raise _malformed("an authorization without its status")
    return status


def _paypal_exponent(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else exponent(currency)


def _to_paypal_value(money: Money) -> str:
    """Our minor units as PayPal's decimal string ("12.34"; "1235" HUF); ProviderRejected, before any call, if not."""
    if money.amount <= 0:
        raise _rejected(f"a refund must be positive, got {money}", "amount_invalid")
    places = _paypal_exponent(money.currency)
    if money.amount % refund_step(money.currency):
        raise _rejected(f"{money}: PayPal takes {money.currency} in whole units", "amount_invalid")
    return f"{money.decimal.quantize(Decimal(1).scaleb(-places))}"


def _parse_refund(refund: dict) -> ProviderRefund:
    """A PayPal refund object in our vocabulary; ProviderMalformed if it lacks what we need."""
    refund_id, status = refund.get("id"), refund.get("status")
    if not isinstance(refund_id, str) or not refund_id or not isinstance(status, str):
        raise _malformed("a refund without id or status")
    amount = refund.get("amount")
    value = amount.get("value") if isinstance(amount, dict) else None
    currency = amount.get("currency_code") if isinstance(amount, dict) else None
    if not isinstance(value, str) or not isinstance(currency, str):
        raise _malformed("a refund without amount or currency")
    try:
        money = Money(to_minor(value, currency), currency)
    except InvalidInput:
        raise _malformed("a refund amount not expressible in its currency") from None
    if status not in STATUSES:
        logger.warning("unknown paypal refund status", extra={"provider_refund_id": refund_id})
    ours = STATUSES.get(status, RefundStatus.SUBMITTED)  # an unknown word is never final: keep polling
    reason = None
    if ours is RefundStatus.FAILED:
        details = refund.get("status_details")
        reason = _text(details.get("reason")) if isinstance(details, dict) else None
    return ProviderRefund(refund_id, ours, money, provider_status=status, failure_reason=reason)


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _rejected(message: str, code: str) -> ProviderRejected:
    return ProviderRejected(message, provider=PROVIDER, code=code)


def _malformed(what: str, response=None) -> ProviderMalformed:
    # Retryable on purpose: the refund may exist at PayPal, so never report it as failed.
    return ProviderMalformed(
        f"PayPal returned {what}",
        provider=PROVIDER,
        status=getattr(response, "status_code", None),
        code="unexpected_response",
        request_id=response.headers.get(HEADER_DEBUG_ID) if response is not None else None,
    )
