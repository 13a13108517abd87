"""Refunds through WooCommerce's own gateway (`api_refund: true`): a payment Palautus has no direct route or no
credentials for is paid back by the store's gateway plugin, exactly once, and the sync job keeps only its id."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from adapters.platforms.woocommerce.gateway import DELETED_REASON
from integration.models import Refund, ShopRefund
from datetime import timedelta

from jobs.sweep import sweep
from tests.conftest import auth
from tests.jobs.helpers import approve_and_receive, later, let_the_sweeper_retry
from tests.woocommerce.conftest import CONSUMER_KEY, CONSUMER_SECRET, STORE_URL, WEBHOOK_SECRET
from tests.woocommerce.test_return_path import open_return

SWEATER = 8990  # one Merino sweater, VAT included


def refund_of(db) -> Refund:
    db.expire_all()
    return db.scalar(select(Refund))


def posts(store, order) -> int:
    return store.calls.count(("POST", f"/orders/{order['id']}/refunds"))


def returned_sweater(client, key, store, work, method: str, **kwargs) -> dict:
    """An order paid through `method`'s gateway plugin, known to Palautus, its sweater returned and received."""
    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], payment_method=method, **kwargs)
    work()
    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()
    return order


def poll(db, work) -> None:
    """Time passes; the sweeper asks the store again about refunds still on their way."""
    assert let_the_sweeper_retry(db) >= 1
    work()


@pytest.fixture
def bare_shop(app, store):
    """The store registered with its REST key only: Palautus has no provider credentials for it."""
    from adapters.platforms import platform_adapter
    from integration.models import Shop
    from integration.services.delivery import delivery_url, set_up_webhooks
    from integration.services.shops import register_shop

    credentials = {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET, "webhook_secret": WEBHOOK_SECRET}
    with app.extensions["db"].session() as session:
        shop, key = register_shop(session, app.extensions["vault"], platform="woocommerce", domain=STORE_URL,
                                  credentials=credentials, currency="EUR")  # fmt: skip
        session.commit()
        shop = session.get(Shop, shop.id)
        adapter = platform_adapter("woocommerce")
        platform = adapter.connect(shop.domain, credentials, app.config)
        set_up_webhooks(platform, delivery_url(app.config, shop, adapter.delivery_path), shop, WEBHOOK_SECRET)
        session.commit()
        session.expunge(shop)
    return shop, key


def test_a_plugin_payment_is_refunded_through_the_stores_gateway_once_and_the_sync_only_keeps_its_id(
        client, hooked, store, stripe, work, db):  # fmt: skip
    _, key = hooked
    order = returned_sweater(client, key, store, work, "klarna_payments")

    refund = refund_of(db)
    [made] = store.refunds[order["id"]]
    assert (refund.status, refund.route, refund.amount) == ("succeeded", "woocommerce", SWEATER)
    assert refund.provider_refund_id == f"{order['id']}/{made['id']}"
    assert (made["amount"], made["refunded_payment"]) == ("89.90", True)
    assert store.money_moved == SWEATER and len(store.gateway_refunds) == 1 and stripe.money_moved == 0
    # Recorded once: the gateway's refund is the shop's refund already; the sync keeps its id, posts nothing.
    assert posts(store, order) == 1
    assert (refund.shop_refund_gid, refund.shop_synced_at is not None) == (refund.provider_refund_id, True)
    assert [n["note"] for n in store.notes[order["id"]] if n["note"].startswith("Palautus")] == [
        f"Palautus asked the store's gateway (klarna_payments) for refund {made['id']}: 89.90 EUR. {made['reason']}"]
    work()  # the store's order.updated echoes: applied, nothing paid or recorded again
    db.expire_all()
    [echo] = db.scalars(select(ShopRefund)).all()
    assert (echo.platform_refund_id, echo.refund_id) == (str(made["id"]), refund.id)
    assert store.money_moved == SWEATER and len(store.refunds[order["id"]]) == 1 and posts(store, order) == 1


