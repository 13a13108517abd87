"""Paytrail refunds, Payment API: refund a payment, and read the signed callback that says how it ended.

Recovery rules (the route port's): Paytrail has no idempotent replay and no way
to read a refund back. A `refundStamp` (our idempotency key) is unique for good,
so `key_lifetime` is None; but after any answer that leaves the outcome open (a
5xx, a timeout or dropped connection, a 2xx whose signature does not hold or
whose body cannot be read) Palautus must never post the refund again: a second
POST could pay the customer twice. `outcome_unknown` says so, and `find_refund`
and `get_refund` always raise ProviderRejected coded `cannot_look_up`, which the
refund job takes as "could not look" and holds the refund (never as "there is
none", nor as failed). Only a 429 (turned away before it ran) and a 4xx leave
nothing behind: a retry after a 429 sends the same stamp again.

Refunds are asynchronous: a 201 says only that Paytrail took the request, with
the refund's own transaction id; "ok" and "pending" both stay SUBMITTED (Paytrail
for WooCommerce, too, waits for the callback), "fail" is FAILED. The final word
comes as a GET to the success or cancel callback URL, signed over its `checkout-*`
query parameters; `parse_callback` checks it. Each refund's callback URLs carry
our key as `palautus_refund`, as WOO carries its `refund_unique_id`: that
parameter is ours, so it is NOT covered by Paytrail's signature (see
`parse_callback` for what the caller must still match).

The request: `amount` (integer cents; Paytrail takes only EUR), `refundStamp`
(our key), `refundReference` (the return's code), `email` when the order has one
(Paytrail then refunds by e-mail where the payment method cannot refund by API)
and `callbackUrls`. No `items`: item-level refunds need the payment to have been
made with item stamps (or a Shop-in-Shop merchant), and our VAT per line stays on
our own refund record.

Signing (docs.paytrail.com "Authentication"): the lowercase `checkout-*` headers,
sorted, as `key:value` lines, then the body exactly as sent, joined with "\\n" and
HMAC'd with the secret key; the hex digest goes in `signature`. The body is
serialized once and those bytes are both signed and sent. Every answer is signed
the same way over its own `checkout-*` headers and raw body (as paytrail-php-sdk's
`PaytrailClient::post` checks); a 2xx without a good signature is malformed. Whether
error answers are signed is not documented, so they are judged by their status
alone: an error moves no money, and after a wrong secret key (a 401) no signature
of Paytrail's could ever hold for us. One that does not hold is logged.

Errors: Paytrail's body is `{status: "error", message, meta?}`; 400, 401, 404 and
422 (the payment method cannot refund by API) -> ProviderRejected; 429 and 5xx
-> ProviderUnavailable. The secret key never appears in errors, reprs or logs.

Settlements: `settlements` lists Paytrail's settlement ids (signed `GET /settlements`,
at most 100 an answer, newest first, so older ones are asked for again by date).
What a settlement holds Paytrail never answers in the request: it POSTs a payment
report to a callback URL of ours. So `settlement` cannot read one and raises
SettlementsUnsupported; `request_settlement` (the port's, for routes whose settlements
arrive later) asks for the report with `request_settlement_report`. The report comes to
webhooks/payments.py, where `parse_settlement_report` checks its signature and shape
(raw body and `checkout-*` headers: "When validating report signature, body must be in
raw body format"), and it is stored as it came under `report_ids`; the job reads it
again with `read_settlement_report` (no signature: checked at the door) through
`interpret`, as a SettlementReport. A refund is found in it by its stamp (our
refundStamp), as the report names no transaction id. Paytrail sends a report again
when our answer is not a 200 (paytrail-api.yaml, the reportReady callback's `default`
response). Sources and what is unconfirmed: paytrail_settlements.py.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping
from urllib.parse import quote

from adapters.errors import (
    PayloadError,
    ProviderError,
    ProviderMalformed,
    ProviderRejected,
    ProviderUnavailable,
    SettlementsUnsupported,
    SignatureError,
)
from adapters.http import new_session, retry_after, send, json_object as _json
from adapters.payments import PaymentRef, ProviderRefund, RefundRequest, VoidOutcome, paytrail_settlements
from adapters.payments.settling import utc
from integration.errors import MissingCredentials
from integration.money import Money
from integration.records import ProviderRefundUpdate, Settlement, SettlementReport
from integration.refunds import RefundStatus

__all__ = ["PaytrailProvider", "CallbackOutcome", "connect", "refund_step", "parse_callback", "sign", "interpret",
           "callback_event", "parse_settlement_report", "read_settlement_report", "report_ids"]

logger = logging.getLogger(__name__)

PROVIDER = "paytrail"
CREDENTIALS = ("account", "secret")  # the merchant id (checkout-account) and its secret key
DEFAULT_API_BASE = "https://services.paytrail.com"  # not api.paytrail.com: that is the legacy Merchant API
REFUND_PATH = "/payments/{}/refund"
PLATFORM_NAME = "Palautus"
CURRENCY = "EUR"  # the only currency the Payment API takes

ALGORITHM = "sha256"  # what we sign with; answers and callbacks may name sha512
ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
CHECKOUT_PREFIX = "checkout-"
HEADER_SIGNATURE = "signature"
HEADER_REQUEST_IDS = ("request-id", "cof-request-id")  # "responses contain request-id header"
CONTENT_TYPE = "application/json; charset=utf-8"

KEY_PARAM = "palautus_refund"  # our key in each callback URL's query: ours, so never signed by Paytrail
CALLBACK_OUTCOMES = ("success", "cancel")
REPORT_TOPIC = "settlement/"  # a stored settlement report's topic: this prefix, then the settlement id

# The 201's `status`: "pending" is received but not completed; "ok" is no final word either (the refund
# is asynchronous and its callback brings the outcome); "fail" is final.
STATUSES = {"ok": RefundStatus.SUBMITTED, "pending": RefundStatus.SUBMITTED, "fail": RefundStatus.FAILED}
# Codes for Paytrail's refusals (its error body has none of its own).
ERROR_CODES = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 422: "refund_not_supported"}
UNKNOWN_OUTCOME_CODES = frozenset({"timeout", "connection_error"})  # adapters.http's, once the request left
CANNOT_LOOK_UP = "Paytrail has no way to read a refund: its signed callback brings the final status"

MAX_AMOUNT = 99_999_998  # an item's and a payment's documented maximum, in cents
MAX_TEXT = 200  # refundStamp and refundReference
# The callback URL's length: the YAML's CallbackUrl says 300, the docs 3000 for callbacks; the worse case.
MAX_CALLBACK_URL = 300


def refund_step(currency: str) -> int:
    """Paytrail refunds any whole number of euro cents."""
    return 1


def connect(credentials: dict, config: dict, session=None) -> PaytrailProvider:
    """The route for one shop's Paytrail merchant account; MissingCredentials without both account and secret."""
    account, secret = credentials.get("account"), credentials.get("secret")
    if account in (None, "") or not secret:
        raise MissingCredentials("the shop has no Paytrail merchant id and secret key in Palautus", provider=PROVIDER)
    return PaytrailProvider(
        account=str(account), secret=secret, api_base=config.get("PAYTRAIL_API_BASE") or DEFAULT_API_BASE,
        timeout=config["HTTP_TIMEOUT"], session=session,
    )  # fmt: skip


