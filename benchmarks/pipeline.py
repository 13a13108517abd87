"""The processing and refund-pipeline benchmarks: Palautus's own workers, as OS processes, against the sandbox.

processing: how fast the workers empty the inbox. N deliveries from many shops, built from the samples under
tests/payloads/ (orders/create and orders/updated for paid and pending orders, refunds/create, returns/request
and returns/approve), are posted to Palautus's receiver through the Flask test client: rows with status
'received'. Then the workers under test are started as OS processes, each variant from its command line
(VARIANTS: the Procfile's worker as the Procfile has it, rq's forking worker, rq's SimpleWorker; a caller may
pass others), and once they are registered and warm (each has run a no-op job) process_webhook is queued for
every delivery. The figure is deliveries per second from the first enqueue to the last event processed (the
events' own `processed_at`), with 1, 2 and 4 worker processes. The paid orders exist in the sandbox shops, so
whatever Palautus asks the shop's Admin API (Shopify GraphQL) about them (their payments, an order a delivery
names before its own delivery came) is answered as in production, after LATENCY_MS.

refunds: how fast returns become refunds recorded in the shop. Many sandbox shops, each with its own Stripe
account; customers order there (paid by a headless checkout at Stripe, or through Shopify Payments in the
shop's own checkout) and ask to return the sweater in the shop; the shops' webhooks for all of it reach
Palautus's receiver and are processed, so Palautus holds the orders, their payments and the requested returns
as in production. Then, with the workers running, the merchant approves and receives each return (the services
the API calls, in this process): the refund job (push_refund) refunds it at Stripe or through Shopify's own
gateway and the sync job (sync_refund) records it on the Shopify order and closes the return. The figure is
refunds per second from the first approval to the last refund recorded in the shop (Refund.shop_synced_at,
which a refund through Shopify's gateway also gets once its sync has kept Shopify's refund, tagged the order
and closed the return), and each refund's own time from approval to recorded. The sandbox answers after
LATENCY_MS and enforces Stripe's per-account and Shopify's per-shop rate limits (sandbox/knobs.py); the 429 and
THROTTLED answers it gave are counted, and the sandbox's own records are checked: one refund per return at
Stripe or Shopify's gateway, one on the Shopify order, none lost.

Both count the API calls each event or refund cost (the sandbox's tally per operation). `--profile` runs one
SimpleWorker in burst mode under cProfile over a batch of deliveries, then over a batch of refunds, and prints
where its time went.

    python -m benchmarks.pipeline [--smoke] [--profile]

DATABASE_URL (PostgreSQL: every table in it is dropped and rebuilt) and REDIS_URL must be set, or given as
--database-url and --redis-url. The sandbox, the workers and their schedulers are stopped however the run ends.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import pstats
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from benchmarks.fakes import ROOT, Deliveries, SandboxServer, Sink, stop_group, tail

__all__ = ["bench_processing", "bench_refunds", "profile_processing", "profile_refunds", "procfile_worker", "VARIANTS",
           "main"]

SECRET = "bench-pipeline-secret"  # the app's Shopify client secret: signs every delivery
LATENCY_MS = 50  # what each sandbox answer waits: a real API's round trip
# rq's retry intervals in the workers: shorter than production's 10,30,60,... so a rate-limited job is back
# within the run; the wait a 429's Retry-After or THROTTLED's cost asks for is still honoured first (jobs/backoff).
RETRY_INTERVALS = "1,2,5,10,30"
WORKER_COUNTS = (1, 2, 4)
READY_SECONDS = 90  # a cold worker imports everything
STALL_SECONDS = 75  # no progress for this long ends a run (longer than the last retry interval)
POLL_SECONDS = 0.2



def procfile_worker(path: Path = ROOT / "Procfile") -> list[str]:
    """The Procfile's worker command as a variant: its variables at their defaults, its --url and queue left out
    (the benchmark gives its own), its worker count (`rq worker-pool --num-workers N`) as "{n}"."""
    line = next((entry.split(":", 1)[1] for entry in path.read_text().splitlines() if entry.startswith("worker:")),
                "rq worker")  # fmt: skip
    line = re.sub(r"\$\{QUEUE_NAME(:-[^}]*)?\}", "", line)
    argv = shlex.split(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", line))
    found, parts = [], iter(argv)
    for part in parts:
        if part in ("--url", "-u"):
            next(parts, None)
        elif part in ("--num-workers", "-n") and "worker-pool" in found:  # not `nice -n` before it
            next(parts, None)
            found += [part, "{n}"]
        else:
            found.append(part)
    if "worker-pool" in found and "{n}" not in found:
        found += ["--num-workers", "{n}"]
    return found


# The worker command lines compared, by name (the caller may pass others): the Procfile's worker as it is now
# (read from it), rq's forking worker as the Procfile ran it before (a fork per job, warm parent), and rq's
# SimpleWorker (no fork). A command with "{n}" in it is started once with n put in (`rq worker-pool -n {n}`);
# any other is started n times. "--url REDIS_URL QUEUE" is appended to each.
VARIANTS = {
    "procfile": procfile_worker(),
    "fork": ["rq", "worker", "--with-scheduler", "--maintenance-interval", "60", "--worker-class", "jobs.worker.Worker"],
    "simple": ["rq", "worker", "--with-scheduler", "--worker-class", "rq.worker.SimpleWorker"],
}
# The order every sandbox customer places: the sample family's two lines (a sweater, two; socks, one) for the
# processing deliveries, one of each for the refunds (the sweater comes back).
PROCESSING_ITEMS = [{"sku": "MERINO-M-GREY", "quantity": 2}, {"sku": "SOCKS-WOOL-3", "quantity": 1}]
REFUND_ITEMS = [{"sku": "MERINO-M-GREY", "quantity": 1}, {"sku": "SOCKS-WOOL-3", "quantity": 1}]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- the world a benchmark runs in: a database, a queue, the sandbox, an app in this process ---------------------


class World:
    """The sandbox server, a receiver for its shops' webhooks, and this process's Palautus app (for the intake and
    the setup), on one database and Redis; `measure` runs the workers under test against it."""

    def __init__(self, database_url: str, redis_url: str, queue: str, latency_ms: float, rate_limits: bool):
        if not database_url or not redis_url:
            raise ValueError("the pipeline benchmarks need a database URL and a Redis URL")
        self.database_url, self.redis_url, self.queue = database_url, redis_url, queue
        self.setup_queue = f"{queue}-setup"  # where this process's own app enqueues (emptied, never worked)
        self.tmp = Path(tempfile.mkdtemp(prefix="palautus-bench-"))
        self.key = Fernet.generate_key().decode()  # seals the shops' credentials; the workers open them with it
        self.sandbox = SandboxServer(self.tmp, latency_ms, rate_limits)
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> World:
        try:
            self.stack.enter_context(self.sandbox)
            from integration.app import create_app

            self.app = create_app(self._config(self.setup_queue))  # intake and setup: enqueues to the setup queue
            self.measured = create_app(self._config(self.queue))  # the merchant's actions: enqueue for the workers
            self.sink = Sink(self.app)
            self.stack.callback(self.sink.close)
            self.stack.callback(self._dispose)
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stack.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _config(self, queue: str) -> dict:
        return {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, "VAR_DIR": str(self.tmp),
                "ENCRYPTION_KEY": self.key, "SHOPIFY_CLIENT_SECRET": SECRET, "QUEUE_NAME": queue, "LOG_LEVEL": "WARNING",
                "SHOPIFY_API_BASE": f"{self.sandbox.url}/shopify/{{shop}}", "STRIPE_API_BASE": f"{self.sandbox.url}/stripe",
                "RETRY_INTERVALS": RETRY_INTERVALS, "HTTP_TIMEOUT": 10,
                # Stored deliveries are queued in the request (webhooks/outbox.py), not by a relay thread that
                # would go on polling this process's database while the workers are measured.
                "OUTBOX_RELAY": "inline"}  # fmt: skip

    def worker_env(self) -> dict:
        """The workers' environment: the same database, Redis, queue, key and sandbox as this process's app."""
        return {
            **os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "PALAUTUS_ENV": "development",
            "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, "QUEUE_NAME": self.queue,
            "ENCRYPTION_KEY": self.key, "SHOPIFY_CLIENT_SECRET": SECRET, "SANDBOX": "0",
            "SHOPIFY_API_BASE": f"{self.sandbox.url}/shopify/{{shop}}", "STRIPE_API_BASE": f"{self.sandbox.url}/stripe",
            "RETRY_INTERVALS": RETRY_INTERVALS, "LOG_LEVEL": "WARNING", "VAR_DIR": str(self.tmp), "HTTP_TIMEOUT": "10",
        }  # fmt: skip

    def _dispose(self) -> None:
        for app in (self.app, self.measured):
            app.extensions["db"].engine.dispose()
        for name in (self.queue, self.setup_queue):
            _clean_queue(self.app.extensions["tasks"].connect(), name)

    def fresh_database(self) -> None:
        """Every table dropped and migrated again, both queues emptied: each run starts from nothing."""
        from integration.migrate import rebuild

        for app in (self.app, self.measured):
            app.extensions["db"].engine.dispose()
        rebuild(self.database_url)
        for name in (self.queue, self.setup_queue):
            _clean_queue(self.app.extensions["tasks"].connect(), name)

    def session(self):
        return self.app.extensions["db"].session()

    def register(self, opened: dict, policy: dict | None = None) -> None:
        """Register the sandbox shops in Palautus, with their Admin API tokens and Stripe keys; domain -> opened."""
        from integration.services.shops import register_shop

        with self.session() as session:
            for domain, shop in opened.items():
                credentials = {"access_token": shop["access_token"],
                               "payments": {"stripe": {"secret_key": shop["stripe_secret_key"]}}}  # fmt: skip
                register_shop(session, self.app.extensions["vault"], platform="shopify", domain=domain,
                              credentials=credentials, currency="EUR", policy=policy)  # fmt: skip

    def open_shops(self, domains: list[str]) -> dict:
        """Open sandbox shops that deliver to the sink, signed with the app's secret; domain -> what the sandbox gave."""
        return {domain: self.sandbox.control("POST", "/shopify/shops", json={
            "domain": domain, "webhook_url": self.sink.url, "webhook_secret": SECRET}) for domain in domains}  # fmt: skip

    def process_here(self, event_ids: list[int], threads: int = 8) -> Counter:
        """process_webhook for each event in this process (the setup, not measured); their statuses after."""
        from integration.models import WebhookEvent
        from jobs.events import process_webhook

        def one(event_id: int) -> None:
            with self.app.app_context():
                with contextlib.suppress(Exception):  # a retry-able failure is seen in the status below
                    process_webhook(event_id)

        for _ in range(3):  # a second pass for events that waited for another (an order read meanwhile)
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(one, event_ids))
            with self.session() as session:
                rows = session.execute(select(WebhookEvent.id, WebhookEvent.status).where(WebhookEvent.id.in_(event_ids))).all()
            statuses = Counter(status for _, status in rows)
            event_ids = [event_id for event_id, status in rows if status in ("received", "retrying")]
            if not event_ids:
                break
        return statuses

    def measure(self, stage: Stage, argv: list[str], count: int, timeout: float) -> dict:
        """Start `count` workers of `argv`, let them warm up, feed the stage's work, wait until it is done or
        stalls; the stage's numbers, with what the sandbox answered and refused meanwhile."""
        clock = time.perf_counter()
        with Workers(argv, count, self.worker_env(), self.tmp, self.redis_url, self.queue) as workers:
            workers.ready()
            workers.warm_up()
            warm = time.perf_counter() - clock
            before = self.sandbox.limits()
            started = _utcnow()
            clock = time.perf_counter()
            stage.feed()
            fed = time.perf_counter() - clock
            finished = _wait(stage, timeout)
            failed_jobs = workers.failed_jobs()
        numbers = stage.numbers(started)
        numbers.update(fed_s=round(fed, 2), start_s=round(warm, 2), finished=finished, failed_jobs=failed_jobs)
        numbers.update(_calls(before, self.sandbox.limits(), stage.total))
        return numbers


