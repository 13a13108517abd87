"""The rq worker classes: each builds the app once per process, before its first job.

`SimpleWorker` is the Procfile's: it runs each job in the worker process itself, on the process's warm app and
its pooled database and Redis connections, and `rq worker-pool` runs several of them (and restarts one that
dies). A fork per job (rq's default `Worker`, kept below) costs more than most jobs: the fork, and a child that
opens its own connections, about 60 ms against a few ms for an order event (benchmarks/). A job keeps its
timeout either way (rq's SIGALRM death penalty runs in the process that runs the job); what a fork would add is
isolation from a job that corrupts its process, which no job here does: each opens and closes its own session
(jobs/context.py), and a process that dies is restarted by the pool, its job left to rq's registries and the
sweeper as any lost job.

Retries with an interval need rq's scheduler: `rq worker-pool` (the Procfile's worker) runs it in every worker it
starts, so the pool has no --with-scheduler flag and needs none (rq/worker_pool.py `run_worker`);
tests/jobs/test_scheduled_retries.py runs the Procfile's very line and sees a retry come on time.
"""
from __future__ import annotations

import os

from rq import SimpleWorker as _SimpleWorker
from rq import Worker as _Worker

from jobs import context

__all__ = ["SimpleWorker", "Worker"]


MAINTENANCE_SECONDS = 60  # rq's default is 600; `rq worker-pool` has no option for it


class SimpleWorker(_SimpleWorker):
    """rq's worker without a fork per job, warm: the process's app is built before the first job.

    Maintenance every minute: when the worker holding a queue's scheduler lock dies, another takes it over
    within about two minutes (with rq's default, ten), so due retries are not left waiting."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)

    def work(self, *args, **kwargs):
        context.worker_app()
        return super().work(*args, **kwargs)


class Worker(_Worker):
    """rq's forking worker, warm: each job's fork inherits the app instead of building its own."""

    def work(self, *args, **kwargs):
        engine = context.worker_app().extensions["db"].engine
        # A forked child must open its own database connections, never reuse the parent's.
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        return super().work(*args, **kwargs)
