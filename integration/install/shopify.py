"""Install on Shopify from the browser: GET /install/shopify (the app URL) and GET /install/shopify/callback.

The authorization code grant (adapters/platforms/shopify/oauth.py has the protocol):
the app URL is opened by Shopify with a signed query; Palautus checks it, sets a
signed, short-lived cookie holding a fresh `state` nonce and the shop, and sends
the merchant to the shop's own admin to approve the app. Shopify sends them back
to the callback with a code; Palautus checks the query again, the state against
the cookie (so the grant finishes in the browser that started it), exchanges the
code for an expiring offline token and its refresh token (sealed with the shop's
credentials), subscribes the app's webhooks, and lands the merchant on a page
that says what happens next. Installing again updates the same shop.
"""
from __future__ import annotations

import hmac
import logging
import secrets

from urllib.parse import urlencode

from flask import Blueprint, current_app, redirect, request, url_for
from flask_limiter import RateLimitExceeded
from itsdangerous import BadSignature, URLSafeTimedSerializer

from adapters.errors import ProviderError, SignatureError
from adapters.platforms import platform_adapter
from adapters.platforms.shopify import oauth
from integration.db import get_session
from integration.dashboard.auth import claim_launch, sign_in
from integration.errors import MissingCredentials
from integration.install.pages import page
from integration.limits import failed_check, limiter
from integration.services.shops import (
    clear_alert, locked_credentials, raise_alert, register_shop, replace_credentials, rotate_api_key, shop_by_domain,
)

__all__ = ["bp"]

logger = logging.getLogger(__name__)

bp = Blueprint("install_shopify", __name__, url_prefix="/install/shopify")

PLATFORM = "shopify"
STATE_COOKIE = "palautus_shopify_state"
STATE_MAX_AGE = 600  # seconds from the app URL to the callback: the approval screen, not a session
INSTALL_LIMIT = "30 per minute"  # per client address, for each of the app URL and the callback


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="palautus.install.shopify.state")


def _configured():
    config = current_app.config
    client_id, secret, public = config.get("SHOPIFY_CLIENT_ID"), config.get("SHOPIFY_CLIENT_SECRET"), config.get("PUBLIC_URL")
    if not client_id or not secret or not public:
        return None
    return client_id, secret, str(public).rstrip("/")


def _not_configured():
    return page("Palautus is not set up for Shopify installs", [
        "The operator has not set SHOPIFY_CLIENT_ID, SHOPIFY_CLIENT_SECRET and PUBLIC_URL. Nothing was installed."], 503)


@bp.errorhandler(RateLimitExceeded)
def _too_many(error):
    return page("Too many attempts", ["Too many install requests came from your address. Wait a minute and open "
                                      "the app again from your Shopify admin. Nothing was changed."], 429)  # fmt: skip


def _refused(status: int = 401):
    if failed_check("shopify install"):
        return _too_many(None)
    return page("This install link did not come from Shopify", [
        "Palautus could not verify that Shopify sent this request, or it is too old. Open the app again from your "
        "Shopify admin. Nothing was installed."], status)  # fmt: skip


@bp.get("")
@limiter.limit(INSTALL_LIMIT)
def begin():
    """The app URL: a signed request from Shopify; on to the shop's approval screen."""
    configured = _configured()
    if configured is None:
        return _not_configured()
    client_id, secret, public = configured
    try:
        shop = oauth.verify_query(request.args.to_dict(), secret)
    except SignatureError:
        return _refused()
    nonce = secrets.token_urlsafe(24)
    target = oauth.authorize_url(current_app.config["SHOPIFY_API_BASE"], shop, client_id,
                                 f"{public}/install/shopify/callback", nonce)  # fmt: skip
    response = redirect(target, 302)
    response.set_cookie(STATE_COOKIE, _serializer(secret).dumps({"nonce": nonce, "shop": shop}), max_age=STATE_MAX_AGE,
                        httponly=True, secure=public.startswith("https://"), samesite="Lax", path="/install/shopify")  # fmt: skip
    return response


@bp.get("/launch")
@limiter.limit(INSTALL_LIMIT)
def launch():
    """The app URL (shopify.app.toml application_url): an installed shop's staff land signed in on its dashboard;
    a shop not installed, uninstalled or owing a new grant goes straight on to the install, as Shopify requires."""
    configured = _configured()
    if configured is None:
        return _not_configured()
    params = request.args.to_dict()
    try:
        shop = oauth.verify_query(params, configured[1])
    except SignatureError:
        return _refused()
    session = get_session()
    row = shop_by_domain(session, PLATFORM, shop)
    if row is None or _needs_grant(row):
        return redirect(f"{url_for('.begin')}?{urlencode(params)}", 302)  # the same signed query, still fresh
    # A signed query signs in once: a replay (from history, a log) only reaches the dashboard already signed in.
    if claim_launch(session, row, params["hmac"]):
        sign_in(row)
    return redirect(url_for("dashboard.returns"), 302)


def _needs_grant(row) -> bool:
    """Whether the shop must approve the app again: Shopify refused to renew its tokens, refused its webhooks,
    or granted less than the app now asks for."""
    if not row.credentials or {"tokens", "webhooks"} & set(row.alerts or {}):
        return True
    credentials = current_app.extensions["vault"].open(row.credentials)
    return not credentials.get("access_token") or bool(_missing_scopes(str(credentials.get("scope") or "")))


