"""The outbox relay: queues the inbox's committed deliveries, in batches, after their senders have their answer.

A receiver's promise is its commit: it stores the delivery and answers 200,
and the relay puts `process_webhook` on the queue for every row still waiting
(status received, never queued), many in one Redis round trip. DESIGN.md's
flow allows exactly this ("or let an outbox relay enqueue committed rows").
Nothing a sender waits for touches Redis, so a Redis outage costs no answer
and no delivery: the rows wait, and are queued once Redis is back.

OUTBOX_RELAY chooses how it runs:
- "thread" (the default): a daemon thread in each web process, woken by every
  delivery it stores and every second besides (so rows another process left
  are queued too). Under load one wake-up queues everything committed since
  the last, so the cost per delivery falls as the rate rises.
- "inline": the relay runs in the request, right after the commit (the
  delivery is answered a round trip later). The tests use it: a test that
  posts a delivery finds its job on the queue.

Rows are stamped (enqueued_at) in the same statement that claims them, before
they are queued; if Redis refuses them they are unstamped at once, and a relay
that dies in between leaves them to the sweeper (jobs/sweep.py), as any lost
job. A job queued twice does no harm: process_webhook skips a processed event.
"""
from __future__ import annotations

import logging
import os
import threading

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from integration.services.inbox import claim_unqueued, unclaim

__all__ = ["Outbox", "relay_once", "BATCH"]

logger = logging.getLogger(__name__)

BATCH = 500  # deliveries queued in one Redis round trip
IDLE_SECONDS = 1.0  # how often a thread looks without being woken: rows other processes or an outage left
BACKOFF_SECONDS = 2.0  # after a failure (Redis or the database down)


def relay_once(app, limit: int = BATCH) -> int:
    """Queue up to `limit` waiting deliveries; how many. Raises what Redis or the database raised."""
    database, tasks = app.extensions["db"], app.extensions["tasks"]
    with database.session() as session:
        claimed = claim_unqueued(session, limit)
    if not claimed:
        return 0
    try:
        tasks.process_webhooks(claimed)
    except (RedisError, OSError):
        with database.session() as session:
            unclaim(session, [event_id for event_id, _ in claimed])
        raise
    return len(claimed)


def relay_all(app) -> int:
    """Queue every waiting delivery, batch by batch; how many."""
    total = 0
    while (done := relay_once(app)) > 0:
        total += done
        if done < BATCH:
            break
    return total


class Outbox:
    """The app's relay: `notify()` after a delivery is committed."""

    def __init__(self, app):
        self.app = app
        self.mode = app.config["OUTBOX_RELAY"]
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False

    def notify(self) -> None:
        if self.mode == "inline":
            self._relay_logged()
            return
        self._ensure_thread()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """End this process's relay thread after its current pass (what it has not queued, the next one will)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)

    def _relay_logged(self) -> bool:
        """One pass over what waits; False if Redis or the database failed (the rows wait for the next pass)."""
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
                self._wake = threading.Event()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="palautus-outbox", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(IDLE_SECONDS)
            self._wake.clear()
            if self._stopping:
                return
            try:
                ok = self._relay_logged()
            except Exception:  # noqa: BLE001 - the relay must outlive a bug in one pass; the sweeper is behind it
                logger.exception("outbox relay pass failed")
                ok = False
            if not ok and not self._stopping:
                self._wake.wait(BACKOFF_SECONDS)
                self._wake.clear()
