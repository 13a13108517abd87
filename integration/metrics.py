"""GET /metrics in Prometheus's text format (prometheus_client).

Two kinds of figures:
- counted as they happen, in the web processes: webhook deliveries by platform, topic and outcome, and how long
  each took to answer. Under gunicorn each worker counts in its own files under PROMETHEUS_MULTIPROC_DIR
  (prometheus_client's multiprocess mode; `gunicorn.conf.py` clears the directory at start and drops a dead
  worker's live figures), and a scrape of any worker adds them all up.
- read at the scrape, from where they are kept: refunds by route and status and the oldest one on its way, the
  inbox backlog and the age of its oldest unprocessed delivery per platform (the database); the queue's jobs by
  state and what rq's workers have done (Redis). These need no counting in the forked job processes.

No label holds a shop, a customer or anything a caller chose freely: a topic Palautus does not know is "other".
"""
from __future__ import annotations

import logging
import os
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from integration.models import Refund, WebhookEvent, utcnow
from integration.services.inbox import EventStatus

__all__ = ["bp", "observe_deliveries", "DELIVERIES", "DELIVERY_SECONDS"]

logger = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

DELIVERIES = Counter("palautus_webhook_deliveries", "Webhook deliveries answered, by sender, topic and outcome "
                     "(stored, duplicate, rejected_signature, unknown_shop, bad_request, too_large, "
                     "rate_limited, error)", ["platform", "topic", "outcome"])  # fmt: skip
DELIVERY_SECONDS = Histogram("palautus_webhook_handling_seconds", "Time from a delivery's arrival to its answer",
                             ["platform"], buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))  # fmt: skip

_OUTCOMES = {200: "stored", 401: "rejected_signature", 404: "unknown_shop", 400: "bad_request", 413: "too_large",
             429: "rate_limited"}  # fmt: skip
_TOPIC_HEADERS = ("X-Shopify-Topic", "X-WC-Webhook-Topic")


def observe_deliveries(app, platforms: dict, providers: dict) -> None:
    """Count every answer the webhook receivers give, and time it; `platforms` and `providers` are the registries
    (PLATFORMS, ROUTES), whose names and topics alone become labels."""
    known_topics = {topic for adapter in platforms.values() for topic in adapter.topics}

    @app.before_request
    def _started():
        if request.blueprint == "webhooks":
            g.delivery_started, g.delivery_outcome = time.perf_counter(), None

    @app.after_request
    def _answered(response):
        if request.blueprint != "webhooks":
            return response
        platform = _sender(request.path, platforms, providers)
        topic = next((request.headers[h] for h in _TOPIC_HEADERS if h in request.headers), "")
        if platform in providers:
            topic = "provider"  # a payment provider's events carry their type in the body, not read here
        elif topic not in known_topics:
            topic = "other"
        outcome = getattr(g, "delivery_outcome", None) or _OUTCOMES.get(response.status_code, "error")
        try:  # a count must never turn the answer to a stored delivery into a 500
            DELIVERIES.labels(platform, topic, outcome).inc()
            started = getattr(g, "delivery_started", None)
            if started is not None:
                DELIVERY_SECONDS.labels(platform).observe(time.perf_counter() - started)
        except Exception as e:  # noqa: BLE001 - e.g. PROMETHEUS_MULTIPROC_DIR gone or full
            logger.warning("could not count a delivery: %s", type(e).__name__)
        if response.status_code in (401, 404):
            note_rejection(platform, getattr(g, "delivery_shop", None), outcome)
        return response


# Rejected deliveries per shop, for /ops: counted in Redis in ten-minute slots kept a little over an hour.
REJECTION_SLOT = 600
REJECTION_SLOTS = 6


def note_rejection(platform: str, shop: str | None, outcome: str) -> None:
    """Count a rejected delivery under its shop (one Palautus knows, or "(unknown shop)": a caller's made-up
    domain never becomes a key of its own). A Redis outage only loses the count."""
    slot = int(time.time()) // REJECTION_SLOT
    try:
        redis = current_app.extensions["tasks"].connect()
        key = f"palautus:rejections:{slot}"
        pipe = redis.pipeline()
        pipe.hincrby(key, f"{platform}|{shop or '(unknown shop)'}|{outcome}", 1)
        pipe.expire(key, REJECTION_SLOT * (REJECTION_SLOTS + 1))
        pipe.execute()
    except Exception as e:  # noqa: BLE001 - a count must never turn an answer into a 500
        logger.warning("could not count a rejected delivery: %s", type(e).__name__)


