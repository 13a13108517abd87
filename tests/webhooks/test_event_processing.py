"""From the inbox to the model: stored deliveries processed by a real rq worker, repeats and disorder included."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from integration.models import Order, Return, Shop, WebhookEvent, utcnow
from jobs.sweep import sweep
from tests.conftest import ACCESS_TOKEN, SHOP_DOMAIN, auth, payload
from tests.fakes import stripe_sale
from tests.webhooks.conftest import ORDER, ORDER_ID, RETURN_REQUEST, assert_error, fresh


def returns(db) -> list[Return]:
    return fresh(db).scalars(select(Return)).all()


def the_order(db) -> Order:
    return fresh(db).scalar(select(Order).where(Order.platform_order_id == ORDER_ID))


def order_is_known(post_webhook, work, shopify):
    shopify.transactions = [stripe_sale()]
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()


# --- repeats ----------------------------------------------------------------------------------


def test_the_same_delivery_three_times_is_stored_once_and_opens_one_return(
    shop, post_webhook, work, shopify, inbox, queued, db
):
    order_is_known(post_webhook, work, shopify)

    answers = [post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1") for _ in range(3)]
    work()

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.get_json()["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
    assert len({a.get_json()["event_id"] for a in answers}) == 1
    stored = [e for e in inbox() if e.topic == "returns/request"]
    assert [(e.delivery_id, e.status) for e in stored] == [("return-1", "processed")]
    [ret] = returns(db)
    assert (ret.platform_return_id, ret.source, len(ret.items)) == ("3547267221", "shopify", 2)


def test_a_repeat_of_a_processed_delivery_is_acknowledged_and_queues_nothing(
    shop, post_webhook, work, shopify, queued, inbox
):
    order_is_known(post_webhook, work, shopify)

    again = post_webhook("orders/create", payload(ORDER), webhook_id="order-1")

    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert queued() == []
    assert [e.attempts for e in inbox()] == [1]


def test_the_same_return_sent_again_under_new_webhook_ids_still_opens_one_return(
    shop, post_webhook, work, shopify, inbox, db
):
    order_is_known(post_webhook, work, shopify)

    for delivery in ("return-a", "return-b", "return-c"):  # one merchant action: one X-Shopify-Event-Id
        assert post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id=delivery).status_code == 200
    work()

    stored = [e for e in inbox() if e.topic == "returns/request"]
    assert [e.delivery_id for e in stored] == ["return-a", "return-b", "return-c"]
    assert {e.status for e in stored} == {"processed"}
    assert len({e.event_id for e in stored}) == 1
    assert [r.platform_return_id for r in returns(db)] == ["3547267221"]


def test_a_topic_palautus_does_not_handle_is_stored_and_marked_ignored(shop, post_webhook, work, inbox, queued):
    response = post_webhook("collections/update", {"id": 482865238, "title": "Smart iPods"}, webhook_id="collection-1")

    assert response.status_code == 200
    assert len(queued()) == 1
    work()
    [event] = inbox()
    assert (event.topic, event.status, event.error) == ("collections/update", "ignored", None)
    assert event.processed_at is not None


# --- disorder ---------------------------------------------------------------------------------


def test_a_newer_orders_updated_processed_before_an_older_orders_create_keeps_the_newer_snapshot(
    shop, post_webhook, work, shopify, inbox, db
):
    shopify.transactions = [stripe_sale()]
    created = payload(ORDER)
    updated = {**created, "updated_at": "2026-03-05T09:30:00+02:00", "email": "aino.uusi@example.com",
               "financial_status": "partially_refunded"}  # fmt: skip

    post_webhook("orders/updated", updated, webhook_id="updated-1")
    work()
    post_webhook("orders/create", created, webhook_id="create-1")
    work()

    order = the_order(db)
    assert (order.email, order.financial_status) == ("aino.uusi@example.com", "partially_refunded")
    assert order.platform_updated_at.isoformat() == "2026-03-05T07:30:00+00:00"
    assert [e.status for e in inbox()] == ["processed", "processed"]
    assert shopify.operations("OrderTransactions") == []  # order events read no payments (a return does)


def test_replaying_an_older_order_snapshot_changes_nothing(shop, post_webhook, work, shopify, db):
    shopify.transactions = [stripe_sale()]
    newer = {**payload(ORDER), "updated_at": "2026-03-05T09:30:00+02:00", "email": "aino.uusi@example.com"}
    post_webhook("orders/updated", newer, webhook_id="updated-1")
    work()
    before = the_order(db)
    before_state = (before.email, before.platform_updated_at, before.financial_status, len(before.lines))

    post_webhook("orders/create", payload(ORDER), webhook_id="replay-old")
    post_webhook("orders/updated", newer, webhook_id="replay-same")
    work()

    after = the_order(db)
    assert (after.email, after.platform_updated_at, after.financial_status, len(after.lines)) == before_state
    assert len(db.scalars(select(Order)).all()) == 1


def test_a_return_for_an_order_no_webhook_told_us_of_reads_the_order_from_the_platform_and_goes_on(
    app, shop, post_webhook, work, shopify, inbox, db
):
    # Placed before Palautus was installed, or its webhook was lost: Shopify still has it.
    shopify.orders[f"gid://shopify/Order/{ORDER_ID}"] = payload(ORDER)
    shopify.transactions = [stripe_sale()]
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="early-return")
    work()

    [event] = inbox()
    assert (event.status, event.error) == ("processed", None)
    assert [r.platform_return_id for r in returns(db)] == ["3547267221"]
    order = the_order(db)
    assert [line.platform_line_id for line in order.lines] == ["12695210000533", "12695210033301"]
    assert [p.payment_id for p in order.payments] == ["pi_3PalautusTest0001"]
    assert shopify.operations("Order") == [{"id": f"gid://shopify/Order/{ORDER_ID}"}]


def test_a_return_naming_a_line_the_snapshot_lacks_reads_the_edited_order_again(
    app, shop, post_webhook, work, shopify, inbox, db
):
    edited = payload(ORDER)
    first = {**edited, "line_items": edited["line_items"][:1], "updated_at": "2026-03-02T14:05:30+02:00"}
    shopify.transactions = [stripe_sale()]
    post_webhook("orders/create", first, webhook_id="order-1")  # before an order edit added the socks
    work()
    shopify.orders[f"gid://shopify/Order/{ORDER_ID}"] = edited
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1")
    work()
    assert inbox()[-1].status == "processed"
    assert len(the_order(db).lines) == 2 and len(returns(db)) == 1


def test_a_platform_outage_while_reading_an_unknown_order_is_retried_and_the_sweeper_finishes_it(
    app, shop, post_webhook, work, shopify, inbox, queued, db
):
    retries = len(app.config["RETRY_INTERVALS"])
    shopify.faults_for["Order"] = [503] * (1 + retries)
    shopify.orders[f"gid://shopify/Order/{ORDER_ID}"] = payload(ORDER)
    shopify.transactions = [stripe_sale()]
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="early-return")
    work()

    [event] = inbox()
    assert event.status == "retrying" and "server error" in event.error
    assert event.attempts == 1 + retries  # rq's Retry ran them all in the same burst (intervals 0)
    assert queued() == [] and returns(db) == []
    assert sweep()["events"] == 0  # its next attempt is not due yet

    event.next_attempt_at -= timedelta(hours=3)  # time passes; Shopify is back
    event.enqueued_at -= timedelta(hours=3)
    db.commit()
    assert sweep()["events"] == 1
    work()
    event = inbox()[0]
    assert (event.status, event.error) == ("processed", None)
    assert [r.platform_return_id for r in returns(db)] == ["3547267221"]


def test_a_return_for_an_order_the_platform_does_not_have_fails_with_the_reason_shown(
    app, shop, post_webhook, work, shopify, inbox, db
):
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="early-return")
    work()
    [event] = inbox()
    assert event.status == "failed" and "order not found" in event.error
    assert returns(db) == []


def test_an_event_that_keeps_failing_is_given_up_after_its_last_attempt(
    app, shop, post_webhook, work, inbox, db
):
    from jobs.events import MAX_ATTEMPTS

    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="orphan-return")
    work()
    event = inbox()[0]
    event.attempts, event.next_attempt_at = MAX_ATTEMPTS, event.next_attempt_at - timedelta(days=1)
    event.enqueued_at -= timedelta(days=1)
    db.commit()
    assert sweep()["events"] == 1
    work()
    event = inbox()[0]
    assert event.status == "failed" and event.error.startswith(f"gave up after {MAX_ATTEMPTS} attempts")
    assert sweep()["events"] == 0


def test_a_failed_event_run_again_after_it_succeeded_changes_nothing(
    app, shop, post_webhook, work, shopify, inbox, db
):
    order_is_known(post_webhook, work, shopify)
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1")
    work()
    event = inbox()[-1]

    app.extensions["tasks"].process_webhook(event.id)
    work()

    assert inbox()[-1].attempts == event.attempts == 1
    assert len(returns(db)) == 1


# --- the shop leaving -------------------------------------------------------------------------


def test_app_uninstalled_marks_the_shop_uninstalled_and_its_api_key_stops_working(
    app, client, shop, post_webhook, work, shopify, db
):
    shop_row, key = shop
    assert client.get("/api/v1/shop", headers=auth(key)).status_code == 200
    shopify.access_token = "shpat_revoked_by_the_uninstall"  # Shopify revokes the app's token as it sends this

    response = post_webhook("app/uninstalled", {"id": 548380009, "domain": SHOP_DOMAIN}, webhook_id="bye")
    work()

    assert response.status_code == 200
    stored = fresh(db).get(Shop, shop_row.id)
    assert stored.uninstalled_at is not None
    credentials = app.extensions["vault"].open(stored.credentials)
    assert "access_token" not in credentials and ACCESS_TOKEN not in repr(credentials)
    assert_error(client.get("/api/v1/shop", headers=auth(key)), 401, "unauthorized")


# --- Redis down, then the sweeper -------------------------------------------------------------


def test_a_delivery_stored_while_redis_was_down_is_processed_after_the_sweeper_enqueues_it(
    app, shop, post_webhook, work, shopify, inbox, queued, db, redis_down):
    shopify.transactions = [stripe_sale()]
    with redis_down():
        response = post_webhook("orders/create", payload(ORDER), webhook_id="while-down")

    assert response.status_code == 200, response.get_json()
    [event] = inbox()
    assert (event.status, queued()) == ("received", [])
    assert sweep()["events"] == 0  # too fresh: it may still be on its way to the queue

    db.execute(update(WebhookEvent).values(received_at=utcnow() - timedelta(minutes=10)))
    db.commit()
    assert sweep()["events"] == 1
    assert len(queued()) == 1
    work()

    assert inbox()[0].status == "processed"
    assert the_order(db) is not None