def sign(params: Mapping[str, str], body: bytes | str, secret: str, algorithm: str = ALGORITHM) -> str:
    """Paytrail's HMAC: the `checkout-*` params (lowercase keys, sorted) as `key:value` lines, then the body
    exactly as sent ("" for none), joined with a line feed; hex. Other params (`signature`, `platform-name`,
    `content-type`, our own query params) drop out. KeyError for an algorithm Paytrail does not name."""
    digest = ALGORITHMS[algorithm]
    included = sorted((str(k).lower(), str(v)) for k, v in params.items() if str(k).lower().startswith(CHECKOUT_PREFIX))
    lines = [f"{key}:{value}".encode() for key, value in included]
    lines.append(body.encode() if isinstance(body, str) else bytes(body))
    return hmac.new(secret.encode(), b"\n".join(lines), digest).hexdigest()


def _signature_holds(params: Mapping[str, str], body: bytes | str, secret: str, given: str | None) -> bool:
    """Whether `given` is the signature of params and body, with the algorithm the params name (sha256 if none)."""
    algorithm = next((str(v) for k, v in params.items() if str(k).lower() == "checkout-algorithm"), ALGORITHM)
    if not given or algorithm not in ALGORITHMS:
        return False
    expected = sign(params, body, secret, algorithm)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))


