"""Bearer authentication: the shop's API key picks the shop; every query is scoped to it."""
from __future__ import annotations

from flask import current_app, g, request

from integration.api.errors import error_response
from integration.db import get_session
from integration.limits import failed_check
from integration.services.context import Ctx
from integration.services.shops import shop_by_api_key

__all__ = ["authenticate", "ctx", "current_shop"]


def authenticate():
    """before_request: set g.shop from `Authorization: Bearer <key>`, or answer 401."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    shop = shop_by_api_key(get_session(), key.strip()) if scheme.lower() == "bearer" and key.strip() else None
    if shop is None:
        if failed_check("api key"):  # someone guessing keys: slowed down, the shops' own keys still work
            return error_response(429, "too_many_requests", "too many requests without a valid API key came from this "
                                  "address; wait a minute", headers={"Retry-After": "60"})  # fmt: skip
        return error_response(
            401, "unauthorized", "a valid API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": 'Bearer realm="palautus"'},
        )  # fmt: skip
    g.shop = shop
    return None


def current_shop():
    return g.shop


def ctx() -> Ctx:
    """The use-case context for this request."""
    app, vault = current_app, current_app.extensions["vault"]
    return Ctx(get_session(), app.extensions["tasks"], app.extensions["providers"], app.extensions["gateways"],
               lambda shop: [name for name, keys in vault.open(shop.credentials).get("payments", {}).items() if keys])  # fmt: skip
