"""The operators' pages: /ops (what rq cannot know) and /ops/rq (rq-dashboard), behind one operator login.

Access: HTTP Basic with OPS_USERNAME and OPS_PASSWORD from the environment, compared in constant time; with no
OPS_PASSWORD the pages are off (404). Failed logins count against FAILED_AUTH_LIMIT per address. A browser sends
Basic credentials with any request to the host, also one a hostile page makes it send, so a request that changes
something (rq-dashboard's requeue, delete, empty) must come from a page of this host (Origin or Referer); a change
through the operators' API (/ops/api/..., the CLI's recovery tools as JSON) must be JSON, which no page of
another site can send without a CORS preflight that is never granted.

/ops shows, from the database: the inbox backlog and the age of its oldest unprocessed delivery per sender, the
failed and retrying deliveries with their reasons, refunds by route and status with the oldest still on its way,
refunds whose record in the shop failed, and every shop's open alerts (a store whose webhooks are disabled, tokens
the platform will not renew, a refund that failed, an uninstall not believed, ...).
"""
from __future__ import annotations

import hmac
import json
from datetime import datetime, timedelta, timezone
from html import escape
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy import func, select

from integration.errors import InvalidInput
from integration.install.pages import SECURITY_HEADERS
from integration.limits import failed_check, over_failed_limit
from integration.models import Refund, Return, Shop, WebhookEvent, utcnow
from integration.refunds import IN_FLIGHT
from integration.services import recovery
from integration.services.inbox import EventStatus, find_events

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
    if (request.method in _UNSAFE or request.endpoint in _CHANGES_ON_GET) and not (_same_origin() or _api_call()):
        return Response("This change must come from a page of this site.", 403, mimetype="text/plain")
    return None


def _too_many():
    return Response("Too many failed logins from this address; wait a minute.", 429, {"Retry-After": "60"},
                    mimetype="text/plain")  # fmt: skip


def _api_call() -> bool:
    """A change to the operators' API from a client that is no browser page of another site: JSON, no Origin."""
    return request.path.startswith(f"{PREFIX}/api/") and request.mimetype == "application/json" \
        and "Origin" not in request.headers


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


# --- the operators' API: the CLI's recovery tools over HTTP (JSON), behind the same login --------------------
#
# A change must come as `Content-Type: application/json` (a page of another site cannot send that without a
# CORS preflight, which is never granted) or from a page of this site; an Origin of another site is refused.


_MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database


def _api_body() -> dict:
    if request.mimetype != "application/json":
        raise InvalidInput("a JSON object body is required (Content-Type: application/json)")
    try:
        body = json.loads(request.get_data(cache=False).decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidInput("the body is not valid UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def _whole(value: str, name: str, lowest: int, highest: int) -> int:
    if not (value.isascii() and value.isdigit()) or not lowest <= int(value) <= highest:
        raise InvalidInput(f"{name} must be a whole number from {lowest} to {highest}")
    return int(value)


def _id(value: int) -> int:
    if not 0 < value <= _MAX_ID:
        raise InvalidInput(f"{value} is not an id")
    return value


def _ids(body: dict, key: str, required: bool = True) -> list[int]:
    ids = body.get(key, [])
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= _MAX_ID
                                            for i in ids):  # fmt: skip
        raise InvalidInput(f"{key} must be a list of positive integer ids")
    if required and not ids:
        raise InvalidInput(f"{key} must name at least one id")
    if len(ids) > 1000:
        raise InvalidInput(f"{key}: at most 1000 at a time")
    return ids


def _moment(body: dict, key: str):
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        return _bad_moment(key)
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # not a time; or one past year 9999 or before year 1 in UTC
        return _bad_moment(key)


def _bad_moment(key: str):
    raise InvalidInput(f"{key} must be an ISO 8601 date and time, e.g. 2026-11-27T08:00:00Z (UTC if no offset)")


def _text(body: dict, key: str, limit: int = 500) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise InvalidInput(f"{key} must be a string of at most {limit} characters")
    return value


def _event_out(event: WebhookEvent) -> dict:
    return {"id": event.id, "shop_id": event.shop_id, "platform": event.platform, "topic": event.topic,
            "status": event.status, "attempts": event.attempts, "error": event.error,
            "received_at": event.received_at.isoformat()}  # fmt: skip


@bp.get("/api/events")
def api_events():
    """Inbox events in one status (default failed), newest first, with why they failed."""
    status = request.args.get("status", EventStatus.FAILED.value)
    if status not in {s.value for s in EventStatus}:
        raise InvalidInput(f"status must be one of {', '.join(s.value for s in EventStatus)}")
    limit = _whole(request.args.get("limit", "50"), "limit", 1, 1000)
    with current_app.extensions["db"].session() as session:
        return jsonify({"events": [_event_out(e) for e in find_events(session, EventStatus(status), limit=limit)]})


@bp.post("/api/events/retry")
def api_retry_events():
    """Failed events run again: {"event_ids": [...]} or {"since": ..., "until": ..., "error": ...}."""
    body = _api_body()
    with current_app.extensions["db"].session() as session:
        chosen = recovery.retry_failed_events(session, _ids(body, "event_ids", required=False), _moment(body, "since"),
                                              _moment(body, "until"), _text(body, "error"))  # fmt: skip
    return jsonify({"retried": chosen})


@bp.post("/api/events/<int:event_id>/ignore")
def api_ignore_event(event_id: int):
    """A failed or retrying event marked ignored: {"reason": "..."}."""
    reason = _text(_api_body(), "reason", 1000)
    with current_app.extensions["db"].session() as session:
        recovery.ignore_event(session, _id(event_id), reason or "")
    return jsonify({"ignored": event_id})


@bp.get("/api/refunds/stuck")
def api_stuck_refunds():
    """Refunds still on their way `older_than` minutes (default 60) after they were started, oldest first."""
    minutes = _whole(request.args.get("older_than", "60"), "older_than (minutes)", 0, 10**7)
    with current_app.extensions["db"].session() as session:
        found = [{"id": r.id, "shop": domain, "status": r.status, "route": r.route or r.provider, "amount": r.amount,
                  "currency": r.currency, "started_at": r.created_at.isoformat(), "last_error": r.last_error}
                 for r, domain in recovery.stuck_refunds(session, minutes)]  # fmt: skip
    return jsonify({"refunds": found})


@bp.post("/api/refunds/push")
def api_push_refunds():
    """These refunds' job queued now: {"refund_ids": [...]}; each must be on its way."""
    body = _api_body()
    with current_app.extensions["db"].session() as session:
        pushed = recovery.push_refunds(session, current_app.extensions["tasks"], _ids(body, "refund_ids"))
    return jsonify({"pushed": pushed})


@bp.post("/api/jobs/requeue")
def api_requeue_jobs():
    """Failed jobs back on the queue: {"function": ..., "error": ..., "dry_run": false}, each optional."""
    body = _api_body()
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidInput("dry_run must be true or false")
    try:
        found = current_app.extensions["tasks"].requeue_failed(_text(body, "function", 200), _text(body, "error"),
                                                               dry_run=dry_run)  # fmt: skip
    except (RedisError, OSError) as e:
        return jsonify({"error": "unavailable", "message": f"the job queue cannot be reached ({type(e).__name__})"}), 503
    return jsonify({"requeued" if not dry_run else "found": [{"job_id": job_id, "function": name, "error": error}
                                                              for job_id, name, error in found]})  # fmt: skip
