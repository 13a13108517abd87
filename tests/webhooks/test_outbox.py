"""The outbox relay (webhooks/outbox.py): a stored delivery is answered first and queued after, in batches;
nothing answered 200 is lost when Redis is down, and nothing is queued twice by two relays."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from redis.exceptions import RedisError
from rq.job import Job
from sqlalchemy import select

from integration.models import WebhookEvent
from integration.services.inbox import claim_unqueued
from tests.conftest import payload
from webhooks import outbox
from webhooks.outbox import relay_all, relay_once


def _wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _waiting(db) -> list[int]:
    db.expire_all()
    return list(db.scalars(select(WebhookEvent.id).where(WebhookEvent.status == "received",
                                                         WebhookEvent.enqueued_at.is_(None))))  # fmt: skip


def _queued_events(app) -> list[int]:
    queue = app.extensions["tasks"].queue()
    return sorted(job.args[0] for job in Job.fetch_many(queue.job_ids, connection=queue.connection) if job)


@pytest.fixture
def threaded(app):
    """The app's relay as production runs it: a thread in this process, woken by each delivery."""
    app.extensions["outbox"].mode = "thread"
    yield app.extensions["outbox"]
    app.extensions["outbox"].stop()


def test_the_relay_thread_queues_a_delivery_after_it_is_answered_with_its_correlation_id(
    app, shop, post_webhook, threaded, db
):
    answer = post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id="d-1", **{"X-Request-Id": "call-7"})
    assert answer.status_code == 200
    event_id = answer.get_json()["event_id"]
    assert _wait_for(lambda: _queued_events(app) == [event_id])
    queue = app.extensions["tasks"].queue()
    [job] = Job.fetch_many(queue.job_ids, connection=queue.connection)
    assert job.func_name == "jobs.events.process_webhook" and job.meta["correlation_id"] == "call-7"
    assert job.timeout and job.retries_left  # the same job options as every other enqueue
    assert _waiting(db) == []


def test_deliveries_stored_while_redis_is_down_are_answered_200_and_queued_once_it_is_back(
    app, shop, post_webhook, threaded, db, redis_down, monkeypatch
):
    monkeypatch.setattr(outbox, "BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(outbox, "IDLE_SECONDS", 0.05)
    monkeypatch.setattr(outbox, "GRACE_SECONDS", 0)  # the scan takes them at once (else 10 s after they came)
    with redis_down():
        ids = [post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id=f"d-{n}").get_json()["event_id"]
               for n in range(3)]  # fmt: skip
        time.sleep(0.3)  # the relay tries, fails, gives them back (see the next test), and tries again
    assert _wait_for(lambda: _queued_events(app) == sorted(ids))  # each once
    assert _waiting(db) == []


def test_a_repeat_of_a_waiting_delivery_is_queued_again_and_of_a_processed_one_is_not(app, shop, post_webhook, db,
                                                                                      work):  # fmt: skip
    first = post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id="same")
    event_id = first.get_json()["event_id"]
    # Its first answer may never have left a process that died after the commit: queued again, harmlessly.
    again = post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id="same")
    assert again.get_json() == {"status": "duplicate", "event_id": event_id}
    assert _queued_events(app) == [event_id, event_id]
    work()
    assert db.get(WebhookEvent, event_id).status == "processed" and db.get(WebhookEvent, event_id).attempts == 1
    post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id="same")
    assert _queued_events(app) == []


def test_a_relay_that_stops_queues_what_it_was_handed_first(app, shop, post_webhook, threaded, monkeypatch):
    monkeypatch.setattr(threaded, "_ensure_thread", lambda: None)  # handed, and its relay not yet running
    event_id = post_webhook("orders/create", payload("orders__create.sample.json")).get_json()["event_id"]
    assert _queued_events(app) == []
    threaded.stop()  # the gunicorn worker exits
    assert _queued_events(app) == [event_id]


def test_a_batch_larger_than_one_pass_is_queued_whole_in_id_order(app, shop, post_webhook, db, redis_down,
                                                                  monkeypatch):  # fmt: skip
    monkeypatch.setattr(outbox, "BATCH", 4)
    with redis_down():  # stored, not queued
        ids = [post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id=f"d-{n}").get_json()["event_id"]
               for n in range(10)]  # fmt: skip
    assert relay_once(app, limit=4) == 0  # younger than the grace: maybe still in their receiver's relay
    assert relay_once(app, limit=4, grace=0) == 4 and _queued_events(app) == ids[:4]
    assert relay_all(app, grace=0) == 6 and _queued_events(app) == ids
    assert relay_all(app, grace=0) == 0


def test_rows_the_relay_could_not_queue_are_given_back_and_a_relay_that_died_leaves_them_to_the_sweeper(
    app, shop, post_webhook, db, redis_down
):
    from jobs.sweep import sweep

    with redis_down():
        event_id = post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id="d").get_json()["event_id"]
        with pytest.raises(RedisError):
            relay_once(app, grace=0)
    assert _waiting(db) == [event_id]  # given back: the next pass queues it

    with app.extensions["db"].session() as session:
        assert [row[0] for row in claim_unqueued(session, 10)] == [event_id]  # stamped, then the relay died
    assert _queued_events(app) == [] and relay_all(app, grace=0) == 0
    row = db.get(WebhookEvent, event_id)
    row.received_at -= timedelta(hours=1)  # time passes
    row.enqueued_at -= timedelta(hours=1)
    db.commit()
    assert sweep()["events"] == 1 and _queued_events(app) == [event_id]


def test_two_relays_at_once_never_claim_the_same_delivery(app, shop, post_webhook, db, redis_down):
    if app.extensions["db"].engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    with redis_down():
        ids = [post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id=f"d-{n}").get_json()["event_id"]
               for n in range(200)]  # fmt: skip
    claimed: list[list[int]] = []
    start = threading.Barrier(4)

    def claim():
        start.wait()
        with app.extensions["db"].session() as session:
            while rows := claim_unqueued(session, 7):
                claimed.append([event_id for event_id, _ in rows])

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [event_id for batch in claimed for event_id in batch]
    assert sorted(every) == ids  # each once, none left


def test_a_delivery_whose_process_died_before_its_relay_queued_it_is_queued_by_the_sweeper(
    app, shop, post_webhook, db, monkeypatch
):
    from jobs.sweep import sweep

    monkeypatch.setattr(app.extensions["outbox"], "notify", lambda *args: None)  # the process dies after the commit
    event_id = post_webhook("orders/create", payload("orders__create.sample.json")).get_json()["event_id"]
    monkeypatch.undo()
    assert _queued_events(app) == [] and _waiting(db) == []  # stored stamped queued: the relay's scan leaves it
    assert relay_all(app, grace=0) == 0 and sweep()["events"] == 0  # nor does the sweeper, yet
    row = db.get(WebhookEvent, event_id)
    row.received_at -= timedelta(hours=1)  # time passes
    row.enqueued_at -= timedelta(hours=1)
    db.commit()
    assert sweep()["events"] == 1 and _queued_events(app) == [event_id]
