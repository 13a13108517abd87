"""A WooCommerce store's REST API v3 (`/wp-json/wc/v3`): authentication, pages, and errors in our terms.

Authentication, as `WC_REST_Authentication` accepts it:
- over HTTPS, HTTP Basic with the consumer key and secret; some hosts strip the
  `Authorization` header, and then WooCommerce sees no credentials and answers
  401 `woocommerce_rest_cannot_view`: the client then sends the key and secret
  as `consumer_key` / `consumer_secret` query parameters instead, and keeps to that;
- over plain HTTP (a development store), OAuth 1.0a one-legged, HMAC-SHA256,
  the parameters in the query string (requests-oauthlib signs it).

Errors: WordPress answers `{"code", "message", "data": {"status"}}`. Only such
an answer, with a WordPress or WooCommerce code, is a refusal: a 4xx, or a 500
carrying a `woocommerce_rest_*` code (WooCommerce answers an over-refund or a
gateway's refusal that way, and a refund it failed to save as well: the
platform adapter decides that case by looking the refund up). Anything else (an
HTML page from a firewall, CDN or proxy, even as a 401 or 404; a 5xx without
such a code; a 429; a lost connection) is an outage, retried later: a read that
failed is never taken for an answer. Messages never carry the URL (it may carry
credentials) or a body.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from requests_oauthlib import OAuth1

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.http import new_session, retry_after, send

__all__ = ["WooClient", "API_PATH", "MAX_PAGES", "PER_PAGE"]

logger = logging.getLogger(__name__)

PROVIDER = "woocommerce"
API_PATH = "/wp-json/wc/v3"
PER_PAGE = 100  # the REST API's maximum page size
MAX_PAGES = 100  # 10,000 rows: far past anything one call of ours needs
CANNOT_VIEW = "woocommerce_rest_cannot_view"  # no credentials seen: the host may strip Authorization
# Codes WordPress and WooCommerce answer with: only an answer carrying one is theirs, and a refusal.
OWN_CODE_PREFIXES = ("woocommerce_", "rest_", "wc_")



class WooClient:
    """One store's REST API, with its consumer key and secret."""

    def __init__(self, store_url: str, consumer_key: str, consumer_secret: str, *, timeout: float = 10.0,
                 session=None, query_auth: bool = False):  # fmt: skip
        self.store_url = store_url.rstrip("/")
        self.base = self.store_url + API_PATH
        self._key, self._secret = consumer_key, consumer_secret
        self.https = urlsplit(self.store_url).scheme == "https"
        self.query_auth = query_auth  # learnt: this host strips the Authorization header
        self.timeout = timeout
        self._session = session or new_session()

    def __repr__(self) -> str:  # never the key or the secret
        return f"WooClient(store_url={self.store_url!r})"

    # --- requests ------------------------------------------------------------------------------------

    def get(self, path: str, params: dict | None = None):
        return self._json(self.request("GET", path, params=params))

    def post(self, path: str, body: dict):
        return self._json(self.request("POST", path, json=body))

    def put(self, path: str, body: dict):
        return self._json(self.request("PUT", path, json=body))

    def pages(self, path: str, params: dict | None = None, limit: int = MAX_PAGES) -> list:
        """Every row of a listing, page by page as X-WP-TotalPages says (at most `limit` pages)."""
        rows, page = [], 1
        while True:
            response = self.request("GET", path, params={**(params or {}), "per_page": PER_PAGE, "page": page})
            batch = self._json(response)
            if not isinstance(batch, list):
                raise ProviderUnavailable("a listing answered something other than a list", provider=PROVIDER,
                                          code="malformed_response")  # fmt: skip
            rows += batch
            total = _int(response.headers.get("X-WP-TotalPages"))
            if not batch or total is None or page >= total:
                return rows
            if page >= limit:
                raise ProviderRejected(f"more than {limit} pages of {path}", provider=PROVIDER, code="too_many_pages")
            page += 1

    def request(self, method: str, path: str, **kwargs):
        """One call; a refusal raises ProviderRejected, an outage ProviderUnavailable."""
        response = self._send(method, path, **kwargs)
        if response.status_code == 401 and self.https and not self.query_auth and _code(response) == CANNOT_VIEW:
            # Basic sent, yet no credentials seen: the host strips Authorization. WooCommerce takes them
            # in the query string too, so send them there from now on.
            logger.warning("woocommerce store ignores the Authorization header; sending the key in the query")
            self.query_auth = True
            response = self._send(method, path, **kwargs)
        if not 200 <= response.status_code < 300:
            raise self._error(response)
        return response

    def _send(self, method: str, path: str, params: dict | None = None, **kwargs):
        params = dict(params or {})
        auth = None
        if not self.https:
            auth = OAuth1(self._key, client_secret=self._secret, signature_method="HMAC-SHA256", signature_type="query")
        elif self.query_auth:
            params.update(consumer_key=self._key, consumer_secret=self._secret)
        else:
            auth = (self._key, self._secret)
        return send(self._session, method, self.base + path, provider=PROVIDER, timeout=self.timeout,
                    params=params or None, auth=auth, **kwargs)  # fmt: skip

    @staticmethod
    def _json(response):
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable("the store answered something other than JSON", provider=PROVIDER,
                                      status=response.status_code, code="malformed_response") from None  # fmt: skip

    @staticmethod
    def _error(response):
        status, code = response.status_code, _code(response)
        message = _message(response) or f"the store answered HTTP {status}"
        if status == 429 or not (code or "").startswith(OWN_CODE_PREFIXES):
            return ProviderUnavailable(message, provider=PROVIDER, status=status, code=code,
                                       retry_after=retry_after(response))  # fmt: skip
        return ProviderRejected(message, provider=PROVIDER, status=status, code=code)


def _body(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _code(response) -> str | None:
    code = _body(response).get("code")
    return code[:100] if isinstance(code, str) else None


def _message(response) -> str | None:
    message = _body(response).get("message")
    return message[:300] if isinstance(message, str) else None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
