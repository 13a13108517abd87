"""A portal return opened in Shopify too (returnRequest), and Shopify's returns/request echo of it linked to ours,
never opened as a second return: echo after the answer, echo before it, the job run twice (and after a lost
answer), a refusal recorded without failing the customer's return, a status change that came before the link."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import requests
from sqlalchemy import select

from adapters.platforms.shopify.payloads import parse_return_request
from integration.models import EarlyReturnStatus, Order, Return, Shop
from integration.returns import Actor
from integration.services import shop_returns
from integration.services.returns import ItemRequest, open_return, return_by_platform_id
from jobs.context import new_ctx
from jobs.events import process_webhook
from jobs.shop_returns import open_shop_return
from sandbox.schema import checked_operation
from tests.conftest import SHOP_DOMAIN, payload
from tests.jobs.helpers import ORDER, SOCKS, SWEATER, returns_of

URL = f"https://{SHOP_DOMAIN}/admin/api/2026-10/graphql.json"
ORDER_ID = "5196695273621"
FULFILLED = {SWEATER: ("10736341352597", 2), SOCKS: ("10736341385365", 1)}  # line -> (fulfillment line item, units)


class ReturnsShop:
    """Shopify's Admin API as these tests need it: every document checked against the 2026-10 schema, the order's
    returns kept, returns/request (and other webhooks) told to the app through `echo` when a test asks."""

    def __init__(self, http, schema, post_webhook):
        self.schema, self.post_webhook = schema, post_webhook
        self.returns: dict[str, dict] = {}  # Return gid -> {status, createdAt, lines: {line: units}, body}
        self.calls: list[tuple[str, dict]] = []
        self.refuse = False  # returnRequest answers a userError
        self.lose_answer = 0  # returnRequest answers this many times with a timeout, after making the return
        self.during_request = None  # called with the new return's REST body before the answer leaves
        http.add_callback("POST", URL, callback=self._handle)

    def _handle(self, request):
        body = json.loads(request.body)
        op = checked_operation(self.schema, body["query"])  # raises on a document the schema refuses
        self.calls.append((op, body["variables"]))
        data = getattr(self, f"_{op}")(body["variables"])
        if isinstance(data, Exception):
            raise data
        return 200, {"X-Request-Id": "req-1"}, json.dumps({"data": data})

    def operations(self, name: str) -> list[dict]:
        return [variables for op, variables in self.calls if op == name]

    def _OrderTransactions(self, v):
        return {"order": {"id": v["id"], "checkoutToken": None, "transactions": []}}

    def _ProductsById(self, v):
        return {"nodes": [None for _ in v["ids"]]}

    def _OrderReturns(self, v):
        nodes = [{"id": gid, "status": r["status"], "createdAt": r["createdAt"], "returnLineItems": {
            "pageInfo": {"hasNextPage": False}, "nodes": [
                {"quantity": q, "fulfillmentLineItem": {"lineItem": {"id": f"gid://shopify/LineItem/{line}"}}}
                for line, q in r["lines"].items()]}} for gid, r in self.returns.items()]  # fmt: skip
        return {"order": {"id": v["id"], "returns": {"pageInfo": {"hasNextPage": False}, "nodes": nodes}}}

    def _ReturnableFulfillments(self, v):
        taken = {}
        for r in self.returns.values():
            for line, q in r["lines"].items():
                taken[line] = taken.get(line, 0) + q
        rows = [{"quantity": units - taken.get(line, 0), "fulfillmentLineItem": {
            "id": f"gid://shopify/FulfillmentLineItem/{fli}", "lineItem": {"id": f"gid://shopify/LineItem/{line}"}}}
            for line, (fli, units) in FULFILLED.items() if units > taken.get(line, 0)]  # fmt: skip
        return {"returnableFulfillments": {"pageInfo": {"hasNextPage": False}, "nodes": [{
            "id": "gid://shopify/ReturnableFulfillment/1",
            "returnableFulfillmentLineItems": {"pageInfo": {"hasNextPage": False}, "nodes": rows}}]}}

    def _ReturnReasonDefinitions(self, v):
        return {"returnReasonDefinitions": {"nodes": [
            {"id": "gid://shopify/ReturnReasonDefinition/12", "handle": "size-too-small", "deleted": False}]}}

    def _ReturnRequest(self, v):
        if self.refuse:
            return {"returnRequest": {"return": None, "userErrors": [
                {"field": ["input", "returnLineItems", "0"], "message": "Line item is not returnable", "code": "INVALID"}]}}
        number = 3547268000 + len(self.returns)
        lines = {}
        for item in v["input"]["returnLineItems"]:
            line = next(line for line, (fli, _) in FULFILLED.items() if item["fulfillmentLineItemId"].endswith(fli))
            lines[line] = lines.get(line, 0) + item["quantity"]
        gid = f"gid://shopify/Return/{number}"
        self.returns[gid] = {"status": "REQUESTED", "createdAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "lines": lines, "body": self._rest(number, lines)}  # fmt: skip
        if self.during_request is not None:
            self.during_request(self.returns[gid]["body"])
        if self.lose_answer:
            self.lose_answer -= 1
            return requests.ReadTimeout("read timed out")  # made at Shopify, the answer lost
        return {"returnRequest": {"return": {"id": gid, "status": "REQUESTED"}, "userErrors": []}}

    def _ReturnApproveRequest(self, v):
        self.returns[v["input"]["id"]]["status"] = "OPEN"
        return {"returnApproveRequest": {"return": {"id": v["input"]["id"], "status": "OPEN"}, "userErrors": []}}

    def _rest(self, number: int, lines: dict[str, int]) -> dict:
        """The returns/request body Shopify sends for the new return (the documented shape)."""
        rows = [{"id": 6200525000 + i, "admin_graphql_api_id": f"gid://shopify/ReturnLineItem/{6200525000 + i}",
                 "fulfillment_line_item": {"id": int(FULFILLED[line][0]),
                                           "admin_graphql_api_id": f"gid://shopify/FulfillmentLineItem/{FULFILLED[line][0]}",
                                           "line_item": {"id": int(line), "admin_graphql_api_id": f"gid://shopify/LineItem/{line}"}},
                 "quantity": q, "return_reason": "size_too_small", "return_reason_note": "", "customer_note": None}
                for i, (line, q) in enumerate(lines.items())]  # fmt: skip
        return {"id": number, "admin_graphql_api_id": f"gid://shopify/Return/{number}", "status": "requested",
                "order": {"id": int(ORDER_ID), "admin_graphql_api_id": f"gid://shopify/Order/{ORDER_ID}"},
                "total_return_line_items": len(rows), "name": "#1106-R1", "return_line_items": rows,
                "return_shipping_fees": [], "exchange_line_items": [], "total_exchange_line_items": 0}  # fmt: skip

    def echo(self, body: dict, topic: str = "returns/request", webhook_id: str | None = None) -> int:
        """Shopify's webhook about the return reaches the app and is processed now; the event's id."""
        answer = self.post_webhook(topic, body, webhook_id=webhook_id or f"{topic}-{body['id']}")
        assert answer.status_code == 200
        event_id = answer.get_json()["event_id"]
        process_webhook(event_id)
        return event_id


@pytest.fixture
def shop_api(http, shopify_schema, post_webhook):
    return ReturnsShop(http, shopify_schema, post_webhook)


@pytest.fixture
def order(shop, post_webhook, work, shop_api):
    assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
    work()


def portal_return(app, items=((SWEATER, 1, "size_too_small"), (SOCKS, 1, "changed_mind"))) -> int:
    """A return the customer opens in the portal (the service the portal calls); its id."""
    with app.extensions["db"].session() as session:
        ctx = new_ctx(app, session)
        order = session.scalar(select(Order))
        ret = open_return(ctx, session.get(Shop, order.shop_id), order,
                          [ItemRequest(line, n, reason, "The sleeves are too short") for line, n, reason in items],
                          method="postal", source="portal", actor=Actor.CUSTOMER)  # fmt: skip
        return ret.id


def test_the_portal_return_is_requested_in_shopify_and_its_later_echo_is_linked_not_opened(app, db, order, shop_api, work):
    return_id = portal_return(app)
    work()
    [ret] = returns_of(db)
    [sent] = shop_api.operations("ReturnRequest")
    assert [(i["quantity"], i.get("returnReasonDefinitionId"), i.get("returnReason")) for i in sent["input"]["returnLineItems"]] == [
        (1, "gid://shopify/ReturnReasonDefinition/12", None), (1, None, "UNWANTED")]  # fmt: skip
    assert (ret.id, ret.platform_return_id, ret.shop_status, ret.source) == (return_id, "3547268000", "REQUESTED", "portal")

    shop_api.echo(shop_api.returns["gid://shopify/Return/3547268000"]["body"])
    [ret] = returns_of(db)
    assert ret.platform_return_id == "3547268000" and [e.kind for e in ret.events].count("shop_return_linked") == 1


def test_an_echo_that_comes_before_the_answer_is_stored_links_the_same_return(app, db, order, shop_api, work):
    echoed = []
    shop_api.during_request = lambda body: echoed.append(shop_api.echo(body))
    return_id = portal_return(app)
    work()
    [ret] = returns_of(db)
    assert echoed and (ret.id, ret.platform_return_id, ret.shop_status) == (return_id, "3547268000", "REQUESTED")
    linked = [e.data for e in ret.events if e.kind == "shop_return_linked"]
    assert linked == [{"platform_return_id": "3547268000", "via": "request"}]  # the echo got there first
    assert len(shop_api.operations("ReturnRequest")) == 1


def test_running_the_job_twice_makes_one_shopify_return(app, db, order, shop_api, work):
    return_id = portal_return(app)
    work()
    open_shop_return(return_id)
    assert len(shop_api.returns) == 1 and len(shop_api.operations("ReturnRequest")) == 1


def test_after_a_lost_answer_the_next_run_finds_the_return_and_sends_nothing_again(app, db, order, shop_api, work):
    shop_api.lose_answer = 1
    portal_return(app)
    work()  # the timeout is retried by rq (RETRY_INTERVALS 0,0,0): the retry looks before it sends
    [ret] = returns_of(db)
    assert len(shop_api.operations("ReturnRequest")) == 1 and ret.platform_return_id == "3547268000"


def test_an_echo_of_a_lost_answer_links_and_the_retry_then_does_nothing(app, db, order, shop_api, work):
    shop_api.lose_answer = 1
    return_id = portal_return(app)
    with pytest.raises(Exception):  # the job's run, outside a worker: the timeout is raised for rq
        open_shop_return(return_id)
    shop_api.echo(shop_api.returns["gid://shopify/Return/3547268000"]["body"])
    work()
    [ret] = returns_of(db)
    assert ret.platform_return_id == "3547268000" and len(shop_api.operations("ReturnRequest")) == 1


def test_shopify_s_refusal_is_recorded_on_the_return_which_goes_on(app, db, client, order, shop_api, work, shop):
    shop_api.refuse = True
    return_id = portal_return(app)
    work()
    [ret] = returns_of(db)
    assert (ret.status, ret.platform_return_id) == ("requested", None)
    assert "Line item is not returnable" in ret.shop_sync_error
    assert ret.events[-1].kind == "shop_return_refused"
    approved = client.post(f"/api/v1/returns/{return_id}/approve", json={}, headers={"Authorization": f"Bearer {shop[1]}"})
    assert approved.status_code == 200 and returns_of(db)[0].status == "approved"


def test_a_customer_s_own_shopify_request_is_opened_as_its_own_return(app, db, order, shop_api, work):
    shop_api.refuse = True  # ours was never made in Shopify
    portal_return(app)
    work()
    shop_api.echo(shop_api._rest(3547269999, {SWEATER: 1}))  # other units: not the echo of ours
    returns = returns_of(db)
    assert [(r.source, r.platform_return_id) for r in returns] == [("portal", None), ("shopify", "3547269999")]


def test_a_decision_shopify_made_before_the_link_is_applied_when_it_links(app, db, order, shop_api, work):
    def merchant_approves_at_once(body):
        approve = {"id": body["id"], "admin_graphql_api_id": body["admin_graphql_api_id"], "status": "open",
                   "order": body["order"], "return_line_items": []}  # fmt: skip
        shop_api.echo(approve, topic="returns/approve")

    shop_api.during_request = merchant_approves_at_once
    portal_return(app)
    work()
    [ret] = returns_of(db)
    assert (ret.status, ret.platform_return_id, ret.shop_status) == ("approved", "3547268000", "OPEN")
    assert db.scalar(select(EarlyReturnStatus)).applied_at is not None
    assert shop_api.operations("ReturnApproveRequest") == []  # Shopify's own decision: nothing to tell it


def test_a_return_approved_in_palautus_before_the_link_is_approved_in_shopify_without_notifying(
        app, db, client, order, shop_api, work, shop):  # fmt: skip
    return_id = portal_return(app)
    assert client.post(f"/api/v1/returns/{return_id}/approve", json={},
                       headers={"Authorization": f"Bearer {shop[1]}"}).status_code == 200  # fmt: skip
    work()
    assert shop_api.operations("ReturnApproveRequest") == [
        {"input": {"id": "gid://shopify/Return/3547268000", "notifyCustomer": False}}]
    assert returns_of(db)[0].shop_status == "OPEN"



def test_two_identical_portal_returns_each_end_with_one_shopify_return_whatever_order_the_news_comes_in(
        app, db, order, shop_api):  # fmt: skip
    first, second = (portal_return(app, ((SWEATER, 1, "size_too_small"),)) for _ in range(2))
    with app.extensions["db"].session() as session:
        ctx = new_ctx(app, session)
        shop, order_row = session.scalar(select(Shop)), session.scalar(select(Order))
        echo = shop_api._rest(3547268002, {SWEATER: 1})  # the answer the second return's job got ...
        assert shop_returns.link_request(ctx, shop, order_row, parse_return_request(echo)).id == first  # ... echoed first
        assert shop_returns.store_answer(ctx, shop, session.get(Return, second), "3547268002").id == first
        assert shop_returns.store_answer(ctx, shop, session.get(Return, first), "3547268001").id == second
        assert return_by_platform_id(ctx, shop, "3547268001").id == second
    assert sorted(r.platform_return_id for r in returns_of(db)) == ["3547268001", "3547268002"]


def test_an_answer_already_linked_to_another_return_is_a_conflict_a_person_sees(app, db, order, shop_api):
    first = portal_return(app, ((SWEATER, 1, "size_too_small"),))
    second = portal_return(app, ((SOCKS, 1, "size_too_small"),))
    with app.extensions["db"].session() as session:
        ctx = new_ctx(app, session)
        shop = session.scalar(select(Shop))
        shop_returns.store_answer(ctx, shop, session.get(Return, first), "3547268001")
        assert shop_returns.store_answer(ctx, shop, session.get(Return, second), "3547268001") is None
        assert session.get(Return, second).platform_return_id is None and shop.alerts
    assert returns_of(db)[1].events[-1].kind == "shop_return_conflict"


def test_a_portal_return_whose_job_was_lost_is_requested_in_shopify_once_the_sweeper_queues_it(
        app, db, order, shop_api, work, redis_down):  # fmt: skip
    from datetime import timedelta

    from sqlalchemy import update

    from integration.models import utcnow
    from jobs.sweep import sweep

    with redis_down():  # the return is stored, its job to open it in Shopify is never queued
        return_id = portal_return(app)
    work()
    assert shop_api.operations("ReturnRequest") == []
    assert sweep()["shop_returns"] == 0  # a moment old: its job may still be on its way
    db.execute(update(Return).values(created_at=utcnow() - timedelta(hours=1)))
    db.commit()
    assert sweep()["shop_returns"] == 1
    work()
    [ret] = returns_of(db)
    assert (ret.id, ret.platform_return_id) == (return_id, "3547268000")
    assert len(shop_api.operations("ReturnRequest")) == 1
    db.execute(update(Return).values(sync_enqueued_at=None))
    db.commit()
    assert sweep()["shop_returns"] == 0  # in Shopify now: nothing left to open


def test_a_portal_return_cancelled_before_it_reached_shopify_does_not_take_the_customer_s_own_later_request(
        app, db, order, shop_api, work, redis_down):  # fmt: skip
    from integration.services.returns import cancel_return

    with redis_down():  # the job to open it in Shopify never ran: the customer cancels first
        cancelled = portal_return(app, ((SWEATER, 1, "size_too_small"),))
    with app.extensions["db"].session() as session:
        cancel_return(new_ctx(app, session), session.scalar(select(Shop)), cancelled, Actor.CUSTOMER)
    work()
    assert shop_api.operations("ReturnRequest") == []
    # Days later the customer asks Shopify itself for a return of the same unit.
    shop_api.returns["gid://shopify/Return/3547269999"] = {"status": "REQUESTED", "createdAt": "2026-01-01T00:00:00Z",
                                                          "lines": {SWEATER: 1}, "body": None}  # fmt: skip
    shop_api.echo(shop_api._rest(3547269999, {SWEATER: 1}))
    work()
    found = {ret.id: (ret.source, ret.status, ret.platform_return_id) for ret in returns_of(db)}
    assert found[cancelled] == ("portal", "cancelled", None)
    [theirs] = [ret for ret in found.values() if ret[2] == "3547269999"]
    assert theirs[:2] == ("shopify", "requested")
    assert shop_api.operations("ReturnCancel") == []