def test_a_stripe_payment_goes_through_the_gateway_when_the_shop_gave_no_stripe_key(client, bare_shop, store, stripe, work, db):
    _, key = bare_shop
    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], stripe=stripe)
    work()
    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()
    refund = refund_of(db)
    assert (refund.status, refund.provider, refund.route) == ("succeeded", "stripe", "woocommerce")
    assert stripe.money_moved == 0 and store.money_moved == SWEATER  # the Stripe plugin refunded it, not Palautus
    assert [(g["payment_method"], g["amount"]) for g in store.gateway_refunds] == [("stripe", SWEATER)]


def test_the_request_carries_api_refund_the_lines_their_tax_and_our_key(client, hooked, store, work, db, http):
    _, key = hooked
    order = returned_sweater(client, key, store, work, "klarna_payments")
    refund = refund_of(db)
    [body] = [json.loads(call.request.body) for call in http.calls
              if call.request.method == "POST" and call.request.url.split("?")[0].endswith(f"/orders/{order['id']}/refunds")]
    sweater = order["line_items"][0]
    assert (body["api_refund"], body["api_restock"], body["amount"]) == (True, False, "89.90")
    assert body["line_items"] == [{"id": sweater["id"], "quantity": 1, "refund_total": "71.63",
                                   "refund_tax": [{"id": 1, "refund_total": "18.27"}]}]  # fmt: skip
    assert f"[palautus:{refund.idempotency_key}]" in body["reason"]
    assert {m["key"]: m["value"] for m in body["meta_data"]} == {
        "palautus_refund_key": refund.idempotency_key, "palautus_refund_amount": "89.90 EUR"}


def test_paytrail_answers_at_once_with_a_pending_refund_that_its_callback_settles(client, hooked, store, work, db):
    _, key = hooked
    order = returned_sweater(client, key, store, work, "paytrail")
    refund = refund_of(db)
    [made] = store.refunds[order["id"]]
    assert (made["amount"], made["refunded_payment"]) == ("0.00", True) and "still being processed" in made["reason"]
    assert (refund.status, refund.amount, refund.provider_status) == ("submitted", SWEATER, "pending at the gateway")
    assert refund.provider_refund_id == f"{order['id']}/{made['id']}" and store.money_moved == 0

    poll(db, work)  # still pending: asked again, nothing sent again
    assert refund_of(db).status == "submitted" and posts(store, order) == 1

    store.settle_gateway(order["id"], ok=True)  # Paytrail's callback: the money went back
    work()
    poll(db, work)
    refund = refund_of(db)
    assert (refund.status, refund.shop_refund_gid, refund.shop_synced_at is not None) == (
        "succeeded", refund.provider_refund_id, True)
    assert store.money_moved == SWEATER and posts(store, order) == 1 and len(store.refunds[order["id"]]) == 1


def test_a_paytrail_refund_its_provider_cancelled_fails_with_the_reason_and_nothing_moved(client, hooked, store, work, db):
    _, key = hooked
    order = returned_sweater(client, key, store, work, "paytrail")
    assert refund_of(db).status == "submitted"

    store.settle_gateway(order["id"], ok=False)  # Paytrail's cancel callback: the plugin deletes the refund
    work()
    poll(db, work)
    refund = refund_of(db)
    assert (refund.status, refund.last_error, refund.provider_status) == ("failed", DELETED_REASON, "deleted in the store")
    assert store.money_moved == 0 and store.refunds[order["id"]] == [] and posts(store, order) == 1
    poll_again = let_the_sweeper_retry(db)
    work()
    assert poll_again == 0 and posts(store, order) == 1  # failed is final: never sent again


def test_paytrail_refusing_at_once_fails_the_refund_not_an_unknown_outcome(client, hooked, store, work, db):
    """The plugin deletes the refund and sets the order failed; WooCommerce then dies (a 500 with no code of its own)."""
    _, key = hooked
    store.gateways["paytrail"] = "paytrail-refuse"
    order = returned_sweater(client, key, store, work, "paytrail")
    refund = refund_of(db)
    assert refund.status == "failed" and "the gateway refused the refund" in refund.last_error
    assert store.orders[order["id"]]["status"] == "failed" and store.money_moved == 0
    let_the_sweeper_retry(db)
    work()
    assert posts(store, order) == 1


