"""Installing on Shopify: the authorization code grant, expiring offline tokens, and the app's webhooks.

For an app that is not embedded in the admin, Shopify documents the authorization
code grant (shopify.dev, "Implement authorization code grant manually"):

1. Shopify opens the app URL with `shop`, `timestamp`, `hmac` (and `host`, ...).
   `hmac` is the hex HMAC-SHA256, keyed with the app's client secret, of the
   query's other parameters, sorted by name, as `name=value` joined with `&`
   (`hmac` and the legacy `signature` left out). It is compared in constant time;
   the shop must be a `*.myshopify.com` host.
2. The app redirects to `https://{shop}/admin/oauth/authorize` with `client_id`,
   `scope`, `redirect_uri`, `state` (a nonce bound to the browser) and
   `grant_options[]` empty (an offline token).
3. Shopify redirects back to `redirect_uri` with `code`, `hmac`, `shop`, `state`,
   `timestamp`; all are checked again, then the code is exchanged at
   `POST https://{shop}/admin/oauth/access_token` with `client_id`,
   `client_secret`, `code` and `expiring: "1"`.

Expiring offline tokens (shopify.dev changelog, December 2025; required for public
apps created from April 2026, and every public app from 1 January 2027): the
answer has `access_token` and `expires_in` (3,600 s), `refresh_token` and
`refresh_token_expires_in` (90 days), and `scope`. A refresh
(`grant_type: refresh_token`) answers a new pair: the refresh token rotates, and
the 90 days start again. Only one expiring token is active per app and shop.
A shop registered with an old non-expiring token is moved to an expiring one by
token exchange (`grant_type` urn:ietf:params:oauth:grant-type:token-exchange,
the old token as `subject_token` of type
urn:shopify:params:oauth:token-type:offline-access-token, the same as
`requested_token_type`, `expiring: "1"`, as JSON to /admin/oauth/access_token:
the body Shopify's own shopify-api library sends in `migrateToExpiringToken`,
version 12.2.0).

The app's webhook subscriptions are made with `webhookSubscriptionCreate`
(`uri`, not the deprecated `callbackUrl`); the mandatory compliance topics can only
be declared in `shopify.app.toml`.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from adapters.errors import GrantRevoked, ProviderMalformed, ProviderRejected, ProviderUnavailable, SignatureError
from adapters.http import json_object, new_session, send

__all__ = ["TokenSet", "verify_query", "authorize_url", "exchange_code", "refresh", "migrate", "fresh_credentials",
           "refresh_due", "TOKENS", "SCOPES", "WEBHOOK_TOPICS", "SHOP_DOMAIN"]  # fmt: skip

logger = logging.getLogger(__name__)

PROVIDER = "shopify"
SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")  # used with fullmatch: no trailing newline
MAX_CLOCK_SKEW = 90  # seconds a signed install or callback request's timestamp may be off
REFRESH_AHEAD = timedelta(minutes=5)  # an access token this close to its end is refreshed before it is used
# The least the app needs: orders and their transactions (refunds, payments), returns, refunds it makes through
# Shopify's gateway, the order tags it adds, restocking at a location, and what the accounting export will read
# (Shopify Payments payouts and their balance transactions: the payouts scope for the payouts, the accounts scope for
# the Shopify Payments account they are read through).
# (A write scope includes its read scope.)
SCOPES = ("write_orders", "write_returns", "read_locations", "write_inventory", "read_shopify_payments_payouts",
          "read_shopify_payments_accounts", "read_products")  # read_products: product types and tags for the return policy (products/* webhooks)
TOKEN_PATH = "/admin/oauth/access_token"
AUTHORIZE_PATH = "/admin/oauth/authorize"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"
# What the service acts on (adapters/platforms/shopify/events.py), as WebhookSubscriptionTopic values, subscribed
# per shop at install. app/uninstalled and the compliance topics are app-wide, in shopify.app.toml.
WEBHOOK_TOPICS = ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED", "REFUNDS_CREATE",
                  "ORDER_TRANSACTIONS_CREATE", "RETURNS_REQUEST", "RETURNS_APPROVE", "RETURNS_DECLINE",
                  "RETURNS_CANCEL", "RETURNS_CLOSE")  # fmt: skip


@dataclass(frozen=True)
class TokenSet:
    """What Shopify's token endpoint answered, with the moments each token stops working."""

    access_token: str
    scope: str
    expires_at: datetime | None = None  # None: a non-expiring token
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None

    def as_credentials(self) -> dict:
        """The shop's credential fields (sealed by the vault, never stored in clear)."""
        return {
            "access_token": self.access_token, "scope": self.scope,
            "access_token_expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "refresh_token": self.refresh_token,
            "refresh_token_expires_at": self.refresh_expires_at.isoformat() if self.refresh_expires_at else None,
        }  # fmt: skip


