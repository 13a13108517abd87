"""Klarna Order Management refunds: refund a captured order, read a refund back, find one made under our key.

Recovery rules (the route port's): Klarna honours a `Klarna-Idempotency-Key` for
24 hours, and a repeat within them "generates the same response" whatever its
body, so every retry sends the same key (a UUIDv5 of ours). Later than that, or
after an answer that leaves the outcome open (a 5xx, a 409, a timeout, an answer
we cannot read), the refund is looked up among the order's `refunds[]` by the
`reference` we stamp on it: our idempotency key, which also reaches Klarna's
settlement files.

Klarna refunds are synchronous: a 201 means the refund exists, and a refund has
no status to poll, so every refund this route reports has succeeded.

Ids: Klarna's refund URL needs the order id besides the refund id, and the port's
`get_refund` is given only the id we returned. So `provider_refund_id` is
`"{order_id}:{refund_id}"`, both Klarna's: its refund ids are UUIDs, which never
hold a ':', so the books split it at the last ':'.

Amounts: Klarna takes integers in the smallest unit of the order's currency, as
we keep them (its markets' currencies all have two decimals), so they cross unchanged.

Settlements (the port's `settlements`/`settlement`): a settlement is a Klarna payout,
named by its `payment_reference` (the one on the bank statement), read from the
Settlements API on the same host and credentials (`/settlements/v1/...`; parsing and
the sources followed in klarna_settlements.py). The refund's `reference` above comes
back in each RETURN row as `merchant_refund_reference`: the OM spec says of it "This
will be included in the settlement files", the Settlements spec calls it "Your internal
reference to the refund, that has been submitted during refunding an order via API".
Our keys (at most 100 characters, the column's width) always fit its 255, so the
whole key is sent and comes back: no return code stands in for it.
"""
from __future__ import annotations

import logging
import uuid
from base64 import b64encode
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import quote, unquote, urlsplit

from adapters.errors import (
    PayloadError,
    ProviderError,
    ProviderMalformed,
    ProviderRejected,
    ProviderUnavailable,
)
from adapters.http import new_session, retry_after, send, json_object as _json
from integration.errors import InvalidInput, MissingCredentials
from integration.money import Money, exponent
from adapters.payments import PaymentRef, VoidOutcome, klarna_settlements
from adapters.payments.settling import utc
from integration.records import ProviderRefund, RefundLine, RefundRequest, Settlement
from integration.refunds import RefundStatus

__all__ = ["KlarnaProvider", "connect", "refund_step"]

logger = logging.getLogger(__name__)

PROVIDER = "klarna"
# The API credential's username (or, for old credentials, the merchant id) and its password (the shared
# secret), sent as HTTP Basic username:password.
CREDENTIALS = ("username", "password")
DEFAULT_API_BASE = "https://api.klarna.com"  # the EU region; North America and Oceania have their own hosts
ORDERS_PATH = "/ordermanagement/v1/orders"

HEADER_IDEMPOTENCY_KEY = "Klarna-Idempotency-Key"
HEADER_REFUND_ID = "Refund-Id"
HEADER_LOCATION = "Location"
HEADER_CORRELATION_ID = "Klarna-Correlation-Id"  # only when the error body has no correlation_id

PROVIDER_STATUS = "refunded"  # our word for Klarna's: its refund object has no status field
# Our keys become Klarna's as UUIDv5s in this namespace. Never change it: every key in flight would change
# with it, and a retry within Klarna's 24 hours would then refund a second time.
KEY_NAMESPACE = uuid.UUID("ade28f91-ad4d-4173-9c95-4ee77d97cb96")
MAX_AMOUNT = 200_000_000  # refunded_amount's documented maximum, in minor units
MAX_TEXT = 255  # description, reference, and a line's name and reference
MAX_LINES = 1000
RETRYABLE_STATUSES = frozenset({408, 409, 429})  # and every 5xx
UNKNOWN_OUTCOME_CODES = frozenset({"timeout", "connection_error"})  # adapters.http's, once the request left
# Klarna honours a key for 24 hours; an hour's margin for clocks and queues.
KEY_LIFETIME = timedelta(hours=23)
# Voiding: POST .../orders/{order_id}/cancel for an order nothing was captured from, POST
# .../orders/{order_id}/release-remaining-authorization for a part-captured one (docs.klarna.com, order
# management: "Cancel an order", "Release order authorization"); both 204 without a body. Order `status`es.
AUTHORIZED, PART_CAPTURED, CANCELLED = "AUTHORIZED", "PART_CAPTURED", "CANCELLED"