def test_a_gateway_refusal_fails_the_refund_with_the_plugins_message(client, hooked, store, work, db):
    _, key = hooked
    store.gateways["klarna_payments"] = "refuse"
    store.gateway_refusal = "Klarna: the refund amount exceeds the captured amount."
    order = returned_sweater(client, key, store, work, "klarna_payments")
    refund = refund_of(db)
    assert refund.status == "failed" and refund.provider_refund_id is None
    assert "Klarna: the refund amount exceeds the captured amount." in refund.last_error
    assert "woocommerce_rest_cannot_create_order_refund" in refund.last_error
    assert store.refunds[order["id"]] == [] and store.money_moved == 0 and posts(store, order) == 1


def test_a_lost_answer_is_found_by_its_key_and_never_posted_twice(client, hooked, store, work, db):
    _, key = hooked
    store.lost_answers = ["POST refunds"]  # the gateway refunds it; the store's answer never arrives
    order = returned_sweater(client, key, store, work, "klarna_payments")  # the job's retry looks it up by key first
    refund = refund_of(db)
    [made] = store.refunds[order["id"]]
    assert (refund.status, refund.provider_refund_id) == ("succeeded", f"{order['id']}/{made['id']}")
    assert store.money_moved == SWEATER and len(store.gateway_refunds) == 1 and posts(store, order) == 1
    assert refund.shop_refund_gid == refund.provider_refund_id


def test_a_lost_answer_while_the_gateway_is_still_being_called_is_polled_not_sent_again(client, hooked, store, work, db, monkeypatch):
    """The refund is saved before the gateway is called and its meta after: a look meanwhile sees only the reason."""
    _, key = hooked
    original = store._page

    def mid_call(rows, query):
        reply = original(rows, query)
        if isinstance(reply.body, list):
            reply.body[:] = [{**r, "refunded_payment": False, "meta_data": []} if "refunded_payment" in r else r
                             for r in reply.body]  # fmt: skip
        return reply

    store.lost_answers = ["POST refunds"]
    monkeypatch.setattr(store, "_page", mid_call)
    order = returned_sweater(client, key, store, work, "klarna_payments")  # the retry finds it mid-call
    refund = refund_of(db)
    [made] = store.refunds[order["id"]]
    assert (refund.status, refund.provider_status) == ("submitted", "saved, gateway not answered yet")
    assert (refund.amount, refund.provider_refund_id) == (SWEATER, f"{order['id']}/{made['id']}")
    monkeypatch.setattr(store, "_page", original)
    poll(db, work)  # the gateway has answered: the store shows the refund paid
    assert refund_of(db).status == "succeeded" and posts(store, order) == 1 and store.money_moved == SWEATER


def test_an_offline_payment_is_not_refunded_and_says_why(client, hooked, store, work, db):
    _, key = hooked
    order = returned_sweater(client, key, store, work, "bacs")
    refund = refund_of(db)
    assert refund.status == "failed" and refund.provider_refund_id is None
    assert "bacs" in refund.last_error and "Nothing was sent" in refund.last_error
    assert posts(store, order) == 0 and store.money_moved == 0


def test_the_gateway_route_takes_every_payment_but_woocommerces_offline_methods():
    from adapters.platforms import platform_adapter
    from adapters.platforms.woocommerce.gateway import GATEWAY, WooCommerceGatewayRefunds
    from adapters.platforms.woocommerce.orders import OFFLINE, UNKNOWN

    assert platform_adapter("woocommerce").gateway is GATEWAY
    assert [GATEWAY.takes(p, False) for p in ("paytrail", "klarna", "paypal", "stripe", UNKNOWN, OFFLINE)] == [
        True, True, True, True, True, False]
    assert GATEWAY.refund_step("EUR") == 1 and WooCommerceGatewayRefunds.key_lifetime.total_seconds() == 0