@dataclass
class Stage:
    """One run's prepared work: `feed` queues it once the workers are ready, `progress` says how much of `total`
    is done and how much failed, `numbers` gives the run's figures (given when feeding began)."""

    total: int
    feed: Callable[[], None]
    progress: Callable[[], tuple[int, int]]
    numbers: Callable[[datetime], dict]


def _wait(stage: Stage, timeout: float) -> bool:
    """Until all of the stage's work is done or failed (True), or it made no progress for STALL_SECONDS or the
    timeout passed (False)."""
    deadline, last, changed = time.monotonic() + timeout, None, time.monotonic()
    while True:
        done, failed = stage.progress()
        if done + failed >= stage.total:
            return True
        now = time.monotonic()
        if (done, failed) != last:
            last, changed = (done, failed), now
        elif now - changed > STALL_SECONDS or now > deadline:
            return False
        time.sleep(POLL_SECONDS)


def _calls(before: dict, after: dict, per: int) -> dict:
    """The sandbox's tally over the run: API calls per unit of work by operation, and the 429/THROTTLED answers."""
    found = {"stripe_429": 0, "shopify_throttled": 0, "calls": {}}
    for api in ("shopify", "stripe"):
        for kind in ("answered", "refused"):
            now, then = after.get(api, {}).get(kind, {}), before.get(api, {}).get(kind, {})
            for operation, n in now.items():
                delta = n - then.get(operation, 0)
                if not delta:
                    continue
                if kind == "answered":
                    found["calls"][f"{api} {operation}"] = round(delta / max(per, 1), 3)
                else:
                    found["stripe_429" if api == "stripe" else "shopify_throttled"] += delta
    return found


