"""A sandbox Klarna: captured orders and their refunds, as Klarna's Order Management API answers them.

Stateful as the real one is for the calls Palautus makes:
- a refund takes money off its order's captured amount: more than is left is
  refused (403 `REFUND_NOT_ALLOWED`, "Over refund is not allowed. Refund not
  possible."), and a body Klarna's RefundObject does not allow is refused with
  400 `BAD_VALUE` (order lines must add up to the refunded amount, and each
  line's total to quantity * unit_price - total_discount_amount);
- `Klarna-Idempotency-Key` replays the first answer, whatever the body: "only
  the key matters". Only answers that made a refund are kept for the key: whether
  Klarna keeps a refusal for it is not documented;
- refunds are synchronous and final: a 201 (its id in `Refund-Id` and `Location`,
  its body empty) means the money went back, so `settle` has nothing to do;
- HTTP Basic credentials: any while no account is opened (tests), and with
  accounts opened (`open_account`) only theirs; a password is never echoed.

Every order it holds is captured in full: cancelling one (`.../cancel`) or
releasing what is left of its authorization is refused as Klarna refuses it
(403 `CANCEL_NOT_ALLOWED`, `NOT_ALLOWED`).

It can be told to fail the ways networks and Klarna fail (`fail_next`,
`fail_reads`). Errors have Klarna's shape: `{error_code, error_messages[],
correlation_id}`. Transport-free: the sandbox server and the test suite's
`responses` mock both call `handle`.
"""
from __future__ import annotations

import binascii
import re
import secrets
import threading
import uuid
from base64 import b64decode
from typing import ClassVar
from urllib.parse import unquote

from sandbox.faults import FaultSwitches
from sandbox.http import LOST, LOST_AFTER, Reply, Request, error

__all__ = ["SandboxKlarna"]

ORDERS = "/ordermanagement/v1/orders"
_ORDER = re.compile(rf"^{ORDERS}/([^/]+)$")
_REFUNDS = re.compile(rf"^{ORDERS}/([^/]+)/refunds$")
_REFUND = re.compile(rf"^{ORDERS}/([^/]+)/refunds/([^/]+)$")
_RELEASE = re.compile(rf"^{ORDERS}/([^/]+)/(cancel|release-remaining-authorization)$")
_FAULT_NAMES = {"503", "429", "500", "500_after", "timeout", "timeout_after", "refused"}
_LINE_TYPES = {"physical", "discount", "shipping_fee", "sales_tax", "store_credit", "gift_card", "digital", "surcharge",
               "return_fee"}  # fmt: skip
MAX_AMOUNT = 200_000_000
OPEN_BOOK_CAPTURE = 10**12  # what an order the sandbox never saw is taken to have captured


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _failure(status: int, code: str, message: str) -> Reply:
    """An error as Klarna answers it, with a correlation id for searching its logs."""
    return error(status, {"error_code": code, "error_messages": [message], "correlation_id": str(uuid.uuid4())})


