"""The intake benchmark: signed Shopify deliveries over loopback HTTP to gunicorn, run as the Procfile runs it.

What it measures: how many deliveries a second the web tier answers, and how fast (p50, p99, p99.9), for three
targets under the same gunicorn (2 sync workers, the Procfile's config and access log):
- `bare`: Flask answering 200 to any POST (benchmarks/references.py): the floor of this stack;
- `minimal`: the "30-line receiver" (HMAC check, one autocommit INSERT, one rq enqueue): what intake needs;
- `palautus`: `wsgi:app` in production mode, with PROMETHEUS_MULTIPROC_DIR and the PALAUTUS_SIDECARS beside it.
Each gets the same 6.5 kB orders/create bodies, each a distinct order signed as Shopify signs it, with a distinct
X-Shopify-Webhook-Id. Modes: closed loop at 16 and 64 connections, and an open loop at a fixed 200/s whose latency
counts from each request's due time (benchmarks/load.py). After each minimal and Palautus run it checks that
nothing was lost: every delivery answered 2xx has its inbox row, and every stored delivery has its job on the
queue (or, for Palautus, waits in the inbox to be queued, or was processed already).

Two more, on Palautus alone:
- `peak_burst`: an open loop at 20,000 deliveries in 60 s, with the caller's workers running; what was refused or
  lost, and (given `processing_done`) how long until the inbox holds no 'received' row;
- `growth`: the 200/s open loop on an empty inbox, then again once the inbox holds a million more rows and there
  are 100,000 returns (filled in SQL), to see what a grown database does to p99.

Everything it starts runs in its own process group and is stopped on the way out, also on error. It rebuilds
Palautus's schema in the database it is given (a benchmark database: never one whose data matters), creates
`bench_minimal_inbox` there, and drops both at the end; it empties its own rq queue.

    .venv/bin/python -m benchmarks.intake [--smoke] [--workers N] [--database-url URL] [--redis-url URL]

DATABASE_URL (PostgreSQL) and REDIS_URL come from the environment unless given.
"""
from __future__ import annotations

import argparse
import base64
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.load import Result, build_request, closed_loop, open_loop
from benchmarks.references import MINIMAL_SCHEMA, MINIMAL_TABLE, libpq_url

__all__ = ["PALAUTUS_SIDECARS", "FULL", "SMOKE", "Deliveries", "run_all", "intake", "run_target", "peak_burst",
           "growth", "fill", "inbox_drained", "check_palautus", "check_minimal", "clear_queue",
           "format_table"]  # fmt: skip

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = ROOT / "tests" / "payloads" / "shopify" / "orders__create.eur_presentment.json"
SECRET = "bench-secret"
DOMAIN = "bench-shop.myshopify.com"
QUEUE = "palautus-bench-intake"
WEB_WORKERS = 2
APPS = {"bare": "benchmarks.references:create_bare()", "minimal": "benchmarks.references:create_minimal()",
        "palautus": "wsgi:app"}  # fmt: skip

# Processes started beside Palautus's gunicorn for each of its runs, with the same environment, and stopped
# after it: argv lists, in which {database_url}, {redis_url} and {queue} are filled in.
PALAUTUS_SIDECARS: list[list[str]] = []

# Sizes and times of each sub-benchmark: the full version, and a smoke version of it that runs in under a minute.
FULL = {"intake": {"warmup": 2.0, "seconds": 5.0, "rate": 200.0, "open_seconds": 10.0},
        "burst": {"count": 20_000, "seconds": 60.0},
        "growth": {"inbox_rows": 1_000_000, "returns": 100_000, "rate": 200.0, "seconds": 10.0, "warmup": 2.0}}
SMOKE = {"intake": {"warmup": 0.5, "seconds": 1.0, "rate": 200.0, "open_seconds": 1.0},
         "burst": {"count": 300, "seconds": 2.0},
         "growth": {"inbox_rows": 20_000, "returns": 2_000, "rate": 200.0, "seconds": 1.0, "warmup": 0.5}}  # fmt: skip


