"""A sandbox Stripe: PaymentIntents with their charges, and /v1/refunds as Stripe answers it (API 2023-08-16).

Stateful as the real one is for the calls Palautus makes:
- a refund takes money off its charge: more than is left is refused
  (`amount_too_large`; `charge_already_refunded` once nothing is left), and a
  refund that fails gives its money back to the charge;
- `Idempotency-Key` replays the first answer for the same parameters and refuses
  other parameters (`idempotency_error`); a 500 saved once the request had begun
  is replayed too, as Stripe does;
- only test keys (`sk_test_`, `rk_test_`) are taken, and with accounts opened
  (`open_account`) only theirs; a live key is refused without being looked at.

Every PaymentIntent it holds is paid (`succeeded`): cancelling one (the void of
an authorization) is refused with Stripe's `payment_intent_unexpected_state`.

It can be told to fail the ways networks and Stripe fail (`fail_next`,
`fail_reads`) and to finish pending refunds (`settle`). Transport-free: the
sandbox server and the test suite's `responses` mock both call `handle`.

It keeps a balance (sandbox/stripe_balance.py): every charge it takes, every refund
once it succeeded and every refund_failure of one adds a balance transaction, and
`pay_out` pays the unpaid ones out as Stripe's automatic payouts do, read back through
GET /v1/payouts, /v1/payouts/{id} and /v1/balance_transactions (?payout=, expand[]).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from itertools import count
from urllib.parse import parse_qs

from sandbox.faults import FaultSwitches
from sandbox.http import LOST, LOST_AFTER, Reply, Request, error
from sandbox.stripe_balance import ZERO_DECIMAL as _ZERO_DECIMAL
from sandbox.stripe_balance import Balance, missing, page_of

__all__ = ["SandboxStripe", "stripe_sale"]

TEST_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")
_REFUND = re.compile(r"^/v1/refunds/(re_\w+)$")
_PAYMENT_INTENT = re.compile(r"^/v1/payment_intents/(pi_\w+)$")
_CHARGE = re.compile(r"^/v1/charges/(ch_\w+)$")
_PAYOUT = re.compile(r"^/v1/payouts/([^/]+)$")
_TRANSACTION = re.compile(r"^/v1/balance_transactions/([^/]+)$")
_CANCEL = re.compile(r"^/v1/payment_intents/(pi_\w+)/cancel$")
_CANCELLABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
_CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
_ONLY_ON_FAILURE = ("failure_reason", "failure_balance_transaction")
_SAVED_500 = {"error": {"type": "api_error", "message": "An unknown error occurred"}}
_IDEMPOTENCY = {"error": {"type": "idempotency_error",
                          "message": "Keys for idempotent requests can only be used with the same parameters"}}  # fmt: skip
_FAULT_NAMES = {"500", "503", "429", "timeout", "timeout_after", "refused", "500_do_not_retry", "500_saved", "idempotency_error"}


def _shown(amount: int, currency: str) -> str:
    """An amount as Stripe's messages show it: €12.34."""
    symbol = {"eur": "€", "usd": "$", "gbp": "£", "sek": "kr ", "nok": "kr ", "dkk": "kr "}.get(currency, "")
    if currency.upper() in _ZERO_DECIMAL:
        return f"{symbol}{amount}"
    return f"{symbol}{amount // 100}.{amount % 100:02d}"


