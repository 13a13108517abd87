"""Nothing twice: the customer is refunded exactly once whatever fails, repeats or arrives late."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from integration.models import Refund, Return
from jobs.sweep import sweep
from tests.conftest import auth, payload
from tests.fakes import stripe_sale
from tests.jobs.helpers import AMOUNT, ORDER, RETURN_REQUEST, approve_and_receive, refund_of, shopify_return


def refund_in_admin_now() -> dict:
    """The merchant refunds the returned jacket and socks in Shopify admin, after the return was opened."""
    body = payload("refunds__create.two_lines.json")
    body["created_at"] = body["processed_at"] = datetime.now(timezone.utc).isoformat()
    return body


def age(db, model, column: str, by=timedelta(hours=1)) -> None:
    """Move a timestamp back, as if the row had waited that long."""
    for row in db.scalars(select(model)):
        setattr(row, column, getattr(row, column) - by)
    db.commit()


# Transient failures, lost answers and unknown outcomes, for every route: tests/jobs/test_refund_matrix.py.


def test_a_refund_stripe_refuses_fails_with_its_reason_shown_to_the_merchant(
    client, shop, post_webhook, work, shopify, stripe, db, http
):
    ret = shopify_return(post_webhook, work, shopify, db)
    http.replace("POST", "https://api.stripe.com/v1/refunds", status=400, json={
        "error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                  "message": "Charge ch_1 has already been refunded."}})  # fmt: skip
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert len(http.calls) and stripe.refunds == {}
    shown = client.get(f"/api/v1/returns/{ret.id}", headers=auth(shop[1])).get_json()
    assert shown["status"] == "received"
    assert shown["refunds"][0]["status"] == "failed"
    assert "has already been refunded" in shown["refunds"][0]["last_error"]
    assert shown["timeline"][-1]["kind"] == "refund_failed"
    assert shopify.operations("RefundCreate") == []


def test_a_failed_refund_can_be_started_again_under_a_new_key(client, shop, post_webhook, work, shopify, stripe, db):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.status = "failed"
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert refund_of(db).status == "failed"
    stripe.status = "succeeded"
    again = client.post(f"/api/v1/returns/{ret.id}/refund", headers=auth(shop[1]))
    assert again.status_code == 202, again.get_json()
    work()
    keys = [headers["Idempotency-Key"] for headers, _ in stripe.posts]
    assert len(set(keys)) == 2
    assert [r["status"] for r in again.get_json()["refunds"]] == ["failed", "pending"]
    assert stripe.money_moved == AMOUNT


def test_a_refund_already_made_in_shopify_admin_is_never_paid_again(client, shop, post_webhook, work, shopify, stripe, db):
    ret = shopify_return(post_webhook, work, shopify, db)
    assert post_webhook("refunds/create", refund_in_admin_now(), webhook_id="refund-1").status_code == 200
    work()
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert stripe.posts == []
    shown = client.get(f"/api/v1/returns/{ret.id}", headers=auth(shop[1])).get_json()
    assert shown["status"] == "refunded" and shown["refunds"] == []
    assert shown["timeline"][-1]["kind"] == "nothing_left_to_refund"


def test_a_refund_made_in_shopify_admin_after_ours_was_planned_stops_ours(
    client, shop, post_webhook, work, shopify, stripe, db, app
):
    ret = shopify_return(post_webhook, work, shopify, db)
    approve_and_receive(client, shop[1], ret.id)  # the refund is written and queued, not yet run
    app.extensions["tasks"].queue().empty()  # ... and its job is late: the admin refund gets in first
    assert post_webhook("refunds/create", refund_in_admin_now(), webhook_id="refund-1").status_code == 200
    work()
    app.extensions["tasks"].push_refund(refund_of(db).id)
    work()
    assert stripe.posts == []
    refund = refund_of(db)
    assert refund.status == "failed" and "refunded some of these items" in refund.last_error


def test_the_same_refund_job_run_twice_calls_stripe_once(client, shop, post_webhook, work, shopify, stripe, db, app):
    ret = shopify_return(post_webhook, work, shopify, db)
    approve_and_receive(client, shop[1], ret.id)
    app.extensions["tasks"].push_refund(refund_of(db).id)  # a duplicate on the queue
    work()
    assert len(stripe.posts) == 1 and refund_of(db).status == "succeeded"


def test_a_shop_refund_from_before_the_return_was_opened_counts_against_the_line_not_the_return(
    client, shop, post_webhook, work, shopify, stripe, db
):
    # One of the two jackets and the socks were refunded in March, for no return; now the customer returns
    # the other jacket and the socks. The jacket is still owed; the socks were paid back already.
    ret = shopify_return(post_webhook, work, shopify, db, [stripe_sale(amount="195.60")])  # shipping included
    march = {**payload("refunds__create.two_lines.json"), "return": None}
    assert post_webhook("refunds/create", march, webhook_id="refund-1").status_code == 200
    work()
    approve_and_receive(client, shop[1], ret.id)
    work()
    # The jacket, and the order's 5.90 shipping: with this return the whole order has come back.
    assert [params["amount"] for _, params in stripe.posts] == [str(8490 + 590)]


def test_an_admin_refund_naming_this_return_is_never_paid_again_even_if_it_was_processed_first(
    client, shop, post_webhook, work, shopify, stripe, db
):
    # The merchant refunded Shopify return 3547267221 in the admin; our worker happened to process that
    # refund before the return request itself (a backlog), so its time says nothing: its `return.id` does.
    shopify.transactions = [stripe_sale()]
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()
    assert post_webhook("refunds/create", payload("refunds__create.two_lines.json"), webhook_id="refund-1").status_code == 200
    work()
    assert post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1").status_code == 200
    work()
    ret = db.scalar(select(Return))
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert stripe.posts == []
    db.expire_all()
    assert db.scalar(select(Return)).status == "refunded"


def test_a_return_cancelled_while_its_refund_waits_is_never_paid(client, shop, post_webhook, work, shopify, stripe, db, app, redis_down):
    ret = shopify_return(post_webhook, work, shopify, db)
    client.put("/api/v1/shop/policy", json={"refund_on": "approved"}, headers=auth(shop[1]))
    with redis_down():
        assert client.post(f"/api/v1/returns/{ret.id}/approve", json={}, headers=auth(shop[1])).status_code == 200
    assert refund_of(db).status == "pending"  # written; its job never queued
    assert client.post(f"/api/v1/returns/{ret.id}/cancel", json={}, headers=auth(shop[1])).status_code == 200
    age(db, Refund, "created_at")
    sweep()
    work()
    assert stripe.posts == []
    refund = refund_of(db)
    assert refund.status == "failed" and "cancelled" in refund.last_error


def test_a_return_whose_refund_is_with_stripe_cannot_be_cancelled(client, shop, post_webhook, work, shopify, stripe, db):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.status = "pending"
    client.put("/api/v1/shop/policy", json={"refund_on": "approved"}, headers=auth(shop[1]))
    client.post(f"/api/v1/returns/{ret.id}/approve", json={}, headers=auth(shop[1]))
    work()
    refused = client.post(f"/api/v1/returns/{ret.id}/cancel", json={}, headers=auth(shop[1]))
    assert refused.status_code == 409 and "already with the provider" in refused.get_json()["message"]
    db.expire_all()
    assert db.scalar(select(Return)).status == "approved"


def test_auto_approval_with_instant_refunds_starts_the_refund_and_approves_in_shopify(
    client, shop, post_webhook, work, shopify, stripe, db
):
    client.put("/api/v1/shop/policy", json={"refund_on": "approved", "auto_approve": True, "window_days": 3650},
               headers=auth(shop[1]))
    shopify_return(post_webhook, work, shopify, db)
    work()
    db.expire_all()
    assert db.scalar(select(Return)).status == "approved"
    assert len(stripe.posts) == 1 and refund_of(db).status == "succeeded"
    assert len(shopify.operations("ReturnApproveRequest")) == 1


def test_a_long_shopify_outage_leaves_the_refund_to_be_recorded_by_the_sweeper(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    assert client.post(f"/api/v1/returns/{ret.id}/approve", json={}, headers=auth(shop[1])).status_code == 200
    work()
    shopify.faults_for["RefundCreate"] = [503] * 4  # Shopify goes away for longer than rq's retries
    assert client.post(f"/api/v1/returns/{ret.id}/receive", json={}, headers=auth(shop[1])).status_code == 200
    work()
    refund = refund_of(db)
    assert refund.status == "succeeded" and refund.shop_synced_at is None and refund.sync_error is None
    age(db, Refund, "completed_at")
    assert sweep()["syncs"] == 1
    work()
    assert refund_of(db).shop_synced_at is not None
    attempts = shopify.operations("RefundCreate")
    assert len(attempts) == 5 and len({a["idempotencyKey"] for a in attempts}) == 1  # 4 in the outage, then one
    assert len(shopify.refunds) == 1


def test_a_second_refund_request_while_one_is_under_way_is_a_conflict(client, shop, post_webhook, work, shopify, stripe, db):
    ret = shopify_return(post_webhook, work, shopify, db)
    approve_and_receive(client, shop[1], ret.id)
    again = client.post(f"/api/v1/returns/{ret.id}/refund", headers=auth(shop[1]))
    assert again.status_code == 409 and "still under way" in again.get_json()["message"]
    assert len(db.scalars(select(Refund)).all()) == 1


def test_with_redis_down_the_refund_waits_in_the_database_and_the_sweeper_sends_it_once(
    client, shop, post_webhook, work, shopify, stripe, db, app, redis_down):
    ret = shopify_return(post_webhook, work, shopify, db)
    with redis_down():
        approve_and_receive(client, shop[1], ret.id)  # commits the refund; the enqueue fails quietly
    assert refund_of(db).status == "pending"
    work()
    assert stripe.posts == []  # nothing was queued
    age(db, Refund, "created_at")
    assert sweep()["refunds"] == 1
    work()
    assert len(stripe.posts) == 1 and refund_of(db).status == "succeeded"
    assert sweep() == {"events": 0, "refunds": 0, "syncs": 0, "returns": 0, "messages": 0, "withdrawals": 0, "shop_returns": 0,
                       "credit_notes": 0}


def test_a_refund_stripe_still_processes_is_asked_about_again_by_the_sweeper(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.status = "pending"
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert refund_of(db).status == "submitted"
    assert db.scalar(select(Return)).status == "received"
    next(iter(stripe.refunds.values()))["status"] = "succeeded"  # Stripe finishes it later
    assert sweep()["refunds"] == 1
    work()
    assert len(stripe.posts) == 1  # asked, never sent again
    assert refund_of(db).status == "succeeded"
    assert db.scalar(select(Return)).status == "closed"


def test_a_500_stripe_saved_for_the_key_is_looked_up_and_never_answered_with_a_new_key(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.faults = ["500_saved"]
    approve_and_receive(client, shop[1], ret.id)
    work()
    keys = {headers["Idempotency-Key"] for headers, _ in stripe.posts}
    assert len(stripe.posts) >= 2 and len(keys) == 1  # retried, always under the one key
    refund = refund_of(db)
    assert (refund.status, refund.needs_lookup) == ("submitted", True) and stripe.refunds == {}

    stripe.reconcile(keys.pop())  # the incident is resolved: the first request did make the refund
    age(db, Refund, "created_at")
    refund = refund_of(db)
    assert sweep()["refunds"] == 0  # rq's retries have the refund for now
    refund.next_attempt_at -= timedelta(hours=2)  # ... until its pause runs out
    db.commit()
    posts_before = len(stripe.posts)
    assert sweep()["refunds"] == 1
    work()
    assert len(stripe.posts) == posts_before  # found by looking it up, not by sending it again
    assert refund_of(db).status == "succeeded" and stripe.money_moved == AMOUNT


def test_a_rejection_after_an_earlier_attempt_checks_whether_that_attempt_went_through(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    stripe.faults = ["timeout_after", "idempotency_error"]  # made at Stripe, answer lost; then refused
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert len(stripe.posts) == 2
    assert refund_of(db).status == "succeeded" and stripe.money_moved == AMOUNT


def test_a_return_worth_more_than_the_biggest_of_two_payments_is_not_refunded_short(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shopify.transactions = [stripe_sale(1001, amount="100.00"), stripe_sale(1002, amount="89.70", payment_id="pi_second")]
    post_webhook("orders/create", payload(ORDER), webhook_id="order-1")
    work()
    post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1")
    work()
    ret = db.scalar(select(Return))
    approve_and_receive(client, shop[1], ret.id)
    work()
    assert stripe.posts == []
    shown = client.get(f"/api/v1/returns/{ret.id}", headers=auth(shop[1])).get_json()
    assert shown["status"] == "received"  # the customer is still owed it all
    [refund] = shown["refunds"]
    assert refund["status"] == "failed"
    assert refund["last_error"].startswith("4.80 EUR of the 104.80 EUR owed cannot be paid back through stripe")
    assert "also paid by stripe (89.70 EUR)" in refund["last_error"]


def test_our_own_refund_echoed_back_by_shopify_is_known_as_ours_and_not_counted_twice(
    client, shop, post_webhook, work, shopify, stripe, db
):
    from integration.models import ShopRefund

    ret = shopify_return(post_webhook, work, shopify, db)
    approve_and_receive(client, shop[1], ret.id)
    work()
    [recorded] = shopify.operations("RefundCreate")
    [gid] = shopify.refunds.values()  # the refund Shopify made when we recorded ours
    number = int(gid.rsplit("/", 1)[1])
    echo = {**payload("refunds__create.two_lines.json"), "id": number, "return": None,
            "admin_graphql_api_id": gid, "note": recorded["input"]["note"]}
    assert post_webhook("refunds/create", echo, webhook_id="echo-1").status_code == 200
    work()
    db.expire_all()
    row = db.scalar(select(ShopRefund))
    assert row.refund_id == refund_of(db).id  # linked by the refund id we stored (the note's key works before that)
    from integration.services.ledger import refunded_units

    order = db.scalar(select(Return)).order
    assert sorted(refunded_units(db, order).values()) == [1, 1]  # each returned unit counted once, not twice


def test_a_cancel_from_shopify_that_our_return_cannot_follow_leaves_its_refund_alone(
    client, shop, post_webhook, work, shopify, stripe, db, app, redis_down):
    ret = shopify_return(post_webhook, work, shopify, db)
    with redis_down():
        approve_and_receive(client, shop[1], ret.id)  # received; the refund is written, its job not queued
    cancel = {**payload("returns__cancel.sample.json"), "id": 3547267221,
              "admin_graphql_api_id": "gid://shopify/Return/3547267221", "order_id": 5196695273621}
    assert post_webhook("returns/cancel", cancel, webhook_id="cancel-1").status_code == 200
    work()
    assert refund_of(db).status == "pending"  # a received return cannot be cancelled: nothing was withdrawn
    app.extensions["tasks"].push_refund(refund_of(db).id)
    work()
    assert refund_of(db).status == "succeeded"


def test_a_cancel_that_lands_while_the_refund_job_runs_stops_the_payment(
    client, shop, post_webhook, work, shopify, stripe, db, app
):
    ret = shopify_return(post_webhook, work, shopify, db)
    client.put("/api/v1/shop/policy", json={"refund_on": "approved"}, headers=auth(shop[1]))
    client.post(f"/api/v1/returns/{ret.id}/approve", json={}, headers=auth(shop[1]))
    # The job has claimed the refund and is reading the order's payments when the merchant cancels.
    cancelled = []
    shopify.before["OrderTransactions"] = lambda: cancelled.append(
        client.post(f"/api/v1/returns/{ret.id}/cancel", json={}, headers=auth(shop[1])).status_code
    )  # fmt: skip
    work()
    assert cancelled == [200]
    assert stripe.posts == []
    refund = refund_of(db)
    assert refund.status == "failed" and "cancelled before the refund was sent" in refund.last_error
    assert db.get(Return, ret.id).status == "cancelled"


def test_a_platform_cancel_after_the_refund_was_sent_is_noted_and_the_refund_goes_on(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    client.put("/api/v1/shop/policy", json={"refund_on": "approved"}, headers=auth(shop[1]))
    stripe.status = "pending"  # Stripe takes it and works on it
    client.post(f"/api/v1/returns/{ret.id}/approve", json={}, headers=auth(shop[1]))
    work()
    cancel = {**payload("returns__cancel.sample.json"), "id": 3547267221,
              "admin_graphql_api_id": "gid://shopify/Return/3547267221", "order_id": 5196695273621}  # fmt: skip
    assert post_webhook("returns/cancel", cancel, webhook_id="cancel-1").status_code == 200
    work()
    db.expire_all()
    ret = db.get(Return, ret.id)
    assert ret.status == "approved" and refund_of(db).status == "submitted"
    ignored = ret.events[-1]
    assert ignored.kind == "platform_status_ignored" and "already with the provider" in ignored.data["reason"]