def recent_rejections(redis) -> list[tuple[str, str, str, int]]:
    """(platform, shop, outcome, count) over the last hour, most first."""
    slot = int(time.time()) // REJECTION_SLOT
    totals: dict[tuple[str, str, str], int] = {}
    for n in range(REJECTION_SLOTS):
        for field, count in (redis.hgetall(f"palautus:rejections:{slot - n}") or {}).items():
            field = field.decode() if isinstance(field, bytes) else field
            parts = tuple(field.split("|", 2))
            if len(parts) == 3:
                totals[parts] = totals.get(parts, 0) + int(count)
    return sorted(((*k, v) for k, v in totals.items()), key=lambda row: -row[3])


def _sender(path: str, platforms, providers) -> str:
    """The platform or payment provider a webhook path is for (/webhooks/<platform>[/<key>],
    /webhooks/payments/<provider>/...), from the registries; "other" for a path that names neither."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] == "payments":
        return parts[2] if parts[2] in providers else "other"
    return parts[1] if len(parts) >= 2 and parts[1] in platforms else "other"


@bp.get("/metrics")
def metrics():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    state = CollectorRegistry()
    state.register(_StateCollector(current_app._get_current_object()))
    return Response(generate_latest(counted) + generate_latest(state), mimetype=CONTENT_TYPE_LATEST)


class _StateCollector:
    """What the database and Redis hold now, read at each scrape."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        errors = GaugeMetricFamily("palautus_scrape_error", "1 when this source could not be read for this scrape",
                                   labels=["source"])  # fmt: skip
        for source, read in (("database", self._database), ("redis", self._redis)):
            try:
                yield from read()
                errors.add_metric([source], 0)
            except Exception as e:  # noqa: BLE001 - a scrape reports what it can; /healthz says what is down
                logger.warning("metrics: %s unavailable: %s", source, type(e).__name__)
                errors.add_metric([source], 1)
        yield errors

    def _database(self):
        now = utcnow()
        with self.app.extensions["db"].session() as session:
            refunds = GaugeMetricFamily("palautus_refunds", "Refunds by route and status", labels=["route", "status"])
            route = func.coalesce(Refund.route, Refund.provider, "none")
            for name, status, count in session.execute(select(route, Refund.status, func.count()).group_by(route, Refund.status)):
                refunds.add_metric([name, status], count)
            yield refunds
            oldest = session.scalar(select(func.min(Refund.created_at)).where(Refund.status.in_(("pending", "submitted"))))
            yield _gauge("palautus_refund_oldest_unfinished_seconds", "Age of the oldest refund still pending or "
                         "submitted (0 when none)", _age(now, oldest))  # fmt: skip
            backlog = GaugeMetricFamily("palautus_inbox_backlog", "Inbox deliveries not yet processed (received or "
                                        "retrying), by sender", labels=["platform"])  # fmt: skip
            age = GaugeMetricFamily("palautus_inbox_oldest_unprocessed_seconds", "Age of the oldest delivery not yet "
                                    "processed, by sender", labels=["platform"])  # fmt: skip
            waiting = WebhookEvent.status.in_((EventStatus.RECEIVED.value, EventStatus.RETRYING.value))
            query = select(WebhookEvent.platform, func.count(), func.min(WebhookEvent.received_at)).where(waiting)
            for platform, count, first in session.execute(query.group_by(WebhookEvent.platform)):
                backlog.add_metric([platform], count)
                age.add_metric([platform], _age(now, first))
            yield backlog
            yield age
            failed = GaugeMetricFamily("palautus_inbox_failed", "Inbox deliveries that failed for good, by sender",
                                       labels=["platform"])  # fmt: skip
            query = select(WebhookEvent.platform, func.count()).where(WebhookEvent.status == EventStatus.FAILED.value)
            for platform, count in session.execute(query.group_by(WebhookEvent.platform)):
                failed.add_metric([platform], count)
            yield failed

    def _redis(self):
        state = self.app.extensions["tasks"].state()
        jobs = GaugeMetricFamily("palautus_queue_jobs", "Jobs of the queue by state", labels=["queue", "state"])
        for name, count in state["jobs"].items():
            jobs.add_metric([state["queue"], name], count)
        yield jobs
        yield _gauge("palautus_workers", "rq workers alive on the queue", state["workers"])
        # Gauges, not counters: the sum over the workers alive now drops when one restarts.
        done = GaugeMetricFamily("palautus_worker_jobs", "Jobs the queue's live workers have finished, by outcome",
                                 labels=["outcome"])  # fmt: skip
        done.add_metric(["succeeded"], state["succeeded"])
        done.add_metric(["failed"], state["failed"])
        yield done
        busy = GaugeMetricFamily("palautus_worker_busy_seconds", "Time the queue's live workers have spent on jobs")
        busy.add_metric([], state["busy_seconds"])
        yield busy


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _age(now, then) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    return max((now - then).total_seconds(), 0.0)