class SandboxStripe(FaultSwitches):
    """Stripe's refunds, stateful; the fake-provider shape every payment route's sandbox offers."""

    name = "stripe"
    key_header = "Idempotency-Key"  # the header that carries a refund's idempotency key
    # The generic faults of the shape, in this provider's terms.
    FAULTS = {
        "unavailable": "500", "rate_limited": "429", "lost_request": "timeout", "lost_answer": "timeout_after",
        "unknown_outcome": "500_do_not_retry", "saved_failure": "500_saved", "refused": "refused",
    }  # fmt: skip

    def __init__(self, *, open_book: bool = False):
        """`open_book`: a refund of a payment the sandbox never took is allowed, in euros and without limit
        (tests whose orders say they were paid at Stripe without paying here first)."""
        self.open_book = open_book
        self.open_book_currency = "eur"  # the currency of a payment it never took (tests in other currencies charge first)
        self.accounts: dict[str, str] = {}  # secret key -> account id; empty: any test key is taken
        self.payments: dict[str, dict] = {}  # PaymentIntent id -> {id, charge, amount, currency, amount_refunded}
        self.refunds: dict[str, dict] = {}  # id -> refund object: the money that really moved
        self.by_key: dict[str, tuple[dict, dict]] = {}  # idempotency key -> (params, answer)
        self.posts: list[tuple[dict, dict]] = []  # (headers, params) of every refund POST that arrived
        self.faults: list[str] = []  # what the next POSTs do instead of answering normally
        self.read_faults: list[int] = []  # HTTP statuses the next GETs answer instead (401: a rotated key)
        self.status = "succeeded"  # what a new refund's status is: "pending" to have it settle later
        self.endpoints: dict[str, dict] = {}  # webhook endpoint id -> {id, url, secret, enabled_events, api_version, account}
        self.deliver = None  # callable(url, body: bytes, headers) -> HTTP status or None: how events leave Stripe
        self.events: list[dict] = []  # every event Stripe sent, in order
        self.balance = Balance()  # balance transactions and payouts (set `balance.clock` for fixed times)
        self._ids = count(1)
        self._lock = threading.RLock()

    # --- the merchant's side: an account, and a customer's payment --------------------------------

    def open_account(self) -> str:
        """A new sandbox account; its secret key, the only kind this sandbox takes from then on."""
        with self._lock:
            key = f"sk_test_sandbox_{secrets.token_hex(12)}"
            self.accounts[key] = f"acct_sandbox{len(self.accounts) + 1:04d}"
            return key

    def charge(self, amount: int, currency: str = "eur", payment_id: str | None = None, account_key: str | None = None) -> dict:
        """A customer's succeeded PaymentIntent of `amount` minor units, with its charge, in the account of `account_key`."""
        with self._lock:
            number = next(self._ids)
            payment_id = payment_id or f"pi_3Sandbox{number:016d}"
            payment = {"id": payment_id, "charge": f"ch_3Sandbox{number:016d}", "amount": amount,
                       "currency": currency.lower(), "amount_refunded": 0, "account": self.accounts.get(account_key),
                       "created": int(self.balance.clock())}  # fmt: skip
            self.payments[payment_id] = payment
            payment["balance_transaction"] = self.balance.charged(payment)["id"]
            return self._payment_intent(payment)

    def pay_out(self, account_key: str | None = None, arrival: int | None = None, *, automatic: bool = True,
                reconciled: bool = True, currency: str | None = None) -> str | None:  # fmt: skip
        """An automatic payout (po_...) of everything unpaid in the account of `account_key`, status paid and
        reconciled; None when nothing is unpaid. `arrival`: its arrival_date (today's midnight UTC by default);
        `automatic=False`: a manual payout, which Stripe cannot itemise; `reconciled=False`: one Stripe is still
        itemising (reconciliation_status in_progress)."""
        with self._lock:
            payout = self.balance.pay_out(self.accounts.get(account_key), arrival, automatic=automatic,
                                          reconciled=reconciled, currency=currency)  # fmt: skip
            return payout["id"] if payout else None

    def finish_payout(self, payout_id: str) -> None:
        """Stripe finishes itemising a payout made with `reconciled=False`: from now on it can be read whole."""
        with self._lock:
            self.balance.reconciled(payout_id)

    # --- HTTP ------------------------------------------------------------------------------------

    def handle(self, request: Request):
        """The reply to one request to api.stripe.com: a Reply, or LOST / LOST_AFTER."""
        refused = self._authenticate(request)
        if refused:
            return refused
        with self._lock:
            account = self._account(request)
            if request.method == "POST" and request.path == "/v1/refunds":
                return self._create(account, request.header("Idempotency-Key") or None, request.form(), request.headers)
            if request.method == "POST" and request.path == "/v1/webhook_endpoints":
                return self._create_endpoint(account, request.body)
            if request.method == "POST" and (m := _CANCEL.match(request.path)):
                return self._cancel(account, m.group(1), request.form())
            if request.method == "GET":
                return self._read(request, account)
        return error(404, {"error": {"type": "invalid_request_error",
                                     "message": f"Unrecognized request URL ({request.method}: {request.path})."}})  # fmt: skip

    def _account(self, request: Request) -> str | None:
        """The account whose key signed the request (None while no account is opened: the tests' single one)."""
        return self.accounts.get(request.header("Authorization").partition(" ")[2])

    def _authenticate(self, request: Request) -> Reply | None:
        scheme, _, key = request.header("Authorization").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return error(401, {"error": {"type": "invalid_request_error", "message": "You did not provide an API key."}})
        if not TEST_KEY.match(key) or (self.accounts and key not in self.accounts):
            # Never echo a key, and never look further at a live one: this is a sandbox.
            return error(401, {"error": {"type": "invalid_request_error",
                                         "message": "Invalid API Key provided: this sandbox takes only its own test keys"}})  # fmt: skip
        return None

    def _create(self, account: str | None, key: str | None, params: dict, headers: dict):
        self.posts.append((dict(headers), params))
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None and fault not in _FAULT_NAMES:
            raise ValueError(f"unknown fault {fault!r}: one of {', '.join(sorted(_FAULT_NAMES))}")
        if fault == "timeout":  # lost on the way there: nothing happened at Stripe
            return LOST
        if fault == "idempotency_error":  # Stripe refuses the request as it stands: nothing happens
            return error(400, _IDEMPOTENCY)
        if fault in ("500", "503", "429"):
            kind = "rate_limit_error" if fault == "429" else "api_error"
            return error(int(fault), {"error": {"type": kind, "message": "fault"}}, **{"Request-Id": "req_fault"})
        if fault == "refused":  # a validation error: Stripe made nothing
            return error(400, {"error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                                         "message": "Charge has already been refunded."}}, **{"Request-Id": "req_refused"})  # fmt: skip
        if fault == "500_do_not_retry":  # Stripe says a retry of this request would not help
            return error(500, _SAVED_500, **{"Request-Id": "req_fault", "Stripe-Should-Retry": "false"})
        key = f"{account}:{key}" if account and key else key  # Stripe keeps keys per account
        if fault == "500_saved" and key and key not in self.by_key:  # failed once it had begun: saved, and replayed
            self.by_key[key] = (params, {"status": 500, **_SAVED_500})
        if key and key in self.by_key:
            first_params, answer = self.by_key[key]
            if answer.get("status") == 500:
                return error(500, answer, **{"Request-Id": "req_saved", "Idempotent-Replayed": "true"})
            if first_params != params:
                return error(400, _IDEMPOTENCY)
            replayed = {"Idempotent-Replayed": "true"}
        else:
            answer = self._refund(params, account)
            if answer.get("error"):  # refused before it ran: Stripe saves nothing for the key
                return error(400, answer, **{"Request-Id": "req_refused"})
            if key:
                self.by_key[key] = (params, answer)
            replayed = {}
        if fault == "timeout_after":  # made at Stripe, the answer lost on the way back
            return LOST_AFTER
        return Reply(200, self._shown_refund(answer), {"Request-Id": "req_ok", **replayed})

    def _refund(self, params: dict, account: str | None = None) -> dict:
        """A new refund, or the error Stripe answers for these parameters (`{"error": ...}`)."""
        payment = self._payment_of(params, account)
        if payment is None:
            what = params.get("payment_intent") or params.get("charge")
            if not what:
                return {"error": {"type": "invalid_request_error", "message": "One of `charge` or `payment_intent` is required."}}
            kind = "payment_intent" if what.startswith("pi_") else "charge"
            return {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": kind,
                              "message": f"No such {kind}: '{what}'"}}  # fmt: skip
        left = payment["amount"] - payment["amount_refunded"]
        try:
            amount = int(params["amount"]) if "amount" in params else left
        except ValueError:
            return {"error": {"type": "invalid_request_error", "param": "amount", "message": "Invalid integer: amount"}}
        if params.get("reason") not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            return {"error": {"type": "invalid_request_error", "param": "reason",
                              "message": "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer"}}  # fmt: skip
        if amount <= 0:
            return {"error": {"type": "invalid_request_error", "param": "amount",
                              "message": "This value must be greater than or equal to 1."}}  # fmt: skip
        if left <= 0:
            return {"error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                              "message": f"Charge {payment['charge']} has already been refunded."}}  # fmt: skip
        if amount > left:
            return {"error": {"type": "invalid_request_error", "code": "amount_too_large", "param": "amount",
                              "message": f"Refund amount ({_shown(amount, payment['currency'])}) is greater than "
                                         f"unrefunded amount on charge ({_shown(left, payment['currency'])})"}}  # fmt: skip
        payment["amount_refunded"] += amount
        refund_id = f"re_{next(self._ids):04d}"
        metadata = {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")}
        refund = {
            "id": refund_id, "object": "refund", "amount": amount, "currency": payment["currency"],
            "payment_intent": payment["id"] if not payment.get("open") else params.get("payment_intent"),
            "charge": payment["charge"], "status": self.status, "metadata": metadata, "reason": params.get("reason"),
            "failure_reason": None, "created": 1764547200 + len(self.refunds), "account": payment.get("account"),
            "balance_transaction": None, "failure_balance_transaction": None,
        }  # fmt: skip
        self.refunds[refund_id] = refund
        if self.status == "failed":
            self._fail(refund)
        elif self.status == "succeeded":
            self.balance.refunded(refund)
        return refund

    def _payment_of(self, params: dict, account: str | None) -> dict | None:
        """The payment a refund is for, if it belongs to the account asking (each account sees only its own)."""
        if "payment_intent" in params:
            found = self.payments.get(params["payment_intent"])
        else:
            found = next((p for p in self.payments.values() if p["charge"] == params.get("charge")), None)
        if found is not None and found.get("account") != account:
            return None
        if found is None and self.open_book and (params.get("payment_intent") or params.get("charge")):
            what = params.get("payment_intent") or params.get("charge")
            found = self.payments[what] = {"id": what, "charge": params.get("charge") or f"ch_for_{what}", "amount": 10**12,
                                           "currency": self.open_book_currency, "amount_refunded": 0, "open": True,
                                           "account": account}  # fmt: skip
        return found

    def _fail(self, refund: dict) -> None:
        """A refund that failed gives its money back to the charge."""
        refund["failure_reason"] = "lost_or_stolen_card"
        payment = next((p for p in self.payments.values() if p["charge"] == refund["charge"]), None)
        if payment is not None:
            payment["amount_refunded"] -= refund["amount"]

    def _cancel(self, account: str | None, payment_id: str, params: dict) -> Reply:
        """POST /v1/payment_intents/{id}/cancel. Stripe cancels only an intent in one of `_CANCELLABLE` (releasing
        what requires_capture held); every sandbox PaymentIntent is paid (succeeded), so a cancel is refused as
        Stripe refuses it for that state: 400 payment_intent_unexpected_state, with the intent, nothing changed."""
        payment = self.payments.get(payment_id)
        if payment is None or payment.get("account") != account:
            return self._missing("payment_intent", payment_id)
        reason = params.get("cancellation_reason")
        if reason is not None and reason not in _CANCELLATION_REASONS:
            return error(400, {"error": {"type": "invalid_request_error", "param": "cancellation_reason",
                                         "message": f"Invalid cancellation_reason: must be one of {', '.join(_CANCELLATION_REASONS[:-1])}, "
                                                    f"or {_CANCELLATION_REASONS[-1]}"}}, **{"Request-Id": "req_refused"})  # fmt: skip
        intent = self._payment_intent(payment)
        return error(400, {"error": {
            "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
            "doc_url": "https://stripe.com/docs/error-codes/payment-intent-unexpected-state",
            "message": f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
                       f"PaymentIntent with one of the following statuses may be canceled: {', '.join(_CANCELLABLE)}.",
            "payment_intent": intent,
        }}, **{"Request-Id": "req_refused"})  # fmt: skip

    def _read(self, request: Request, account: str | None = None) -> Reply:
        if self.read_faults:
            return error(self.read_faults.pop(0), {"error": {"type": "invalid_request_error",
                                                             "message": "Invalid API Key provided: sk_test_****"}},
                         **{"Request-Id": "req_read_fault"})  # fmt: skip
        if request.path == "/v1/refunds":
            return self._list(request.query, account)
        if m := _REFUND.match(request.path):
            refund = self.refunds.get(m.group(1))
            mine = refund is not None and refund.get("account") == account
            return Reply(200, self._shown_refund(refund)) if mine else self._missing("refund", m.group(1))
        if m := _PAYMENT_INTENT.match(request.path):
            payment = self.payments.get(m.group(1))
            mine = payment is not None and payment.get("account") == account
            return Reply(200, self._payment_intent(payment)) if mine else self._missing("payment_intent", m.group(1))
        if m := _CHARGE.match(request.path):
            payment = next((p for p in self.payments.values() if p["charge"] == m.group(1) and p.get("account") == account), None)
            return Reply(200, self._charge(payment)) if payment else self._missing("charge", m.group(1))
        return self._read_balance(request, account)

    def _read_balance(self, request: Request, account: str | None) -> Reply:
        """The payouts and balance transactions: each account sees only its own."""
        source_of = lambda source_id: self._source(source_id, account)  # noqa: E731
        if request.path == "/v1/payouts":
            return self.balance.list_payouts(request.query, account)
        if m := _PAYOUT.match(request.path):
            return self.balance.get_payout(m.group(1), account)
        if request.path == "/v1/balance_transactions":
            return self.balance.list_transactions(request.query, account, source_of)
        if m := _TRANSACTION.match(request.path):
            return self.balance.get_transaction(m.group(1), account, source_of, request.query.get("expand[]") == "source")
        return self._missing("resource", request.path)

    def _source(self, source_id: str, account: str | None) -> dict | None:
        """A balance transaction's source, expanded: the refund, or the charge."""
        refund = self.refunds.get(source_id)
        if refund is not None and refund.get("account") == account:
            return self._shown_refund(refund)
        payment = next((p for p in self.payments.values() if p["charge"] == source_id and p.get("account") == account), None)
        return self._charge(payment) if payment is not None else None

    def _list(self, query: dict, account: str | None = None) -> Reply:
        data = [self._shown_refund(r) for r in self.refunds.values() if r.get("account") == account
                and ("payment_intent" not in query or r["payment_intent"] == query["payment_intent"])
                and ("charge" not in query or r["charge"] == query["charge"])]  # fmt: skip
        data.sort(key=lambda r: r["created"], reverse=True)  # newest first, as Stripe lists
        return page_of(data, query, "/v1/refunds", "refund")

    @staticmethod
    def _shown_refund(refund: dict) -> dict:
        """A refund as Stripe shows it: without the sandbox's own bookkeeping, and without the failure's fields
        until it failed (the spec has them optional, never null)."""
        return {k: v for k, v in refund.items() if k != "account" and (v is not None or k not in _ONLY_ON_FAILURE)}

    @staticmethod
    def _missing(kind: str, what: str) -> Reply:
        return missing(kind, what)

    @staticmethod
    def _payment_intent(payment: dict) -> dict:
        return {"id": payment["id"], "object": "payment_intent", "amount": payment["amount"],
                "amount_received": payment["amount"], "currency": payment["currency"], "status": "succeeded",
                "latest_charge": payment["charge"]}  # fmt: skip

    def _charge(self, payment: dict) -> dict:
        return {"id": payment["charge"], "object": "charge", "amount": payment["amount"],
                "amount_captured": payment["amount"], "amount_refunded": payment["amount_refunded"],
                "balance_transaction": payment.get("balance_transaction"),
                "billing_details": {"address": None, "email": None, "name": None, "phone": None}, "captured": True,
                "created": payment.get("created", 1764547200), "currency": payment["currency"], "disputed": False,
                "livemode": False, "metadata": {}, "payment_intent": payment["id"], "paid": True,
                "refunded": payment["amount_refunded"] >= payment["amount"], "status": "succeeded"}  # fmt: skip

    # --- the fake-provider shape -------------------------------------------------------------------

    def settle(self, status: str = "succeeded") -> None:
        """The provider finishes every refund it was still working on (and tells the webhook endpoints)."""
        with self._lock:
            for refund in self.refunds.values():
                if refund["status"] == "pending":
                    refund["status"] = status
                    if status == "failed":
                        self._fail(refund)
                    elif status == "succeeded":
                        self.balance.refunded(refund)
                    self._announce(refund)

    def fail_later(self, refund_id: str, reason: str = "expired_or_canceled_card") -> None:
        """A refund that had succeeded fails after all (the card was closed): its money comes back to the charge."""
        with self._lock:
            refund = self.refunds[refund_id]
            refund["status"] = "failed"
            self._fail(refund)
            refund["failure_reason"] = reason
            self.balance.refund_failed(refund)  # the money it had taken out comes back: refund_failure
            self._announce(refund)

    # --- webhooks -----------------------------------------------------------------------------------

    def _create_endpoint(self, account: str | None, body: str) -> Reply:
        form = parse_qs(body, keep_blank_values=True)
        url, events = (form.get("url") or [""])[0], form.get("enabled_events[]") or []
        if not url or not events:
            return error(400, {"error": {"type": "invalid_request_error",
                                         "message": "Missing required param: url and enabled_events."}})  # fmt: skip
        number = len(self.endpoints) + 1
        endpoint = {"id": f"we_sandbox{number:04d}", "object": "webhook_endpoint", "url": url, "enabled_events": events,
                    "api_version": (form.get("api_version") or [None])[0], "status": "enabled", "livemode": False,
                    "secret": f"whsec_sandbox{secrets.token_hex(16)}", "account": account}  # fmt: skip
        self.endpoints[endpoint["id"]] = endpoint
        return Reply(200, {k: v for k, v in endpoint.items() if k != "account"})

    def _announce(self, refund: dict) -> None:
        """charge.refund.updated to every endpoint of the refund's account that asked for it, signed with its secret."""
        for endpoint in self.endpoints.values():
            if endpoint["account"] != refund.get("account") or "charge.refund.updated" not in endpoint["enabled_events"]:
                continue
            event = {"id": f"evt_sandbox{len(self.events) + 1:06d}", "object": "event", "type": "charge.refund.updated",
                     "api_version": endpoint["api_version"], "created": int(time.time()), "livemode": False,
                     "data": {"object": self._shown_refund(refund)}}  # fmt: skip
            self.events.append(event)
            body = json.dumps(event).encode()
            stamp = int(time.time())
            signature = hmac.new(endpoint["secret"].encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            if self.deliver is not None:
                self.deliver(endpoint["url"], body, {"Content-Type": "application/json",
                                                     "Stripe-Signature": f"t={stamp},v1={signature}"})  # fmt: skip

    @staticmethod
    def sale(number: int = 1001, amount: str = "189.70") -> dict:
        """The order's payment through this provider, as the shop's platform reports it."""
        return stripe_sale(number, amount)

    def reconcile(self, key: str) -> dict:
        """What Stripe's engineers do after an incident: the saved-500 request turns out to have made its refund."""
        with self._lock:
            params, _ = self.by_key[key]
            refund = self._refund(params)
            self.by_key[key] = (params, refund)
            return refund

    def payment(self, payment_id: str) -> dict | None:
        """A PaymentIntent, its charge and its refunds, as the sandbox's page shows them."""
        with self._lock:
            payment = self.payments.get(payment_id)
            if payment is None:
                return None
            return {"payment_intent": self._payment_intent(payment), "charge": self._charge(payment),
                    "refunds": self.refunds_of(payment_id)}  # fmt: skip

    def summary(self) -> dict:
        with self._lock:
            return {"accounts": len(self.accounts),
                    "payments": [self._payment_intent(p) | {"amount_refunded": p["amount_refunded"]} for p in self.payments.values()],
                    "refunds": [self._shown_refund(r) for r in self.refunds.values()], **self.balance.summary()}  # fmt: skip

    def refunds_of(self, payment_id: str) -> list[dict]:
        """The refunds made against one payment, oldest first."""
        with self._lock:
            return [self._shown_refund(r) for r in self.refunds.values() if r["payment_intent"] == payment_id]

    @property
    def money_moved(self) -> int:
        """Minor units refunded at Stripe, all refunds together."""
        return sum(r["amount"] for r in self.refunds.values() if r["status"] != "failed")


def stripe_sale(number: int = 1001, amount: str = "189.70", currency: str = "EUR",
                payment_id: str = "pi_3PalautusTest0001") -> dict:  # fmt: skip
    """An OrderTransaction as the Admin API returns it for a Stripe payment a headless checkout took.

    The checkout created the order through the API: Shopify gave the transaction no
    payment id of its own, and the PaymentIntent is in its authorizationCode.
    """
    return {
        "id": f"gid://shopify/OrderTransaction/{number}", "kind": "SALE", "status": "SUCCESS", "gateway": "stripe",
        "paymentId": None, "authorizationCode": payment_id, "receiptJson": "{}", "parentTransaction": None,
        "amountSet": {"presentmentMoney": {"amount": amount, "currencyCode": currency}},
    }  # fmt: skip
