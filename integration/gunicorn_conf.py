"""gunicorn's settings hooks (Procfile: `gunicorn -c python:integration.gunicorn_conf`): /metrics, and the outbox relay.

/metrics counts in each web worker process: prometheus_client's multiprocess mode keeps each worker's figures in
files under PROMETHEUS_MULTIPROC_DIR, which the Procfile sets (var/metrics by default). The directory is emptied
when gunicorn starts (figures of an earlier run would be added to this one's), and a dead worker's live figures
(gauges) are dropped; its counts stay in the totals.
"""
from __future__ import annotations

import os
from pathlib import Path


def on_starting(server) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker) -> None:
    """A web worker that stops lets its outbox relay queue what it was handed (webhooks/outbox.py); what it still
    could not, the sweeper will."""
    app = getattr(worker, "wsgi", None)
    outbox = getattr(app, "extensions", {}).get("outbox") if app is not None else None
    if outbox is not None:
        outbox.stop(timeout=5)
