"""Our own refund's Shopify record, read back before every plan, never stops a later refund.

Palautus records every refund it paid on the Shopify order (refundCreate with the refund
lines and a note naming our key). The job reads the order's refunds before each plan; a
record of ours with more lines than one read returns needs no lines (they are in our own
rows) and is not taken for a refund that cannot be read. Found by the fourth audit.
"""
from __future__ import annotations

import copy
from datetime import timedelta

from sqlalchemy import select, update

from integration.models import Refund, Return, utcnow
from jobs.sweep import sweep
from tests.conftest import auth, payload
from tests.fakes import stripe_sale
from tests.jobs.helpers import ORDER

SOCKS = 12695210033301
LINES = [str(SOCKS + 1000 + n) for n in range(30)]  # thirty one-unit lines of socks


def big_order() -> dict:
    order = payload(ORDER)
    socks = next(line for line in order["line_items"] if line["id"] == SOCKS)
    for line_id in LINES:
        line = copy.deepcopy(socks)
        line["id"], line["admin_graphql_api_id"] = int(line_id), f"gid://shopify/LineItem/{line_id}"
        order["line_items"].append(line)
    return order


def shopify_pages_refund_lines(shopify, size: int = 25) -> None:
    """The fake answers REFUNDS_BY_ID as Shopify does for refundLineItems(first: 25): one page, and whether more follow."""
    answer = shopify._RefundsById

    def paged(variables):
        out = answer(variables)
        for node in out["nodes"]:
            if node is not None:
                lines = node["refundLineItems"]
                node["refundLineItems"] = {"pageInfo": {"hasNextPage": len(lines["nodes"]) > size},
                                           "nodes": lines["nodes"][:size]}  # fmt: skip
        return out

    shopify._RefundsById = paged


def open_return(client, key, line_ids) -> int:
    body = {"order_id": "5196695273621",
            "items": [{"line_id": line_id, "quantity": 1, "reason": "size_too_small"} for line_id in line_ids]}
    answer = client.post("/api/v1/returns", json=body, headers=auth(key))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def approve_and_receive(client, key, return_id) -> None:
    for action in ("approve", "receive"):
        answer = client.post(f"/api/v1/returns/{return_id}/{action}", json={}, headers=auth(key))
        assert answer.status_code == 200, answer.get_json()


def returns_of(db) -> list[Return]:
    db.expire_all()
    return db.scalars(select(Return).order_by(Return.id)).all()


def test_our_own_refund_of_a_return_of_more_than_25_lines_read_back_from_shopify_does_not_stop_the_order_s_next_refund(
    client, shop, post_webhook, work, shopify, stripe, db
):
    shopify_pages_refund_lines(shopify)
    shopify.transactions = [stripe_sale(1001, "999.00")]
    assert post_webhook("orders/create", big_order(), webhook_id="order-1").status_code == 200
    work()
    # A return of 26 lines is paid, and recorded in Shopify with 26 refund lines.
    first = open_return(client, shop[1], LINES[:26])
    approve_and_receive(client, shop[1], first)
    work()
    [paid] = returns_of(db)[0].refunds
    assert paid.status == "succeeded" and paid.shop_refund_gid, (paid.status, paid.last_error, paid.sync_error)
    assert len(shopify.recorded) == 1

    # A second return on the same order: one other pair of socks.
    second = open_return(client, shop[1], LINES[26:27])
    approve_and_receive(client, shop[1], second)
    work()
    db.execute(update(Refund).values(created_at=utcnow() - timedelta(hours=13), next_attempt_at=None,
                                     enqueued_at=None, claimed_until=None))  # fmt: skip
    db.commit()
    sweep()
    work()

    [refund] = returns_of(db)[1].refunds
    # Our own record explains itself: the second customer is paid their socks.
    assert (refund.status, refund.last_error) == ("succeeded", None)
