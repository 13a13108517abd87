"""A worker killed while Stripe is answering: the refund is made once, found again by the sweeper, never repeated.

This runs the refund job in a real child process against a real HTTP server
that plays Stripe, kills the child with SIGKILL while Stripe holds the
request, then lets the sweeper and a fresh worker finish the work.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from integration.models import Refund
from jobs.sweep import sweep
from tests.fakes import FakeServer, FakeStripe
from tests.jobs.helpers import AMOUNT, approve_and_receive, shopify_return


class StripeServer(FakeServer):
    """FakeStripe behind a real socket; the first refund request is made and then never answered."""

    def __init__(self):
        self.fake = FakeStripe()
        self.got_first = threading.Event()
        self.release = threading.Event()
        super().__init__(self._answer)

    def _answer(self, request):
        answer = self.fake.handle(request)
        if len(self.fake.posts) == 1:
            self.got_first.set()
            self.release.wait(30)  # the worker dies while waiting for this answer
            return None
        return answer

    def close(self):
        self.release.set()
        super().close()


@pytest.fixture
def stripe_server():
    server = StripeServer()
    yield server
    server.close()


@pytest.fixture
def config(config, stripe_server):
    return {**config, "STRIPE_API_BASE": stripe_server.url}


def _run_refund_job(config: dict, refund_id: int) -> None:
    from integration.app import create_app
    from jobs.refunds import push_refund

    app = create_app(config)
    with app.app_context():
        push_refund(refund_id)


def test_a_worker_killed_mid_call_leaves_one_refund_that_the_sweeper_completes_without_paying_twice(
    client, shop, post_webhook, work, shopify, http, db, app, config, stripe_server
):
    http.add_passthru(stripe_server.url)
    ret = shopify_return(post_webhook, work, shopify, db)
    approve_and_receive(client, shop[1], ret.id)
    app.extensions["tasks"].queue().empty()  # the child process below runs the job instead
    refund_id = db.scalar(select(Refund.id))

    child = multiprocessing.get_context("fork").Process(target=_run_refund_job, args=(config, refund_id))
    child.start()
    assert stripe_server.got_first.wait(20), "the refund request never reached Stripe"
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL

    db.expire_all()
    refund = db.get(Refund, refund_id)
    assert (refund.status, refund.provider_refund_id, refund.attempts) == ("submitted", None, 1)
    assert len(stripe_server.fake.refunds) == 1  # Stripe made it; we never heard back
    assert sweep()["refunds"] == 0  # the dead worker's claim still stands

    refund.claimed_until -= timedelta(hours=1)  # ... until its lease runs out
    refund.created_at -= timedelta(hours=1)
    db.commit()
    assert sweep()["refunds"] == 1
    work()

    keys = {headers["Idempotency-Key"] for headers, _ in stripe_server.fake.posts}
    assert len(stripe_server.fake.posts) == 2 and len(keys) == 1
    assert len(stripe_server.fake.refunds) == 1 and stripe_server.fake.money_moved == AMOUNT
    db.expire_all()
    assert db.get(Refund, refund_id).status == "succeeded"