def refund_step(currency: str) -> int:
    """Klarna refunds any whole number of the currency's minor units, as we count them."""
    return 1


def klarna_key(idempotency_key: str) -> str:
    """The Klarna-Idempotency-Key for one of our keys: the same for every retry, in every process."""
    return str(uuid.uuid5(KEY_NAMESPACE, idempotency_key))


def connect(credentials: dict, config: dict, session=None) -> KlarnaProvider:
    """The route for one shop's Klarna merchant account; MissingCredentials without both username and password."""
    if not credentials.get("username") or not credentials.get("password"):
        raise MissingCredentials("the shop has no Klarna API username and password in Palautus", provider=PROVIDER)
    return KlarnaProvider(
        username=credentials["username"], password=credentials["password"],
        api_base=config.get("KLARNA_API_BASE") or DEFAULT_API_BASE, timeout=config["HTTP_TIMEOUT"], session=session,
    )  # fmt: skip


class KlarnaProvider:
    """The PaymentRoute port over Klarna's /ordermanagement/v1/orders/{order_id}/refunds."""

    name = PROVIDER
    key_lifetime = KEY_LIFETIME

    def __init__(self, username: str, password: str, api_base: str = DEFAULT_API_BASE, timeout=10.0, session=None):
        self._password = password
        # Built here, UTF-8 encoded (requests would encode a str as Latin-1 and fail on anything else).
        self._authorization = "Basic " + b64encode(f"{username}:{password}".encode()).decode()
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self._session = session or new_session()

    def __repr__(self) -> str:
        return f"KlarnaProvider(api_base={self.api_base!r})"

    @staticmethod
    def refund_step(currency: str) -> int:
        return refund_step(currency)

    @staticmethod
    def outcome_unknown(error: Exception) -> bool:
        """After sending: a 5xx, a 409 (perhaps a concurrent request under the same key), a timeout or dropped
        connection, or an answer we could not read (a 201 without its id is a refund made). Look it up by key."""
        if not isinstance(error, ProviderError):
            return False
        status = error.status or 0
        unread = isinstance(error, ProviderMalformed)
        return status >= 500 or status == 409 or error.code in UNKNOWN_OUTCOME_CODES or unread

    def refund(self, request: RefundRequest) -> ProviderRefund:
        """Refund part of a captured order; Klarna answers a repeated key with its first answer."""
        order_id = _order_id(request.payment.payment_id)
        body = _refund_body(request)
        headers = {HEADER_IDEMPOTENCY_KEY: klarna_key(request.idempotency_key)}
        response = self._send("POST", f"{_order_path(order_id)}/refunds", json=body, headers=headers)
        refund_id = _created_refund_id(response)
        result = ProviderRefund(f"{order_id}:{refund_id}", RefundStatus.SUCCEEDED, request.amount, PROVIDER_STATUS)
        logger.info("klarna refund created", extra={"provider_refund_id": result.provider_refund_id,
                                                    "order_lines": "order_lines" in body})  # fmt: skip
        return result

    def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        """The refund as Klarna keeps it, read from its order (which alone names the currency)."""
        order_id, _, refund_id = provider_refund_id.rpartition(":")
        if not order_id or not refund_id:
            raise _rejected("the refund id is not Klarna's order id and refund id joined by ':'", "refund_id_invalid")
        currency, refunds = self._order(order_id)
        found = next((refund for refund in refunds if refund.get("refund_id") == refund_id), None)
        if found is None:
            raise _rejected(f"Klarna's order has no refund {refund_id}", "not_found")
        return _parse_refund(found, order_id, currency)

    def find_refund(self, request: RefundRequest) -> ProviderRefund | None:
        """The order's refund whose reference is this request's key; None if none is."""
        order_id = _order_id(request.payment.payment_id)
        currency, refunds = self._order(order_id)
        mine = [refund for refund in refunds if refund.get("reference") == request.idempotency_key]
        if len(mine) > 1:  # only after Klarna forgot the key: someone must look at the order
            logger.warning("several klarna refunds carry one key", extra={"order_id": order_id, "count": len(mine)})
        return _parse_refund(mine[0], order_id, currency) if mine else None

    def void(self, payment: PaymentRef) -> VoidOutcome:
        """Cancel an order Klarna only authorized (VOIDED); on one captured in part, release the rest (CAPTURED)."""
        order_id = _order_id(payment.payment_id)
        status, captured = self._order_state(order_id)
        if status in (AUTHORIZED, PART_CAPTURED):
            action = "cancel" if status == AUTHORIZED and not captured else "release-remaining-authorization"
            try:
                self._send("POST", f"{_order_path(order_id)}/{action}")
            except ProviderRejected:  # captured or cancelled meanwhile: the order says which
                status, captured = self._order_state(order_id)
                if status in (AUTHORIZED, PART_CAPTURED):
                    raise
            else:
                status = CANCELLED if action == "cancel" else status
        logger.info("klarna void", extra={"order_id": order_id, "status": status})
        if captured:
            return VoidOutcome.CAPTURED
        return VoidOutcome.VOIDED if status == CANCELLED else VoidOutcome.NOTHING

    def settlements(self, since: datetime, until: datetime) -> list[str]:
        """The payment_references of Klarna's payouts dated in [since, until), oldest first."""
        window = {"start_date": _iso(since), "end_date": _iso(until)}
        payouts = self._collection(klarna_settlements.PAYOUTS_PATH, "payouts", window)
        return self._parsed(klarna_settlements.payout_references, payouts, since, until)

    def settlement(self, settlement_id: str) -> Settlement:
        """One payout (by payment_reference) with all its transactions, over every page of them."""
        if not settlement_id:
            raise _rejected("a Klarna payout is named by its payment_reference", "settlement_id_invalid")
        payout = _json(self._send("GET", f"{klarna_settlements.PAYOUTS_PATH}/{quote(settlement_id, safe='')}"))
        query = {"payment_reference": settlement_id}
        rows = self._collection(klarna_settlements.TRANSACTIONS_PATH, "transactions", query)
        return self._parsed(klarna_settlements.settlement, payout, rows)

    def _collection(self, path: str, key: str, query: dict) -> list[dict]:
        """Every object of a paged collection, following `offset` until Klarna's `total` (or an empty page)."""
        items: list[dict] = []
        while True:
            params = {**query, "size": klarna_settlements.PAGE_SIZE, "offset": len(items)}
            answer = _json(self._send("GET", path, params=params))
            found, count, total = self._parsed(klarna_settlements.page, answer, key)
            items.extend(found)
            if not count or (total is not None and len(items) >= total) or (total is None and count < params["size"]):
                return items

    @staticmethod
    def _parsed(parse, *args):
        """A settlement parser's result; an answer not in the documented shape is ProviderMalformed."""
        try:
            return parse(*args)
        except PayloadError as e:
            raise _malformed(f"a settlement answer not in the documented shape ({e})") from None

    def _order_state(self, order_id: str) -> tuple[str, int]:
        """The order's status and the amount captured from it."""
        response = self._send("GET", _order_path(order_id))
        order = _json(response) or {}
        status, captured = order.get("status"), order.get("captured_amount", 0)
        if not isinstance(status, str) or not isinstance(captured, int) or isinstance(captured, bool):
            raise _malformed("an order without its status or captured amount", response)
        return status, captured

    def _order(self, order_id: str) -> tuple[str, list[dict]]:
        """One read of the order: its currency and its refunds."""
        response = self._send("GET", _order_path(order_id))
        order = _json(response)
        if order is None:
            raise _malformed("an order that is not a JSON object", response)
        currency, refunds = order.get("purchase_currency"), order.get("refunds", [])
        if not isinstance(refunds, list) or not all(isinstance(refund, dict) for refund in refunds):
            raise _malformed("an order whose refunds are not a list of objects", response)
        try:
            exponent(currency)
        except InvalidInput:
            raise _malformed("an order without a purchase currency", response) from None
        return currency.upper(), refunds

    def _send(self, method: str, path: str, *, headers: dict | None = None, **kwargs):
        headers = {"Authorization": self._authorization, **(headers or {})}
        response = send(
            self._session, method, self.api_base + path,
            provider=PROVIDER, timeout=self.timeout, headers=headers, **kwargs,
        )  # fmt: skip
        if not 200 <= response.status_code < 300:
            raise self._error(response)
        return response

    def _error(self, response) -> ProviderError:
        """The error for a non-2xx answer, carrying Klarna's code, first message and correlation id, never the body."""
        body = _json(response) or {}
        code = body.get("error_code") if isinstance(body.get("error_code"), str) else None
        messages = body.get("error_messages")
        first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], str) else None
        message = self._redacted(first or f"Klarna answered HTTP {response.status_code}")[:500]
        correlation = body.get("correlation_id")
        correlation = correlation if isinstance(correlation, str) else response.headers.get(HEADER_CORRELATION_ID)
        status = response.status_code
        kind = ProviderRejected
        if status in RETRYABLE_STATUSES or status >= 500:
            kind = ProviderUnavailable
        elif status < 400:  # a redirect: not an answer Klarna documents
            kind = ProviderMalformed
        exc = kind(message, provider=PROVIDER, status=status, code=code, request_id=correlation,
                   retry_after=retry_after(response))  # fmt: skip
        ids = {"status": status, "code": code, "request_id": correlation}
        logger.warning("klarna request failed, retryable=%s", exc.should_retry, extra=ids)
        return exc

    def _redacted(self, text: str) -> str:
        for secret in (self._password, self._authorization.split()[1]):
            text = text.replace(secret, "[redacted]")
        return text


