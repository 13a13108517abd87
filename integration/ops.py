"""The operators' pages: /ops (what rq cannot know) and /ops/rq (rq-dashboard), behind one operator login.

Access: HTTP Basic with OPS_USERNAME and OPS_PASSWORD from the environment, compared in constant time; with no
OPS_PASSWORD the pages are off (404). Failed logins count against FAILED_AUTH_LIMIT per address. A browser sends
Basic credentials with any request to the host, also one a hostile page makes it send, so a request that changes
something (rq-dashboard's requeue, delete, empty) must come from a page of this host (Origin or Referer).

/ops shows, from the database: the inbox backlog and the age of its oldest unprocessed delivery per sender, the
failed and retrying deliveries with their reasons, refunds by route and status with the oldest still on its way,
refunds whose record in the shop failed, and every shop's open alerts (a store whose webhooks are disabled, tokens
the platform will not renew, a refund that failed, an uninstall not believed, ...).
"""
from __future__ import annotations

import hmac
from datetime import timedelta
from html import escape
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request
from sqlalchemy import func, select

from integration.install.pages import SECURITY_HEADERS
from integration.limits import failed_check, over_failed_limit
from integration.models import Refund, Return, Shop, WebhookEvent, utcnow
from integration.refunds import IN_FLIGHT
from integration.services.inbox import EventStatus

__all__ = ["bp", "init_ops"]

bp = Blueprint("ops", __name__, url_prefix="/ops")
PREFIX = "/ops"
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
_CHANGES_ON_GET = ("rq_dashboard.requeue_all",)


def init_ops(app) -> None:
    """The /ops page, rq-dashboard under /ops/rq, and the login in front of both."""
    import rq_dashboard

    app.config.from_object(rq_dashboard.default_settings)
    app.register_blueprint(bp)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=f"{PREFIX}/rq")

    @app.after_request
    def _never_framed(response):
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            response.headers.setdefault("X-Frame-Options", "DENY")
            if "Content-Security-Policy" not in response.headers:
                response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response

    @app.before_request
    def _operators_only():
        if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
            return None
        refused = _guard()
        if refused is None and request.path.startswith(f"{PREFIX}/rq") and not app.config.get("RQ_DASHBOARD_REDIS_URL"):
            # rq-dashboard's Redis, set on first use (building the app connects to nothing)
            app.config["RQ_DASHBOARD_REDIS_URL"] = [_redis_url(app)]
            app.redis_conn = app.extensions["tasks"].connect()
        return refused


def _redis_url(app) -> str:
    url = str(app.config.get("REDIS_URL") or "")
    if url:
        return url
    return "unix://" + app.extensions["tasks"].connect().socket_file  # the embedded server (development)


def _guard():
    config = current_app.config
    if not config.get("OPS_PASSWORD"):
        return Response("The operator pages are off: set OPS_PASSWORD (and OPS_USERNAME).", 404, mimetype="text/plain")
    if over_failed_limit():  # refused before the check: past the limit, a right guess is refused as well
        return _too_many()
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return Response("The operator pages are not opened from other sites.", 403, mimetype="text/plain")
    auth = request.authorization
    given_user = (auth.username or "") if auth and auth.type == "basic" else ""
    given_password = (auth.password or "") if auth and auth.type == "basic" else ""
    user_ok = hmac.compare_digest(given_user.encode(), str(config["OPS_USERNAME"]).encode())
    password_ok = hmac.compare_digest(given_password.encode(), str(config["OPS_PASSWORD"]).encode())
    if not (user_ok and password_ok):
        if auth is not None and failed_check("operator login"):  # a browser's first, bare request is no failure
            return _too_many()
        return Response("Operator login required.", 401, {"WWW-Authenticate": 'Basic realm="palautus-ops"'},
                        mimetype="text/plain")  # fmt: skip
    # rq-dashboard's "requeue all" changes things on a GET too.
    if (request.method in _UNSAFE or request.endpoint in _CHANGES_ON_GET) and not _same_origin():
        return Response("This change must come from a page of this site.", 403, mimetype="text/plain")
    return None


def _too_many():
    return Response("Too many failed logins from this address; wait a minute.", 429, {"Retry-After": "60"},
                    mimetype="text/plain")  # fmt: skip


def _same_origin() -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    parts = urlsplit(source)
    return bool(parts.netloc) and parts.netloc == request.host and parts.scheme == request.scheme