class PaytrailProvider:
    """The PaymentRoute port over Paytrail's POST /payments/{transactionId}/refund."""

    name = PROVIDER
    key_lifetime = None  # a refundStamp is unique for good; a retry never needs a look-up first

    def __init__(self, account: str, secret: str, api_base: str = DEFAULT_API_BASE, timeout=10.0, session=None):
        self._account = str(account)
        self._secret = secret
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self._session = session or new_session()

    def __repr__(self) -> str:
        return f"PaytrailProvider(api_base={self.api_base!r})"

    @staticmethod
    def refund_step(currency: str) -> int:
        return refund_step(currency)

    @staticmethod
    def outcome_unknown(error: Exception) -> bool:
        """After sending: a 5xx, no answer at all, or an answer we could not trust or read. Paytrail replays
        nothing and shows no refund, so after any of these the refund must never be posted again."""
        if not isinstance(error, ProviderError):
            return False
        status = error.status or 0
        unread = isinstance(error, ProviderMalformed)
        return status >= 500 or (error.status is None and error.code in UNKNOWN_OUTCOME_CODES) or unread

    def refund(self, request: RefundRequest) -> ProviderRefund:
        """Ask Paytrail to refund part or all of a payment; the callback says later how it ended."""
        transaction_id = request.payment.payment_id or ""
        if not transaction_id:
            raise _rejected("the payment has no Paytrail transaction id", "payment_id_invalid")
        body = _refund_body(request)
        answer = self._post(REFUND_PATH.format(quote(transaction_id, safe="")), transaction_id, body)
        result = _parse_created(answer, request.amount)
        ids = {"provider_refund_id": result.provider_refund_id, "provider_status": result.provider_status}
        logger.info("paytrail refund accepted", extra=ids)
        return result

    def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        """Paytrail cannot show a refund: always `cannot_look_up` (the job holds the refund until its callback)."""
        raise _rejected(CANNOT_LOOK_UP, "cannot_look_up")

    def find_refund(self, request: RefundRequest) -> ProviderRefund | None:
        """Paytrail lists no refunds of a payment: always `cannot_look_up`, never "there is none"."""
        raise _rejected(CANNOT_LOOK_UP, "cannot_look_up")

    def void(self, payment: PaymentRef) -> VoidOutcome:
        """CAPTURED, with no call: an ordinary Paytrail payment is charged when the customer pays (there is no
        authorization to release; only token payments have an authorization hold, which Palautus never makes),
        so money taken through Paytrail goes back as a refund."""
        return VoidOutcome.CAPTURED

    def settlements(self, since: datetime, until: datetime) -> list[str]:
        """Paytrail's settlement ids created in [since, until), oldest first, over as many answers as it takes."""
        found: dict[str, datetime] = {}
        end_day = utc(until).date()
        while True:
            answer = self._request("GET", paytrail_settlements.SETTLEMENTS_PATH,
                                   params=paytrail_settlements.list_query(since, end_day))  # fmt: skip
            rows = _parsed(paytrail_settlements.listed, answer)
            new = {sid: created for sid, created in rows if sid not in found}
            found.update(new)
            if len(rows) < paytrail_settlements.LIST_MAX or not new:
                return paytrail_settlements.in_window(found, since, until)
            # the newest 100 only: ask again up to the oldest day seen (its ids come again and are known)
            end_day = min(created for _, created in rows).date()
            if end_day < utc(since).date() - timedelta(days=1):
                return paytrail_settlements.in_window(found, since, until)

    def settlement(self, settlement_id: str) -> Settlement:
        """Never read by request: Paytrail sends a settlement's payments only to a callback URL."""
        raise SettlementsUnsupported(
            "Paytrail sends a settlement's payments only to a callback URL: request_settlement, then "
            "parse_settlement_report on the signed callback")  # fmt: skip

    def request_settlement_report(self, settlement_id: str, callback_url: str) -> str:
        """Ask Paytrail to POST the settlement's payment report (JSON) to `callback_url`; its request id."""
        if not str(settlement_id).isdigit():
            raise _rejected("a Paytrail settlement id is a number", "settlement_id_invalid")
        if not (callback_url or "").startswith("https://"):
            raise _rejected("Paytrail sends reports only to an HTTPS callback URL", "callback_url_invalid")
        body = {"requestType": "json", "callbackUrl": callback_url}
        answer = self._post(paytrail_settlements.REPORT_PATH.format(settlement_id), None, body)
        request_id = answer.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            raise _malformed("a report request answer without its requestId")
        logger.info("paytrail settlement report requested", extra={"settlement_id": settlement_id})
        return request_id

    def request_settlement(self, settlement_id: str, callback_url: str) -> None:
        """The port's ask for a settlement that arrives later: its payment report, as JSON, to `callback_url`."""
        self.request_settlement_report(settlement_id, callback_url)

    # --- HTTP ------------------------------------------------------------------------------------

    def _post(self, path: str, transaction_id: str | None, body: dict) -> dict:
        """One signed POST whose answer is a JSON object."""
        return self._request("POST", path, transaction_id=transaction_id, body=body, shape=dict)

    def _request(self, method: str, path: str, *, transaction_id: str | None = None, body: dict | None = None,
                 params: dict | None = None, shape: type = object):  # fmt: skip
        """One signed request: the body serialized once, and those bytes (none for a GET) both signed and sent;
        the answer's signature checked; its JSON, which must be a `shape`."""
        # ASCII (\\u escapes), as PHP's json_encode; a GET signs and sends no body at all
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        headers = {
            "checkout-account": self._account,
            "checkout-algorithm": ALGORITHM,
            "checkout-method": method,
            "checkout-nonce": str(uuid.uuid4()),
            "checkout-timestamp": _timestamp(),
        }
        if transaction_id is not None:
            headers["checkout-transaction-id"] = transaction_id
        headers[HEADER_SIGNATURE] = sign(headers, raw, self._secret)
        headers.update({"platform-name": PLATFORM_NAME, "Accept": "application/json"})
        if body is not None:
            headers["content-type"] = CONTENT_TYPE
        response = send(
            self._session, method, self.api_base + path, provider=PROVIDER, timeout=self.timeout, headers=headers,
            params=params, **({"data": raw} if body is not None else {}),
        )  # fmt: skip
        status = response.status_code
        signed = self._signed(response)
        if not 200 <= status < 300:
            raise self._error(response, signed)
        if not signed:
            raise _malformed("an answer whose signature is missing or does not match", response, "signature_invalid")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, shape) or answer is None:
            raise _malformed("an answer that is not a JSON object" if shape is dict else "an answer that is not JSON",
                             response)  # fmt: skip
        return answer

    def _signed(self, response) -> bool | None:
        """True if the answer's signature holds, False if it is wrong or (on a 2xx) missing; None if an error
        answer carries none (whether Paytrail signs errors is not documented)."""
        headers = {k.lower(): v for k, v in response.headers.items()}
        given = headers.get(HEADER_SIGNATURE)
        if not given:
            return False if 200 <= response.status_code < 300 else None
        return _signature_holds(headers, response.content or b"", self._secret, given)

    def _error(self, response, signed: bool | None) -> ProviderError:
        """The error for a non-2xx answer, carrying Paytrail's message (never the body, never the secret).

        Judged by its status whatever its signature: an error moves no money, and with a wrong secret key
        (the usual 401) Paytrail's signature can never hold for us; a signature that does not hold is logged."""
        body = _json(response) or {}
        status = response.status_code
        if signed is False:
            logger.warning("paytrail error answer's signature does not match: is the secret key right?",
                           extra={"status": status})  # fmt: skip
        message = _text(body.get("message")) or f"Paytrail answered HTTP {status}"
        meta = body.get("meta")
        details = [m for m in meta if isinstance(m, str) and m] if isinstance(meta, list) else []
        if details:
            message = f"{message.rstrip('.')}: {'; '.join(details)}"
        if status == 401:
            message = f"Paytrail refused the merchant id and secret key, or the request's signature ({message})"
        if status == 422:
            message = ("the payment method cannot refund through Paytrail's API; Paytrail refunds it by e-mail "
                       f"only when the refund names the customer's e-mail ({message})")  # fmt: skip
        message = self._redacted(message)[:500]
        code = ERROR_CODES.get(status)
        if status == 429:
            kind, code = ProviderUnavailable, "rate_limited"
        elif status >= 500:
            kind = ProviderUnavailable
        elif status < 400:  # a redirect: not an answer Paytrail documents
            kind, code = ProviderMalformed, "unexpected_response"
        else:
            kind = ProviderRejected
        exc = kind(message, provider=PROVIDER, status=status, code=code, request_id=_request_id(response),
                   retry_after=retry_after(response))  # fmt: skip
        ids = {"status": status, "code": code, "request_id": exc.request_id}
        logger.warning("paytrail request failed, retryable=%s", exc.should_retry, extra=ids)
        return exc

    def _redacted(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text


def _refund_body(request: RefundRequest) -> dict:
    """The refund request body; ProviderRejected, before any call, for what Paytrail could never take."""
    key = request.idempotency_key
    if not key or len(key) > MAX_TEXT:
        raise _rejected(f"a refund key must be 1-{MAX_TEXT} characters for Paytrail's refundStamp", "idempotency_key_invalid")
    body: dict = {
        "amount": _to_cents(request.amount),
        "refundStamp": key,
        "refundReference": (str(request.metadata.get("return_code") or "").strip() or key)[:MAX_TEXT],
    }
    if request.email:  # Paytrail refunds by e-mail where the payment method cannot refund by API
        body["email"] = request.email
    body["callbackUrls"] = _callback_urls(request.callback_url, key)
    return body


def _to_cents(money: Money) -> int:
    if money.currency != CURRENCY:
        raise _rejected(f"Paytrail refunds only EUR, not {money.currency}", "currency_invalid")
    if not 0 < money.amount <= MAX_AMOUNT:
        raise _rejected(f"a Paytrail refund must be 0.01-999999.98 EUR, got {money}", "amount_invalid")
    return money.amount


def _callback_urls(callback_url: str | None, key: str) -> dict:
    """Where Paytrail reports the outcome: our address, its outcome as the last path segment, our key in the query.

    Paytrail requires callback URLs (HTTPS), and they are the only way to learn how a refund ended, so a
    refund without one is never sent."""
    base = (callback_url or "").strip().rstrip("/")
    if not base:
        raise _rejected("Paytrail reports a refund's outcome only to its callback URLs, and the refund has none",
                        "callback_url_missing")  # fmt: skip
    if "?" in base or "#" in base:
        raise _rejected("the refund's callback URL must have no query or fragment of its own", "callback_url_invalid")
    urls = {outcome: f"{base}/{outcome}?{KEY_PARAM}={quote(key, safe='')}" for outcome in CALLBACK_OUTCOMES}
    if max(len(url) for url in urls.values()) > MAX_CALLBACK_URL:
        raise _rejected(f"the refund's callback URLs are longer than Paytrail's {MAX_CALLBACK_URL} characters",
                        "callback_url_invalid")  # fmt: skip
    return urls


def _parse_created(answer: dict, amount: Money) -> ProviderRefund:
    """The 201's `{provider, status, transactionId}`: transactionId is the refund's own."""
    refund_id, status = answer.get("transactionId"), answer.get("status")
    if not isinstance(refund_id, str) or not refund_id or not isinstance(status, str) or not status:
        raise _malformed("a refund answer without transactionId or status")
    if status not in STATUSES:
        logger.warning("unknown paytrail refund status", extra={"provider_refund_id": refund_id})
    ours = STATUSES.get(status, RefundStatus.SUBMITTED)  # an unknown word is never final: the callback decides
    reason = None
    if ours is RefundStatus.FAILED:
        provider = _text(answer.get("provider"))
        reason = f"Paytrail refused the refund (status fail{f', provider {provider}' if provider else ''})"
    return ProviderRefund(refund_id, ours, amount, provider_status=status, failure_reason=reason)


# --- the refund callbacks ------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackOutcome:
    """What one signed refund callback says.

    `succeeded`: True on the success URL with `checkout-status` ok; False on the cancel URL; None when the
    success URL names a status that is not final (pending, delayed) or contradicts it (fail): not a word
    to settle the refund on. `refund_transaction_id` is missing when the refund failed Paytrail's semantic
    validation (it never existed). `refund_key` comes from our own `palautus_refund` query parameter, which
    Paytrail does not sign: match the signed `refund_transaction_id` (or `stamp`) against the refund too.
    """

    refund_key: str
    succeeded: bool | None
    status: str | None
    refund_transaction_id: str | None
    amount: int | None
    settlement_reference: str | None = None
    stamp: str | None = None
    reference: str | None = None
    provider: str | None = None


def parse_callback(query: Mapping[str, str], secret: str, outcome: str) -> CallbackOutcome:
    """A refund callback's query (`outcome`: "success" or "cancel", the URL path it hit), its signature checked.

    The signature covers every `checkout-*` parameter there is (none is hard-coded: Paytrail adds new ones),
    sorted, then an empty body, with the `checkout-algorithm` it names (sha256 or sha512), compared in
    constant time. SignatureError if it is missing, wrong, or made with another algorithm; PayloadError
    for a callback without our key or with an outcome we never asked for.
    """
    if not secret:  # a shop without a Paytrail secret: nothing can be signed by it (an empty key is no key)
        raise SignatureError("no Paytrail secret to check the callback with")
    params = {str(k): _one(v) for k, v in query.items()}
    algorithm = params.get("checkout-algorithm")
    if algorithm not in ALGORITHMS:
        raise SignatureError("a Paytrail callback without a known checkout-algorithm (sha256 or sha512)")
    if not _signature_holds(params, b"", secret, params.get(HEADER_SIGNATURE)):
        raise SignatureError("a Paytrail callback whose signature is missing or does not match")
    if outcome not in CALLBACK_OUTCOMES:
        raise PayloadError(f"a Paytrail refund callback reaches only success or cancel, not {outcome!r}")
    key = params.get(KEY_PARAM)
    if not key:
        raise PayloadError(f"a Paytrail refund callback without the {KEY_PARAM} parameter Palautus put in its URL")
    status = params.get("checkout-status") or None
    amount = params.get("checkout-amount") or None
    if amount is not None and not amount.isdigit():
        raise PayloadError("a Paytrail refund callback whose checkout-amount is not whole cents")
    succeeded = False if outcome == "cancel" else (True if status == "ok" else None)
    return CallbackOutcome(
        refund_key=key, succeeded=succeeded, status=status,
        refund_transaction_id=params.get("checkout-transaction-id") or None,
        amount=int(amount) if amount is not None else None,
        settlement_reference=params.get("checkout-settlement-reference") or None,
        stamp=params.get("checkout-stamp") or None, reference=params.get("checkout-reference") or None,
        provider=params.get("checkout-provider") or None,
    )  # fmt: skip


def parse_settlement_report(body: bytes, headers: Mapping[str, str], secret: str, settlement_id: str) -> Settlement:
    """The payment report Paytrail POSTed to our callback URL for a settlement (JSON), its signature checked over
    the raw body and its `checkout-*` headers, read as the Settlement. SignatureError if it is not Paytrail's;
    PayloadError if it is not a report of this settlement in the documented shape."""
    if not secret:
        raise SignatureError("no Paytrail secret to check the report with")
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if not _signature_holds(lowered, body or b"", secret, lowered.get(HEADER_SIGNATURE)):
        raise SignatureError("a Paytrail report whose signature is missing or does not match")
    return read_settlement_report(body, settlement_id)


def read_settlement_report(body: bytes | str | list, settlement_id: str) -> Settlement:
    """A payment report whose signature was checked when it came (`parse_settlement_report`), read as the
    Settlement: its raw body, or that body's JSON as the inbox hands a stored delivery to `interpret`.
    PayloadError if it is not strict UTF-8 JSON, or not a report of this settlement in the documented shape."""
    rows = body
    if isinstance(body, (bytes, bytearray, str)):
        try:
            text = body if isinstance(body, str) else bytes(body).decode("utf-8")
            rows = json.loads(text)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise PayloadError("a Paytrail report that is not UTF-8 JSON") from None
    if not rows:
        # Paytrail settles only payments, so a real report has rows; and an empty one names no settlement (its
        # signature does not cover our URL): replayed to another settlement's address, it would empty that one.
        raise PayloadError("an empty Paytrail report: a settlement has payments")
    return paytrail_settlements.report(rows, str(settlement_id))


def report_ids(settlement_id: str, body: bytes) -> tuple[str, str]:
    """A verified report's inbox topic (what the job needs: which settlement) and delivery id (the body's hash:
    Paytrail may send one report more than once, and it is stored once)."""
    return f"{REPORT_TOPIC}{settlement_id}", f"settlement:{settlement_id}:{hashlib.sha256(body).hexdigest()}"


def callback_event(outcome: str, query: Mapping[str, str]) -> dict:
    """A verified callback as the inbox stores it: which URL it hit and its query, as it came."""
    return {"outcome": outcome, "query": {str(k): _one(v) for k, v in query.items()}}


def interpret(topic: str, payload: object) -> ProviderRefundUpdate | SettlementReport | None:
    """A stored delivery, verified when it arrived, as what it means: a settlement report (its topic names the
    settlement) as the SettlementReport to keep, a refund callback as the refund's new state."""
    if topic.startswith(REPORT_TOPIC):
        return SettlementReport(PROVIDER, read_settlement_report(payload, topic[len(REPORT_TOPIC):]))
    return _refund_update(payload)


def _refund_update(payload: object) -> ProviderRefundUpdate:
    """A stored refund callback (`callback_event`) as the refund's new state.

    The refund is named only by what Paytrail signed: the refund's own transaction id
    and the stamp (our key, where Paytrail echoes the refundStamp there). Our own
    `palautus_refund` parameter is not signed, so it never picks a refund: a genuine
    callback replayed with another refund's key in its URL changes nothing.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), dict):
        raise PayloadError("a stored Paytrail callback needs its query")
    outcome, query = payload.get("outcome"), payload["query"]
    if outcome not in CALLBACK_OUTCOMES:
        raise PayloadError("a stored Paytrail callback names no outcome")
    status = _text(query.get("checkout-status")) or outcome
    if outcome == "cancel":
        ours, reason = RefundStatus.FAILED, f"Paytrail cancelled the refund (status {status})"
    else:
        ours, reason = (RefundStatus.SUCCEEDED if status == "ok" else RefundStatus.SUBMITTED), None
    amount = query.get("checkout-amount")
    return ProviderRefundUpdate(
        PROVIDER, _text(query.get("checkout-transaction-id")), ours, None, f"{outcome}:{status}"[:40], reason,
        idempotency_key=_text(query.get("checkout-stamp")), ours=True, hint=_text(query.get(KEY_PARAM)),
    ) if amount is None or str(amount).isdigit() else _bad_amount()  # fmt: skip


def _bad_amount():
    raise PayloadError("a Paytrail refund callback whose checkout-amount is not whole cents")


def _one(value) -> str:
    """One query value (a parse_qs list of exactly one is taken too)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise PayloadError("a Paytrail callback repeats a query parameter")
        value = value[0]
    return "" if value is None else str(value)


# --- small helpers -------------------------------------------------------------------------------


def _parsed(parse, *args):
    """A settlement parser's result; an answer not in Paytrail's documented shape is ProviderMalformed."""
    try:
        return parse(*args)
    except PayloadError as e:
        raise _malformed(f"a settlements answer not in the documented shape ({e})") from None


def _timestamp() -> str:
    """Now in ISO 8601, UTC, to the millisecond (2018-07-06T10:01:31.904Z)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _request_id(response) -> str | None:
    return next((response.headers[name] for name in HEADER_REQUEST_IDS if response.headers.get(name)), None)


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _rejected(message: str, code: str) -> ProviderRejected:
    return ProviderRejected(message, provider=PROVIDER, code=code)


def _malformed(what: str, response=None, code: str = "unexpected_response") -> ProviderMalformed:
    # Retryable on purpose: the refund may exist at Paytrail, so never report it as failed.
    return ProviderMalformed(
        f"Paytrail returned {what}", provider=PROVIDER, status=getattr(response, "status_code", None), code=code,
        request_id=_request_id(response) if response is not None else None,
    )  # fmt: skip
