"""A sandbox PayPal: OAuth2 tokens, captures with their Orders v2 orders, and Payments v2 capture refunds.

Stateful as the real one is for the calls Palautus makes:
- `POST /v1/oauth2/token` (HTTP Basic client id and secret, `grant_type=client_credentials`)
  issues Bearer tokens that last `expires_in` seconds; every API call checks its
  token and answers 401 `invalid_token` for an unknown or expired one
  (`expire_tokens` expires them all). With accounts opened (`open_account`) only
  their credentials get a token; before, any Basic credentials do;
- a refund takes money off its capture: more than is left is refused
  (REFUND_AMOUNT_EXCEEDED; CAPTURE_FULLY_REFUNDED once nothing is left), as is an
  invoice_id another refund of the capture carries (DUPLICATE_INVOICE_ID) and an
  amount with more decimals than PayPal takes in its currency (DECIMAL_PRECISION;
  DECIMALS_NOT_SUPPORTED for HUF, JPY and TWD); a refund that fails gives its money
  back to the capture;
- `PayPal-Request-Id` answers a repeat with the latest state of the refund the
  first request made, whatever the repeat's body (PayPal: "returns the latest
  status of the previous request"); a refused request saves nothing under its id;
- `Prefer: return=representation` gets the whole refund, anything else the
  minimal one (id, status, links), as PayPal's default `return=minimal`;
- a capture (`GET /v2/payments/captures/{id}`) names its order in
  `supplementary_data.related_ids.order_id`, and the order
  (`GET /v2/checkout/orders/{id}`) lists the capture and its refunds.

It holds captures only (intent CAPTURE), no authorizations: reading or voiding
one (`/v2/payments/authorizations/{id}`, `.../void`) answers PayPal's 404
RESOURCE_NOT_FOUND (INVALID_RESOURCE_ID).

It can be told to fail the ways networks and PayPal fail (`fail_next`,
`fail_reads`) and to finish pending refunds (`settle`). Transport-free: the
sandbox server and the test suite's `responses` mock both call `handle`.
"""
from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from decimal import Decimal
from itertools import count
from urllib.parse import unquote

from sandbox.faults import FaultSwitches
from sandbox.http import LOST, LOST_AFTER, Reply, Request, error

__all__ = ["SandboxPayPal", "paypal_sale"]

_TOKEN_PATH = "/v1/oauth2/token"
_REFUND_CAPTURE = re.compile(r"^/v2/payments/captures/([^/]+)/refund$")
_CAPTURE = re.compile(r"^/v2/payments/captures/([^/]+)$")
_REFUND = re.compile(r"^/v2/payments/refunds/([^/]+)$")
_ORDER = re.compile(r"^/v2/checkout/orders/([^/]+)$")
_VOID = re.compile(r"^/v2/payments/authorizations/([^/]+)/void$")
_VALUE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_FAULT_NAMES = {"500", "503", "429", "409", "401", "timeout", "timeout_after", "500_after", "refused"}
# ISO 4217 minor units (what `capture` and `money_moved` count in), and the currencies PayPal takes
# without decimals (developer.paypal.com/docs/api/reference/currency-codes/).
_ISO_ZERO = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split())
_ISO_THREE = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_PAYPAL_ZERO = frozenset("HUF JPY TWD".split())
# Our generic words for a refund's state, as PayPal says them.
_STATUS_WORDS = {"pending": "PENDING", "succeeded": "COMPLETED", "failed": "FAILED", "canceled": "CANCELLED",
                 "cancelled": "CANCELLED", "completed": "COMPLETED"}  # fmt: skip
_FINAL_FAILURES = ("FAILED", "CANCELLED")
_CREATED = "2026-01-15T10:00:00Z"


def _iso_places(currency: str) -> int:
    return 0 if currency in _ISO_ZERO else 3 if currency in _ISO_THREE else 2


def _paypal_places(currency: str) -> int:
    return 0 if currency in _PAYPAL_ZERO else _iso_places(currency)


def _value(minor: int, currency: str) -> str:
    """Our minor units as PayPal's string: 1234 EUR -> "12.34", 123400 HUF -> "1234"."""
    amount = Decimal(minor).scaleb(-_iso_places(currency))
    return str(amount.quantize(Decimal(1).scaleb(-_paypal_places(currency))))