def verify_query(params: dict, secret: str, now: float | None = None) -> str:
    """The shop a signed install or callback request came for; SignatureError when the hmac, the timestamp or the
    shop do not hold (never saying which, to a caller that may be probing)."""
    given = str(params.get("hmac") or "")
    shop = str(params.get("shop") or "")
    if not secret or not given or not SHOP_DOMAIN.fullmatch(shop):
        raise SignatureError("the request is not signed by Shopify for a myshopify.com shop")
    # Shopify escapes % and & in names and values, and = in names, before it signs (shopify.dev, "Verify a request").
    message = "&".join(f"{_escape(key, True)}={_escape(str(params[key]))}" for key in sorted(params)
                       if key not in ("hmac", "signature"))  # fmt: skip
    expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise SignatureError("the request's hmac does not match")
    try:
        stamp = int(str(params.get("timestamp") or ""))
    except ValueError:
        raise SignatureError("the request has no timestamp") from None
    if abs((now if now is not None else time.time()) - stamp) > MAX_CLOCK_SKEW:
        raise SignatureError("the request's timestamp is too far off")
    return shop


def _escape(text: str, name: bool = False) -> str:
    text = text.replace("%", "%25").replace("&", "%26")
    return text.replace("=", "%3D") if name else text


def authorize_url(api_base: str, shop: str, client_id: str, redirect_uri: str, state: str,
                  scopes: tuple[str, ...] = SCOPES) -> str:  # fmt: skip
    """Where the merchant approves the app: the shop's own admin, asking for an offline token."""
    query = urlencode({"client_id": client_id, "scope": ",".join(scopes), "redirect_uri": redirect_uri, "state": state,
                       "grant_options[]": ""})  # fmt: skip
    return f"{_base(api_base, shop)}{AUTHORIZE_PATH}?{query}"


def exchange_code(api_base: str, shop: str, client_id: str, secret: str, code: str, timeout: float = 10.0,
                  session=None) -> TokenSet:  # fmt: skip
    """The authorization code for an expiring offline token and its refresh token."""
    return _token(api_base, shop, {"client_id": client_id, "client_secret": secret, "code": code, "expiring": "1"},
                  timeout, session)  # fmt: skip


def refresh(api_base: str, shop: str, client_id: str, secret: str, refresh_token: str, timeout: float = 10.0,
            session=None) -> TokenSet:  # fmt: skip
    """A new access token and a new (rotated) refresh token; ProviderRejected when the refresh token is dead."""
    return _token(api_base, shop, {"client_id": client_id, "client_secret": secret, "grant_type": "refresh_token",
                                   "refresh_token": refresh_token}, timeout, session)  # fmt: skip


def migrate(api_base: str, shop: str, client_id: str, secret: str, access_token: str, timeout: float = 10.0,
            session=None) -> TokenSet:  # fmt: skip
    """An old non-expiring offline token exchanged for an expiring one (once per shop; the old one stops working)."""
    return _token(api_base, shop, {"client_id": client_id, "client_secret": secret, "grant_type": TOKEN_EXCHANGE,
                                   "subject_token": access_token, "subject_token_type": OFFLINE_TOKEN,
                                   "requested_token_type": OFFLINE_TOKEN, "expiring": "1"}, timeout, session)  # fmt: skip


def refresh_due(credentials: dict, config: dict, force: bool = False) -> bool:
    """Whether `fresh_credentials` has anything to do (no network): cheap enough to ask before every use."""
    if not config.get("SHOPIFY_CLIENT_ID") or not config.get("SHOPIFY_CLIENT_SECRET") or credentials.get("webhook_secret"):
        return False
    if credentials.get("refresh_token"):
        ends = credentials.get("access_token_expires_at")
        return force or not ends or datetime.fromisoformat(ends) - datetime.now(timezone.utc) < REFRESH_AHEAD
    return bool(credentials.get("access_token")) and credentials.get("token_migration") != "refused"


