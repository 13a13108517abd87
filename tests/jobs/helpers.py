"""Shared steps for job tests: an order paid through Stripe, returns opened on it, Shopify's lists, time passing."""
from __future__ import annotations

import copy
from datetime import timedelta

from sqlalchemy import case, select, update

from integration.models import Refund, Return, utcnow
from jobs.sweep import sweep
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


# --- the order's lines, its payments as Shopify lists them, and the steps the money-path tests share ----

SWEATER, SOCKS = "12695210000533", "12695210033301"  # the sweater line has 2 units, the socks 1
PI = "pi_3PalautusTest0001"  # the order's PaymentIntent
EXTRA_LINES = [str(int(SOCKS) + 1000 + n) for n in range(30)]  # big_order's thirty one-unit lines of socks


def returns_of(db) -> list[Return]:
    """Every return, as the database has it now, oldest first."""
    db.expire_all()
    return db.scalars(select(Return).order_by(Return.id)).all()


def refund_of(db) -> Refund:
    """The (one) refund, as the database has it now."""
    db.expire_all()
    return db.scalar(select(Refund))


def the_order_arrives(post_webhook, work, shopify, transactions=None) -> None:
    """The order's webhook, processed; Shopify lists `transactions` (a Stripe sale by default) for it."""
    shopify.transactions = list(transactions) if transactions else [stripe_sale()]
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()


def open_return(client, key, items: dict[str, int]) -> int:
    """A return opened through the API: units per line id."""
    body = {"order_id": "5196695273621",
            "items": [{"line_id": line, "quantity": n, "reason": "size_too_small"} for line, n in items.items()]}  # fmt: skip
    answer = client.post("/api/v1/returns", json=body, headers=auth(key))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def open_one_sweater(client, key) -> int:
    return open_return(client, key, {SWEATER: 1})


def received_return(client, key, items: dict[str, int]) -> int:
    """A return opened, approved and received: with refund_on=received its refund is written and queued."""
    return_id = open_return(client, key, items)
    approve_and_receive(client, key, return_id)
    return return_id


def stuck_refund(client, key, post_webhook, work, shopify, db, redis_down, hours: int = 3):
    """A refund written while Redis was down (its job lost), started `hours` ago: what `refunds stuck` lists."""
    the_order_arrives(post_webhook, work, shopify)
    with redis_down():
        received_return(client, key, {SWEATER: 1})
    refund = db.scalar(select(Refund))
    refund.created_at -= timedelta(hours=hours)
    db.commit()
    return refund


def refund_transaction(number: int, amount: str, parent: int) -> dict:
    """A successful REFUND as the Admin API lists it among the order's transactions."""
    return {**stripe_sale(number, amount=amount), "kind": "REFUND",
            "parentTransaction": {"id": f"gid://shopify/OrderTransaction/{parent}"}}  # fmt: skip


def capture(number: int, amount: str, status: str = "SUCCESS") -> dict:
    """A CAPTURE of the PaymentIntent; its parent is the AUTHORIZATION 1000."""
    return {**stripe_sale(number, amount=amount, payment_id=PI), "kind": "CAPTURE", "status": status,
            "authorizationCode": None,
            "parentTransaction": {"id": "gid://shopify/OrderTransaction/1000", "paymentId": None, "authorizationCode": PI}}  # fmt: skip


def klarna_sale(number: int, amount: str) -> dict:
    """A Klarna payment Shopify processed (platform-managed: Shopify refunds it, and Klarna refunds settle later)."""
    return {**stripe_sale(number, amount=amount), "gateway": "klarna", "paymentId": f"klarna-{number}",
            "authorizationCode": None}  # fmt: skip


def shop_refund(refund_id: int, line: str, transactions: list[tuple[str, str, int]], created_at: str) -> dict:
    """A refunds/create body: one unit of `line`, with (status, amount, parent id) transactions, naming no return."""
    body = payload("refunds__create.two_lines.json")
    body["id"], body["admin_graphql_api_id"] = refund_id, f"gid://shopify/Refund/{refund_id}"
    body["refund_line_items"] = [row for row in body["refund_line_items"] if row["line_item_id"] == int(line)]
    template = next(t for t in body["transactions"] if t["status"] == "success")
    body["transactions"] = [
        {**template, "id": refund_id * 10 + n, "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{refund_id * 10 + n}",
         "status": status, "amount": amount, "parent_id": parent}
        for n, (status, amount, parent) in enumerate(transactions)
    ]  # fmt: skip
    body["return"] = None
    body["created_at"] = body["processed_at"] = created_at
    return body


def admin_refund_of_one_sweater_before_any_return() -> dict:
    """The shop refunded one sweater (84.50 from the order's sale) in its admin, for no return."""
    body = payload("refunds__create.two_lines.json")
    body["refund_line_items"] = [row for row in body["refund_line_items"] if row["line_item_id"] == int(SWEATER)]
    body["transactions"] = [t for t in body["transactions"] if t["status"] == "success"]
    body["transactions"][0].update(amount="84.50", parent_id=1001)
    body["return"] = None
    return body


def let_the_sweeper_retry(db) -> int:
    """Time passes: pauses and claims run out, and every refund is at least an hour old; the sweeper runs."""
    hour_ago = utcnow() - timedelta(hours=1)
    db.execute(update(Refund).values(created_at=case((Refund.created_at > hour_ago, hour_ago), else_=Refund.created_at),
                                     next_attempt_at=None, enqueued_at=None, claimed_until=None))  # fmt: skip
    db.commit()
    return sweep()["refunds"]


def later(db, by=timedelta(hours=2)) -> None:
    """Time passes for the refund: its pause and the sweeper's stuck threshold run out."""
    refund = refund_of(db)
    for column in ("created_at", "next_attempt_at", "enqueued_at", "first_submitted_at", "last_sent_at"):
        if getattr(refund, column) is not None:
            setattr(refund, column, getattr(refund, column) - by)
    db.commit()


def big_order() -> dict:
    """The order with thirty more one-unit lines of socks (EXTRA_LINES)."""
    order = payload(ORDER)
    socks = next(line for line in order["line_items"] if line["id"] == int(SOCKS))
    for line_id in EXTRA_LINES:
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
