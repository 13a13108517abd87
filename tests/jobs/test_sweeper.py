"""The sweeper under a backlog: what it queued stays queued once, until it has had time to run."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from integration.models import Refund, Return, WebhookEvent, utcnow
from jobs.sweep import sweep
from tests.conftest import auth, payload
from tests.jobs.helpers import shopify_return


def queued_jobs(app) -> list[str]:
    queue = app.extensions["tasks"].queue()
    return [job.func_name for job in queue.get_jobs()]


def test_a_backlog_the_sweeper_queued_is_not_queued_again_every_minute(app, shop, post_webhook, db, redis_down):
    with redis_down():  # the deliveries are stored, their jobs never queued
        for n in range(3):
            assert post_webhook("orders/create", payload("orders__create.sample.json"), webhook_id=f"d-{n}").status_code == 200
    db.execute(update(WebhookEvent).values(received_at=utcnow() - timedelta(hours=1)))
    db.commit()

    assert sweep()["events"] == 3
    assert sweep()["events"] == 0  # a minute later the workers have not got to them yet: no duplicates
    assert queued_jobs(app) == ["jobs.events.process_webhook"] * 3

    db.execute(update(WebhookEvent).values(enqueued_at=utcnow() - timedelta(hours=1)))
    db.commit()
    assert sweep()["events"] == 3  # long enough for any queue: the jobs may have been lost, queue again


def test_refunds_and_syncs_the_sweeper_queued_are_left_alone_while_they_wait(
    app, client, shop, post_webhook, work, shopify, stripe, db, redis_down
):
    ret = shopify_return(post_webhook, work, shopify, db)
    client.put("/api/v1/shop/policy", json={"refund_on": "approved"}, headers=auth(shop[1]))
    with redis_down():
        assert client.post(f"/api/v1/returns/{ret.id}/approve", json={}, headers=auth(shop[1])).status_code == 200
    db.execute(update(Refund).values(created_at=utcnow() - timedelta(hours=1)))
    db.execute(update(Return).values(updated_at=utcnow() - timedelta(hours=1)))
    db.commit()
    aged = db.scalar(select(Return.updated_at))
    assert sweep() == {"events": 0, "refunds": 1, "syncs": 0, "returns": 1, "messages": 0, "withdrawals": 0, "shop_returns": 0, "credit_notes": 0}
    assert sweep() == {"events": 0, "refunds": 0, "syncs": 0, "returns": 0, "messages": 0, "withdrawals": 0, "shop_returns": 0, "credit_notes": 0}
    db.expire_all()
    assert db.scalar(select(Return.updated_at)) == aged  # stamping the row is not a change to the return