# --- The deliveries -------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Requests ready to send, and the X-Shopify-Webhook-Id of each."""

    requests: list[bytes]
    webhook_ids: list[str]

    def ids(self, indexes: list[int]) -> list[str]:
        return [self.webhook_ids[i] for i in indexes]


class Deliveries:
    """Signed orders/create deliveries with the headers Shopify sends; each a distinct, unpaid order.

    Built as benchmarks/__main__.py `_order_body` builds them, from one JSON text whose order id is replaced in
    the bytes: thousands a second, so a batch is ready before the clock starts.
    """

    _SENTINEL = b"7999999999999"

    def __init__(self, secret: str = SECRET, domain: str = DOMAIN):
        order = json.loads(PAYLOAD.read_text())
        order["id"] = int(self._SENTINEL)
        order["admin_graphql_api_id"] = f"gid://shopify/Order/{order['id']}"
        order["financial_status"] = "pending"
        self.template = json.dumps(order).encode()
        assert self.template.count(self._SENTINEL) == 2, "the sentinel order id must appear only where it was put"
        self.secret, self.domain = secret.encode(), domain
        self.run = uuid.uuid4().int >> 64  # webhook ids stay distinct between benchmark runs on one database
        self.taken = 0

    def take(self, n: int) -> Batch:
        """The next `n` deliveries."""
        triggered = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")  # Shopify gives nanoseconds
        requests, ids = [], []
        for i in range(self.taken, self.taken + n):
            body = self.template.replace(self._SENTINEL, str(7_000_000_000 + i).encode())
            webhook_id = str(uuid.UUID(int=self.run << 64 | i))
            requests.append(build_request("/webhooks/shopify", self._headers(i, body, webhook_id, triggered), body))
            ids.append(webhook_id)
        self.taken += n
        return Batch(requests, ids)

    def _headers(self, i: int, body: bytes, webhook_id: str, triggered: str) -> dict:
        """What Shopify sends with a delivery (adapters/platforms/shopify/webhooks.py `read_delivery` reads them)."""
        return {"Content-Type": "application/json", "User-Agent": "Shopify-Captain-Hook",
                "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": self.domain,
                "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.digest(self.secret, body, "sha256")).decode(),
                "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Event-Id": str(uuid.UUID(int=(self.run + 1) << 64 | i)),
                "X-Shopify-Api-Version": "2026-10", "X-Shopify-Triggered-At": triggered}  # fmt: skip


# --- Processes ------------------------------------------------------------------------------------------------


def environment(database_url: str, redis_url: str, queue: str, var_dir: str, encryption_key: str) -> dict:
    """What every process started here gets: production settings for Palautus (the references read the same
    names), and nothing else from this process's environment that could change its behaviour."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")}
    return {**keep, "PYTHONPATH": str(ROOT), "PALAUTUS_ENV": "production", "DATABASE_URL": database_url,
            "REDIS_URL": redis_url, "QUEUE_NAME": queue, "SHOPIFY_CLIENT_SECRET": SECRET,
            "ENCRYPTION_KEY": encryption_key, "SECRET_KEY": "b" * 48,
            "SMTP_HOST": "127.0.0.1", "MAIL_FROM": "returns@bench.example", "LOG_LEVEL": "WARNING", "VAR_DIR": var_dir, "SANDBOX": "0",
            "PROMETHEUS_MULTIPROC_DIR": str(Path(var_dir) / "metrics")}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A process in a group of its own (so stopping it stops its children too), its stderr in `log`."""
    with open(log, "ab") as err:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)  # fmt: skip