def test_which_failures_leave_the_outcome_open():
    from adapters.errors import ProviderRejected, ProviderUnavailable
    from adapters.platforms.woocommerce.gateway import WooCommerceGatewayRefunds as route

    refused = ProviderRejected("declined", provider="woocommerce", status=500, code="woocommerce_rest_cannot_create_order_refund")
    assert not route.outcome_unknown(refused)
    assert route.outcome_unknown(ProviderUnavailable("fatal", provider="woocommerce", status=500, code="internal_server_error"))
    assert route.outcome_unknown(ProviderRejected("db", provider="woocommerce", status=500, code="woocommerce_rest_other"))
    assert route.outcome_unknown(ProviderUnavailable("slow", provider="woocommerce", code="timeout"))
    assert route.outcome_unknown(ProviderUnavailable("bad", provider="woocommerce", code="malformed_response"))
    assert not route.outcome_unknown(ProviderRejected("no", provider="woocommerce", status=400, code="rest_invalid_param"))
    assert not route.outcome_unknown(ProviderUnavailable("slow down", provider="woocommerce", status=429))


# --- the route on its own, against the sandbox store -------------------------------------------------------


def gateway_route(store):
    from adapters.platforms.woocommerce.platform import connect

    platform = connect(STORE_URL, {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}, {"HTTP_TIMEOUT": 5})
    return platform.payment_route()


def sweater_request(order, key: str = "rf-1"):
    from integration.money import Money
    from integration.records import PaymentRef, RefundLine, RefundRequest
    from integration.refunds import note_reference

    line = order["line_items"][0]
    return RefundRequest(
        payment=PaymentRef("klarna", None, str(order["id"]), f"#{order['id']}", order["payment_method"], str(order["id"])),
        amount=Money(SWEATER, "EUR"), idempotency_key=key, tax=1827, note=f"Palautus return R-1: 89.90 EUR. {note_reference(key)}",
        lines=(RefundLine(str(line["id"]), line["name"], line["sku"], 1, SWEATER, 1827, "0.255"),),
    )  # fmt: skip


def test_money_the_store_refunded_elsewhere_is_refused_before_anything_is_sent(client, store):
    from adapters.errors import ProviderRejected

    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], payment_method="klarna_payments")
    store.admin_refund(order["id"], "100.00")  # the merchant paid most of it back by hand
    with pytest.raises(ProviderRejected) as refused:
        gateway_route(store).refund(sweater_request(order))
    assert refused.value.code == "refunded_in_store" and not gateway_route(store).outcome_unknown(refused.value)
    assert posts(store, order) == 0 and store.money_moved == 0


def test_a_retried_refund_finds_the_first_and_never_posts_again(client, store):
    order = store.create_order([("MERINO-M-GREY", 1)], payment_method="klarna_payments")
    route = gateway_route(store)
    first = route.refund(sweater_request(order))
    again = route.refund(sweater_request(order))  # as a retry after a lost answer would, had the job not looked first
    assert first == again and first.status.value == "succeeded" and posts(store, order) == 1
    assert route.find_refund(sweater_request(order)) == first and route.find_refund(sweater_request(order, "other")) is None
    assert route.get_refund(first.provider_refund_id) == first


def test_a_refund_gone_without_our_note_is_held_for_a_person_not_failed(client, store):
    from adapters.errors import ProviderRejected

    order = store.create_order([("MERINO-M-GREY", 1)], payment_method="paytrail")
    route = gateway_route(store)
    pending = route.refund(sweater_request(order))
    assert (pending.status.value, pending.amount.amount) == ("submitted", SWEATER)
    assert route.get_refund(pending.provider_refund_id) == pending  # our amount from the refund's meta
    store.notes[order["id"]].clear()  # the note naming the refund is gone too
    store.settle_gateway(order["id"], ok=False)
    store.notes[order["id"]].clear()
    with pytest.raises(ProviderRejected) as held:
        route.get_refund(pending.provider_refund_id)
    assert held.value.code == "refund_gone"


# --- found by review: each interleaving below paid twice before it was fixed --------------------------------