class SandboxKlarna(FaultSwitches):
    """Klarna's refunds, stateful; the fake-provider shape every payment route's sandbox offers."""

    name = "klarna"
    key_header = "Klarna-Idempotency-Key"
    # The generic faults of the shape, in this provider's terms.
    FAULTS: ClassVar[dict[str, str]] = {
        "unavailable": "503", "rate_limited": "429", "lost_request": "timeout", "lost_answer": "timeout_after",
        "unknown_outcome": "500", "saved_failure": "500_after", "refused": "refused",
    }  # fmt: skip

    def __init__(self, *, open_book: bool = False):
        """`open_book`: a refund of an order the sandbox never saw creates it, captured in euros without limit
        (tests whose orders say Klarna took the money without paying here first)."""
        self.open_book = open_book
        self.open_book_currency = "EUR"
        self.accounts: dict[str, str] = {}  # username -> password; empty: any Basic credentials are taken
        self.orders: dict[str, dict] = {}  # order id -> the order as Klarna shows it, plus "_account"
        self.refunds: dict[str, dict] = {}  # refund id -> refund, plus "_order" and "_account": the money that moved
        self.by_key: dict[str, Reply] = {}  # "username:key" -> the first answer that made a refund
        self.posts: list[tuple[dict, dict]] = []  # (headers, body) of every refund POST that arrived
        self.faults: list[str] = []  # what the next POSTs do instead of answering normally
        self.read_faults: list[int] = []  # HTTP statuses the next GETs answer instead (401: a rotated password)
        self.status = "refunded"  # kept for the shape; Klarna's refunds are final when made, whatever it says
        self._lock = threading.RLock()

    # --- the merchant's side: API credentials, and a customer's captured order -----------------------

    def open_account(self) -> tuple[str, str]:
        """New API credentials (username, password); from then on only opened ones are taken."""
        with self._lock:
            username = str(uuid.uuid4())
            self.accounts[username] = f"klarna_test_api_{secrets.token_urlsafe(24)}"
            return username, self.accounts[username]

    def order(self, amount: int, currency: str = "EUR", lines: list[dict] | None = None,
              username: str | None = None) -> str:  # fmt: skip
        """A customer's order of `amount` minor units, captured in full, for the account of `username`; its id."""
        with self._lock:
            return self._new_order(str(uuid.uuid4()), amount, currency, lines, username)["order_id"]

    def _new_order(self, order_id: str, amount: int, currency: str, lines: list[dict] | None, account) -> dict:
        capture = {"capture_id": str(uuid.uuid4()), "captured_amount": amount, "refunded_amount": 0, "reference": "",
                   "captured_at": "2025-12-01T10:00:00Z", "order_lines": list(lines or [])}  # fmt: skip
        self.orders[order_id] = {
            "order_id": order_id, "status": "CAPTURED", "purchase_currency": currency.upper(),
            "order_amount": amount, "original_order_amount": amount, "captured_amount": amount, "refunded_amount": 0,
            "remaining_authorized_amount": 0, "order_lines": list(lines or []), "captures": [capture], "refunds": [],
            "_account": account,
        }  # fmt: skip
        return self.orders[order_id]

    # --- HTTP ------------------------------------------------------------------------------------

    def handle(self, request: Request):
        """The reply to one request to api.klarna.com: a Reply, or LOST / LOST_AFTER."""
        account, refused = self._authenticate(request)
        if refused:
            return refused
        with self._lock:
            if request.method == "POST" and (m := _REFUNDS.match(request.path)):
                return self._create(account, unquote(m.group(1)), request)
            if request.method == "POST" and (m := _RELEASE.match(request.path)):
                return self._release(account, unquote(m.group(1)), m.group(2))
            if request.method == "GET":
                return self._read(account, request.path)
        return _failure(404, "NOT_FOUND", f"No such resource: {request.method} {request.path}")

    def _authenticate(self, request: Request) -> tuple[str | None, Reply | None]:
        """The account the request's Basic credentials belong to (None while no account is opened)."""
        scheme, _, token = request.header("Authorization").partition(" ")
        try:
            username, colon, password = b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            colon = ""
        if scheme.lower() != "basic" or not colon or not username or not password:
            return None, _failure(401, "UNAUTHORIZED", "Missing or malformed Basic credentials.")
        if self.accounts and self.accounts.get(username) != password:
            return None, _failure(401, "UNAUTHORIZED", "Bad credentials: this sandbox takes only its own.")
        return (username if self.accounts else None), None

    def _create(self, account: str | None, order_id: str, request: Request):
        try:
            body = request.json()
        except ValueError:
            body = None
        self.posts.append((dict(request.headers), body if isinstance(body, dict) else {}))
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None and fault not in _FAULT_NAMES:
            raise ValueError(f"unknown fault {fault!r}: one of {', '.join(sorted(_FAULT_NAMES))}")
        if fault == "timeout":  # lost on the way there: nothing happened at Klarna
            return LOST
        if fault in ("503", "429", "500"):
            code = {"503": "TEMPORARILY_UNAVAILABLE", "429": "TOO_MANY_REQUESTS", "500": "INTERNAL_SERVER_ERROR"}[fault]
            return _failure(int(fault), code, "fault")  # no Retry-After: a worker would sleep on it
        if fault == "refused":  # refused as it stands: nothing made
            return _failure(403, "REFUND_NOT_ALLOWED", "Order has no captures. Refund not possible")
        key = request.header(self.key_header)
        key = f"{account}:{key}" if key else None  # keys are the merchant's own
        if key in self.by_key:
            reply = self.by_key[key]
        else:
            reply = self._refund(account, order_id, body)
            if key and reply.status == 201:
                self.by_key[key] = reply
        if fault == "timeout_after":  # made at Klarna, the answer lost on the way back
            return LOST_AFTER if reply.status == 201 else reply
        if fault == "500_after" and reply.status == 201:  # made, and a 500 answered; the key then replays the 201
            return _failure(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred.")
        return Reply(reply.status, reply.body, dict(reply.headers))

    def _refund(self, account: str | None, order_id: str, body) -> Reply:
        """A new refund, or the error Klarna answers for this body."""
        order = self._order_of(account, order_id)  # each merchant sees only its own orders
        if order_id not in self.orders and self.open_book:
            order = self._new_order(order_id, OPEN_BOOK_CAPTURE, self.open_book_currency, None, account)
        if order is None:
            return _failure(404, "NO_SUCH_ORDER", f"No such order: {order_id}")
        problem = _invalid(body)
        if problem:
            return _failure(400, "BAD_VALUE", problem)
        amount = body["refunded_amount"]
        if order["captured_amount"] <= 0:
            return _failure(403, "REFUND_NOT_ALLOWED", "Order has no captures. Refund not possible")
        if amount > order["captured_amount"] - order["refunded_amount"]:
            return _failure(403, "REFUND_NOT_ALLOWED", "Over refund is not allowed. Refund not possible.")
        refund_id = str(uuid.uuid4())
        refund = {
            "refund_id": refund_id, "refunded_amount": amount, "refunded_at": "2025-12-01T12:00:00Z",
            "description": body.get("description", ""), "reference": body.get("reference", ""),
            "order_lines": body.get("order_lines", []), "_order": order_id, "_account": account,
        }  # fmt: skip
        self.refunds[refund_id] = refund
        order["refunds"].append(refund)
        order["refunded_amount"] += amount
        order["captures"][0]["refunded_amount"] += amount
        location = f"{ORDERS}/{order_id}/refunds/{refund_id}"
        return Reply(201, "", {"Refund-Id": refund_id, "Location": location})

    def _release(self, account: str | None, order_id: str, action: str) -> Reply:
        """POST .../cancel (an order nothing was captured from) or .../release-remaining-authorization (one captured
        in part): 204, the authorization released. Every sandbox order is captured in full, so both are refused as
        Klarna refuses them for that state (403), and nothing changes."""
        if order_id not in self.orders and self.open_book:  # the tests' orders say Klarna took the money
            self._new_order(order_id, OPEN_BOOK_CAPTURE, self.open_book_currency, None, account)
        order = self._order_of(account, order_id)
        if order is None:
            return _failure(404, "NO_SUCH_ORDER", f"No such order: {order_id}")
        if action == "cancel":  # captured (in full): "To successfully cancel the order, don't capture any items"
            return _failure(403, "CANCEL_NOT_ALLOWED", "Order has previous captures. Cancel not possible.")
        return _failure(403, "NOT_ALLOWED", "Order is fully captured. Remaining authorization cannot be released.")

    def _read(self, account: str | None, path: str) -> Reply:
        if self.read_faults:
            status = self.read_faults.pop(0)
            return _failure(status, "UNAUTHORIZED" if status == 401 else "READ_FAULT", "fault")
        if m := _ORDER.match(path):
            order_id = unquote(m.group(1))
            if order_id not in self.orders and self.open_book:  # the tests' orders say Klarna took the money
                self._new_order(order_id, OPEN_BOOK_CAPTURE, self.open_book_currency, None, account)
            order = self._order_of(account, order_id)
            return Reply(200, _shown(order)) if order else _failure(404, "NO_SUCH_ORDER", "No such order")
        if m := _REFUND.match(path):
            order = self._order_of(account, unquote(m.group(1)))
            refund = self.refunds.get(unquote(m.group(2)))
            if order and refund and refund["_order"] == order["order_id"]:
                return Reply(200, _shown(refund))
            return _failure(404, "NOT_FOUND", "Order or refund not found")
        return _failure(404, "NOT_FOUND", f"No such resource: {path}")

    def _order_of(self, account: str | None, order_id: str) -> dict | None:
        order = self.orders.get(order_id)
        return order if order is not None and order["_account"] == account else None

    # --- the fake-provider shape -------------------------------------------------------------------



    def settle(self, status: str = "succeeded") -> None:
        """Nothing to finish: a Klarna refund is final once made. Kept for the shape."""

    def refunds_of(self, order_id: str) -> list[dict]:
        """The refunds made against one order, oldest first."""
        with self._lock:
            return [_shown(r) for r in self.refunds.values() if r["_order"] == order_id]

    def summary(self) -> dict:
        with self._lock:
            return {"accounts": len(self.accounts), "orders": [_shown(o) for o in self.orders.values()],
                    "refunds": [_shown(r) for r in self.refunds.values()]}  # fmt: skip

    @property
    def money_moved(self) -> int:
        """Minor units refunded at Klarna, all refunds together."""
        with self._lock:
            return sum(r["refunded_amount"] for r in self.refunds.values())


def _shown(thing: dict) -> dict:
    """As Klarna shows it: without the sandbox's own bookkeeping (keys starting with _), refunds included."""
    shown = {k: v for k, v in thing.items() if not k.startswith("_")}
    if "refunds" in shown:
        shown["refunds"] = [_shown(r) for r in shown["refunds"]]
    return shown


def _invalid(body) -> str | None:
    """What Klarna's RefundObject does not allow in `body`, or None."""
    if not isinstance(body, dict):
        return "The request body is not a JSON object."
    amount = body.get("refunded_amount")
    if not _is_int(amount) or not 0 < amount <= MAX_AMOUNT:
        return "refunded_amount must be an integer between 1 and 200000000."
    for field in ("description", "reference"):
        if field in body and (not isinstance(body[field], str) or len(body[field]) > 255):
            return f"{field} must be a string of at most 255 characters."
    if "order_lines" not in body:
        return None
    lines = body["order_lines"]
    if not isinstance(lines, list) or len(lines) > 1000:
        return "order_lines must be a list of at most 1000 order lines."
    for number, line in enumerate(lines):
        problem = _invalid_line(line)
        if problem:
            return f"order_lines[{number}]: {problem}"
    if sum(line["total_amount"] for line in lines) != amount:
        return "The sum of the order lines' total_amount must equal refunded_amount."
    return None


def _invalid_line(line) -> str | None:
    if not isinstance(line, dict):
        return "not an object."
    if not isinstance(line.get("name"), str) or len(line["name"]) > 255:
        return "name is required, at most 255 characters."
    for field in ("quantity", "unit_price", "total_amount"):
        if not _is_int(line.get(field)):
            return f"{field} is required and must be an integer."
    for field in ("tax_rate", "total_tax_amount", "total_discount_amount"):
        if field in line and not _is_int(line[field]):
            return f"{field} must be an integer."
    if line["quantity"] < 0 or line.get("tax_rate", 0) < 0 or line.get("total_discount_amount", 0) < 0:
        return "quantity, tax_rate and total_discount_amount must not be negative."
    if "type" in line and line["type"] not in _LINE_TYPES:
        return f"type must be one of {', '.join(sorted(_LINE_TYPES))}."
    if "reference" in line and (not isinstance(line["reference"], str) or len(line["reference"]) > 255):
        return "reference must be a string of at most 255 characters."
    if line["total_amount"] != line["quantity"] * line["unit_price"] - line.get("total_discount_amount", 0):
        return "total_amount must equal quantity * unit_price - total_discount_amount."
    return None