def _stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to the process's group, SIGKILL after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until_answers(port: int, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    """Until the server gives any HTTP answer; RuntimeError (with its log's end) if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /bench-ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if s.recv(12).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def serving(target: str, env: dict, beside: list[list[str]] = ()):
    """gunicorn serving `target` on a free loopback port (yielded once it answers), with the processes `beside` it
    (argv lists, placeholders filled in); all stopped on the way out."""
    port, log = _free_port(), Path(env["VAR_DIR"]) / f"{target}.log"
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:integration.gunicorn_conf", APPS[target],
            "--bind", f"127.0.0.1:{port}", "--workers", str(WEB_WORKERS), "--access-logfile", "-",
            # gunicorn's control socket is one path for every instance by default: this one's is its own.
            "--control-socket", str(Path(env["VAR_DIR"]) / f"{target}.ctl")]  # fmt: skip
    fill = {"database_url": env["DATABASE_URL"], "redis_url": env["REDIS_URL"], "queue": env["QUEUE_NAME"]}
    with ExitStack() as stack:
        server = _start(argv, env, log)
        stack.callback(_stop, server)
        for n, command in enumerate(beside):
            process = _start([part.format(**fill) for part in command], env, log.with_name(f"{target}.beside{n}.log"))
            stack.callback(_stop, process)
        _wait_until_answers(port, server, log)
        yield port


# --- What was stored and queued -------------------------------------------------------------------------------


def _connect(database_url: str):
    import psycopg

    return psycopg.connect(libpq_url(database_url), autocommit=True)


def _redis(redis_url: str):
    from redis import Redis

    return Redis.from_url(redis_url)


def _queued_ints(redis, queue_name: str) -> set[int]:
    """The int arguments of the queue's jobs, waiting, running or scheduled (an id in a list argument counts)."""
    from rq import Queue
    from rq.job import Job

    queue = Queue(queue_name, connection=redis)
    ids = queue.get_job_ids() + queue.started_job_registry.get_job_ids() + queue.scheduled_job_registry.get_job_ids()
    found = set()
    for job in Job.fetch_many(ids, connection=redis):
        for arg in job.args if job is not None else ():
            found.update(arg if isinstance(arg, (list, tuple)) else [arg])
    return {arg for arg in found if isinstance(arg, int)}


def clear_queue(redis_url: str, queue_name: str) -> None:
    """Remove the queue, its registries and their jobs (what this benchmark put in Redis). The lists are read and
    deleted in one transaction: a job queued meanwhile (by a relay) is either taken with them or left whole."""
    from rq import Queue
    from rq.job import Job

    redis = _redis(redis_url)
    queue = Queue(queue_name, connection=redis)
    registries = [queue.started_job_registry, queue.finished_job_registry, queue.failed_job_registry,
                  queue.scheduled_job_registry, queue.deferred_job_registry, queue.canceled_job_registry]  # fmt: skip
    lists = [queue.key, queue.intermediate_queue_key]
    with redis.pipeline(transaction=True) as pipe:
        for key in lists:
            pipe.lrange(key, 0, -1)
        for registry in registries:
            pipe.zrange(registry.key, 0, -1)
        pipe.srem(queue.redis_queues_keys, queue.key)
        pipe.delete(*lists, *(registry.key for registry in registries))
        found = pipe.execute()[:len(lists) + len(registries)]
    ids = sorted({member.decode().split(":", 1)[0] for members in found for member in members})  # job[:execution]
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        redis.delete(*(Job.key_for(i) for i in chunk), *(f"rq:results:{i}" for i in chunk))
    redis.close()


def _lost(stored: dict[str, tuple], answered: list[str], covered) -> dict:
    """Deliveries answered 2xx without a row, and rows neither queued nor otherwise taken care of (`covered`)."""
    missing = len(set(answered) - stored.keys())
    without_job = sum(1 for row in stored.values() if not covered(row))
    return {"stored": len(stored), "missing_rows": missing, "without_job": without_job, "lost": missing + without_job}


def check_palautus(database_url: str, redis_url: str, queue: str, answered: list[str], settle: float = 5.0) -> dict:
    """Each delivery answered 2xx is in `webhook_events`, and each of those rows has its job: on the queue,
    waiting in the inbox to be queued (status 'received', enqueued_at NULL), or processed already. Waits up to
    `settle` seconds for the queue to catch up."""
    query = ("SELECT delivery_id, id, status, enqueued_at IS NULL FROM webhook_events "
             "WHERE delivery_id = ANY(%s)")  # fmt: skip

    def covered_by(jobs):
        return lambda row: row[1] != "received" or row[2] or row[0] in jobs

    return _settled(database_url, redis_url, queue, query, answered, covered_by, settle)


