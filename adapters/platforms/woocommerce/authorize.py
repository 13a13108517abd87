"""WooCommerce's app authorization endpoint (`/wc-auth/v1/authorize`): the URL that asks, the keys that come back.

From WooCommerce's `includes/class-wc-auth.php` (WC_Auth) and `templates/auth/form-grant-access.php`:
- the store takes five parameters, each required and non-empty: `app_name`, `user_id`,
  `return_url`, `callback_url` and `scope` (`read`, `write` or `read_write`);
- each URL is `urldecode`d once more after PHP decoded the query, and `https://` is put in
  front of one without `://`; `callback_url` must then start with `https://` ("The
  callback_url needs to be over SSL"), whatever the store's own scheme;
- a store admin who can `manage_woocommerce` and clicks Approve gets a new key pair made
  (`ck_` / `cs_` and 40 hex digits, with the scope as its permissions), and the store POSTs
  `wp_json_encode({key_id, user_id, consumer_key, consumer_secret, key_permissions})` to
  `callback_url` with `wp_safe_remote_post` (Content-Type `application/json;charset=UTF-8`,
  a 60-second timeout; public hosts on ports 80, 443 and 8080 only). `user_id` comes back as
  the string we sent; `key_id` is the key's row id;
- only an answer of exactly HTTP 200 keeps the key: anything else, or no answer, and the store
  deletes the key it just made and shows the admin "An error occurred in the request and at
  the time were unable to send the consumer data" (HTTP 401), never reaching `return_url`;
- after a 200 the admin's browser goes to `return_url` with `success=1&user_id=<user_id>`
  added (`add_query_arg`); Deny goes there with `success=0&user_id=<user_id>`.
The callback is not signed: only the unguessable `user_id` we gave ties it to us.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from adapters.errors import PayloadError

__all__ = ["AUTHORIZE_PATH", "CALLBACK_TIMEOUT", "READ_WRITE", "SCOPES", "KeyDelivery", "authorize_url",
           "read_key_delivery"]  # fmt: skip

AUTHORIZE_PATH = "/wc-auth/v1/authorize"
SCOPES = ("read", "write", "read_write")
READ_WRITE = "read_write"  # what Palautus needs: it reads orders and writes refunds, notes and webhooks
CALLBACK_TIMEOUT = 60  # seconds the store waits for the callback's answer (post_consumer_data)
# `ck_` / `cs_` and wc_rand_hash() (40 hex digits today); a little room, never anything but letters and digits.
_KEY = re.compile(r"ck_[A-Za-z0-9]{20,128}")
_SECRET = re.compile(r"cs_[A-Za-z0-9]{20,128}")
# What survives PHP decoding the query and WC_Auth urldecode-ing it once more: no "%", no "+".
_SAFE_VALUE = re.compile(r"[^%+\s]+")


def authorize_url(store_url: str, *, app_name: str, user_id: str, return_url: str, callback_url: str,
                  scope: str = READ_WRITE) -> str:  # fmt: skip
    """The store's authorize page for these parameters, in the order WooCommerce's documentation builds it.

    `store_url` is the store's canonical URL (`normalize_domain`); a WordPress in a folder keeps its path.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if not callback_url.lower().startswith("https://"):
        raise ValueError("WooCommerce posts the keys only to an https:// callback_url")
    for name, value in (("user_id", user_id), ("return_url", return_url), ("callback_url", callback_url)):
        if not _SAFE_VALUE.fullmatch(value):  # decoded twice by the store: a % or + would arrive changed
            raise ValueError(f"{name} must not contain '%', '+' or spaces")
    query = urlencode({"app_name": app_name, "scope": scope, "user_id": user_id, "return_url": return_url,
                       "callback_url": callback_url})  # fmt: skip
    return f"{store_url.rstrip('/')}{AUTHORIZE_PATH}?{query}"


@dataclass(frozen=True)
class KeyDelivery:
    """The key pair a store posted to our callback_url. Never shown whole: repr hides the secret."""

    key_id: int
    user_id: str
    consumer_key: str
    consumer_secret: str
    key_permissions: str

    def __repr__(self) -> str:
        return (f"KeyDelivery(key_id={self.key_id!r}, user_id=..., consumer_key=...{self.consumer_key[-7:]}, "
                f"key_permissions={self.key_permissions!r})")  # fmt: skip

    @property
    def credentials(self) -> dict:
        """The REST key as a shop's credentials hold it (adapters/platforms/woocommerce/platform.py CREDENTIALS)."""
        return {"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret}


def read_key_delivery(payload: dict) -> KeyDelivery:
    """The callback's JSON object as a KeyDelivery; PayloadError naming the field that is not as WC_Auth sends it."""
    key_id, user_id = payload.get("key_id"), payload.get("user_id")
    key, secret, permissions = payload.get("consumer_key"), payload.get("consumer_secret"), payload.get("key_permissions")
    if isinstance(key_id, bool) or not isinstance(key_id, int) or key_id <= 0:
        raise PayloadError("key_id must be a positive integer")
    if not isinstance(user_id, str) or not user_id or len(user_id) > 64:
        raise PayloadError("user_id must be the string Palautus gave the store")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise PayloadError("consumer_key is not a WooCommerce consumer key (ck_ and hex digits)")
    if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
        raise PayloadError("consumer_secret is not a WooCommerce consumer secret (cs_ and hex digits)")
    if permissions not in SCOPES:
        raise PayloadError(f"key_permissions must be one of {', '.join(SCOPES)}")
    return KeyDelivery(key_id, user_id, key, secret, permissions)