@bp.get("/callback")
@limiter.limit(INSTALL_LIMIT)
def callback():
    """Back from the approval screen: the checks again, the code for tokens, the shop registered or updated."""
    configured = _configured()
    if configured is None:
        return _not_configured()
    client_id, secret, public = configured
    try:
        shop = oauth.verify_query(request.args.to_dict(), secret)
        state = _serializer(secret).loads(request.cookies.get(STATE_COOKIE, ""), max_age=STATE_MAX_AGE)
    except SignatureError:
        return _refused()
    except BadSignature:  # no cookie, a forged or an expired one: the grant did not start in this browser
        return page("Start the install again", [
            "This approval did not start in this browser, or it took longer than ten minutes. Open the app again "
            "from your Shopify admin. Nothing was installed."], 403)  # fmt: skip
    if not hmac.compare_digest(str(state.get("nonce", "")).encode(), str(request.args.get("state", "")).encode()) \
            or state.get("shop") != shop:  # fmt: skip
        return page("Start the install again", ["This approval belongs to another install. Nothing was installed."], 403)
    config = current_app.config
    try:
        tokens = oauth.exchange_code(config["SHOPIFY_API_BASE"], shop, client_id, secret, request.args.get("code", ""),
                                     config["HTTP_TIMEOUT"])  # fmt: skip
    except ProviderError as e:
        logger.warning("shopify did not issue a token: %s", e, extra={"shop": shop})
        return page("Shopify did not complete the install", [
            "Shopify refused or could not issue Palautus's access to your store. Open the app again from your "
            "Shopify admin to retry. Nothing was installed."], 502)  # fmt: skip
    missing = _missing_scopes(tokens.scope)
    if missing:
        return page("Palautus needs more access", [f"Shopify granted less than Palautus needs ({', '.join(missing)} "
                    "missing). Open the app again from your Shopify admin and approve all it asks for."], 403)  # fmt: skip
    row, key, reinstalled = _register(shop, tokens.as_credentials())
    sign_in(row)  # whoever approved the app in the shop's admin, in this browser, is its staff
    response = _landing(row, key, reinstalled, _subscribe(row, public))
    response.delete_cookie(STATE_COOKIE, path="/install/shopify")
    return response


def _missing_scopes(granted: str) -> list[str]:
    """The scopes Palautus asked for that Shopify did not grant (a write scope covers its read scope)."""
    have = {scope.strip() for scope in granted.split(",") if scope.strip()}
    have |= {"read_" + scope[len("write_"):] for scope in have if scope.startswith("write_")}
    return [scope for scope in oauth.SCOPES if scope not in have]


def _register(shop: str, credentials: dict):
    """The shop registered, or (installed before) its tokens replaced and its uninstall undone: never twice."""
    session, vault = get_session(), current_app.extensions["vault"]
    row = shop_by_domain(session, PLATFORM, shop, include_uninstalled=True)
    if row is None:
        row, key = register_shop(session, vault, platform=PLATFORM, domain=shop, credentials=credentials)
        logger.info("shopify shop installed", extra={"shop_id": row.id})
        return row, key, False
    # Back from an uninstall in the same commit as the new tokens, under the shop's row lock: the sweeper, which
    # drops an uninstalled shop's provider keys, and an uninstall meanwhile see either the shop before or after.
    locked_credentials(session, vault, row)
    session.refresh(row, attribute_names=["uninstalled_at"])
    reinstated = row.uninstalled_at is not None
    row.uninstalled_at = None
    # A new grant starts clean: a custom app's own webhook secret would now refuse the public app's deliveries
    # and keep its expiring token from being renewed.
    replace_credentials(session, vault, row, credentials, drop=("token_migration", "webhook_secret"))
    # Back after an uninstall (or a disconnect, or a shop redact): the old API key stays dead, a new one is shown.
    key = rotate_api_key(session, row) if reinstated else None
    logger.info("shopify shop installed again", extra={"shop_id": row.id})
    return row, key, True


def _subscribe(row, public: str) -> str | None:
    """The app's webhook subscriptions at Palautus's Shopify address; the problem, if Shopify refused."""
    adapter = platform_adapter(PLATFORM)
    session, vault, config = get_session(), current_app.extensions["vault"], current_app.config
    uri = f"{public}/webhooks/{adapter.delivery_path}"
    try:
        platform = adapter.connect(row.domain, vault.open(row.credentials), config)
        platform.admin.ensure_webhooks(uri, oauth.WEBHOOK_TOPICS)
    except (ProviderError, MissingCredentials) as e:
        raise_alert(row, "webhooks", f"Shopify refused the webhook subscriptions ({e}): install the app again")
        session.commit()
        return str(e)
    clear_alert(row, "webhooks")
    session.commit()
    return None


def _landing(row, key: str | None, reinstalled: bool, problem: str | None):
    lines = [f"Palautus is installed on {row.domain}."]
    if reinstalled:
        lines.append("It was installed before: its access is renewed, and its returns and refunds are as they were.")
    if problem:
        lines.append("Shopify refused the webhook subscriptions, so Palautus hears of no order yet. Open the app again "
                     "from your Shopify admin to retry; the operator has been told.")
    else:
        lines.append("What happens next: Shopify now tells Palautus of each order and return. Returns your customers "
                     "ask for in Shopify appear in Palautus; refunds go back through the payment that took the money.")
    raw = ""
    if key:
        from html import escape

        raw = (f"<p>Your API key, shown this once (keep it in a password manager): <code>{escape(key)}</code></p>"
               "<p>Use it as <code>Authorization: Bearer &lt;key&gt;</code> with the API described at "
               "<code>/api/v1/docs</code>.</p>")
    else:
        lines.append("Your API key is unchanged; an operator can rotate it (flask --app wsgi shops rotate-key).")
    if key and reinstalled:
        lines.append("Palautus was uninstalled since: your old API key no longer works, this new one does.")
    raw += '<p><a href="/dashboard/returns">Open your returns dashboard</a> (you are signed in).</p>'
    return page("Palautus is installed", lines, raw=raw)