def _iso(moment: datetime) -> str:
    """A full UTC date-time, as the Settlements API advises ("a date alone means 00:00:00")."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _order_id(payment_id: str | None) -> str:
    if not payment_id:
        raise _rejected("the payment has no Klarna order id", "payment_id_invalid")
    return payment_id


def _order_path(order_id: str) -> str:
    return f"{ORDERS_PATH}/{quote(order_id, safe='')}"


def _refund_body(request: RefundRequest) -> dict:
    """The RefundObject: the amount, our key as its reference, a line for the customer, and the order lines
    when they add up to the amount."""
    amount = _to_klarna_amount(request.amount)
    if len(request.idempotency_key) > MAX_TEXT:  # the reference must hold all of it for find_refund to match
        raise _rejected("the idempotency key is longer than Klarna's reference", "reference_invalid")
    body: dict = {"refunded_amount": amount, "reference": request.idempotency_key}
    description = _description(request)
    if description:
        body["description"] = description
    lines = _order_lines(request)
    if lines is not None and sum(line["total_amount"] for line in lines) == amount:
        body["order_lines"] = lines
    return body


def _to_klarna_amount(money: Money) -> int:
    """Our minor units as Klarna's; ProviderRejected, before any call, if Klarna cannot take them."""
    if money.amount <= 0:
        raise _rejected(f"a refund must be positive, got {money}", "amount_invalid")
    if money.amount > MAX_AMOUNT:
        raise _rejected(f"{money} is more than Klarna takes in one refund", "amount_invalid")
    return money.amount