class Tokens:
    """The platform registry's hooks for Shopify's expiring tokens: `due` (no network) and `fresh`."""

    due = staticmethod(refresh_due)

    @staticmethod
    def fresh(domain: str, credentials: dict, config: dict, force: bool = False) -> dict | None:
        return fresh_credentials(domain, credentials, config, force)


TOKENS = Tokens()


def fresh_credentials(domain: str, credentials: dict, config: dict, force: bool = False) -> dict | None:
    """The token fields to store instead of the shop's current ones, or None when they are fine as they are.

    - An expiring token near its end (or `force`: Shopify just answered 401) is refreshed with its refresh token.
    - A public app's shop that still has a non-expiring token (installed before, or registered with one) is moved
      to an expiring token by token exchange, once; a refusal is remembered (`token_migration: refused`), so a
      custom app's own token is not offered again.
    - A custom app's token (the shop has its own `webhook_secret`), or no app credentials configured: None.
    ProviderRejected when Shopify refuses a refresh (the merchant must reinstall); ProviderUnavailable to retry.
    """
    client_id, secret = config.get("SHOPIFY_CLIENT_ID"), config.get("SHOPIFY_CLIENT_SECRET")
    if not client_id or not secret or credentials.get("webhook_secret"):
        return None
    api_base, timeout = config["SHOPIFY_API_BASE"], config["HTTP_TIMEOUT"]
    if credentials.get("refresh_token"):
        ends = credentials.get("access_token_expires_at")
        due = force or not ends or datetime.fromisoformat(ends) - datetime.now(timezone.utc) < REFRESH_AHEAD
        return refresh(api_base, domain, client_id, secret, credentials["refresh_token"], timeout).as_credentials() if due else None
    if credentials.get("access_token") and credentials.get("token_migration") != "refused":
        try:
            return migrate(api_base, domain, client_id, secret, credentials["access_token"], timeout).as_credentials()
        except ProviderRejected:
            logger.warning("shopify token exchange refused: the shop keeps its token", extra={"shop": domain})
            return {"token_migration": "refused"}
    return None


def _base(api_base: str, shop: str) -> str:
    if not SHOP_DOMAIN.fullmatch(shop):  # the client secret only ever goes to a shop's own host
        raise ProviderRejected("not a myshopify.com shop", provider=PROVIDER, code="invalid_shop")
    return api_base.format(shop=shop).rstrip("/")


def _token(api_base: str, shop: str, body: dict, timeout: float, session) -> TokenSet:
    url = _base(api_base, shop) + TOKEN_PATH
    response = send(session or new_session(), "POST", url, provider=PROVIDER, timeout=timeout, json=body,
                    headers={"Accept": "application/json"})  # fmt: skip
    answer = json_object(response) or {}
    if response.status_code >= 500 or response.status_code == 429:
        raise ProviderUnavailable("Shopify's token endpoint is unavailable", provider=PROVIDER,
                                  status=response.status_code)  # fmt: skip
    if response.status_code == 200 and not isinstance(answer.get("access_token"), str):
        raise ProviderMalformed("Shopify's token answer holds no access token", provider=PROVIDER,
                                status=response.status_code)  # fmt: skip
    if response.status_code != 200:
        code = str(answer.get("error") or "token_refused")[:60]
        if response.status_code in (400, 401) and code in ("invalid_grant", "invalid_subject_token"):
            # A code used or expired, a refresh token revoked (an uninstall) or rotated away: the merchant reinstalls.
            raise GrantRevoked("Shopify refused to issue a token", provider=PROVIDER, status=response.status_code,
                               code=code)  # fmt: skip
        # A frozen or locked shop, a redirect, a page that is not the token endpoint's: not a word on the grant.
        raise ProviderRejected("Shopify did not issue a token", provider=PROVIDER, status=response.status_code,
                               code=code)  # fmt: skip
    now = datetime.now(timezone.utc)
    expires_in, refresh_in = answer.get("expires_in"), answer.get("refresh_token_expires_in")
    return TokenSet(
        access_token=answer["access_token"], scope=str(answer.get("scope") or ""),
        expires_at=now + timedelta(seconds=int(expires_in)) if isinstance(expires_in, int) else None,
        refresh_token=answer.get("refresh_token") if isinstance(answer.get("refresh_token"), str) else None,
        refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if isinstance(refresh_in, int) else None,
    )  # fmt: skip
