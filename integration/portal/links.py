"""Signed tokens of the customer's pages (itsdangerous), one salt per purpose so no token passes for another.

Links carry ids only: the status link (no expiry: it is e-mailed and bookmarked), the feedback link, and the
order session a lookup opens (expires). Two tokens carry what the customer typed, only inside a form's hidden
field between two steps (never in a URL): the chosen items, and the withdrawal statement before it is confirmed.
"""
from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

__all__ = ["BadLink", "ORDER_MAX_AGE", "STEP_MAX_AGE", "seal", "unseal", "status_token", "read_status",
           "feedback_token", "read_feedback", "order_token", "read_order"]  # fmt: skip

ORDER_MAX_AGE = 2 * 3600  # a lookup opens the order for two hours: long enough to pack, short if the phone is lost
STEP_MAX_AGE = 4 * 3600  # a form between two steps: the same as the CSRF token's life
_TIMED = {"order", "selection", "withdrawal", "receipt"}


class BadLink(Exception):
    """A token that was not signed by us for this purpose (`expired`: it was, but is too old)."""

    def __init__(self, expired: bool = False):
        super().__init__("expired link" if expired else "bad link")
        self.expired = expired


def _serializer(purpose: str):
    salt = f"palautus.portal.{purpose}"
    cls = URLSafeTimedSerializer if purpose in _TIMED else URLSafeSerializer
    return cls(current_app.secret_key, salt=salt)


def seal(purpose: str, data: dict) -> str:
    """`data` signed for `purpose`."""
    return _serializer(purpose).dumps(data)


def unseal(purpose: str, token: str, max_age: int | None = None) -> dict:
    """What `seal(purpose, ...)` signed; BadLink for anything else, or when older than `max_age` seconds."""
    try:
        if purpose in _TIMED:
            data = _serializer(purpose).loads(token or "", max_age=max_age or STEP_MAX_AGE)
        else:
            data = _serializer(purpose).loads(token or "")
    except SignatureExpired:
        raise BadLink(expired=True) from None
    except (BadSignature, UnicodeError, ValueError):
        raise BadLink() from None
    if not isinstance(data, dict):
        raise BadLink()
    return data


def _ids(data: dict, *keys: str) -> tuple[int, ...]:
    values = tuple(data.get(key) for key in keys)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise BadLink()
    return values


def status_token(ret) -> str:
    """The return's status link token: it names the return and its shop, and never expires."""
    return seal("status", {"r": ret.id, "s": ret.shop_id})


def read_status(token: str) -> tuple[int, int]:
    """(return id, shop id) of a status token."""
    return _ids(unseal("status", token), "r", "s")


def feedback_token(ret) -> str:
    """The token of the return's feedback form (the status page and the refund e-mail link to it)."""
    return seal("feedback", {"r": ret.id, "s": ret.shop_id})


def read_feedback(token: str) -> tuple[int, int]:
    return _ids(unseal("feedback", token), "r", "s")


def order_token(shop, order) -> str:
    """The order a lookup opened: the next screens work on it for ORDER_MAX_AGE."""
    return seal("order", {"s": shop.id, "o": order.id})


def read_order(token: str) -> tuple[int, int]:
    """(shop id, order id) of an order token; BadLink(expired=True) once ORDER_MAX_AGE has passed."""
    return _ids(unseal("order", token, ORDER_MAX_AGE), "s", "o")
