"""rq's retry intervals fire in the Procfile's worker: Stripe answers 500, the retry comes on time, money moves once.

The worker is the Procfile's own `worker:` command, run through a shell as
honcho runs it for `make run`: a real process, configured by environment
variables, on the test's database and Redis. Stripe and Shopify are real HTTP
servers in this process, serving the fakes from tests/fakes.py.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from honcho.environ import parse_procfile
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from integration.config import ROOT
from integration.models import Refund
from tests.conftest import SHOP_DOMAIN
from sandbox.http import Reply
from tests.fakes import FakeServer, FakeShopify, FakeStripe
from tests.jobs.helpers import AMOUNT, approve_and_receive, shopify_return

INTERVAL = 3  # seconds: RETRY_INTERVALS for these tests, real and short
FIRST_CALL = 20  # seconds the worker may take to start and send the first request
LATE = 15  # seconds after its interval that a retry still counts as on time
MISSED = 5  # seconds past its due time without a retry that show no scheduler is running
STOP_GRACE = 10  # seconds a worker gets for each step of its shutdown
# The test's configuration that the worker process reads from its environment.
WORKER_SETTINGS = ("DATABASE_URL", "REDIS_URL", "QUEUE_NAME", "VAR_DIR", "ENCRYPTION_KEY", "SHOPIFY_CLIENT_SECRET",
                   "RETRY_INTERVALS", "HTTP_TIMEOUT")  # fmt: skip


@pytest.fixture
def stripe_server():
    """FakeStripe whose first refund request fails with a 500; `arrivals` holds when each POST came."""
    fake, arrivals = FakeStripe(), []
    fake.faults = ["500"]

    def answer(request):
        if request.method == "POST":
            arrivals.append(time.monotonic())
        return fake.handle(request)

    server = FakeServer(answer)
    yield SimpleNamespace(url=server.url, fake=fake, arrivals=arrivals)
    server.close()


@pytest.fixture
def shopify_server(shopify_schema):
    """FakeShopify for the sync_refund job that follows a paid refund; a rejected document is answered 500."""
    fake = FakeShopify(SimpleNamespace(add_callback=lambda *a, **k: None), shopify_schema, SHOP_DOMAIN)
    server = FakeServer(lambda request: _graphql(fake, request))
    yield SimpleNamespace(url=server.url, fake=fake)
    server.close()


def _graphql(fake: FakeShopify, request):
    try:
        return fake.handle(request)
    except Exception as e:  # an assertion in the fake: answer, so the worker does not hang on it
        return Reply(500, {"errors": type(e).__name__})


@pytest.fixture
def config(config):
    return {**config, "RETRY_INTERVALS": f"{INTERVAL},{INTERVAL},{INTERVAL}"}


@pytest.fixture
def start_worker(config, stripe_server, shopify_server, tmp_path):
    """`start_worker(command)` runs a Procfile command with the test's configuration; always stopped after."""
    env = {**os.environ, **{key: str(config[key]) for key in WORKER_SETTINGS}}
    env.update(
        STRIPE_API_BASE=stripe_server.url, SHOPIFY_API_BASE=shopify_server.url, PYTHONUNBUFFERED="1",
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),  # the venv's rq, as devserver does
    )  # fmt: skip
    started = []

    def _start(command: str) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")
        # As honcho does: a shell, in a session of its own (`exec`, so SIGTERM reaches rq itself).
        process = subprocess.Popen(
            f"exec {command}", shell=True, start_new_session=True, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        started.append((process, log))
        return process

    yield _start
    for process, log in started:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM: rq's warm shutdown (it stops its scheduler too); again: its cold one; then SIGKILL its group."""
    for _ in range(2):  # the second SIGTERM kills a job's fork, which rq puts in a process group of its own
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(STOP_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the scheduler, if it outlived the worker
    process.wait()


def _procfile_worker() -> str:
    """The Procfile's worker command, parsed as honcho parses it for `make run`."""
    return parse_procfile((ROOT / "Procfile").read_text()).processes["worker"]


def _refund_for_the_worker(client, shop, post_webhook, work, shopify, db, app) -> int:
    """A received return whose refund is on the queue, enqueued with RETRY_INTERVALS as rq Retry."""
    ret = shopify_return(post_webhook, work, shopify, db)
    approve_and_receive(client, shop[1], ret.id)
    tasks = app.extensions["tasks"]
    tasks.queue().empty()  # the decisions' Shopify syncs are other tests' business
    refund_id = db.scalar(select(Refund.id))
    tasks.push_refund(refund_id)
    return refund_id


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _refund(app, refund_id: int) -> Refund:
    with app.extensions["db"].session() as session:  # a fresh read each time, no transaction left open
        return session.get(Refund, refund_id)


def _log(tmp_path) -> str:
    return "\n".join(path.read_text(errors="replace")[-4000:] for path in sorted(tmp_path.glob("worker-*.log")))


@pytest.mark.slow
def test_a_refund_stripe_fails_with_a_500_is_retried_by_the_procfile_worker_after_its_interval_and_paid_once(
    client, shop, post_webhook, work, shopify, db, app, stripe_server, shopify_server, start_worker, tmp_path
):
    refund_id = _refund_for_the_worker(client, shop, post_webhook, work, shopify, db, app)
    start_worker(_procfile_worker())

    arrivals = stripe_server.arrivals
    assert _wait(lambda: arrivals, FIRST_CALL), _log(tmp_path)
    # Without the scheduler the retry waits in rq's ScheduledJobRegistry until the sweeper: this fails.
    assert _wait(lambda: len(arrivals) >= 2, INTERVAL + LATE), _log(tmp_path)
    delay = arrivals[1] - arrivals[0]
    print(f"retry came {delay:.2f} s after the 500 (interval {INTERVAL} s)")
    # rq keeps scheduled times in whole seconds (ScheduledJobRegistry scores are
    # truncated, as is the scheduler's clock), so a retry may come up to 1 s before
    # its interval is over; never sooner than that.
    assert INTERVAL - 1 <= delay <= INTERVAL + LATE
    assert _wait(lambda: _refund(app, refund_id).shop_synced_at is not None, LATE), _log(tmp_path)

    refund = _refund(app, refund_id)
    assert (refund.status, refund.provider_refund_id) == ("succeeded", "re_0001")
    fake = stripe_server.fake
    assert len(fake.posts) == 2 and len({headers["Idempotency-Key"] for headers, _ in fake.posts}) == 1
    assert len(fake.refunds) == 1 and fake.money_moved == AMOUNT
    assert len(shopify_server.fake.operations("RefundCreate")) == 1  # and the shop heard of it once


@pytest.mark.slow
def test_without_the_scheduler_a_retry_stays_scheduled_past_its_time(
    client, shop, post_webhook, work, shopify, db, app, stripe_server, start_worker, tmp_path
):
    # A worker started without rq's scheduler leaves due retries in rq's ScheduledJobRegistry. The Procfile's
    # `rq worker-pool` runs every worker of the pool with it (the test above); a plain `rq worker` needs
    # --with-scheduler, and this is what happens without it.
    command = _procfile_worker()
    assert "rq worker-pool " in command
    refund_id = _refund_for_the_worker(client, shop, post_webhook, work, shopify, db, app)
    start_worker(command.replace("rq worker-pool --num-workers ${WORKER_PROCESSES:-4} ", "rq worker "))

    registry = ScheduledJobRegistry(queue=app.extensions["tasks"].queue())
    assert _wait(lambda: registry.get_job_ids(), FIRST_CALL + INTERVAL), _log(tmp_path)
    due = registry.get_scheduled_time(registry.get_job_ids()[0])
    # With the scheduler a due retry is on the queue within a second (it looks every second).
    time.sleep(max((due - datetime.now(timezone.utc)).total_seconds(), 0) + MISSED)

    assert len(stripe_server.arrivals) == 1, _log(tmp_path)
    assert len(registry.get_job_ids()) == 1
    assert _refund(app, refund_id).status != "succeeded"