def test_a_pending_paytrail_refund_deleted_by_hand_is_held_for_a_person_never_failed(client, hooked, store, work, db):
    """Only Paytrail's own cancel (its note) fails it: deleted in wp-admin, Paytrail may still pay it."""
    _, key = hooked
    order = returned_sweater(client, key, store, work, "paytrail")
    [made] = store.refunds[order["id"]]
    store.refunds[order["id"]].remove(made)  # the merchant deletes the 0.00 row; Paytrail still has the refund
    store.orders[order["id"]]["refunds"] = [r for r in store.orders[order["id"]]["refunds"] if r["id"] != made["id"]]
    poll(db, work)
    refund = refund_of(db)
    assert refund.status == "submitted" and "no note of its gateway says it was cancelled" in refund.last_error
    answer = client.post(f"/api/v1/returns/{refund.return_id}/refund", json={}, headers=auth(key))
    assert answer.status_code == 409  # no second refund while the first may still pay


def test_a_merchant_s_own_refund_pending_at_paytrail_counts_before_a_return_is_paid(client, hooked, store, work, db):
    from tests.jobs.helpers import approve_and_receive
    from tests.woocommerce.test_return_path import open_return

    _, key = hooked
    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], payment_method="paytrail")
    work()
    with store._lock:  # the merchant refunds 89.90 by amount through Paytrail in wp-admin: the store shows 0.00
        assert store._refund(store.orders[order["id"]], {"amount": "89.90", "reason": "paid back by hand",
                                                         "api_refund": True, "line_items": []}).status == 201  # fmt: skip
    work()
    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()
    refund = refund_of(db)
    assert refund.status == "failed" and "nothing was sent" in refund.last_error and store.money_moved == 0


def test_after_a_lost_answer_the_store_is_not_sent_the_refund_again_until_the_first_request_must_have_ended(
    client, hooked, store, work, db
):
    from sandbox.http import LOST
    from tests.jobs.helpers import approve_and_receive
    from tests.woocommerce.test_return_path import open_return

    original, parked, sent = store.handle, [], []

    def slow(request):  # our POST queues in a busy PHP; our client gives up; it runs later
        if request.method == "POST" and request.path.endswith("/refunds"):
            sent.append(request)
            if not parked and not store.refund_posts:
                parked.append(request)
                store.refund_posts.append(request.json())
                return LOST
        return original(request)

    store.handle = slow
    key = hooked[1]
    order = store.create_order([("MERINO-M-GREY", 2), ("SOCKS-WOOL-3", 1)], payment_method="klarna_payments")
    work()
    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()  # rq's retries come within the ten minutes: each looks, none posts
    original(parked.pop())  # the first request finally runs
    later(db, by=timedelta(minutes=15))
    sweep()
    work()
    refund = refund_of(db)
    assert refund.status == "succeeded" and store.money_moved == SWEATER and len(sent) == 1


def _a_store_that_parks(store, park: tuple[int, ...] = (), lose: tuple[int, ...] = ()):
    """The store's refund POSTs, numbered from 1: those in `lose` never arrive, those in `park` queue in a busy PHP
    (our client gives up; `release()` runs them). Returns (sent, release)."""
    from sandbox.http import LOST

    original, parked, sent = store.handle, [], []

    def slow(request):
        if request.method == "POST" and request.path.endswith("/refunds"):
            sent.append(request)
            if len(sent) in lose:
                return LOST
            if len(sent) in park:
                parked.append(request)
                return LOST
        return original(request)

    store.handle = slow
    return sent, lambda: [original(request) for request in parked]


def test_a_second_lost_request_is_waited_out_too_before_a_third_is_sent(client, hooked, store, work, db):
    """The wait runs from the last request sent, not the first."""
    sent, release = _a_store_that_parks(store, lose=(1,), park=(2,))
    order = store.create_order([("MERINO-M-GREY", 2), ("SOCKS-WOOL-3", 1)], payment_method="klarna_payments")
    work()
    ret = open_return(client, hooked[1], order)
    approve_and_receive(client, hooked[1], ret["id"])
    work()
    later(db, by=timedelta(minutes=15))
    sweep()
    work()  # the second request, still running in PHP; rq's retries come within minutes and must wait
    assert len(sent) == 2
    release()
    later(db, by=timedelta(minutes=15))
    sweep()
    work()
    assert refund_of(db).status == "succeeded" and store.money_moved == SWEATER and len(sent) == 2