def check_minimal(database_url: str, redis_url: str, queue: str, answered: list[str], settle: float = 5.0) -> dict:
    """Each delivery answered 2xx is in the minimal receiver's table, and each row has its job on the queue."""
    query = f"SELECT webhook_id, id FROM {MINIMAL_TABLE} WHERE webhook_id = ANY(%s)"
    return _settled(database_url, redis_url, queue, query, answered, lambda jobs: lambda row: row[0] in jobs, settle)


def _settled(database_url, redis_url, queue, query, answered, covered_by, settle) -> dict:
    """Check (`_lost`) until nothing is lost or `settle` seconds have passed; the queue's count settles meanwhile."""
    deadline = time.monotonic() + settle
    redis = _redis(redis_url)
    try:
        with _connect(database_url) as connection:
            while True:
                stored = {row[0]: row[1:] for row in connection.execute(query, (answered,))}
                jobs = _queued_ints(redis, queue)
                found = _lost(stored, answered, covered_by(jobs))
                if not found["lost"] or time.monotonic() >= deadline:
                    return {**found, "jobs": len(jobs)}
                time.sleep(0.25)
    finally:
        redis.close()


# --- Palautus's database ----------------------------------------------------------------------------------------


def prepare_palautus(database_url: str, encryption_key: str) -> None:
    """Migrate from nothing (integration/migrate.py `rebuild`) and register the benchmark's shop."""
    from integration.db import Database
    from integration.migrate import rebuild
    from integration.secrets import Vault
    from integration.services.shops import register_shop

    rebuild(database_url)
    database = Database(database_url)
    with database.session() as session:
        register_shop(session, Vault([encryption_key]), platform="shopify", domain=DOMAIN, credentials={})
    database.engine.dispose()


def drop_palautus(database_url: str) -> None:
    """Drop the tables `prepare_palautus` made."""
    from integration.migrate import drop

    drop(database_url)


@contextmanager
def palautus(database_url: str, redis_url: str, queue: str, beside: list[list[str]] = ()):
    """Palautus prepared, served (with PALAUTUS_SIDECARS and `beside`), and cleaned up after: yields (port, env)."""
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        env = environment(database_url, redis_url, queue, tmp, key)
        try:
            clear_queue(redis_url, queue)
            prepare_palautus(database_url, key)
            with serving("palautus", env, [*PALAUTUS_SIDECARS, *beside]) as port:
                yield port, env
        finally:
            clear_queue(redis_url, queue)
            drop_palautus(database_url)


@contextmanager
def reference(target: str, database_url: str, redis_url: str, queue: str):
    """A reference receiver served (the minimal one with its table, dropped after): yields (port, env)."""
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        env = environment(database_url, redis_url, queue, tmp, "")
        try:
            if target == "minimal":
                clear_queue(redis_url, queue)
                with _connect(database_url) as connection:
                    connection.execute(f"DROP TABLE IF EXISTS {MINIMAL_TABLE}")
                    connection.execute(MINIMAL_SCHEMA)
            with serving(target, env) as port:
                yield port, env
        finally:
            if target == "minimal":
                clear_queue(redis_url, queue)
                with _connect(database_url) as connection:
                    connection.execute(f"DROP TABLE IF EXISTS {MINIMAL_TABLE}")


# --- The runs -------------------------------------------------------------------------------------------------


def _row(result: Result, lost: dict | None) -> dict:
    return {**result.numbers(), "exhausted": int(result.exhausted), **(lost or {})}


def _warm_up(port: int, deliveries: Deliveries, seconds: float) -> float:
    """Some seconds at 16 connections, so both workers are up and warm; the throughput seen (2xx/s)."""
    result = closed_loop("127.0.0.1", port, deliveries.take(max(200, int(3000 * seconds))).requests, 16, seconds)
    return result.throughput


