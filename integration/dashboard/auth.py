"""Signing in to the dashboard: one-time signed links for a shop's staff, and the session cookie they lead to.

A link carries the shop id and a nonce, signed with the app's secret key (itsdangerous) and good for LINK_TTL;
the nonce is stored in DashboardLogin and marked used by a compare-and-set on first use, so a link signs in
once. Opening a link only shows a button: its POST signs in, so a mail scanner fetching the link uses nothing up.
The session (Flask's signed cookie: HttpOnly, SameSite=Lax, Secure under https) holds the shop id and the moment
of sign-in; it ends after SESSION_TTL, at sign-out, or when the shop is uninstalled. The Shopify app URL and the
install callback sign in through `sign_in` too (integration/install/shopify.py).
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import time
from datetime import datetime, timedelta

from flask import current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.dashboard.blueprint import bp
from integration.db import get_session
from integration.limits import failed_check, limiter, over_failed_limit
from integration.models import DashboardLogin, Shop, utcnow

__all__ = ["LINK_TTL", "SESSION_TTL", "create_login", "login_url", "redeem", "claim_launch", "sign_in", "sign_out",
           "current_shop"]  # fmt: skip

logger = logging.getLogger(__name__)

LINK_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
LAUNCH_TTL = timedelta(seconds=90)  # as long as a signed app URL is believed (MAX_CLOCK_SKEW of the install)
LOGIN_LIMIT = "20 per minute"  # per client address; failed links also count against FAILED_AUTH_LIMIT
SALT = "palautus.dashboard.login"
SESSION_KEY = "dashboard"
OPEN_ENDPOINTS = {"dashboard.login", "dashboard.login_post", "dashboard.static", "dashboard.logout"}


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def create_login(db: Session, shop: Shop, email: str | None = None, now: datetime | None = None) -> tuple[str, datetime]:
    """A one-time sign-in token for the shop's dashboard, and when it expires (its nonce is committed)."""
    now = now or utcnow()
    nonce = secrets.token_urlsafe(32)
    row = DashboardLogin(shop_id=shop.id, nonce=nonce, email=email, created_at=now, expires_at=now + LINK_TTL)
    db.add(row)
    db.commit()
    logger.info("dashboard sign-in link made", extra={"shop_id": shop.id, "login_id": row.id})
    return _serializer().dumps({"shop": shop.id, "nonce": nonce}), row.expires_at


def login_url(token: str, base: str) -> str:
    """Where a token signs in, under Palautus's address `base`."""
    return f"{base.rstrip('/')}/dashboard/login/{token}"


def redeem(db: Session, token: str, now: datetime | None = None) -> Shop | None:
    """The installed shop a link signs in to, its nonce used up now; None for a forged, expired or used link."""
    try:
        data = _serializer().loads(token, max_age=int(LINK_TTL.total_seconds()))
        shop_id, nonce = int(data["shop"]), str(data["nonce"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    now = now or utcnow()
    # Compare-and-set: of two uses of one link (a double click, a replay), exactly one finds it unused.
    used = db.execute(update(DashboardLogin).where(
        DashboardLogin.nonce == nonce, DashboardLogin.shop_id == shop_id, DashboardLogin.used_at.is_(None),
        DashboardLogin.expires_at > now).values(used_at=now))  # fmt: skip
    db.commit()
    if used.rowcount != 1:
        return None
    shop = db.get(Shop, shop_id)
    return shop if shop is not None and shop.uninstalled_at is None else None


def claim_launch(db: Session, shop: Shop, signature: str, now: datetime | None = None) -> bool:
    """Remember a platform-signed launch request as used: True the first time, False for a replay of it."""
    now = now or utcnow()
    nonce = hashlib.sha256(f"launch:{signature}".encode()).hexdigest()  # its own namespace beside link nonces
    db.add(DashboardLogin(shop_id=shop.id, nonce=nonce, created_at=now, expires_at=now + LAUNCH_TTL, used_at=now))
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True


def sign_in(shop: Shop) -> None:
    """This browser is signed in to `shop`'s dashboard (another shop's sign-in is replaced)."""
    session[SESSION_KEY] = {"shop": shop.id, "at": int(time.time())}
    logger.info("dashboard signed in", extra={"shop_id": shop.id})


def sign_out() -> None:
    session.pop(SESSION_KEY, None)


def current_shop() -> Shop:
    """The shop this dashboard request is signed in to."""
    return g.dashboard_shop


def _signed_in_shop() -> Shop | None:
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("shop"), int):
        return None
    if time.time() - float(data.get("at") or 0) > SESSION_TTL.total_seconds():
        sign_out()
        return None
    shop = get_session().get(Shop, data["shop"])
    if shop is None or shop.uninstalled_at is not None:
        sign_out()
        return None
    return shop


@bp.before_request
def _require_sign_in():
    """Every page but signing in needs a signed-in shop, and shows only that shop's data."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    shop = _signed_in_shop()
    if shop is None:
        return render_template("dashboard/signed_out.html"), 401
    g.dashboard_shop = shop
    g.shop_language = (shop.profile or {}).get("default_language")  # the page language's fallback (i18n.py)
    return None


@bp.get("/login/<token>")
def login(token):
    """A sign-in link: a button whose POST signs in (fetching the link uses nothing up)."""
    return render_template("dashboard/login.html", token=token)


@bp.post("/login/<token>")
@limiter.limit(LOGIN_LIMIT)
def login_post(token):
    """Use the link once: sign in to its shop and go to its returns."""
    if over_failed_limit():
        return _too_many(None)
    shop = redeem(get_session(), token)
    if shop is None:
        if failed_check("dashboard link"):
            return _too_many(None)
        return render_template("dashboard/login_failed.html"), 401
    sign_in(shop)
    return redirect(url_for("dashboard.returns"), 303)


@bp.post("/logout")
def logout():
    """Sign out of the dashboard in this browser."""
    sign_out()
    return render_template("dashboard/signed_out.html", signed_out=True)


@bp.errorhandler(RateLimitExceeded)
def _too_many(error):
    return render_template("dashboard/message.html", title=_("Too many attempts"),
                           message=_("Too many sign-in attempts came from your address. Wait a minute.")), 429  # fmt: skip


@bp.errorhandler(CSRFError)
def _csrf(error):
    return render_template("dashboard/message.html", title=_("The form has expired"),
                           message=_("Reload the page and send the form again. Nothing was changed.")), 400  # fmt: skip
