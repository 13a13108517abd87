"""A return whose refund has paid the customer cannot be cancelled (refund_on=approved pays before receipt).

APPROVED -> CANCELLED is a legal move, so withdraw() must refuse it once money is out,
as it does while a refund is with the provider; else the customer keeps the money and
the goods. A merchant's cancel is a 409; a platform's is noted, not followed.
"""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Refund, Return
from tests.conftest import auth, payload
from tests.jobs.helpers import AMOUNT, shopify_return

RETURN_ID = 3547267221


def instantly_refunded_return(client, shop, post_webhook, work, shopify, stripe, db) -> Return:
    assert client.put("/api/v1/shop/policy", json={"refund_on": "approved"}, headers=auth(shop[1])).status_code == 200
    ret = shopify_return(post_webhook, work, shopify, db)
    assert client.post(f"/api/v1/returns/{ret.id}/approve", json={}, headers=auth(shop[1])).status_code == 200
    work()
    db.expire_all()
    ret = db.get(Return, ret.id)
    assert ret.status == "approved" and [r.status for r in ret.refunds] == ["succeeded"]
    assert stripe.money_moved == AMOUNT
    return ret


def test_a_merchant_cannot_cancel_a_return_whose_refund_has_already_been_paid(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = instantly_refunded_return(client, shop, post_webhook, work, shopify, stripe, db)
    answer = client.post(f"/api/v1/returns/{ret.id}/cancel", json={}, headers=auth(shop[1]))
    db.expire_all()
    assert answer.status_code == 409, answer.get_json()  # money is out: like a submitted refund, it forbids the cancel
    assert db.get(Return, ret.id).status == "approved"


def test_a_platform_cancel_of_a_return_already_paid_is_noted_not_followed(
    client, shop, post_webhook, work, shopify, stripe, db
):
    ret = instantly_refunded_return(client, shop, post_webhook, work, shopify, stripe, db)
    cancel = {**payload("returns__cancel.sample.json"), "id": RETURN_ID,
              "admin_graphql_api_id": f"gid://shopify/Return/{RETURN_ID}", "order_id": 5196695273621}  # fmt: skip
    assert post_webhook("returns/cancel", cancel, webhook_id="cancel-1").status_code == 200
    work()
    db.expire_all()
    ret = db.get(Return, ret.id)
    assert ret.status == "approved", [e.kind for e in ret.events]
    assert ret.events[-1].kind == "platform_status_ignored"
    assert db.scalar(select(Refund)).status == "succeeded"