def run_target(target: str, database_url: str, redis_url: str, *, warmup: float = 2.0, seconds: float = 5.0,
               connections: tuple[int, ...] = (16, 64), rate: float = 200.0, open_seconds: float = 10.0,
               queue: str = QUEUE, settle: float = 5.0) -> dict:  # fmt: skip
    """One target's runs: {"closed 16": numbers, "closed 64": numbers, "open 200/s": numbers}, each with `lost`
    (None for `bare`, which stores nothing)."""
    deliveries = Deliveries()
    served = palautus(database_url, redis_url, queue) if target == "palautus" else \
        reference(target, database_url, redis_url, queue)  # fmt: skip
    check = {"palautus": check_palautus, "minimal": check_minimal}.get(target)
    rows = {}
    with served as (port, _env):
        pace = _warm_up(port, deliveries, warmup)
        clear_queue(redis_url, queue)  # the warm-up's jobs: each run's check counts its own
        for n in connections:
            # Enough requests for twice the warm-up's pace: a run that still runs out reports its own pace.
            batch = deliveries.take(int(max(pace, 500) * seconds * 2) + 2 * n)
            result = closed_loop("127.0.0.1", port, batch.requests, n, seconds)
            rows[f"closed {n}"] = _row(result, _checked(check, database_url, redis_url, queue, batch, result, settle))
        batch = deliveries.take(int(rate * open_seconds))
        result = open_loop("127.0.0.1", port, batch.requests, rate)
        rows[f"open {rate:g}/s"] = _row(result, _checked(check, database_url, redis_url, queue, batch, result, settle))
    return rows


def _checked(check, database_url, redis_url, queue, batch: Batch, result: Result, settle: float) -> dict | None:
    """The run's loss check, then its jobs cleared so the next run's check counts only its own."""
    if check is None:
        return None
    found = check(database_url, redis_url, queue, batch.ids(result.ok), settle)
    clear_queue(redis_url, queue)
    return found


def intake(database_url: str, redis_url: str, *, targets: tuple[str, ...] = ("bare", "minimal", "palautus"),
           **sizes) -> dict:  # fmt: skip
    """The table: run_target for each target (sizes: run_target's keywords), and Palautus's throughput as a
    fraction of the others' at each closed-loop width: {target: {mode: numbers}, "ratios": {...}}."""
    results = {target: run_target(target, database_url, redis_url, **sizes) for target in targets}
    ratios = {}
    for other in ("minimal", "bare"):
        for mode, row in results.get("palautus", {}).items():
            if mode.startswith("closed") and other in results and results[other][mode]["per_second"]:
                ratios[f"palautus/{other} {mode}"] = round(row["per_second"] / results[other][mode]["per_second"], 3)
    return {**results, "ratios": ratios}


