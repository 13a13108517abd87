"""The outbox relay: queues the inbox's committed deliveries, in batches, after their senders have their answer.

A receiver's promise is its commit: it stores the delivery and answers 200,
and the relay puts `process_webhook` on the queue for it, many deliveries in
one Redis round trip. DESIGN.md's flow allows exactly this ("or let an outbox
relay enqueue committed rows"). Nothing a sender waits for touches Redis, so a
Redis outage costs no answer and no delivery: the rows wait, and are queued
once Redis is back.

Two paths, so that a delivery costs the database one statement, its INSERT:
- handed: a receiver stores the delivery already stamped queued (enqueued_at)
  and hands its id to the relay of its own process, which queues what it was
  handed: no read, no lock, no write. If Redis refuses a batch, the relay
  takes the stamps back (one UPDATE) for the scan; if the process dies first,
  the sweeper (jobs/sweep.py) queues the rows once their stamp is
  STUCK_AFTER_SECONDS old, as any lost job.
- the scan: every IDLE_SECONDS, rows received more than GRACE_SECONDS ago and
  not stamped are claimed (stamped in the statement that selects them, SKIP
  LOCKED) and queued: what a relay could not queue (Redis was down). A relay
  that dies between claiming and queuing leaves its rows to the sweeper too.
A job queued twice (a reply from Redis lost after it ran the batch) does no
harm: process_webhook skips an event that is processed, and a run that loses a
race never marks a processed event otherwise (services/inbox.mark_event).

OUTBOX_RELAY chooses how it runs:
- "thread" (the default): a daemon thread in each web process, woken by every
  delivery it stores. Under load one wake-up queues everything handed since
  the last, so the cost per delivery falls as the rate rises.
- "inline": in the request, right after the commit (the delivery is answered a
  Redis round trip later). The tests use it: a test that posts a delivery
  finds its job on the queue.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from integration.models import utcnow
from integration.services.inbox import claim_unqueued, unclaim

__all__ = ["Outbox", "relay_once", "relay_all", "BATCH"]

logger = logging.getLogger(__name__)

BATCH = 500  # deliveries queued in one Redis round trip
IDLE_SECONDS = 1.0  # how often a relay scans for rows nobody queued
GRACE_SECONDS = 10.0  # a row younger than this may still be in its receiver's relay: the scan leaves it
BACKOFF_SECONDS = 2.0  # after a failure (Redis or the database down)


def relay_once(app, limit: int = BATCH, grace: float | None = None) -> int:
    """The scan, once: queue up to `limit` rows received more than `grace` seconds ago (GRACE_SECONDS) and never
    queued; how many. Raises what Redis or the database raised."""
    grace = GRACE_SECONDS if grace is None else grace
    with app.extensions["db"].session() as session:
        claimed = claim_unqueued(session, limit, received_before=utcnow() - timedelta(seconds=grace))
    if claimed:
        _queue_or_give_back(app, claimed)
    return len(claimed)


def _queue_or_give_back(app, stamped: list[tuple[int, str | None]]) -> None:
    """Queue these stamped deliveries; if Redis refuses, take their stamps back (the scan queues them once Redis is
    back) and raise what Redis raised."""
    try:
        app.extensions["tasks"].process_webhooks(stamped)
    except (RedisError, OSError):
        with app.extensions["db"].session() as session:
            unclaim(session, [event_id for event_id, _ in stamped])
        raise


def relay_all(app, grace: float | None = None) -> int:
    """The scan, batch by batch, until nothing waits; how many it queued."""
    total = 0
    while (done := relay_once(app, grace=grace)) > 0:
        total += done
        if done < BATCH:
            break
    return total


class Outbox:
    """The app's relay in this process: `notify(event_id, correlation)` after a delivery is committed."""

    def __init__(self, app):
        self.app = app
        self.mode = app.config["OUTBOX_RELAY"]
        self._handed: deque = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._scanned = 0.0

    def notify(self, event_id: int | None = None, correlation: str | None = None) -> None:
        if self.mode != "inline":
            self._ensure_thread()  # first: after a fork it starts this process's own (and empties the parent's list)
        if event_id is not None:
            self._handed.append((event_id, correlation))
        if self.mode == "inline":
            self._queue_handed()
            return
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """End this process's relay thread once it has queued what it was handed (a gunicorn worker that exits)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)
        if self._handed and (self._thread is None or not self._thread.is_alive()):
            self._queue_handed()  # no thread took them (it never started, or died): here, then

    def _queue_handed(self) -> bool:
        """Queue what this process's receivers handed over, batch by batch; False if Redis or the database failed
        (what was not queued is left to the scan)."""
        while self._handed:
            batch = []
            while self._handed and len(batch) < BATCH:
                batch.append(self._handed.popleft())
            try:  # stored stamped queued; if Redis refuses them, the stamps are taken back for the scan
                _queue_or_give_back(self.app, batch)
            except (RedisError, OSError, SQLAlchemyError) as e:
                logger.warning("outbox relay could not queue %d deliveries: %s", len(batch), type(e).__name__)
                rest = []
                while True:  # what was handed meanwhile too (one at a time: a receiver may be adding to it)
                    try:
                        rest.append(self._handed.popleft())
                    except IndexError:
                        break
                try:
                    if rest:
                        with self.app.extensions["db"].session() as session:
                            unclaim(session, [event_id for event_id, _ in rest])
                except SQLAlchemyError:  # the database is down too: the sweeper finds them, stamped long ago
                    logger.warning("outbox relay could not give back %d deliveries", len(rest))
                return False
        return True

    def _scan(self) -> bool:
        try:
            relay_all(self.app)
            return True
        except (RedisError, OSError, SQLAlchemyError) as e:
            logger.warning("outbox relay could not queue deliveries: %s", type(e).__name__)
            return False

    def _ensure_thread(self) -> None:
        if self._stopping:
            return
        # A thread does not survive a fork: a forked web worker starts its own.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                if self._pid is not None and self._pid != os.getpid():
                    self._handed = deque()  # what the parent was handed is the parent's
                self._wake = threading.Event()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="palautus-outbox", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(IDLE_SECONDS)
            self._wake.clear()
            if self._stopping:
                break
            try:
                ok = self._queue_handed()
                if time.monotonic() - self._scanned >= IDLE_SECONDS:
                    self._scanned = time.monotonic()
                    ok = self._scan() and ok
            except Exception:  # noqa: BLE001 - the relay must outlive a bug in one pass; the sweeper is behind it
                logger.exception("outbox relay pass failed")
                ok = False
            if not ok and not self._stopping:
                self._wake.wait(BACKOFF_SECONDS)
                self._wake.clear()
        try:  # stopping: what was handed is stored stamped queued, and only the sweeper would find it otherwise
            self._queue_handed()
        except Exception:  # noqa: BLE001 - the process is on its way out; the sweeper is behind it
            logger.exception("outbox relay's last pass failed")
