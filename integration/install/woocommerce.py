"""Connect a WooCommerce store from the browser: /install/woocommerce, its key callback and its done page.

WooCommerce's app authorization endpoint (adapters/platforms/woocommerce/authorize.py has the protocol):

1. GET /install/woocommerce: a form asking for the store's URL.
2. POST /install/woocommerce: the URL in its canonical form, a PendingConnection whose
   token (unguessable, one use, an hour) is the `user_id` we give the store, and a 303 to
   the store's `/wc-auth/v1/authorize` page, where its admin approves Palautus
   (Read/Write). A cookie holding the token binds the done page to this browser.
3. POST /install/woocommerce/callback: the store posts the new REST key, unsigned. It is
   taken only for a connection we started, still open and not completed (once, whoever
   sends it twice), with `read_write` permissions, and only if it works at the store the
   merchant named (one cheap read: keys from another store are refused, so nobody can
   swap a registered store's key for their own). Then the store is registered with a
   webhook secret Palautus makes, or (registered before) given the new key: a reconnect
   updates the same shop, one that was uninstalled is reinstated with a new API key. The
   keys are kept sealed by the vault only. The answer is exactly 200 (WooCommerce deletes
   the key on anything else, which is what a forged or stale delivery deserves); the
   webhooks are created after it, by the `connect_shop` job.
4. GET /install/woocommerce/done?c=<token>: where the store sends the admin back; says
   what happens next. The shop's API key is never shown in a browser: whoever started the
   approval link (anyone can) would see it. The operator gives it to the merchant
   (`flask shops rotate-key`).

The POSTs are rate limited per client address (integration/limits.py).
"""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from flask import Blueprint, current_app, jsonify, redirect, request
from flask_limiter import RateLimitExceeded
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from adapters.errors import PayloadError, ProviderRejected, ProviderUnavailable
from adapters.platforms import platform_adapter
from adapters.platforms.woocommerce.platform import public_store
from adapters.platforms.woocommerce.authorize import READ_WRITE, authorize_url, read_key_delivery
from adapters.platforms.woocommerce.platform import TOPICS
from integration.config import ConfigError, require_https
from integration.db import get_session
from integration.errors import Conflict, InvalidInput, MissingCredentials, NotFound
from integration.install.pages import page
from integration.limits import limiter
from integration.models import PendingConnection, Shop, utcnow
from integration.secrets import Vault
from integration.services.shops import register_shop, replace_credentials, rotate_api_key, shop_by_domain

__all__ = ["bp", "complete_connection", "open_connection", "start_connection", "CONNECTION_TTL"]

logger = logging.getLogger(__name__)

bp = Blueprint("install_woocommerce", __name__, url_prefix="/install/woocommerce")

PLATFORM = "woocommerce"
APP_NAME = "Palautus"  # what the store's admin sees: "Palautus would like to connect to your store"
PREFIX = "/install/woocommerce"
COOKIE = "palautus_woocommerce_connect"
CONNECTION_TTL = timedelta(hours=1)  # from the merchant's click to the store's key delivery
FORGET_AFTER = timedelta(days=1)  # a handshake never finished is deleted this long after it expired
MAX_CALLBACK_BYTES = 16 * 1024  # the key delivery is a few hundred bytes
START_LIMIT = "10 per minute;60 per hour"  # per client address: each start writes a row
CALLBACK_LIMIT = "30 per minute"  # per address: a store's server; a wrong user_id is a 404 anyway
_MAX_TOKEN = 64


# --- the use cases ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    """What the key delivery did: the shop, and its new API key when one was made (shown once, never stored)."""

    shop: Shop
    api_key: str | None  # None on a reconnect: the shop's API key is unchanged
    reconnected: bool
    reinstated: bool  # it had been uninstalled


def start_connection(session: Session, store_url: str, now: datetime | None = None) -> PendingConnection:
    """A new pending connection to `store_url` (canonical), with an unguessable one-use token; old leftovers go."""
    now = now or utcnow()
    session.execute(delete(PendingConnection).where(PendingConnection.completed_at.is_(None),
                                                    PendingConnection.expires_at < now - FORGET_AFTER))  # fmt: skip
    pending = PendingConnection(token=secrets.token_urlsafe(32), store_url=store_url, created_at=now,
                                expires_at=now + CONNECTION_TTL)  # fmt: skip
    session.add(pending)
    session.commit()
    return pending