def inbox_drained(database_url: str, poll: float = 0.5):
    """A `processing_done(timeout)` for `peak_burst`: waits until `webhook_events` has no 'received' row; whether
    it got there in time."""

    def processing_done(timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with _connect(database_url) as connection:
            while True:
                waiting = connection.execute("SELECT count(*) FROM webhook_events WHERE status = 'received'")
                if waiting.fetchone()[0] == 0:
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(poll)

    return processing_done


def peak_burst(database_url: str, redis_url: str, *, count: int = 20_000, seconds: float = 60.0,
               workers: list[list[str]] = (), processing_done=None, drain_timeout: float = 900.0,
               queue: str = QUEUE, settle: float = 5.0, warmup: float = 0.5, timeout: float = 5.0) -> dict:  # fmt: skip
    """`count` deliveries at an even rate over `seconds`, open loop, to Palautus with its sidecars and `workers`
    (argv lists from the caller, started beside it with its environment; {redis_url}, {queue} and
    {database_url} filled in). A delivery not answered within `timeout` seconds (Shopify waits 5) counts as an
    error. With `processing_done(timeout)` (see `inbox_drained`), also how long from the burst's start until it
    returned, and whether it said done."""
    deliveries = Deliveries()
    with palautus(database_url, redis_url, queue, beside=list(workers)) as (port, _env):
        _warm_up(port, deliveries, warmup)
        batch = deliveries.take(count)
        start = time.perf_counter()
        result = open_loop("127.0.0.1", port, batch.requests, count / seconds, timeout=timeout)
        numbers = {"rate": round(count / seconds, 1), **result.numbers()}
        if processing_done is not None:
            done = processing_done(drain_timeout)
            numbers.update(processed=int(bool(done)), processed_after_s=round(time.perf_counter() - start, 1))
        numbers.update(check_palautus(database_url, redis_url, queue, batch.ids(result.ok), settle))
        numbers["stored_all"] = _stored(database_url, batch.webhook_ids)  # also those answered too late
    return numbers


def _stored(database_url: str, webhook_ids: list[str]) -> int:
    """How many of these deliveries Palautus stored, whatever their senders saw."""
    with _connect(database_url) as connection:
        query = "SELECT count(*) FROM webhook_events WHERE delivery_id = ANY(%s)"
        return connection.execute(query, (webhook_ids,)).fetchone()[0]


def fill(database_url: str, inbox_rows: int, returns: int, shops: int = 4) -> float:
    """Add `inbox_rows` processed deliveries (small bodies) and `returns` returns (each with its order), spread over
    the benchmark's shop and `shops` more, in SQL; then VACUUM ANALYZE and a CHECKPOINT. Seconds it took."""
    from integration.db import Database
    from integration.secrets import Vault
    from integration.services.shops import register_shop

    from cryptography.fernet import Fernet

    started = time.perf_counter()
    database, vault = Database(database_url), Vault([Fernet.generate_key().decode()])
    with database.session() as session:
        for n in range(shops):
            register_shop(session, vault, platform="shopify", domain=f"bench-fill-{n}.myshopify.com", credentials={})
    database.engine.dispose()
    with _connect(database_url) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM shops ORDER BY id")]
        connection.execute(_FILL_INBOX, {"shops": ids, "rows": inbox_rows})
        connection.execute(_FILL_RETURNS, {"shops": ids, "rows": returns})
        connection.execute("VACUUM ANALYZE webhook_events, orders, returns")
        # The fill wrote gigabytes of WAL: flush them now, or the run after it measures the checkpoint they force
        # (a growing database's p99 is the question, not a bulk load's write-back).
        connection.execute("CHECKPOINT")
    return time.perf_counter() - started


# One statement each; rows valid for the schema's constraints (unique delivery ids and return codes per shop).
_FILL_INBOX = """
INSERT INTO webhook_events (shop_id, platform, topic, delivery_id, body, received_at, status, attempts, processed_at)
SELECT (%(shops)s::int[])[1 + mod(n, cardinality(%(shops)s::int[]))], 'shopify', 'orders/updated', 'fill-' || n,
       convert_to('{"id": ' || n || '}', 'UTF8'), now() - make_interval(secs => n), 'processed', 1,
       now() - make_interval(secs => n - 1)
FROM generate_series(1, %(rows)s) AS n
"""
_FILL_RETURNS = """
WITH o AS (
    INSERT INTO orders (shop_id, platform_order_id, name, currency, shop_currency, taxes_included, total,
                        platform_updated_at, processed_at)
    SELECT (%(shops)s::int[])[1 + mod(n, cardinality(%(shops)s::int[]))], 'fill-' || n, '#F' || n, 'EUR', 'EUR',
           true, 5990, now() - make_interval(mins => n), now() - make_interval(mins => n)
    FROM generate_series(1, %(rows)s) AS n
    RETURNING id, shop_id, processed_at
)
INSERT INTO returns (shop_id, order_id, code, status, method, source, decision, requested_at, created_at,
                     updated_at, version)
SELECT shop_id, id, 'FILL-' || id, (ARRAY['requested', 'approved', 'received', 'refunded', 'closed'])[1 + mod(id, 5)],
       'postal', 'portal', '{"eligible": true, "reasons": [], "auto_approve": false}', processed_at, processed_at,
       processed_at, 1
FROM o
"""


def growth(database_url: str, redis_url: str, *, inbox_rows: int = 1_000_000, returns: int = 100_000,
           rate: float = 200.0, seconds: float = 10.0, warmup: float = 2.0, queue: str = QUEUE,
           settle: float = 5.0) -> dict:  # fmt: skip
    """The fixed-rate open loop against Palautus on a fresh inbox, then again after `fill`: p50/p99/p99.9 before
    and after, and what was lost in each."""
    deliveries, numbers = Deliveries(), {"inbox_rows": inbox_rows, "returns": returns}
    with palautus(database_url, redis_url, queue) as (port, _env):
        for phase in ("before", "after"):
            if phase == "after":
                numbers["fill_s"] = round(fill(database_url, inbox_rows, returns), 1)
            _warm_up(port, deliveries, warmup)
            clear_queue(redis_url, queue)
            batch = deliveries.take(int(rate * seconds))
            result = open_loop("127.0.0.1", port, batch.requests, rate)
            lost = check_palautus(database_url, redis_url, queue, batch.ids(result.ok), settle)
            for key in ("per_second", "p50_ms", "p99_ms", "p999_ms", "max_ms", "non_2xx", "errors"):
                numbers[f"{key}_{phase}"] = result.numbers()[key]
            numbers[f"lost_{phase}"] = lost["lost"]
    return numbers


# --- All of it ------------------------------------------------------------------------------------------------


def run_all(database_url: str, redis_url: str, *, smoke: bool = False, workers: list[list[str]] = (),
            processing_done=None) -> dict:  # fmt: skip
    """The three sub-benchmarks at the FULL or SMOKE sizes: {"intake": ..., "burst": ..., "growth": ...,
    "machine": ...}."""
    sizes, load = SMOKE if smoke else FULL, os.getloadavg()[0]
    results = {"intake": intake(database_url, redis_url, **sizes["intake"]),
               "burst": peak_burst(database_url, redis_url, workers=workers, processing_done=processing_done,
                                   **sizes["burst"]),
               "growth": growth(database_url, redis_url, **sizes["growth"])}  # fmt: skip
    # The machine is shared with the servers (and whatever else runs): its load says how quiet it was.
    results["machine"] = {"cpus": os.cpu_count(), "load_before": round(load, 2),
                          "load_after": round(os.getloadavg()[0], 2)}  # fmt: skip
    return results


def _cell(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_table(results: dict) -> str:
    """The printed report of `run_all`'s (or `intake`'s) results."""
    lines = [f"{'target':9} {'mode':12} {'2xx/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'non-2xx':>8} "
             f"{'errors':>7} {'late':>6} {'lost':>5}"]  # fmt: skip
    table = results.get("intake", results)
    for target, rows in table.items():
        if target == "ratios":
            continue
        for mode, row in rows.items():
            lines.append(f"{target:9} {mode:12} {row['per_second']:8.1f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
                         f"{row['p999_ms']:9.2f} {row['non_2xx']:8d} {row['errors']:7d} {row['late']:6d} "
                         f"{_cell(row.get('lost')):>5}")  # fmt: skip
    lines += [f"  {name}: {ratio:.2f}" for name, ratio in table.get("ratios", {}).items()]
    for name in ("burst", "growth", "machine"):
        if name in results:
            lines.append(f"{name}: " + "  ".join(f"{k}={_cell(v, 2)}" for k, v in results[name].items()))
    return "\n".join(lines)


def _rq_workers(n: int) -> list[list[str]]:
    """The Procfile's worker line, `n` times (for --workers)."""
    rq = str(Path(sys.executable).parent / "rq")
    return [[rq, "worker", "--worker-class", "jobs.worker.Worker", "--url", "{redis_url}", "{queue}"]] * n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the small version: under a minute")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""), help="PostgreSQL, SQLAlchemy form")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--workers", type=int, default=0, help="rq workers to run during the burst (then timed)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON after the table")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql") or not args.redis_url:
        parser.error("needs a PostgreSQL DATABASE_URL and a REDIS_URL (--database-url, --redis-url or environment)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what was started, as on Ctrl-C
    done = inbox_drained(args.database_url) if args.workers else None
    results = run_all(args.database_url, args.redis_url, smoke=args.smoke, workers=_rq_workers(args.workers),
                      processing_done=done)  # fmt: skip
    print(format_table(results))
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