@bp.get("")
def overview():
    now = utcnow()
    with current_app.extensions["db"].session() as session:
        sections = [_inbox(session, now), _failed_events(session), _rejections(), _refunds(session, now),
                    _failed_syncs(session), _alerts(session)]  # fmt: skip
    html = ("<!doctype html><html lang=en><meta charset=utf-8><title>Palautus · operators</title>"
            "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
            "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}"
            "th{background:#f3f3f3}</style>"
            f"<h1>Palautus · operators</h1><p>As of {escape(now.strftime('%Y-%m-%d %H:%M:%S'))} UTC. "
            f"<a href='{PREFIX}/rq/'>Queues, jobs and workers (rq-dashboard)</a> · <a href='/metrics'>/metrics</a></p>"
            + "".join(sections) + "</html>")  # fmt: skip
    return Response(html, 200, SECURITY_HEADERS, mimetype="text/html")


def _table(title: str, header: list[str], rows: list[list], empty: str) -> str:
    if not rows:
        return f"<h2>{escape(title)}</h2><p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h2>{escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _age(now, then) -> str:
    if then is None:
        return ""
    if then.tzinfo is None:
        now = now.replace(tzinfo=None)
    seconds = int((now - then).total_seconds())
    return str(timedelta(seconds=max(seconds, 0)))


def _inbox(session, now) -> str:
    waiting = WebhookEvent.status.in_((EventStatus.RECEIVED.value, EventStatus.RETRYING.value))
    query = select(WebhookEvent.platform, WebhookEvent.status, func.count(), func.min(WebhookEvent.received_at)) \
        .where(waiting).group_by(WebhookEvent.platform, WebhookEvent.status)  # fmt: skip
    rows = [[platform, status, count, _age(now, first)] for platform, status, count, first in session.execute(query)]
    return _table("Inbox backlog", ["sender", "status", "deliveries", "oldest waiting"], rows,
                  "Every delivery received has been processed.")  # fmt: skip


def _failed_events(session) -> str:
    query = select(WebhookEvent, Shop.domain).outerjoin(Shop, Shop.id == WebhookEvent.shop_id).where(
        WebhookEvent.status.in_((EventStatus.FAILED.value, EventStatus.RETRYING.value))
    ).order_by(WebhookEvent.id.desc()).limit(50)  # fmt: skip
    rows = [[e.id, domain or "", e.platform, e.topic, e.status, e.attempts, e.received_at.strftime("%Y-%m-%d %H:%M"),
             (e.error or "")[:300]] for e, domain in session.execute(query)]  # fmt: skip
    return _table("Failed and retrying deliveries (newest 50)", ["event", "shop", "sender", "topic", "status",
                  "attempts", "received", "reason"], rows, "None.")  # fmt: skip


def _rejections() -> str:
    from integration.metrics import recent_rejections

    try:
        rows = [list(row) for row in recent_rejections(current_app.extensions["tasks"].connect())]
    except Exception as e:  # noqa: BLE001 - the page shows what it can
        return f"<h2>Rejected deliveries in the last hour</h2><p>Redis could not be read ({escape(type(e).__name__)}).</p>"
    return _table("Rejected deliveries in the last hour", ["sender", "shop", "why", "deliveries"], rows, "None.")


def _refunds(session, now) -> str:
    route = func.coalesce(Refund.route, Refund.provider, "none")
    oldest = func.min(Refund.created_at)
    query = select(route, Refund.status, func.count(), oldest).group_by(route, Refund.status).order_by(route, Refund.status)
    on_the_way = {status.value for status in IN_FLIGHT}
    rows = [[name, status, count, _age(now, first) if status in on_the_way else ""]
            for name, status, count, first in session.execute(query)]  # fmt: skip
    return _table("Refunds by route and status", ["route", "status", "refunds", "oldest on its way"], rows,
                  "No refunds yet.")  # fmt: skip


def _failed_syncs(session) -> str:
    query = select(Refund, Shop.domain).join(Return, Return.id == Refund.return_id).join(Shop, Shop.id == Return.shop_id) \
        .where(Refund.sync_error.is_not(None)).order_by(Refund.id.desc()).limit(50)  # fmt: skip
    rows = [[r.id, domain, r.status, (r.sync_error or "")[:300]] for r, domain in session.execute(query)]
    return _table("Refunds not recorded in the shop", ["refund", "shop", "status", "why"], rows, "None.")


def _alerts(session) -> str:
    rows = []
    for shop in session.scalars(select(Shop).where(Shop.alerts.is_not(None)).order_by(Shop.domain)):
        for kind, alert in sorted((shop.alerts or {}).items()):
            rows.append([shop.domain, shop.platform, kind, (alert or {}).get("at", ""),
                         str((alert or {}).get("message", ""))[:300]])  # fmt: skip
    return _table("Shops' open alerts", ["shop", "platform", "kind", "since", "message"], rows, "None.")