def _money(minor: int, currency: str) -> dict:
    return {"currency_code": currency, "value": _value(minor, currency)}


def _issue(status: int, name: str, message: str, issue: str | None = None, description: str | None = None,
           field: str | None = None, **headers: str) -> Reply:  # fmt: skip
    """An error in PayPal's shape, with a debug_id as PayPal gives every error."""
    debug_id = secrets.token_hex(7)
    body: dict = {"name": name, "message": message, "debug_id": debug_id}
    if issue:
        detail = {"issue": issue, "description": description or issue}
        if field:
            detail["field"], detail["location"] = field, "body"
        body["details"] = [detail]
    body["links"] = [{"href": f"https://developer.paypal.com/docs/api/v2/errors/#{name}", "rel": "information_link"}]
    return error(status, body, **{"Paypal-Debug-Id": debug_id, **headers})


def _unprocessable(issue: str, description: str, field: str | None = None) -> Reply:
    return _issue(422, "UNPROCESSABLE_ENTITY", "The requested action could not be performed, semantically incorrect, "
                  "or failed business validation.", issue, description, field)  # fmt: skip


def _invalid(issue: str, description: str, field: str | None = None) -> Reply:
    return _issue(400, "INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema.",
                  issue, description, field)  # fmt: skip


class SandboxPayPal(FaultSwitches):
    """PayPal's capture refunds, stateful; the fake-provider shape every payment route's sandbox offers."""

    name = "paypal"
    key_header = "PayPal-Request-Id"  # the header that carries a refund's idempotency key
    # The generic faults of the shape, in this provider's terms.
    FAULTS = {
        "unavailable": "503", "rate_limited": "429", "lost_request": "timeout", "lost_answer": "timeout_after",
        "unknown_outcome": "500", "saved_failure": "500_after", "refused": "refused",
    }  # fmt: skip

    def __init__(self, *, open_book: bool = False):
        """`open_book`: a refund or a read of a capture the sandbox never made creates it, in euros and without
        limit, with an order behind it (tests whose orders say they were paid at PayPal without paying here
        first; a lookup after a request that made nothing finds the capture and no refund)."""
        self.open_book = open_book
        self.open_book_currency = "EUR"
        self.accounts: dict[str, str] = {}  # client id -> secret; empty: any Basic credentials get a token
        self.tokens: dict[str, tuple[str | None, float]] = {}  # access token -> (account, expires at)
        self.token_requests = 0  # how many tokens were asked for, granted or not
        self.expires_in = 32400  # seconds a new token lasts, as PayPal's expires_in says
        self.captures: dict[str, dict] = {}  # capture id -> {id, order_id, amount, currency, refunded, account}
        self.refunds: dict[str, dict] = {}  # refund id -> the refund (amount in minor units): the money that moved
        self.by_request_id: dict[tuple[str | None, str], str] = {}  # (account, PayPal-Request-Id) -> refund id
        self.posts: list[tuple[dict, dict]] = []  # (headers, body) of every authenticated refund POST
        self.faults: list[str] = []  # what the next refund POSTs do instead of answering normally
        self.read_faults: list[int] = []  # HTTP statuses the next GETs answer instead
        self._status = "COMPLETED"
        self._ids = count(1)
        self._lock = threading.RLock()

    @property
    def status(self) -> str:
        """What a new refund's status is: "COMPLETED", or "PENDING" to have it settle later (generic words too)."""
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = _STATUS_WORDS.get(value.lower(), value.upper())

    # --- the merchant's side: an account, and a customer's captured payment -----------------------

    def open_account(self) -> tuple[str, str]:
        """A new sandbox REST app: its (client id, secret), the only credentials this sandbox takes from then on."""
        with self._lock:
            client_id = f"SandboxClient{secrets.token_hex(10)}"
            self.accounts[client_id] = f"EPsandbox{secrets.token_hex(16)}"
            return client_id, self.accounts[client_id]

    def capture(self, amount: int, currency: str = "EUR", *, client_id: str | None = None, with_order: bool = True) -> str:
        """A customer's completed capture of `amount` minor units in the account of `client_id`; its id.

        `with_order=False`: a capture made without Orders v2 (its refunds cannot be listed through an order)."""
        with self._lock:
            return self._new_capture(amount, currency.upper(), client_id, with_order)["id"]

    def _new_capture(self, amount: int, currency: str, account: str | None, with_order: bool = True,
                     capture_id: str | None = None) -> dict:  # fmt: skip
        number = next(self._ids)
        capture = {"id": capture_id or f"CAP{number:014d}", "order_id": f"ORD{number:014d}" if with_order else None,
                   "amount": amount, "currency": currency, "refunded": 0, "account": account}  # fmt: skip
        self.captures[capture["id"]] = capture
        return capture

    # --- HTTP ------------------------------------------------------------------------------------

    def handle(self, request: Request):
        """The reply to one request to api-m.paypal.com: a Reply, or LOST / LOST_AFTER."""
        with self._lock:
            if request.method == "POST" and request.path == _TOKEN_PATH:
                return self._token(request)
            account, refused = self._authenticate(request)
            if refused:
                return refused
            if request.method == "POST" and (m := _REFUND_CAPTURE.match(request.path)):
                return self._create(account, unquote(m.group(1)), request)
            if request.method == "POST" and _VOID.match(request.path):
                # Its payments are captures taken at once (intent CAPTURE): it holds no authorization to void, so
                # every id is one PayPal does not know as an authorization, and nothing changes.
                return self._missing()
            if request.method == "GET":
                return self._read(request, account)
        return _issue(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID",
                      f"Nothing at {request.method} {request.path}.")  # fmt: skip

    def _token(self, request: Request) -> Reply:
        self.token_requests += 1
        scheme, _, encoded = request.header("Authorization").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            client_id = secret = ""
        known = self.accounts.get(client_id) == secret if self.accounts else bool(client_id and secret)
        if scheme.lower() != "basic" or not known:
            # Never echo credentials, and never look further at ones not this sandbox's.
            return error(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
        if request.form().get("grant_type") != "client_credentials":
            return error(400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL or unsupported"})
        token = f"A21AASandbox{secrets.token_hex(24)}"
        self.tokens[token] = (client_id if self.accounts else None, time.monotonic() + self.expires_in)
        return Reply(200, {"scope": "https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/payments/payment",
                           "access_token": token, "token_type": "Bearer", "app_id": "APP-80W284485P519543T",
                           "expires_in": self.expires_in, "nonce": f"{_CREATED}{secrets.token_hex(8)}"})  # fmt: skip

    def _authenticate(self, request: Request) -> tuple[str | None, Reply | None]:
        scheme, _, token = request.header("Authorization").partition(" ")
        found = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if found is None:
            return None, error(401, {"error": "invalid_token", "error_description": "Token signature verification failed"})
        account, expires_at = found
        if time.monotonic() >= expires_at:
            return None, error(401, {"error": "invalid_token", "error_description": "Access Token has expired"})
        return account, None

    def _create(self, account: str | None, capture_id: str, request: Request):
        try:
            body = request.json()
        except ValueError:
            body = None
        self.posts.append((dict(request.headers), body if isinstance(body, dict) else {"_raw": request.body}))
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None and fault not in _FAULT_NAMES:
            raise ValueError(f"unknown fault {fault!r}: one of {', '.join(sorted(_FAULT_NAMES))}")
        if fault == "timeout":  # lost on the way there: nothing happened at PayPal
            return LOST
        if fault in ("500", "503"):
            name = "INTERNAL_SERVER_ERROR" if fault == "500" else "SERVICE_UNAVAILABLE"
            return _issue(int(fault), name, "An internal server error has occurred.")
        if fault == "429":
            return _issue(429, "RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting.", **{"Retry-After": "2"})
        if fault == "409":  # a request under the same id is still being worked on: nothing new happened
            return _issue(409, "RESOURCE_CONFLICT", "The server has detected a conflict while processing this request.",
                          "PREVIOUS_REQUEST_IN_PROGRESS", "A previous request on this resource is currently in progress.")  # fmt: skip
        if fault == "401":  # the token was revoked: nothing happened
            return error(401, {"error": "invalid_token", "error_description": "Token signature verification failed"})
        if fault == "refused":  # a business refusal: PayPal made nothing
            return _unprocessable("REFUND_NOT_ALLOWED", "Capture cannot be refunded.")
        request_id = request.header("PayPal-Request-Id")
        key = (account, request_id)
        minimal = "return=representation" not in request.header("Prefer").replace(" ", "").lower()
        if request_id and key in self.by_request_id:  # the latest status of the previous request
            answer = self._shown_refund(self.refunds[self.by_request_id[key]], minimal)
            return LOST_AFTER if fault == "timeout_after" else Reply(200, answer, {"Paypal-Debug-Id": "replay"})
        made = self._refund(account, capture_id, body)
        if isinstance(made, Reply):  # refused before it ran: nothing is saved under the request id
            return made
        if request_id:
            self.by_request_id[key] = made["id"]
        if fault == "timeout_after":  # made at PayPal, the answer lost on the way back
            return LOST_AFTER
        if fault == "500_after":  # made at PayPal, and a 500 answered; a repeat under the id gets the refund
            return _issue(500, "INTERNAL_SERVER_ERROR", "An internal server error has occurred.")
        return Reply(201, self._shown_refund(made, minimal), {"Paypal-Debug-Id": secrets.token_hex(7)})

    def _refund(self, account: str | None, capture_id: str, body) -> dict | Reply:
        """A new refund, or the error PayPal answers for this body."""
        capture = self._capture_of(capture_id, account)
        if capture is None:
            return _issue(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID",
                          "Specified resource ID does not exist. Please check the resource ID and try again.")  # fmt: skip
        if not isinstance(body, dict):
            return _invalid("MALFORMED_REQUEST_JSON", "The request JSON is not well formed.")
        for name, longest in (("invoice_id", 127), ("custom_id", 127), ("note_to_payer", 255)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= longest):
                return _invalid("INVALID_STRING_LENGTH", "The value of a field is either too short or too long.", f"/{name}")
        currency, left = capture["currency"], capture["amount"] - capture["refunded"]
        amount = left
        if "amount" in body:
            amount = self._amount(body["amount"], currency)
            if isinstance(amount, Reply):
                return amount
        if left <= 0:
            return _unprocessable("CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded.")
        if amount > left:
            return _unprocessable("REFUND_AMOUNT_EXCEEDED", "The refund amount must be less than or equal to the "
                                  "capture amount that has not yet been refunded.", "/amount/value")  # fmt: skip
        invoice_id = body.get("invoice_id")
        if invoice_id and any(r["capture_id"] == capture["id"] and r.get("invoice_id") == invoice_id for r in self.refunds.values()):
            return _unprocessable("DUPLICATE_INVOICE_ID", "Invoice ID was previously used to refund a capture.", "/invoice_id")
        capture["refunded"] += amount
        number = next(self._ids)
        refund = {
            "id": f"RFD{number:014d}", "status": self._status, "amount": amount, "currency": currency,
            "capture_id": capture["id"], "account": account, "create_time": _CREATED, "update_time": _CREATED,
            **{name: body[name] for name in ("invoice_id", "custom_id", "note_to_payer") if body.get(name)},
        }  # fmt: skip
        if self._status == "PENDING":
            refund["status_details"] = {"reason": "ECHECK"}
        self.refunds[refund["id"]] = refund
        if self._status in _FINAL_FAILURES:
            self._fail(refund)
        return refund

    @staticmethod
    def _amount(amount, currency: str) -> int | Reply:
        """The amount a refund body asks for, in minor units, or the error PayPal answers."""
        if not isinstance(amount, dict) or "value" not in amount or "currency_code" not in amount:
            return _invalid("MISSING_REQUIRED_PARAMETER", "A required field / parameter is missing.", "/amount")
        value, code = amount["value"], amount["currency_code"]
        if not isinstance(value, str) or not _VALUE.match(value) or len(value) > 32:
            return _invalid("INVALID_PARAMETER_SYNTAX", "The value of a field does not conform to the expected format.",
                            "/amount/value")  # fmt: skip
        if code != currency:
            return _unprocessable("REFUND_CAPTURE_CURRENCY_MISMATCH", "Refund must be in the same currency as the capture.",
                                  "/amount/currency_code")  # fmt: skip
        decimals = len(value.partition(".")[2])
        places = _paypal_places(currency)
        if decimals and currency in _PAYPAL_ZERO:
            return _unprocessable("DECIMALS_NOT_SUPPORTED", "Currency does not support decimals.", "/amount/value")
        if decimals > places:
            return _unprocessable("DECIMAL_PRECISION", "If the currency supports decimals, only two decimal place "
                                  "precision is supported.", "/amount/value")  # fmt: skip
        minor = int(Decimal(value).scaleb(_iso_places(currency)))
        if minor <= 0:
            return _unprocessable("CANNOT_BE_ZERO_OR_NEGATIVE", "Must be greater than zero.", "/amount/value")
        return minor

    def _capture_of(self, capture_id: str, account: str | None) -> dict | None:
        """The capture a refund is for, if it belongs to the account asking (each account sees only its own)."""
        found = self.captures.get(capture_id)
        if found is not None and found["account"] != account:
            return None
        if found is None and self.open_book:
            found = self._new_capture(10**12, self.open_book_currency, account, capture_id=capture_id)
        return found

    def _fail(self, refund: dict) -> None:
        """A refund that failed gives its money back to the capture."""
        capture = self.captures.get(refund["capture_id"])
        if capture is not None:
            capture["refunded"] -= refund["amount"]

    def _read(self, request: Request, account: str | None) -> Reply:
        if self.read_faults:
            status = self.read_faults.pop(0)
            if status == 401:
                return error(401, {"error": "invalid_token", "error_description": "Token signature verification failed"})
            names = {403: "NOT_AUTHORIZED", 404: "RESOURCE_NOT_FOUND", 429: "RATE_LIMIT_REACHED"}
            return _issue(status, names.get(status, "INTERNAL_SERVER_ERROR" if status >= 500 else "INVALID_REQUEST"),
                          "fault")  # fmt: skip
        if m := _REFUND.match(request.path):
            refund = self.refunds.get(unquote(m.group(1)))
            if refund is None or refund["account"] != account:
                return self._missing()
            return Reply(200, self._shown_refund(refund))
        if m := _CAPTURE.match(request.path):
            capture = self._capture_of(unquote(m.group(1)), account)  # an open book has every capture asked about
            if capture is None:
                return self._missing()
            return Reply(200, self._shown_capture(capture, related=True))
        if m := _ORDER.match(request.path):
            order_id = unquote(m.group(1))
            captures = [c for c in self.captures.values() if c["order_id"] == order_id and c["account"] == account]
            if not captures:
                return self._missing()
            return Reply(200, self._order(order_id, captures))
        return self._missing()

    @staticmethod
    def _missing() -> Reply:
        return _issue(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID",
                      "Specified resource ID does not exist. Please check the resource ID and try again.")  # fmt: skip

    @staticmethod
    def _links(refund: dict) -> list[dict]:
        base = "https://api-m.paypal.com"
        return [{"href": f"{base}/v2/payments/refunds/{refund['id']}", "rel": "self", "method": "GET"},
                {"href": f"{base}/v2/payments/captures/{refund['capture_id']}", "rel": "up", "method": "GET"}]  # fmt: skip

    def _shown_refund(self, refund: dict, minimal: bool = False) -> dict:
        """A refund as PayPal shows it: whole, or minimal (id, status, links)."""
        if minimal:
            return {"id": refund["id"], "status": refund["status"], "links": self._links(refund)}
        shown = {"id": refund["id"], "status": refund["status"], "amount": _money(refund["amount"], refund["currency"])}
        shown.update({k: refund[k] for k in ("status_details", "invoice_id", "custom_id", "note_to_payer") if k in refund})
        capture = self.captures.get(refund["capture_id"])
        shown["seller_payable_breakdown"] = {
            "gross_amount": shown["amount"],
            "total_refunded_amount": _money(capture["refunded"] if capture else refund["amount"], refund["currency"]),
        }
        return {**shown, "create_time": refund["create_time"], "update_time": refund["update_time"],
                "links": self._links(refund)}  # fmt: skip

    def _shown_capture(self, capture: dict, related: bool) -> dict:
        refunded = capture["refunded"]
        status = "REFUNDED" if refunded >= capture["amount"] else "PARTIALLY_REFUNDED" if refunded else "COMPLETED"
        shown = {"id": capture["id"], "status": status, "amount": _money(capture["amount"], capture["currency"]),
                 "final_capture": True, "create_time": _CREATED, "update_time": _CREATED,
                 "links": [{"href": f"https://api-m.paypal.com/v2/payments/captures/{capture['id']}", "rel": "self", "method": "GET"},
                           {"href": f"https://api-m.paypal.com/v2/payments/captures/{capture['id']}/refund", "rel": "refund",
                            "method": "POST"}]}  # fmt: skip
        if related and capture["order_id"]:
            shown["supplementary_data"] = {"related_ids": {"order_id": capture["order_id"]}}
        return shown

    def _order(self, order_id: str, captures: list[dict]) -> dict:
        ids = {c["id"] for c in captures}
        refunds = [self._shown_refund(r) for r in self.refunds.values() if r["capture_id"] in ids]
        total = sum(c["amount"] for c in captures)
        return {"id": order_id, "intent": "CAPTURE", "status": "COMPLETED",
                "purchase_units": [{"reference_id": "default", "amount": _money(total, captures[0]["currency"]),
                                    "payments": {"captures": [self._shown_capture(c, related=False) for c in captures],
                                                 **({"refunds": refunds} if refunds else {})}}],
                "create_time": _CREATED, "update_time": _CREATED,
                "links": [{"href": f"https://api-m.paypal.com/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"}]}  # fmt: skip

    # --- the fake-provider shape -------------------------------------------------------------------



    def expire_tokens(self) -> None:
        """Every token issued so far expires now: the next call with one is answered 401 invalid_token."""
        with self._lock:
            self.tokens = {token: (account, 0.0) for token, (account, _) in self.tokens.items()}

    def settle(self, status: str = "COMPLETED") -> None:
        """PayPal finishes every refund it was still working on: COMPLETED, FAILED or CANCELLED (generic words too)."""
        final = _STATUS_WORDS.get(status.lower(), status.upper())
        with self._lock:
            for refund in self.refunds.values():
                if refund["status"] == "PENDING":
                    refund["status"], refund["update_time"] = final, "2026-01-16T10:00:00Z"
                    refund.pop("status_details", None)
                    if final in _FINAL_FAILURES:
                        self._fail(refund)

    @staticmethod
    def sale(number: int = 1001, amount: str = "189.70") -> dict:
        """The order's payment through this provider, as the shop's platform reports it."""
        return paypal_sale(number, amount)

    def summary(self) -> dict:
        with self._lock:
            return {"accounts": len(self.accounts),
                    "captures": [self._shown_capture(c, related=True) for c in self.captures.values()],
                    "refunds": [self._shown_refund(r) for r in self.refunds.values()]}  # fmt: skip

    def refunds_of(self, capture_id: str) -> list[dict]:
        """The refunds made against one capture, oldest first."""
        with self._lock:
            return [self._shown_refund(r) for r in self.refunds.values() if r["capture_id"] == capture_id]

    @property
    def money_moved(self) -> int:
        """Minor units refunded at PayPal, all refunds together."""
        with self._lock:
            return sum(r["amount"] for r in self.refunds.values() if r["status"] not in _FINAL_FAILURES)


def paypal_sale(number: int = 1001, amount: str = "189.70", currency: str = "EUR",
                capture_id: str = "CAP00000000001001") -> dict:  # fmt: skip
    """An OrderTransaction as the Admin API might return it for a PayPal capture (gateway "paypal").

    Its shape beyond the gateway name is assumed, not checked: the capture id is put where
    adapters.platforms.shopify.admin reads a PayPal payment's id (`paymentId`).
    """
    return {
        "id": f"gid://shopify/OrderTransaction/{number}", "kind": "SALE", "status": "SUCCESS", "gateway": "paypal",
        "paymentId": capture_id, "authorizationCode": capture_id, "receiptJson": "{}", "parentTransaction": None,
        "amountSet": {"presentmentMoney": {"amount": amount, "currencyCode": currency}},
    }  # fmt: skip