def find_connection(session: Session, token) -> PendingConnection | None:
    """The connection started with this token, in whatever state; None for anything else."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        return None
    return session.scalar(select(PendingConnection).where(PendingConnection.token == token))


def open_connection(session: Session, token, now: datetime | None = None) -> PendingConnection:
    """The connection a key delivery names, if it may still take one: NotFound for a token Palautus never gave,
    InvalidInput for one completed already or expired. Nothing is written either way."""
    now = now or utcnow()
    pending = find_connection(session, token)
    if pending is None:
        raise NotFound("no connection was started with this user_id")
    if pending.completed_at is not None:
        raise InvalidInput("this connection has taken its key already: start a new one")
    if pending.expires_at <= now:
        raise InvalidInput("this connection expired: start a new one")
    return pending


def complete_connection(session: Session, vault: Vault, pending: PendingConnection, *, platform: str,
                        credentials: dict, generated: tuple[str, ...] = (), now: datetime | None = None) -> Connected:  # fmt: skip
    """Take the delivered `credentials` for the store of `pending`: the connection claimed once, in the same
    commit as the shop.

    A store not registered yet is registered with them and the `generated` fields (a new
    secret each); a registered one keeps its generated fields and gets the new key. Raises
    InvalidInput when the connection was completed or expired meanwhile (another delivery
    won), Conflict when the same store was registered at the same moment.
    """
    now = now or utcnow()
    claimed = session.execute(
        update(PendingConnection)
        .where(PendingConnection.id == pending.id, PendingConnection.completed_at.is_(None),
               PendingConnection.expires_at > now)
        .values(completed_at=now, error=None)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if claimed.rowcount != 1:
        session.rollback()
        raise InvalidInput("this connection has taken its key already, or expired: start a new one")
    try:
        result = _take_keys(session, vault, pending.store_url, platform, credentials, generated)
    except IntegrityError:
        session.rollback()
        raise Conflict("the store was connected by another request at the same moment") from None
    except BaseException:
        session.rollback()  # the claim goes with it: the connection stays open
        raise
    session.execute(update(PendingConnection).where(PendingConnection.id == pending.id)
                    .values(shop_id=result.shop.id).execution_options(synchronize_session=False))  # fmt: skip
    session.commit()
    session.refresh(pending)
    logger.info("store connected from the browser", extra={"shop_id": result.shop.id, "reconnected": result.reconnected,
                                                           "reinstated": result.reinstated})  # fmt: skip
    return result


def _take_keys(session: Session, vault: Vault, store_url: str, platform: str, credentials: dict,
               generated: tuple[str, ...]) -> Connected:  # fmt: skip
    shop = shop_by_domain(session, platform, store_url, include_uninstalled=True)
    if shop is None:
        fresh = {**credentials, **{field: secrets.token_urlsafe(32) for field in generated}}
        shop, api_key = register_shop(session, vault, platform=platform, domain=store_url, credentials=fresh)
        return Connected(shop, api_key, reconnected=False, reinstated=False)
    held = vault.open(shop.credentials)
    changes = {**credentials, **{field: secrets.token_urlsafe(32) for field in generated if not held.get(field)}}
    reinstated = shop.uninstalled_at is not None
    if reinstated:
        # The merchant had removed Palautus and connects the store again: the old API key stays dead.
        shop.uninstalled_at = None
    replace_credentials(session, vault, shop, changes)  # commits, with the claim
    api_key = rotate_api_key(session, shop) if reinstated else None
    return Connected(shop, api_key, reconnected=True, reinstated=reinstated)


# --- the pages and the callback -----------------------------------------------------------------------------


@bp.errorhandler(RateLimitExceeded)
def _too_many(error):
    return page("Too many attempts", ["Too many connection attempts came from your address. Wait a minute and try "
                                      "again. Nothing was changed."], 429)  # fmt: skip


@bp.get("")
def form():
    public = _public_url()
    if isinstance(public, tuple):
        return _not_configured(*public)
    return _form()


@bp.post("")
@limiter.limit(START_LIMIT)
def start():
    public = _public_url()
    if isinstance(public, tuple):
        return _not_configured(*public)
    given = request.form.get("store_url", "")
    try:
        store_url = platform_adapter(PLATFORM).normalize_domain(given)
        require_https(store_url, "the store URL", current_app.config)
        public_store(store_url, current_app.config)
    except InvalidInput as e:
        return _form(given, e.message, 400)
    except ConfigError:
        return _form(given, "The store's address must start with https:// (a store on plain http can be connected "
                            "from the command line in development only).", 400)  # fmt: skip
    pending = start_connection(get_session(), store_url)
    target = authorize_url(store_url, app_name=APP_NAME, user_id=pending.token,
                           return_url=f"{public}{PREFIX}/done?c={pending.token}", callback_url=f"{public}{PREFIX}/callback")  # fmt: skip
    response = redirect(target, 303)
    response.set_cookie(COOKIE, pending.token, max_age=int(CONNECTION_TTL.total_seconds()), httponly=True,
                        secure=public.startswith("https://"), samesite="Lax", path=PREFIX)  # fmt: skip
    logger.info("woocommerce connection started", extra={"connection_id": pending.id})
    return response


@bp.post("/callback")
@limiter.limit(CALLBACK_LIMIT)
def callback():
    """The store's key delivery: exactly 200 once the store is connected; anything else and the store drops the key."""
    delivery = read_key_delivery(_json_body())
    session, config = get_session(), current_app.config
    pending = open_connection(session, delivery.user_id)
    if delivery.key_permissions != READ_WRITE:
        _refuse(session, pending, f"the store granted {delivery.key_permissions} access; Palautus needs Read/Write")
        raise InvalidInput("key_permissions must be read_write: Palautus writes refunds, notes and webhooks")
    session.commit()  # no transaction stays open during the call to the store
    adapter = platform_adapter(PLATFORM)
    try:
        public_store(pending.store_url, config)  # again: a name may point elsewhere since the connection started
        adapter.connect(pending.store_url, delivery.credentials, config).check_access()
    except InvalidInput:
        _refuse(session, pending, "the store's address is not a public one", detail="not public")
        raise InvalidInput("the store's address is not a public one") from None
    except (ProviderRejected, MissingCredentials) as e:
        _refuse(session, pending, f"the key did not work at {pending.store_url}", detail=f"{getattr(e, 'status', None)} "
                f"{getattr(e, 'code', None)}")  # fmt: skip
        raise InvalidInput("the key does not work at the store this connection was started for") from None
    except ProviderUnavailable as e:
        _refuse(session, pending, f"{pending.store_url} could not be reached to check the key", detail=str(e.code))
        return jsonify({"error": "unavailable", "message": "the store could not be reached to check the key"}), 502
    result = complete_connection(session, current_app.extensions["vault"], pending, platform=PLATFORM,
                                 credentials=delivery.credentials, generated=adapter.generated)  # fmt: skip
    # The new API key is never shown in a browser: whoever started the connection sees the whole approval link
    # (user_id included), so the browser holding its cookie need not be the store admin's who approved it.
    current_app.extensions["tasks"].connect_shop(result.shop.id)
    logger.info("woocommerce key taken", extra={"shop_id": result.shop.id, "key_id": delivery.key_id})
    return jsonify({"status": "connected"}), 200