def _description(request: RefundRequest) -> str:
    """Shown to the customer: the return they know, else their order."""
    if request.metadata.get("return_code"):
        return f"Return {request.metadata['return_code']}"[:MAX_TEXT]
    if request.payment.order_reference:
        return f"Refund for order {request.payment.order_reference}"[:MAX_TEXT]
    return ""


def _order_lines(request: RefundRequest) -> list[dict] | None:
    """The refund's order lines, or None when any cannot be said in Klarna's terms (they are optional).

    Klarna allocates a refund to the capture (the invoice) whose lines carry the
    same `reference`, documented as "article number, SKU, or similar identifier on
    the product variant level". Klarna's checkout plugins send the SKU where a
    product has one (the WooCommerce one: the SKU, else the product id), so we send
    the SKU; without one, the platform's line id, the closest identifier we keep.
    The caller sends the lines only when they add up to the refunded amount, as
    Klarna requires: a fee the policy kept leaves them out, rather than a negative
    line Klarna may not take in a refund.
    """
    lines = [_line(line) for line in request.lines]
    if request.shipping:
        lines.append(_shipping_line(request.shipping, request.shipping_tax))
    if not lines or len(lines) > MAX_LINES or None in lines:
        return None
    return lines


def _line(line: RefundLine) -> dict | None:
    """One refunded line. Klarna wants total_amount == quantity * unit_price exactly; a line whose amount does
    not split evenly into its units (a discount or fee shared out by the cent) goes as one unit of the whole
    amount, named with its count, rather than with a discount the customer was never given."""
    rate = _tax_rate(line.tax_rate)
    if line.quantity <= 0 or line.amount < 0 or rate is None:
        return None
    quantity, unit_price, name = line.quantity, line.amount // line.quantity, line.title
    if line.amount % line.quantity:
        quantity, unit_price, name = 1, line.amount, f"{line.quantity} × {line.title}"
    return {
        "type": "physical", "reference": (line.sku or line.reference)[:MAX_TEXT], "name": name[:MAX_TEXT],
        "quantity": quantity, "unit_price": unit_price, "total_amount": line.amount,
        "total_tax_amount": line.tax, "tax_rate": rate,
    }  # fmt: skip


