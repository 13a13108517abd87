"""A sandbox Paytrail: payments, their refunds through the Payment API, and the signed refund callbacks.

Stateful as the real one is for the calls Palautus makes:
- every request is signed (docs.paytrail.com "Authentication"): the lowercase
  `checkout-*` headers, sorted, as `key:value` lines, then the body exactly as
  sent, HMAC'd with the account's secret key (sha256 or sha512). A missing or
  wrong signature, a `checkout-method` that is not the request's, a
  `checkout-transaction-id` that is not the path's, or a nonce used before is
  answered 401. Every answer is signed the same way over its own `checkout-*`
  headers and body, with the secret of the account that asked;
- the accounts: with none opened (`open_account`), Paytrail's published test
  credentials (375917 / SAIPPUAKAUPPIAS) and any given to the constructor
  (`credentials`) are taken; once one is opened, only opened ones. An HMAC cannot
  be checked, nor an answer signed, without the secret, so there is no "any
  credentials at all" mode;
- `POST /payments/{transactionId}/refund` takes `amount` (integer cents, more than 0,
  at most what is left of the payment), `refundStamp` (unique per account: a
  repeat is a 400 validation error, never a replay), `refundReference`, `email`
  and `callbackUrls` (`success` and `cancel`, https, or http on 127.0.0.1 only;
  at most 300 characters). It answers 201 `{provider, status: "ok", transactionId}`
  with the refund's own new transaction id, and the refund stays pending;
- refunds settle later (`settle`): each pending one becomes ok or fail, and its
  success or cancel URL is called (`callback`, a callable the test wires:
  `(url) -> HTTP status or None`) with the signed `checkout-*` parameters
  appended to the URL's own query. `redeliver` calls the last one again, as
  Paytrail may. With `auto_settle`, a refund settles as succeeded as its 201 goes
  out (in process, the callback is delivered just before the caller reads the 201).
  There is no endpoint to read a refund, as at Paytrail.

It can be told to fail the ways networks and Paytrail fail (`fail_next`).
Errors have Paytrail's shape: `{status: "error", message}`. Transport-free: the
sandbox server and the test suite's `responses` mock both call `handle`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from datetime import datetime, timezone
from typing import Callable, ClassVar
from urllib.parse import unquote, urlencode, urlsplit

from sandbox.faults import FaultSwitches
from sandbox.http import LOST, LOST_AFTER, Reply, Request

__all__ = ["SandboxPaytrail", "TEST_ACCOUNT", "TEST_SECRET"]

TEST_ACCOUNT, TEST_SECRET = "375917", "SAIPPUAKAUPPIAS"  # docs.paytrail.com "Test credentials"
_REFUND = re.compile(r"^/payments/([^/]+)/refund$")
_FAULT_NAMES = {"503", "429", "500", "500_after", "timeout", "timeout_after", "refused"}
_DIGESTS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_OK_WORDS = {"succeeded", "ok", "completed", "success"}
_FAIL_WORDS = {"failed", "fail", "canceled", "cancelled", "cancel"}
MAX_AMOUNT = 99_999_998  # a payment's and a refund item's documented maximum
OPEN_BOOK_AMOUNT = MAX_AMOUNT  # what a payment the sandbox never saw is taken to be worth
MAX_TEXT = 200
MAX_URL = 300
PROVIDER = "osuuspankki"  # OP: the test payment method whose refunds work with test credentials


def _hmac(params: dict, body: str, secret: str, algorithm: str = "sha256") -> str:
    """Paytrail's signature, written here on its own (not the route's), so one mistake cannot hide in both."""
    keys = sorted(k for k in params if k.startswith("checkout-"))
    payload = "\n".join([f"{k}:{params[k]}" for k in keys] + [body])
    return hmac.new(secret.encode(), payload.encode(), _DIGESTS[algorithm]).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class SandboxPaytrail(FaultSwitches):
    """Paytrail's refunds and refund callbacks, stateful; the fake-provider shape every payment route's sandbox offers."""

    name = "paytrail"
    key_header = None  # Paytrail takes no idempotency header: the key travels as the body's refundStamp
    settles_later = True  # every refund is pending until its callback
    # The generic faults of the shape, in this provider's terms.
    FAULTS: ClassVar[dict[str, str]] = {
        "unavailable": "503", "rate_limited": "429", "lost_request": "timeout", "lost_answer": "timeout_after",
        "unknown_outcome": "500", "saved_failure": "500_after", "refused": "refused",
    }  # fmt: skip

    def __init__(self, *, open_book: bool = False, credentials: dict[str, str] | None = None):
        """`open_book`: a refund of a payment the sandbox never saw creates it, worth Paytrail's maximum.
        `credentials`: merchant id -> secret key, taken (besides the test account) while none is opened."""
        self.open_book = open_book
        self.accounts: dict[str, str] = {}  # opened: merchant id -> secret key
        self.known: dict[str, str] = {TEST_ACCOUNT: TEST_SECRET, **{str(k): v for k, v in (credentials or {}).items()}}
        self.payments: dict[str, dict] = {}  # transaction id -> {transactionId, amount, refunded, currency, account}
        self.refunds: dict[str, dict] = {}  # refund transaction id -> the refund: the money asked back
        self.stamps: set[tuple[str, str]] = set()  # (account, refundStamp) used
        self.nonces: set[tuple[str, str]] = set()  # (account, checkout-nonce) seen
        self.posts: list[tuple[dict, dict]] = []  # (headers, body) of every authenticated refund POST
        self.faults: list[str] = []  # what the next refund POSTs do instead of answering normally
        self.read_faults: list[int] = []  # kept for the shape: Paytrail has no refund to read
        self.answer_status = "ok"  # the word a 201 carries: "ok", "pending" or "fail"
        self.auto_settle = False  # settle each refund as succeeded as soon as its 201 goes out
        self.callback: Callable[[str], int | None] | None = None
        self.deliveries: list[tuple[str, int | None]] = []  # (url, what it answered) for every callback
        self._lock = threading.RLock()

    # --- the merchant's side: an account, and a customer's payment --------------------------------

    def open_account(self) -> tuple[str, str]:
        """A new merchant account (merchant id, secret key); from then on only opened ones are taken."""
        with self._lock:
            account = str(400000 + secrets.randbelow(600000))
            while account in self.accounts or account == TEST_ACCOUNT:
                account = str(400000 + secrets.randbelow(600000))
            self.accounts[account] = secrets.token_urlsafe(24)
            return account, self.accounts[account]

    def payment(self, amount: int, currency: str = "EUR", account: str | None = None) -> str:
        """A customer's paid payment of `amount` cents for `account` (the test account if none); its transactionId."""
        with self._lock:
            return self._new_payment(str(uuid.uuid4()), amount, currency, account or TEST_ACCOUNT)["transactionId"]

    def _new_payment(self, transaction_id: str, amount: int, currency: str, account: str) -> dict:
        self.payments[transaction_id] = {"transactionId": transaction_id, "amount": amount, "refunded": 0,
                                         "currency": currency.upper(), "status": "ok", "account": account}  # fmt: skip
        return self.payments[transaction_id]

    def _secret(self, account: str) -> str | None:
        return (self.accounts if self.accounts else self.known).get(account)

    # --- HTTP ------------------------------------------------------------------------------------

    def handle(self, request: Request):
        """The reply to one request to services.paytrail.com: a Reply, or LOST / LOST_AFTER."""
        due: list[dict] = []
        with self._lock:
            reply = self._handle(request, due)
        self._deliver(due)  # outside the lock: a callback may reach code that calls the sandbox again
        return reply

    def _handle(self, request: Request, due: list[dict]):
        account, refused = self._authenticate(request)
        if refused:
            return refused
        if request.method == "POST" and (m := _REFUND.match(request.path)):
            return self._create(account, unquote(m.group(1)), request, due)
        return self._answer(account, request, 404, {"status": "error", "message": f"Not found: {request.method} {request.path}"})

    def _authenticate(self, request: Request) -> tuple[str | None, Reply | None]:
        params = {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("checkout-")}
        account = params.get("checkout-account", "")
        secret = self._secret(account)
        if secret is None:
            return None, self._unsigned(401, "Invalid merchant account")  # no secret to sign with
        algorithm = params.get("checkout-algorithm", "")
        given = request.header("signature")
        if algorithm not in _DIGESTS or not given:
            return None, self._answer(account, request, 401, {"status": "error", "message": "Missing or unsupported signature"})
        if not hmac.compare_digest(_hmac(params, request.body, secret, algorithm).encode(), given.encode()):
            return None, self._answer(account, request, 401, {"status": "error", "message": "Invalid signature"})
        m = _REFUND.match(request.path)
        nonce = params.get("checkout-nonce", "")
        if (params.get("checkout-method") != request.method or not params.get("checkout-timestamp") or not nonce
                or (m and params.get("checkout-transaction-id") != unquote(m.group(1)))):  # fmt: skip
            return None, self._answer(account, request, 401, {"status": "error", "message": "Invalid headers"})
        if (account, nonce) in self.nonces:
            return None, self._answer(account, request, 401, {"status": "error", "message": "Duplicate nonce"})
        self.nonces.add((account, nonce))
        return account, None

    def _create(self, account: str, transaction_id: str, request: Request, due: list[dict]):
        try:
            body = request.json()
        except ValueError:
            body = None
        self.posts.append((dict(request.headers), body if isinstance(body, dict) else {"_raw": request.body}))
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None and fault not in _FAULT_NAMES:
            raise ValueError(f"unknown fault {fault!r}: one of {', '.join(sorted(_FAULT_NAMES))}")
        if fault == "timeout":  # lost on the way there: nothing happened at Paytrail
            return LOST
        if fault in ("503", "429", "500"):
            messages = {"503": "Service unavailable", "429": "Too many requests", "500": "Internal server error"}
            return self._answer(account, request, int(fault), {"status": "error", "message": messages[fault]})
        if fault == "refused":  # refused as it stands: nothing made
            refused = {"status": "error", "message": "Used payment method provider does not support refunds"}
            return self._answer(account, request, 422, refused)
        made = self._refund(account, transaction_id, body)
        if isinstance(made, tuple):  # (status, error body): refused before anything was made
            return self._answer(account, request, *made)
        if fault == "timeout_after":  # made at Paytrail, the answer lost on the way back
            self._settle_made(made, due)
            return LOST_AFTER
        if fault == "500_after":  # made at Paytrail, and a 500 answered; a repeat would be a stamp reused
            self._settle_made(made, due)
            return self._answer(account, request, 500, {"status": "error", "message": "Internal server error"})
        self._settle_made(made, due)
        created = {"provider": made["provider"], "status": self.answer_status, "transactionId": made["transactionId"]}
        return self._answer(account, request, 201, created)

    def _settle_made(self, refund: dict, due: list[dict]) -> None:
        if self.auto_settle:
            due.extend(self._finish([refund], "ok"))

    def _refund(self, account: str, transaction_id: str, body) -> dict | tuple[int, dict]:
        """A new pending refund, or (status, error body) as Paytrail answers this request."""
        payment = self.payments.get(transaction_id)
        if payment is not None and payment["account"] != account:
            payment = None  # each merchant sees only its own payments
        if payment is None and self.open_book and transaction_id not in self.payments:
            payment = self._new_payment(transaction_id, OPEN_BOOK_AMOUNT, "EUR", account)
        if payment is None:
            return 404, {"status": "error", "message": "Payment not found"}
        problem = _invalid(body)
        if problem:
            return 400, {"status": "error", "message": problem}
        amount = body["amount"]
        if amount > payment["amount"] - payment["refunded"]:
            return 400, {"status": "error", "message": "Refund amount is more than the refundable amount of the payment"}
        stamp = body.get("refundStamp")
        if stamp is not None and (account, stamp) in self.stamps:
            return 400, {"status": "error", "message": f"Validation error: refundStamp {stamp} has already been used"}
        if stamp is not None:
            self.stamps.add((account, stamp))
        payment["refunded"] += amount
        refund = {
            "transactionId": str(uuid.uuid4()), "payment": transaction_id, "amount": amount, "status": "pending",
            "provider": PROVIDER, "refundStamp": stamp, "refundReference": body.get("refundReference"),
            "email": body.get("email"), "callbackUrls": dict(body["callbackUrls"]), "account": account,
        }  # fmt: skip
        self.refunds[refund["transactionId"]] = refund
        return refund

    def _answer(self, account: str, request: Request, status: int, body: dict) -> Reply:
        """An answer signed as Paytrail signs them: its checkout-* headers and its body, with the account's secret."""
        text = json.dumps(body)
        headers = {
            "checkout-account": account, "checkout-algorithm": "sha256", "checkout-method": request.method,
            "checkout-nonce": str(uuid.uuid4()), "checkout-timestamp": _now(), "request-id": str(uuid.uuid4()),
        }  # fmt: skip
        m = _REFUND.match(request.path)
        if m:
            headers["checkout-transaction-id"] = unquote(m.group(1))
        headers["signature"] = _hmac(headers, text, self._secret(account) or "")
        return Reply(status, text, headers)

    @staticmethod
    def _unsigned(status: int, message: str) -> Reply:
        return Reply(status, json.dumps({"status": "error", "message": message}), {"request-id": str(uuid.uuid4())})

    @property
    def status(self) -> str:
        """The fake-provider shape's word for what a new refund does: "pending" waits for `settle`, "succeeded"
        settles at once (`auto_settle`). A Paytrail refund is always pending until its callback."""
        return "succeeded" if self.auto_settle else "pending"

    @status.setter
    def status(self, value: str) -> None:
        self.auto_settle = value == "succeeded"

    # --- settling, and the callbacks ---------------------------------------------------------------

    def settle(self, status: str = "succeeded", *, with_transaction_id: bool = True) -> None:
        """Paytrail finishes every pending refund: "succeeded" (ok, its success URL called) or "failed" (fail,
        its cancel URL called, its money given back to the payment). `with_transaction_id=False`: the refunds
        failed Paytrail's semantic validation (no refund transaction exists, so the callback names none)."""
        word = status.lower()
        if word not in _OK_WORDS | _FAIL_WORDS:
            raise ValueError(f"settle as succeeded or failed, not {status!r}")
        with self._lock:
            pending = [r for r in self.refunds.values() if r["status"] == "pending"]
            due = self._finish(pending, "ok" if word in _OK_WORDS else "fail", with_transaction_id)
        self._deliver(due)

    def _finish(self, refunds: list[dict], final: str, with_transaction_id: bool = True) -> list[dict]:
        """Settle the refunds; the callbacks to deliver, each `{url}` with its signed query."""
        due = []
        for refund in refunds:
            refund["status"] = final
            if final == "fail":
                self.payments[refund["payment"]]["refunded"] -= refund["amount"]
            params = {
                "checkout-account": refund["account"], "checkout-algorithm": "sha256",
                "checkout-amount": str(refund["amount"]), "checkout-stamp": refund["refundStamp"] or "",
                "checkout-reference": refund["refundReference"] or "", "checkout-status": final,
                "checkout-provider": refund["provider"],
            }  # fmt: skip
            if with_transaction_id:
                params["checkout-transaction-id"] = refund["transactionId"]
            params["signature"] = _hmac(params, "", self._secret(refund["account"]) or "")
            url = refund["callbackUrls"]["success" if final == "ok" else "cancel"]
            due.append({"url": f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"})
        return due

    def _deliver(self, due: list[dict]) -> None:
        for item in due:
            self._call(item["url"])

    def _call(self, url: str) -> int | None:
        answer = self.callback(url) if self.callback is not None else None
        with self._lock:
            self.deliveries.append((url, answer))
        return answer

    def redeliver(self) -> int | None:
        """The last callback, delivered again ("The URLs may be called multiple times")."""
        with self._lock:
            if not self.deliveries:
                raise LookupError("no callback was delivered yet")
            url = self.deliveries[-1][0]
        return self._call(url)

    # --- the fake-provider shape -------------------------------------------------------------------



    def keys_sent(self) -> set[str]:
        """The refundStamps of every refund POST (the key travels in the body, not in a header)."""
        with self._lock:
            return {body["refundStamp"] for _, body in self.posts if isinstance(body.get("refundStamp"), str)}

    def refunds_of(self, transaction_id: str) -> list[dict]:
        """The refunds asked of one payment, oldest first."""
        with self._lock:
            return [dict(r) for r in self.refunds.values() if r["payment"] == transaction_id]

    def summary(self) -> dict:
        with self._lock:
            return {"accounts": len(self.accounts), "payments": [dict(p) for p in self.payments.values()],
                    "refunds": [dict(r) for r in self.refunds.values()],
                    "callbacks": [url for url, _ in self.deliveries]}  # fmt: skip

    @property
    def money_moved(self) -> int:
        """Cents refunded at Paytrail: succeeded refunds only (a pending one has moved nothing yet)."""
        with self._lock:
            return sum(r["amount"] for r in self.refunds.values() if r["status"] == "ok")


def _invalid(body) -> str | None:
    """What Paytrail's refund request does not allow in `body`, or None."""
    if not isinstance(body, dict):
        return "The request body is not a JSON object"
    amount = body.get("amount")
    if not _is_int(amount) or not 0 < amount <= MAX_AMOUNT:
        return "amount must be an integer between 1 and 99999998"
    for name in ("refundStamp", "refundReference"):
        if name in body and (not isinstance(body[name], str) or not 0 < len(body[name]) <= MAX_TEXT):
            return f"{name} must be a string of 1-{MAX_TEXT} characters"
    if "email" in body and (not isinstance(body["email"], str) or "@" not in body["email"]):
        return "email must be an e-mail address"
    urls = body.get("callbackUrls")
    if not isinstance(urls, dict) or not all(isinstance(urls.get(k), str) for k in ("success", "cancel")):
        return "callbackUrls with success and cancel are required"
    for name in ("success", "cancel"):
        problem = _bad_url(urls[name])
        if problem:
            return f"callbackUrls.{name} {problem}"
    return None


def _bad_url(url: str) -> str | None:
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname == "127.0.0.1":  # the sandbox server's own callbacks
        return None
    return "must be an https URL"
