"""Return decisions made in Palautus reach the Shopify return; Shopify's own decisions are followed, not echoed."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from integration.models import Return
from jobs.sweep import sweep
from tests.conftest import auth, payload
from tests.jobs.helpers import shopify_return

RETURN_GID = "gid://shopify/Return/3547267221"


def the_return(db) -> Return:
    db.expire_all()
    return db.scalar(select(Return))


def act(client, key, return_id, action, **body):
    answer = client.post(f"/api/v1/returns/{return_id}/{action}", json=body, headers=auth(key))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_a_rejection_reaches_shopify_as_a_decline_with_its_reason_and_note(client, shop, post_webhook, work, shopify, db):
    ret = shopify_return(post_webhook, work, shopify, db)
    act(client, shop[1], ret.id, "reject", reason="final_sale", note="Swimwear is final sale.")
    work()
    assert shopify.operations("ReturnDeclineRequest") == [{"input": {
        "id": RETURN_GID, "declineReason": "FINAL_SALE", "notifyCustomer": False, "declineNote": "Swimwear is final sale."}}]
    assert the_return(db).shop_status == "DECLINED"


def test_a_cancellation_reaches_shopify(client, shop, post_webhook, work, shopify, db):
    ret = shopify_return(post_webhook, work, shopify, db)
    act(client, shop[1], ret.id, "cancel")
    work()
    assert shopify.operations("ReturnCancel") == [{"id": RETURN_GID}]


def test_a_decision_already_synced_is_not_sent_again(client, shop, post_webhook, work, shopify, db, app):
    ret = shopify_return(post_webhook, work, shopify, db)
    act(client, shop[1], ret.id, "approve")
    work()
    app.extensions["tasks"].sync_return(ret.id)
    work()
    assert len(shopify.operations("ReturnApproveRequest")) == 1


def test_shopify_s_own_decisions_are_followed_without_an_echo(client, shop, post_webhook, work, shopify, db):
    shopify_return(post_webhook, work, shopify, db)
    approve = {**payload("returns__approve.sample.json"), "id": 3547267221,
               "admin_graphql_api_id": RETURN_GID, "order": {"id": 5196695273621}}
    assert post_webhook("returns/approve", approve, webhook_id="approve-1").status_code == 200
    work()
    ret = the_return(db)
    assert (ret.status, ret.shop_status) == ("approved", "OPEN")
    assert [(e.actor, e.kind) for e in ret.events][-1] == ("platform", "approved")
    assert shopify.operations("ReturnApproveRequest") == []


def test_a_shopify_change_our_return_cannot_make_is_recorded_not_applied(client, shop, post_webhook, work, shopify, db):
    shopify_return(post_webhook, work, shopify, db)
    close = {**payload("returns__close.sample.json"), "id": 3547267221, "admin_graphql_api_id": RETURN_GID,
             "order_id": 5196695273621}
    assert post_webhook("returns/close", close, webhook_id="close-1").status_code == 200
    work()
    ret = the_return(db)
    assert ret.status == "requested"
    assert ret.events[-1].kind == "platform_status_ignored"


def test_with_redis_down_an_approval_reaches_shopify_through_the_sweeper(client, shop, post_webhook, work, shopify, db, app, redis_down):
    ret = shopify_return(post_webhook, work, shopify, db)
    with redis_down():
        act(client, shop[1], ret.id, "approve")
    assert sweep()["returns"] == 0  # not late yet
    stored = the_return(db)
    stored.updated_at -= timedelta(hours=1)
    db.commit()
    assert sweep()["returns"] == 1
    work()
    assert len(shopify.operations("ReturnApproveRequest")) == 1
    assert the_return(db).shop_status == "OPEN"
    assert sweep()["returns"] == 0


def test_a_sync_shopify_refuses_is_shown_on_the_return_and_not_retried_forever(
    client, shop, post_webhook, work, shopify, db
):
    ret = shopify_return(post_webhook, work, shopify, db)
    shopify.faults = [403]
    act(client, shop[1], ret.id, "approve")
    work()
    stored = the_return(db)
    assert stored.shop_status == "REQUESTED" and "HTTP 403" in stored.shop_sync_error
    assert stored.events[-1].kind == "shop_sync_failed"
    stored.updated_at -= timedelta(hours=1)
    db.commit()
    assert sweep()["returns"] == 0