@bp.get("/done")
def done():
    """Where the store sends its admin back (`success` and `user_id` added by the store)."""
    token = request.args.get("c") or request.args.get("user_id")
    session = get_session()
    pending = find_connection(session, token)
    if pending is None:
        return page("This link has expired", ["This connection is unknown or was finished long ago. Start again at "
                                              f"{_public_or_path()}{PREFIX}."], 404)  # fmt: skip
    if pending.completed_at is None:
        return _not_connected(pending)
    shop = session.get(Shop, pending.shop_id) if pending.shop_id else None
    if shop is None:
        return page("This store is no longer connected", ["It was removed from Palautus since. Start again to "
                                                          "connect it."], 404)  # fmt: skip
    response = _connected(shop)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


# --- helpers --------------------------------------------------------------------------------------------------


def _public_url():
    """PUBLIC_URL without its trailing slash, or (problem, what to do) when the store could not post to it."""
    public = str(current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if not public:
        return ("Palautus's public address is not set.",
                "The operator must set PUBLIC_URL to the https:// address stores reach Palautus at.")
    if not public.lower().startswith("https://"):
        return ("Palautus's public address is not https://.",
                "WooCommerce sends its key only to an https:// address: the operator must set PUBLIC_URL to one.")
    return public


def _public_or_path() -> str:
    public = _public_url()
    return "" if isinstance(public, tuple) else public


def _not_configured(problem: str, fix: str):
    return page("Connecting a store is not available yet", [problem, fix, "Nothing was connected."], 503)


def _form(value: str = "", problem: str | None = None, status: int = 200):
    paragraphs = ["Enter your WooCommerce store's address. Your store will ask you (as its administrator) to approve "
                  "Palautus's Read/Write access; then Palautus creates the store's webhooks and you get Palautus's "
                  "API key for the store."]  # fmt: skip
    raw = (f'<form method="post" action="{PREFIX}">'
           + (f'<p role="alert"><strong>{escape(problem)}</strong></p>' if problem else "")
           + '<p><label for="store_url">Store address</label><br>'
           f'<input id="store_url" name="store_url" type="text" inputmode="url" size="40" required maxlength="255" '
           f'placeholder="https://shop.example.com" value="{escape(value[:255], quote=True)}"></p>'
           '<p><button type="submit">Connect the store</button></p></form>'
           "<p>If your store then says it was “unable to send the consumer data”, it could not reach Palautus or "
           "Palautus refused the key: check that the store's address is the one its REST API answers at, and try "
           "again.</p>")  # fmt: skip
    return page("Connect a WooCommerce store", paragraphs, status, raw=raw)


def _json_body() -> dict:
    request.max_content_length = MAX_CALLBACK_BYTES + 1
    body = request.get_data(cache=False)
    if len(body) > MAX_CALLBACK_BYTES:
        raise RequestEntityTooLarge()
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise PayloadError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object")
    return payload


def _refuse(session: Session, pending: PendingConnection, reason: str, detail: str | None = None) -> None:
    """Why a delivery for this open connection was refused, kept for the done page (our own words, never the
    store's: its answer could be anything); the connection stays open. `detail`: a status or code, for the log."""
    session.rollback()
    pending.error = reason[:500]
    session.commit()
    logger.warning("woocommerce key delivery refused: %s", reason[:200],
                   extra={"connection_id": pending.id, "detail": (detail or "")[:60]})  # fmt: skip


def _not_connected(pending: PendingConnection):
    if request.args.get("success") == "0":
        return page("Nothing was connected", [f"The store {pending.store_url} was not connected: its administrator "
                                              "declined. Start again whenever you like."])  # fmt: skip
    lines = [f"Palautus did not receive a working key from {pending.store_url}."]
    if pending.error:
        lines.append(f"Why: {pending.error}.")
    else:
        lines.append("The store may not have been able to reach Palautus: it sends the key only to a public https:// "
                     "address (ports 80, 443 or 8080).")
    lines.append("Start again to connect the store.")
    return page("The store is not connected", lines, 400 if pending.error else 200)


def _connected(shop: Shop):
    lines = [f"Your store {shop.domain} is connected to Palautus.",
             f"What happens next: Palautus is creating the store's webhooks ({', '.join(TOPICS)}) now, so the store "
             "tells Palautus of each order. Orders are also read from the store every few minutes, so nothing is "
             "missed. Returns are opened through Palautus's API, and refunds are recorded back in the store."]  # fmt: skip
    for kind in ("store", "webhooks"):
        alert = (shop.alerts or {}).get(kind)
        if alert:
            lines.append(f"Not yet working: {alert.get('message')}")
    lines.append("Palautus's API key for the store is never shown in a browser (the approval link could have been "
                 "started by anyone). Your operator gives it to you: flask --app wsgi shops rotate-key --platform "
                 f"woocommerce --domain {shop.domain}.")  # fmt: skip
    # Nor does this page sign in to the dashboard, for the same reason: anyone holding the approval link can open it.
    lines.append("To open your returns dashboard, ask your operator for a one-time sign-in link (flask --app wsgi "
                 f"dashboard-link {shop.domain}), or make one with the API key (POST /api/v1/dashboard-links).")  # fmt: skip
    return page("Your store is connected", lines)
