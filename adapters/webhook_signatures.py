"""The webhook signature both store platforms use: base64 of HMAC-SHA256 over the raw body, with a secret."""
from __future__ import annotations

import base64
import hashlib
import hmac

from adapters.errors import SignatureError

__all__ = ["sign", "verify"]


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, signature: str, secret: str) -> None:
    """Raise SignatureError unless `signature` is the HMAC of exactly these bytes; constant time."""
    if not signature or not secret:
        raise SignatureError("missing signature")
    if not hmac.compare_digest(sign(body, secret).encode(), signature.strip().encode()):
        raise SignatureError("signature does not match the body")