def _clean_queue(connection, name: str) -> None:
    """The queue emptied, its registries' jobs deleted, and its scheduler lock freed (a killed worker's)."""
    from rq import Queue
    from rq.registry import (DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry,
                             StartedJobRegistry)  # fmt: skip
    from rq.scheduler import RQScheduler

    queue = Queue(name, connection=connection)
    queue.empty()
    for registry in (DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry):
        found = registry(queue=queue)
        for job_id in found.get_job_ids():
            with contextlib.suppress(Exception):
                found.remove(job_id, delete_job=True)
    connection.delete(RQScheduler.get_locking_key(name))


# --- the workers under test ------------------------------------------------------------------------------------


class Workers:
    """`count` workers of one command line as OS processes, each in a process group of its own; every one of them
    (and what it forked: job children, the scheduler) is stopped on exit, however the run ended."""

    def __init__(self, argv: list[str], count: int, env: dict, log_dir: Path, redis_url: str, queue: str):
        if any("{n}" in part for part in argv):  # one process that runs n workers (rq worker-pool -n {n})
            commands = [[part.replace("{n}", str(count)) for part in argv]]
        else:
            commands = [list(argv) for _ in range(count)]
        self.commands = [[*command, "--url", redis_url, queue] for command in commands]
        self.count, self.env, self.log_dir, self.queue_name = count, env, log_dir, queue
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        from redis import Redis

        self.connection = Redis.from_url(redis_url)

    def __enter__(self) -> Workers:
        self.since = _utcnow()
        try:
            for n, command in enumerate(self.commands):
                log = self.log_dir / f"worker-{n}.log"
                self.logs.append(log)
                with open(log, "wb") as out:
                    self.processes.append(subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out,
                                                           stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        stop_group(*self.processes)
        _clean_queue(self.connection, self.queue_name)
        self.connection.close()

    def _queue(self):
        from rq import Queue

        return Queue(self.queue_name, connection=self.connection)

    def _ours(self) -> list:
        from rq import Worker

        return [w for w in Worker.all(queue=self._queue()) if w.birth_date and w.birth_date >= self.since]

    def ready(self) -> None:
        """Until `count` workers started by this run are registered on the queue."""
        deadline = time.monotonic() + READY_SECONDS
        while len(self._ours()) < self.count:
            dead = [n for n, process in enumerate(self.processes) if process.poll() is not None]
            if dead or time.monotonic() > deadline:
                log = self.logs[dead[0]] if dead else self.logs[0]
                raise RuntimeError(f"the workers did not start ({' '.join(self.commands[0])}):\n{tail(log)}")
            time.sleep(0.1)

    def warm_up(self, rounds: int = 10) -> None:
        """Until every worker has run a job (a process_webhook for no event: it builds the app, then finds nothing),
        so no run pays a worker's first-job start-up."""
        from rq.registry import StartedJobRegistry

        queue = self._queue()
        for _ in range(rounds):
            cold = [w for w in self._ours() if not w.successful_job_count]
            if not cold:
                return
            for _ in cold:
                queue.enqueue("jobs.events.process_webhook", 0, result_ttl=0)
            deadline = time.monotonic() + 30
            while (queue.count or StartedJobRegistry(queue=queue).count) and time.monotonic() < deadline:
                time.sleep(0.05)
        raise RuntimeError("the workers did not all take a warm-up job")

    def failed_jobs(self) -> int:
        from rq.registry import FailedJobRegistry

        return FailedJobRegistry(queue=self._queue()).count


# --- processing: the inbox emptied by the workers -----------------------------------------------------------------


def _processing_plan(world: World, events: int, shops: int, deliveries: Deliveries) -> tuple[dict, list]:
    """Sandbox shops, and `events` deliveries for them in the order they arrive: (domain, topic, body) each.

    Four kinds of order, in turn over the shops (paid ones taken by Stripe or Shopify Payments in turn):
    paid (orders/create, orders/updated), pending (the same, unpaid), refunded in the admin (orders/create,
    refunds/create) and returned (orders/create, returns/request, returns/approve). The paid orders exist in
    the sandbox shop, whose Admin API Palautus asks for their payments; each order's deliveries keep their order,
    and the orders' are interleaved (seeded: every run gets the same stream).
    """
    domains = [f"bench-{n:02d}.myshopify.com" for n in range(shops)]
    opened = world.open_shops(domains)
    families, planned, n = [], 0, 0
    while planned < events:
        kind, domain = ("paid", "pending", "refunded", "returned")[n % 4], domains[(n + n // 4) % shops]  # every kind in every shop
        if kind == "pending":
            order_id, lines = str(deliveries.new_id()), (str(deliveries.new_id()), str(deliveries.new_id()))
        else:
            paid_with = "stripe" if (n // 4) % 2 == 0 else "shopify_payments"
            made = world.sandbox.control("POST", f"/shopify/shops/{domain}/orders", json={"items": PROCESSING_ITEMS,
                                                                                         "paid_with": paid_with})  # fmt: skip
            order_id, lines = str(made["id"]), tuple(str(line["id"]) for line in made["line_items"])
        family = [("orders/create", deliveries.order(order_id, lines, paid=kind != "pending"))]
        if kind in ("paid", "pending"):
            family.append(("orders/updated", deliveries.order(order_id, lines, paid=kind != "pending", updated=1)))
        elif kind == "refunded":
            family.append(("refunds/create", deliveries.refund(order_id, lines)))
        else:
            return_id = str(deliveries.new_id())
            family += [("returns/request", deliveries.return_request(order_id, lines, return_id)),
                       ("returns/approve", deliveries.return_approve(order_id, return_id))]  # fmt: skip
        family = family[:events - planned]
        families.append([(domain, topic, body) for topic, body in family])
        planned += len(family)
        n += 1
    order, rng = [], random.Random(7)
    while families:
        family = rng.choice(families)
        order.append(family.pop(0))
        if not family:
            families.remove(family)
    return opened, order


def _processing_stage(world: World, opened: dict, plan: list, deliveries: Deliveries) -> Stage:
    """A fresh database with the shops registered and every delivery of the plan in the inbox ('received')."""
    from integration.models import WebhookEvent

    world.fresh_database()
    world.register(opened)
    client = world.app.test_client()
    ids = []
    for domain, topic, body in plan:
        answer = client.post("/webhooks/shopify", data=body, headers=deliveries.signed(domain, topic, body))
        if answer.status_code != 200:
            raise RuntimeError(f"the receiver answered {answer.status_code} to {topic}: {answer.get_data(as_text=True)[:300]}")
        ids.append(answer.get_json()["event_id"])
    _clean_queue(world.app.extensions["tasks"].connect(), world.setup_queue)  # the receiver's own enqueues
    tasks = world.measured.extensions["tasks"]

    def feed() -> None:
        for event_id in ids:
            tasks.process_webhook(event_id)

    def statuses() -> Counter:
        with world.session() as session:
            return Counter(dict(session.execute(select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)).all()))

    def progress() -> tuple[int, int]:
        found = statuses()
        return found["processed"] + found["ignored"], found["failed"]

    def numbers(started: datetime) -> dict:
        with world.session() as session:
            last = session.scalar(select(func.max(WebhookEvent.processed_at)))
        found = statuses()
        seconds = max((last - started).total_seconds(), 1e-6) if last else float("nan")
        return {"events": len(ids), "seconds": round(seconds, 2), "per_second": round(len(ids) / seconds, 1),
                "mean_ms": round(seconds / len(ids) * 1000, 2), **{k: found[k] for k in
                ("processed", "ignored", "failed", "retrying", "received")}}  # fmt: skip

    return Stage(len(ids), feed, progress, numbers)


def bench_processing(database_url: str, redis_url: str, queue: str, *, events: int = 1000, shops: int = 20,
                     workers: tuple[int, ...] = WORKER_COUNTS, variants: dict[str, list[str]] | None = None,
                     latency_ms: float = LATENCY_MS, rate_limits: bool = True, timeout: float = 600) -> dict:
    """Inbox deliveries processed per second by each worker command line with each number of worker processes.

    Returns {"<variant>/<workers>": {events, seconds, per_second, mean_ms, worker_ms, processed, ignored, failed,
    retrying, received, fed_s, finished, failed_jobs, stripe_429, shopify_throttled, calls: {"api operation": per
    event}}}. `mean_ms` is the run's wall time per event; `worker_ms` the worker time one event took (mean_ms x
    workers).
    """
    deliveries = Deliveries(SECRET)
    results = {}
    with World(database_url, redis_url, queue, latency_ms, rate_limits) as world:
        world.sink.forward = False  # the sandbox's own webhooks for the orders made here are not part of it
        opened, plan = _processing_plan(world, events, shops, deliveries)
        for name, argv in (variants or VARIANTS).items():
            for count in workers:
                clock = time.perf_counter()
                stage = _processing_stage(world, opened, plan, deliveries)
                setup = time.perf_counter() - clock
                numbers = world.measure(stage, argv, count, timeout)
                numbers.update(worker_ms=round(numbers["mean_ms"] * count, 2), setup_s=round(setup, 2))
                results[f"{name}/{count}"] = numbers
    return results


def profile_processing(database_url: str, redis_url: str, queue: str, *, events: int = 400, shops: int = 10,
                       latency_ms: float = LATENCY_MS, top: int = 30) -> dict:
    """One SimpleWorker in burst mode under cProfile over `events` queued deliveries: the processing run's numbers
    (from the worker's start), with `where` ({what: {calls_each, seconds}}, PROFILE_PARTS) and `by_cumulative`,
    `by_own_time` (pstats text, the `top` entries of each)."""
    deliveries = Deliveries(SECRET)
    with World(database_url, redis_url, queue, latency_ms, rate_limits=True) as world:
        world.sink.forward = False
        opened, plan = _processing_plan(world, events, shops, deliveries)
        return _profiled_burst(world, _processing_stage(world, opened, plan, deliveries), top)


def profile_refunds(database_url: str, redis_url: str, queue: str, *, refunds: int = 60, shops: int = 20,
                    latency_ms: float = LATENCY_MS, top: int = 30) -> dict:
    """The same over `refunds` returns approved and received (every refund's jobs queued first, then one
    SimpleWorker in burst mode runs them all)."""
    with World(database_url, redis_url, queue, latency_ms, rate_limits=True) as world:
        return _profiled_burst(world, _refund_stage(world, 1, refunds, shops, ("stripe", "shopify_payments"), True), top)


def _profiled_burst(world: World, stage: Stage, top: int) -> dict:
    before = world.sandbox.limits()
    stage.feed()
    output = world.tmp / "worker.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(output), str(Path(sys.executable).parent / "rq"), "worker",
               "--burst", "--worker-class", "rq.worker.SimpleWorker", "--url", world.redis_url, world.queue]  # fmt: skip
    started, clock = _utcnow(), time.perf_counter()
    with open(world.tmp / "profile.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=world.worker_env(), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
        try:
            process.wait(timeout=600)
        finally:
            stop_group(process)
    seconds = time.perf_counter() - clock
    if not output.exists():
        raise RuntimeError(f"the profiled worker wrote no profile:\n{tail(world.tmp / 'profile.log')}")
    # From the worker's start (its imports, under the profiler) to the last piece of work done.
    found = {**stage.numbers(started), "process_seconds": round(seconds, 2), **_calls(before, world.sandbox.limits(), stage.total)}
    found["where"] = _where(pstats.Stats(str(output)), stage.total)
    for key, order in (("by_cumulative", "cumulative"), ("by_own_time", "tottime")):
        text = io.StringIO()
        pstats.Stats(str(output), stream=text).strip_dirs().sort_stats(order).print_stats(top)
        found[key] = text.getvalue()
    return found


# (what, file the function is in, its name): the profile's entries that say where a worker's time goes.
PROFILE_PARTS = (
    ("rq: jobs from dequeue to done", "rq/worker/worker_classes.py", "execute_job"),
    ("process_webhook (the inbox job)", "jobs/events.py", "process_webhook"),
    ("push_refund (the refund job)", "jobs/refunds.py", "push_refund"),
    ("sync_refund (recorded in the shop)", "jobs/sync.py", "sync_refund"),
    ("sync_return (the shop's return moved)", "jobs/sync.py", "sync_return"),
    ("SQL statements (Connection.execute)", "sqlalchemy/engine/base.py", "_execute_context"),
    ("waiting for PostgreSQL (psycopg wait)", "psycopg/connection.py", "wait"),
    ("Redis commands (rq and the app)", "redis/retry.py", "call_with_retry"),
    ("HTTP calls to the sandbox (requests)", "requests/sessions.py", "send"),
    ("reading the sandbox's answers (socket)", "socket.py", "readinto"),
    ("imports (the worker's start)", "<frozen importlib._bootstrap>", "_find_and_load"),
)


def _where(stats: pstats.Stats, units: int) -> dict:
    """{what: {"calls_each": per event or refund, "seconds": cumulative}} for PROFILE_PARTS: the largest entry of each."""
    found = {}
    for what, where, name in PROFILE_PARTS:
        entries = [(value[1], value[3]) for (path, _, function), value in stats.stats.items()
                   if function == name and path.replace("\\", "/").endswith(where)]  # fmt: skip
        if entries:
            calls, seconds = max(entries, key=lambda entry: entry[1])
            found[what] = {"calls_each": round(calls / max(units, 1), 1), "seconds": round(seconds, 2)}
    return found


# --- refunds: returns approved, refunded at the provider, recorded in the shop ----------------------------------


def _refund_stage(world: World, run: int, refunds: int, shops: int, paid_with: tuple[str, ...], restock: bool) -> Stage:
    """Fresh shops with `refunds` paid orders and as many returns requested in the shop, known to Palautus through
    the shops' own webhooks; feeding approves (and, with `restock`, receives) each return."""
    from integration.models import Refund, Return, Shop
    from integration.returns import Actor
    from integration.services.returns import approve_return, receive_return
    from jobs.context import new_ctx

    world.fresh_database()
    domains = [f"refunds-{run}-{n:02d}.myshopify.com" for n in range(shops)]
    world.sink.forward, world.sink.domains = True, set(domains)
    world.sink.stored.clear()
    opened = world.open_shops(domains)
    world.register(opened, policy={"refund_on": "received" if restock else "approved"})
    orders = []  # (domain, the REST order, how it was paid)
    for n in range(refunds):
        domain, how = domains[n % shops], paid_with[n % len(paid_with)]
        made = world.sandbox.control("POST", f"/shopify/shops/{domain}/orders", json={"items": REFUND_ITEMS, "paid_with": how})
        orders.append((domain, made, how))
    _processed(world, world.sink.wait_for(2 * refunds), "orders/create and orders/paid")
    for domain, order, _ in orders:
        sweater = next(line for line in order["line_items"] if line["sku"] == "MERINO-M-GREY")
        world.sandbox.control("POST", f"/shopify/shops/{domain}/returns", json={
            "order_id": order["admin_graphql_api_id"],
            "items": [{"line_item_id": sweater["admin_graphql_api_id"], "quantity": 1, "reason": "size_too_small"}]})
    ids = world.sink.wait_for(3 * refunds)
    _processed(world, ids[2 * refunds:], "returns/request")
    world.sink.forward = False  # from here on the shops' webhooks are echoes of the run's own work: counted only
    with world.session() as session:
        returns = session.execute(select(Return.shop_id, Return.id).order_by(Return.id)).all()
    if len(returns) != refunds:
        raise RuntimeError(f"Palautus opened {len(returns)} of the {refunds} returns the customers asked for")
    _clean_queue(world.app.extensions["tasks"].connect(), world.setup_queue)

    def feed() -> None:
        app = world.measured
        with app.app_context(), app.extensions["db"].session() as session:
            ctx = new_ctx(app, session)
            for shop_id, return_id in returns:
                shop = session.get(Shop, shop_id)
                approve_return(ctx, shop, return_id, Actor.MERCHANT)
                if restock:
                    items = session.get(Return, return_id).items
                    receive_return(ctx, shop, return_id, Actor.MERCHANT,
                                   {item.id: {"condition": "new", "restock": True} for item in items})  # fmt: skip

    def progress() -> tuple[int, int]:
        with world.session() as session:
            synced = session.scalar(select(func.count()).select_from(Refund).where(Refund.shop_synced_at.is_not(None)))
            failed = session.scalar(select(func.count()).select_from(Refund).where(Refund.status == "failed"))
        return synced, failed

    def numbers(started: datetime) -> dict:
        with world.session() as session:
            rows = session.execute(select(Refund.return_id, Refund.status, Refund.route, Refund.created_at,
                                          Refund.shop_synced_at)).all()  # fmt: skip
        synced = [row for row in rows if row.shop_synced_at is not None]
        took = sorted((row.shop_synced_at - row.created_at).total_seconds() for row in synced)
        last = max((row.shop_synced_at for row in synced), default=None)
        seconds = max((last - started).total_seconds(), 1e-6) if last else float("nan")
        per_return = Counter(row.return_id for row in rows)
        found = {
            "refunds": refunds, "recorded": len(synced), "seconds": round(seconds, 2),
            "per_second": round(len(synced) / seconds, 2) if synced else 0.0,
            "latency_mean_ms": round(statistics.fmean(took) * 1000) if took else None,
            "latency_p50_ms": round(took[len(took) // 2] * 1000) if took else None,
            "latency_p95_ms": round(took[min(len(took) - 1, int(len(took) * 0.95))] * 1000) if took else None,
            "statuses": dict(Counter(row.status for row in rows)), "routes": dict(Counter(row.route for row in rows)),
            "returns_with_two_refunds": sum(1 for n in per_return.values() if n > 1),
        }  # fmt: skip
        found.update(_sandbox_records(world, orders))
        found["lost"] = refunds - found["recorded"]
        return found

    return Stage(refunds, feed, progress, numbers)


def _processed(world: World, event_ids: list[int], what: str) -> None:
    statuses = world.process_here(event_ids)
    if set(statuses) - {"processed", "ignored"}:
        raise RuntimeError(f"setting up, {what} were not all processed: {dict(statuses)}")


def _sandbox_records(world: World, orders: list) -> dict:
    """What the sandbox itself holds for the run's orders: refunds at Stripe, refunds on the Shopify orders, the
    REFUND transactions through Shopify's gateway, the Shopify returns closed. Every order had one return."""
    shops = {domain: world.sandbox.control("GET", f"/shopify/shops/{domain}") for domain in {d for d, _, _ in orders}}
    found = Counter()
    for domain, made, how in orders:
        order = next(o for o in shops[domain]["orders"] if o["id"] == made["admin_graphql_api_id"])
        shop_refunds = len(order["refunds"])
        gateway = sum(1 for t in order["transactions"] if t["kind"] == "REFUND")
        at_stripe = 0
        if how == "stripe":
            payment = order["transactions"][0]["authorizationCode"]
            at_stripe = len(world.sandbox.control("GET", f"/stripe/payments/{payment}")["refunds"])
        moved = at_stripe + gateway  # where money went back: Stripe directly, or Shopify's gateway
        found["shop_refunds"] += shop_refunds
        found["money_refunds"] += moved
        found["refunded_twice"] += int(moved > 1 or shop_refunds > 1)
        found["not_refunded"] += int(moved == 0)
    found["shopify_returns_closed"] = sum(1 for shop in shops.values() for r in shop["returns"] if r["status"] == "CLOSED")
    return dict(found)


def bench_refunds(database_url: str, redis_url: str, queue: str, *, refunds: int = 100, shops: int = 20,
                  workers: tuple[int, ...] = WORKER_COUNTS, variants: dict[str, list[str]] | None = None,
                  latency_ms: float = LATENCY_MS, paid_with: tuple[str, ...] = ("stripe", "shopify_payments"),
                  restock: bool = True, timeout: float = 900) -> dict:
    """Refunds per second from the merchant's approval to the refund recorded in the shop, by worker command line
    and number of worker processes, with the sandbox's rate limits on.

    Returns {"<variant>/<workers>": {refunds, recorded, lost, seconds, per_second, latency_mean_ms,
    latency_p50_ms, latency_p95_ms, statuses, routes, returns_with_two_refunds, shop_refunds, money_refunds,
    refunded_twice, not_refunded, shopify_returns_closed, fed_s, finished, failed_jobs, stripe_429,
    shopify_throttled, calls: {"api operation": per refund}}}. `paid_with` cycles over the orders: "stripe" (a
    headless checkout: refunded at Stripe, recorded in Shopify) or a Shopify checkout gateway ("shopify_payments":
    refunded through Shopify). With `restock` the policy refunds on receipt and each return is approved, then
    received with its sweater restocked; without, it refunds on approval.
    """
    results = {}
    with World(database_url, redis_url, queue, latency_ms, rate_limits=True) as world:
        run = 0
        for name, argv in (variants or VARIANTS).items():
            for count in workers:
                run += 1
                clock = time.perf_counter()
                stage = _refund_stage(world, run, refunds, shops, paid_with, restock)
                setup = time.perf_counter() - clock
                results[f"{name}/{count}"] = {**world.measure(stage, argv, count, timeout), "setup_s": round(setup, 2)}
    return results


# --- the command line -----------------------------------------------------------------------------------------------


def _calls_line(numbers: dict) -> str:
    calls = numbers.get("calls") or {}
    return ", ".join(f"{op} {n:g}" for op, n in sorted(calls.items(), key=lambda item: -item[1])) or "none"


def print_processing(results: dict, events: int, shops: int) -> None:
    print(f"\nProcessing: {events} deliveries from {shops} shops (paid, pending, refunded and returned orders), "
          f"the sandbox answering after {LATENCY_MS} ms")
    print(f"  {'variant/workers':16} {'events/s':>9} {'mean ms':>8} {'worker ms':>10} {'processed':>10} {'failed':>7} "
          f"{'429':>5} {'THROTTLED':>9}  API calls per event")  # fmt: skip
    for key, n in results.items():
        done = n["processed"] + n["ignored"]
        print(f"  {key:16} {n['per_second']:>9} {n['mean_ms']:>8} {n['worker_ms']:>10} {done:>10} {n['failed']:>7} "
              f"{n['stripe_429']:>5} {n['shopify_throttled']:>9}  {_calls_line(n)}{'' if n['finished'] else '  (DID NOT FINISH)'}")


def print_refunds(results: dict, refunds: int, shops: int) -> None:
    print(f"\nRefunds: {refunds} returns over {shops} shop{'s' if shops != 1 else ''} (Stripe and Shopify Payments in turn), approved and "
          f"received; the sandbox answering after {LATENCY_MS} ms, with Stripe's and Shopify's rate limits")
    print(f"  {'variant/workers':16} {'refunds/s':>9} {'mean ms':>8} {'p95 ms':>7} {'recorded':>9} {'lost':>5} "
          f"{'twice':>6} {'429':>5} {'THROTTLED':>9}  API calls per refund")  # fmt: skip
    for key, n in results.items():
        print(f"  {key:16} {n['per_second']:>9} {n['latency_mean_ms'] or '-':>8} {n['latency_p95_ms'] or '-':>7} "
              f"{n['recorded']:>9} {n['lost']:>5} {n['refunded_twice'] + n['returns_with_two_refunds']:>6} "
              f"{n['stripe_429']:>5} {n['shopify_throttled']:>9}  {_calls_line(n)}{'' if n['finished'] else '  (DID NOT FINISH)'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, one worker count: a check that all of it runs")
    parser.add_argument("--profile", action="store_true", help="also profile one SimpleWorker burst over a processing batch")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="PostgreSQL; its tables are dropped")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--queue", default="palautus-bench-pipeline")
    args = parser.parse_args(argv)
    if not args.database_url or not args.redis_url:
        parser.error("set DATABASE_URL and REDIS_URL (or --database-url, --redis-url): a PostgreSQL and a Redis")
    sizes = ({"events": 36, "shops": 4, "workers": (2,)},
             {"refunds": 12, "shops": 4, "workers": (2,), "variants": {"procfile": VARIANTS["procfile"]}}) if args.smoke \
        else ({"events": 1000, "shops": 20, "workers": WORKER_COUNTS}, {"refunds": 100, "shops": 20, "workers": WORKER_COUNTS})  # fmt: skip
    print(f"Palautus pipeline benchmarks, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; workers: "
          + "; ".join(f"{name} = {' '.join(command)}" for name, command in VARIANTS.items()))
    started = time.perf_counter()
    processing = bench_processing(args.database_url, args.redis_url, args.queue, **sizes[0])
    print_processing(processing, sizes[0]["events"], sizes[0]["shops"])
    refunds = bench_refunds(args.database_url, args.redis_url, args.queue, **sizes[1])
    print_refunds(refunds, sizes[1]["refunds"], sizes[1]["shops"])
    if not args.smoke:
        # One shop only: with several workers on it at once, Shopify's cost bucket runs short (THROTTLED), and
        # the refunds still end once each, only later.
        hot = bench_refunds(args.database_url, args.redis_url, args.queue, refunds=40, shops=1, workers=(4,),
                            variants={"simple": VARIANTS["simple"]})  # fmt: skip
        print_refunds(hot, 40, 1)
        refunds.update({f"one shop, {key}": numbers for key, numbers in hot.items()})
    if args.profile:
        profiles = {"deliveries": profile_processing(args.database_url, args.redis_url, args.queue, events=100 if args.smoke else 400),
                    "refunds": profile_refunds(args.database_url, args.redis_url, args.queue, refunds=12 if args.smoke else 60)}  # fmt: skip
        for unit, found in profiles.items():
            print(f"\nProfile: one SimpleWorker in burst mode under cProfile (which slows it), {found.get('events') or found.get('refunds')} "
                  f"{unit}, {found['seconds']} s from its start to the last one done; sandbox calls each: {_calls_line(found)}")
            for what, n in found["where"].items():
                print(f"  {what:42} {n['seconds']:>7} s  {n['calls_each']:>6} calls each")
            print(found["by_cumulative"])
    print(f"\n(all of it in {time.perf_counter() - started:.0f} s)")
    bad = [key for key, n in {**processing, **refunds}.items() if not n["finished"] or n.get("failed")
           or n.get("lost") or n.get("refunded_twice") or n.get("returns_with_two_refunds")]  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