def _shipping_line(shipping: int, tax: int) -> dict:
    """The order's shipping given back; its rate is the one its amounts carry (Klarna checks the tax against it)."""
    net = shipping - tax
    rate = int((Decimal(tax) * 10000 / net).to_integral_value(ROUND_HALF_UP)) if net > 0 and tax > 0 else 0
    return {"type": "shipping_fee", "reference": "shipping", "name": "Shipping", "quantity": 1,
            "unit_price": shipping, "total_amount": shipping, "total_tax_amount": tax, "tax_rate": rate}  # fmt: skip


def _tax_rate(rate: str) -> int | None:
    """Our decimal rate ("0.255") as Klarna's percent with two implicit decimals (2550)."""
    try:
        value = Decimal(rate) * 10000
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not value.is_finite() or value < 0:
        return None
    return int(value.to_integral_value(ROUND_HALF_UP))


def _created_refund_id(response) -> str:
    """The new refund's id from the 201's headers (the body is documented as a bare string: never read)."""
    refund_id = (response.headers.get(HEADER_REFUND_ID) or "").strip()
    if not refund_id:
        segments = unquote(urlsplit(response.headers.get(HEADER_LOCATION) or "").path).rstrip("/").split("/")
        refund_id = segments[-1] if len(segments) >= 2 and segments[-2] == "refunds" else ""
    if not refund_id:
        raise _malformed("a created refund without a Refund-Id or Location", response)
    return refund_id


def _parse_refund(refund: dict, order_id: str, currency: str) -> ProviderRefund:
    refund_id, amount = refund.get("refund_id"), refund.get("refunded_amount")
    if not isinstance(refund_id, str) or not refund_id:
        raise _malformed("a refund without a refund_id")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise _malformed("a refund without a refunded_amount")
    return ProviderRefund(f"{order_id}:{refund_id}", RefundStatus.SUCCEEDED, Money(amount, currency), PROVIDER_STATUS)


def _rejected(message: str, code: str) -> ProviderRejected:
    return ProviderRejected(message, provider=PROVIDER, code=code)


def _malformed(what: str, response=None) -> ProviderMalformed:
    # Retryable on purpose: the refund may exist at Klarna, so never report it as failed.
    return ProviderMalformed(
        f"Klarna returned {what}", provider=PROVIDER, status=getattr(response, "status_code", None),
        code="unexpected_response",
    )  # fmt: skip
