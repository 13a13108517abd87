"""The rq worker class for the Procfile: builds the app once, before rq forks a child per job."""
from __future__ import annotations

import os

from rq import Worker as _Worker

from jobs import context

__all__ = ["Worker"]


class Worker(_Worker):
    """rq's forking worker, warm: each job's fork inherits the app instead of building its own."""

    def work(self, *args, **kwargs):
        engine = context.worker_app().extensions["db"].engine
        # A forked child must open its own database connections, never reuse the parent's.
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        return super().work(*args, **kwargs)
