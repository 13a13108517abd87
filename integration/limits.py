"""Rate limits (flask-limiter), counted in Redis where REDIS_URL is set so every web process counts together.

What is limited, and by what:
- the install and connect pages' POSTs and Shopify's app URL and callback: per client address;
- the customer portal's order lookup and the withdrawal function's form: per client address (guessing orders);
- the merchant API: per API key (a hash of it, never the key itself), API_RATE_LIMIT;
- requests that fail their check: a webhook whose signature does not match and an API call whose key is not
  valid count against FAILED_AUTH_LIMIT per client address; past it they are answered 429 instead of 401.

A correctly signed delivery is never limited: WooCommerce would not send it again and Shopify counts failures
against the app. A Redis outage lets requests through (logged) rather than refuse deliveries or installs.

Behind a reverse proxy every request comes from the proxy's address: set PROXY_HOPS to the number of proxies
in front of Palautus so the client's address is read from X-Forwarded-For (werkzeug's ProxyFix).
"""
from __future__ import annotations

import hashlib
import logging

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from werkzeug.middleware.proxy_fix import ProxyFix

__all__ = ["limiter", "init_limits", "api_limit", "api_key_bucket", "failed_check", "over_failed_limit"]

logger = logging.getLogger(__name__)

# The customer's pages, per client address: the order lookup (a guess at an order number and e-mail pair is one
# POST) and the withdrawal statement's two steps. Generous for a family behind one address, slow for a guesser.
PORTAL_LOOKUP_LIMIT = "10 per minute;60 per hour"
WITHDRAWAL_LIMIT = "10 per minute;60 per hour"

# One limiter for every app this process builds: the decorators are applied at import, the storage per app.
limiter = Limiter(get_remote_address, strategy="fixed-window", key_prefix="palautus", headers_enabled=True,
                  swallow_errors=True)  # fmt: skip


def init_limits(app: Flask) -> None:
    """Count in Redis (REDIS_URL) or in memory, per app; read the client's address through PROXY_HOPS proxies."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", _storage(app.config))
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    limiter.init_app(app)
    from webhooks import bp as webhooks_bp

    # Deliveries have no rate limit (a platform's retries must get in); a failed signature counts by failed_check.
    # Exempt, flask-limiter does not even look for limits on them: a delivery's answer is what Shopify waits for.
    limiter.exempt(webhooks_bp)


def _storage(config) -> str:
    """REDIS_URL, where every web process counts together (`make run` sets it to the embedded server's socket);
    else memory, per process. A test may set RATELIMIT_STORAGE_URI itself."""
    url = str(config.get("REDIS_URL") or "")
    if url.startswith("unix://"):
        return "redis+unix://" + url[len("unix://"):]
    return url if url.startswith(("redis://", "rediss://")) else "memory://"


def api_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def api_key_bucket() -> str:
    """Who an API call counts against: its key (hashed: the key is a secret and Redis is not a vault), or its
    address when it has none."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return "key:" + hashlib.sha256(key.strip().encode()).hexdigest()[:32]
    return "address:" + get_remote_address()


def over_failed_limit() -> bool:
    """Whether this address is past FAILED_AUTH_LIMIT already (nothing counted): for a login whose right guess
    must be refused too once someone has guessed too often."""
    try:
        return not limiter.limiter.test(parse(current_app.config["FAILED_AUTH_LIMIT"]), "palautus-failed",
                                        get_remote_address())  # fmt: skip
    except Exception as e:  # noqa: BLE001 - a storage outage must not lock the operators out
        logger.warning("rate limit storage unavailable: %s", type(e).__name__)
        return False


def failed_check(kind: str) -> bool:
    """Count a request that failed its signature or key check against its address; True once the address is
    past FAILED_AUTH_LIMIT, when it should be answered 429 rather than 401."""
    limit = parse(current_app.config["FAILED_AUTH_LIMIT"])
    try:
        within = limiter.limiter.hit(limit, "palautus-failed", get_remote_address())
    except Exception as e:  # noqa: BLE001 - a storage outage must not turn a 401 into a 500
        logger.warning("rate limit storage unavailable: %s", type(e).__name__)
        return False
    if not within:
        logger.warning("failed checks over the limit", extra={"kind": kind})
    return not within
