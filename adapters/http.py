"""The HTTP edge shared by all adapters: timeouts always, no `requests` exception escapes."""
from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import requests

from adapters.errors import ProviderUnavailable

__all__ = ["new_session", "send", "retry_after", "json_object"]

logger = logging.getLogger(__name__)

USER_AGENT = "Palautus/1.0 (+https://github.com/palautus/palautus)"


def new_session() -> requests.Session:
    """A session with our User-Agent; one per adapter instance."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def send(session: requests.Session, method: str, url: str, *, provider: str, timeout: float, **kwargs):
    """Send one request; connection errors and timeouts become ProviderUnavailable."""
    started = time.perf_counter()
    try:
        response = session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.Timeout as e:
        raise ProviderUnavailable("request timed out", provider=provider, code="timeout") from e
    except requests.RequestException as e:
        # The exception text can carry the URL; it never carries headers or bodies.
        raise ProviderUnavailable(
            f"could not reach the API ({type(e).__name__})", provider=provider, code="connection_error"
        ) from e
    # One line per call: who, what (the path only: a query may carry a signature or a key), the status, how long,
    # and the provider's own id for the request, which its support asks for.
    logger.info("provider call", extra={
        "provider": provider, "method": method, "path": urlsplit(url).path[:200], "status": response.status_code,
        "ms": round((time.perf_counter() - started) * 1000, 1), "provider_request_id": _request_id(response),
    })  # fmt: skip
    return response


# Where each provider puts its id for a request: Shopify, Stripe, PayPal, Klarna, WooCommerce behind a proxy.
_REQUEST_ID_HEADERS = ("X-Request-Id", "Request-Id", "Paypal-Debug-Id", "Klarna-Correlation-Id", "X-Correlation-Id")


def _request_id(response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)[:100]
    return None


def retry_after(response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), if present and sane."""
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds <= 3600 else None


def json_object(response) -> dict | None:
    """The answer's body as a JSON object; None when it is not JSON, or not an object."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