def test_a_worker_killed_mid_request_is_waited_out_before_anything_is_sent_again(client, hooked, store, work, db):
    from sqlalchemy import update

    original, parked, sent = store.handle, [], []

    def killed(request):
        if request.method == "POST" and request.path.endswith("/refunds"):
            sent.append(request)
            if len(sent) == 1:
                parked.append(request)  # it sits in PHP; the worker dies (nothing recorded the send's outcome)
                raise RuntimeError("worker killed")
        return original(request)

    store.handle = killed
    order = store.create_order([("MERINO-M-GREY", 2), ("SOCKS-WOOL-3", 1)], payment_method="klarna_payments")
    work()
    ret = open_return(client, hooked[1], order)
    approve_and_receive(client, hooked[1], ret["id"])
    work()
    db.execute(update(Refund).values(claimed_until=None))  # its lease ran out: five minutes on, well under ten
    db.commit()
    let_the_sweeper_retry(db)
    work()
    assert len(sent) == 1
    original(parked.pop())  # the first request finally runs
    later(db, by=timedelta(minutes=15))
    sweep()
    work()
    assert refund_of(db).status == "succeeded" and store.money_moved == SWEATER and len(sent) == 1


def test_a_cancel_note_for_another_refund_never_fails_ours_deleted_by_hand(client, hooked, store, work, db):
    _, key = hooked
    order = returned_sweater(client, key, store, work, "paytrail")
    [ours] = store.refunds[order["id"]]
    store.refunds[order["id"]].remove(ours)  # deleted by hand; Paytrail may still pay it
    store.orders[order["id"]]["refunds"] = [r for r in store.orders[order["id"]]["refunds"] if r["id"] != ours["id"]]
    store._pending.pop(ours["id"])
    with store._lock:  # the merchant's own goodwill refund through Paytrail, which Paytrail then cancels
        assert store._refund(store.orders[order["id"]], {"amount": "5.00", "reason": "goodwill", "api_refund": True,
                                                         "line_items": []}).status == 201  # fmt: skip
    assert store.settle_gateway(order["id"], ok=False)
    poll(db, work)
    refund = refund_of(db)
    assert refund.status == "submitted" and "no note of its gateway says it was cancelled" in refund.last_error


def test_a_merchant_s_refund_that_paytrail_cancelled_stops_counting_and_the_return_is_paid(client, hooked, store, work, db):
    _, key = hooked
    order = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], payment_method="paytrail")
    work()
    with store._lock:  # 89.90 by amount through Paytrail in wp-admin: the store shows 0.00 while Paytrail works
        assert store._refund(store.orders[order["id"]], {"amount": "89.90", "reason": "paid back by hand",
                                                         "api_refund": True, "line_items": []}).status == 201  # fmt: skip
    work()
    assert store.settle_gateway(order["id"], ok=False)  # Paytrail cancels it: deleted, its note says so, nothing paid
    work()
    store.gateways["paytrail"] = "sync"
    ret = open_return(client, key, order)
    approve_and_receive(client, key, ret["id"])
    work()
    refund = refund_of(db)
    assert refund.status == "succeeded" and store.money_moved == SWEATER


def test_a_settled_paytrail_refund_whose_amount_meta_stays_is_counted_once(client, hooked, store, work, db):
    _, key = hooked
    order = returned_sweater(client, key, store, work, "paytrail")
    assert store.settle_gateway(order["id"], ok=True)
    poll(db, work)
    [made] = store.refunds[order["id"]]
    made["meta_data"].append({"id": 99001, "key": "_checkout_refund_amount", "value": made["amount"]})  # left by the plugin
    ret = open_return(client, key, order, sku="SOCKS-WOOL-3")
    approve_and_receive(client, key, ret["id"])
    work()  # sent, not refused for money counted twice: pending at Paytrail
    assert store.settle_gateway(order["id"], ok=True)
    poll(db, work)
    db.expire_all()
    second = db.scalars(select(Refund).order_by(Refund.id)).all()[1]
    assert second.status == "succeeded" and store.money_moved == 11570  # the socks and the shipping: the whole order, once
