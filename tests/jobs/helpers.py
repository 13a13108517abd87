"""Shared steps for job tests: an order paid through Stripe and a return opened on it in Shopify."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Return
from tests.conftest import auth, payload
from tests.fakes import stripe_sale

ORDER = "orders__create.eur_presentment.json"
RETURN_REQUEST = "returns__request.two_items.json"
AMOUNT = 8490 + 1990  # see test_return_to_refund.py


def shopify_return(post_webhook, work, shopify, db, transactions=None) -> Return:
    """Order webhook, then return request webhook, both processed by the worker; paid by `transactions`."""
    shopify.transactions = transactions or [stripe_sale()]
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()
    assert post_webhook("returns/request", payload(RETURN_REQUEST), webhook_id="return-1").status_code == 200
    work()
    return db.scalar(select(Return))


def approve_and_receive(client, key, return_id) -> None:
    """The merchant approves and receives; with refund_on=received the refund is written and enqueued."""
    for action in ("approve", "receive"):
        answer = client.post(f"/api/v1/returns/{return_id}/{action}", json={}, headers=auth(key))
        assert answer.status_code == 200, answer.get_json()
