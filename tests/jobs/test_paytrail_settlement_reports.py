"""Paytrail settlements read the only way Paytrail gives them: asked for with our callback address, then POSTed
back as a signed payment report, checked at the door, stored once, and kept (and reconciled) by the event job.
"""
from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlsplit

import pytest
import responses
from sqlalchemy import select

from adapters.payments.paytrail import sign
from integration.models import SettlementLine, SettlementRecord, Shop, WebhookEvent
from integration.services.settlements import reconcile
from jobs.settlements import read_settlement, read_settlements
from tests.adapters.test_paytrail_settlements import PAID, REFUNDED, item, signed
from tests.conftest import auth
from tests.fakes import PAYTRAIL, FakePaytrail
from tests.jobs.helpers import refund_of
from tests.jobs.scenarios import _OnWooCommerce

SECRET = "SAIPPUAKAUPPIAS"  # the scenario shop's Paytrail secret key
ACCOUNT = "375917"
REPORT_REQUEST = re.compile(rf"{re.escape(PAYTRAIL)}/settlements/(\d+)/payments/report")


@pytest.fixture
def config(config):
    return {**config, "PUBLIC_URL": "https://palautus.example"}


@pytest.fixture
def paytrail(request):
    """A WooCommerce store whose order Paytrail took, with the shop's Paytrail keys in Palautus."""
    return _OnWooCommerce(request, "paytrail", FakePaytrail)


@pytest.fixture
def refunded(paytrail, db, work):
    """Our refund of the order, made through Paytrail and ended by its signed callback."""
    paytrail.received_return()
    work()
    refund = refund_of(db)
    assert refund.status == "succeeded" and refund.provider_refund_id  # Paytrail's own transaction id for it
    return refund


@pytest.fixture
def asked(http) -> list[tuple[str, dict, bytes]]:
    """Paytrail's report requests: each one's settlement id, headers and body, answered as Paytrail answers."""
    calls = []

    def answer(request):
        calls.append((REPORT_REQUEST.match(request.url).group(1), {k.lower(): v for k, v in request.headers.items()},
                      request.body))  # fmt: skip
        reply = signed({"requestId": f"rq-{len(calls)}"}, method="POST", secret=SECRET)
        return reply["status"], reply["headers"], reply["body"]

    http.add_callback("POST", REPORT_REQUEST, callback=answer, content_type="application/json")
    return calls


def shop_of(db) -> Shop:
    return db.scalar(select(Shop))


def callback_of(db, settlement_id: str = "678") -> str:
    return f"https://palautus.example/webhooks/payments/paytrail/{shop_of(db).webhook_key}/settlements/{settlement_id}"


def refund_row(refund, **changes) -> dict:
    """Our refund's row in a settlement's report: our refundStamp as its stamp, money out in euros."""
    return {**REFUNDED, "amount": -refund.amount / 100, "stamp": refund.idempotency_key, "settlementId": 678,
            **changes}  # fmt: skip


def report(rows, secret=SECRET) -> tuple[bytes, dict]:
    """The report as Paytrail POSTs it: JSON, signed over the body and checkout-* headers (a fresh nonce each)."""
    body = json.dumps(rows).encode()
    headers = {"checkout-account": ACCOUNT, "checkout-algorithm": "sha256", "checkout-method": "POST",
               "checkout-nonce": str(uuid.uuid4()), "checkout-timestamp": "2026-02-01T10:00:00.000Z",
               "Content-Type": "application/json"}  # fmt: skip
    headers["signature"] = sign(headers, body, secret)
    return body, headers


def post(client, url: str, rows=None, *, body=None, headers=None):
    if body is None:
        body, headers = report(rows)
    return client.post(urlsplit(url).path, data=body, headers=headers)


def paytrail_events(db) -> list[WebhookEvent]:
    return db.scalars(select(WebhookEvent).where(WebhookEvent.platform == "paytrail",
                                                 WebhookEvent.topic.like("settlement/%"))).all()  # fmt: skip


def test_the_merchant_asks_for_a_paytrail_settlement_and_it_is_kept_once_the_report_comes(
        paytrail, refunded, asked, client, db, work):  # fmt: skip
    answer = client.post("/api/v1/settlements/read", json={"route": "paytrail", "settlement_id": "678"},
                         headers=auth(paytrail.key))  # fmt: skip
    assert answer.status_code == 202, answer.get_json()
    work()
    [(settlement_id, headers, body)] = asked
    assert settlement_id == "678" and json.loads(body) == {"requestType": "json", "callbackUrl": callback_of(db)}
    assert headers["signature"] == sign(headers, body, SECRET) and headers["checkout-account"] == ACCOUNT
    assert client.get("/api/v1/settlements", headers=auth(paytrail.key)).get_json() == []  # nothing until it comes

    assert post(client, callback_of(db), [PAID, refund_row(refunded)]).status_code == 200
    work()

    [listed] = client.get("/api/v1/settlements", headers=auth(paytrail.key)).get_json()
    assert (listed["route"], listed["settlement_id"], listed["net"]) == ("paytrail", "678", 2555 - 14 - refunded.amount)
    found = client.get(f"/api/v1/settlements/{listed['id']}", headers=auth(paytrail.key)).get_json()
    assert [(m["refund_id"], m["matched_by"], m["difference"]) for m in found["matched"]] == [(refunded.id, "reference", 0)]
    assert found["totals"]["difference"] == 0 and found["external"] == [] and found["in_transit"] == []


def test_a_report_posted_twice_is_stored_once_and_kept_once(paytrail, refunded, client, db, work):
    rows = [PAID, refund_row(refunded)]
    assert [post(client, callback_of(db), rows).status_code for _ in range(2)] == [200, 200]  # each with its own nonce
    work()
    [event] = paytrail_events(db)
    assert event.topic == "settlement/678" and event.status == "processed"
    assert json.loads(event.body) == rows  # the raw body, as it came
    assert [r.settlement_id for r in db.scalars(select(SettlementRecord))] == ["678"]
    assert len(db.scalars(select(SettlementLine)).all()) == 2


def test_the_job_keeps_the_settlement_and_reconcile_matches_our_refund_by_its_stamp(paytrail, refunded, client, db, work):
    """The report names no transaction id: our refund (stored with Paytrail's transaction id) is found by the stamp
    it echoes, which is the refundStamp we sent, our idempotency key."""
    outside = {**REFUNDED, "amount": -5.0, "stamp": "refunded-in-paytrail-s-panel", "checkoutReference": "1255939999"}
    post(client, callback_of(db), [PAID, refund_row(refunded), outside])
    work()

    row = db.scalar(select(SettlementRecord))
    result = reconcile(db, shop_of(db), row)

    [matched] = result.matched
    [moved] = matched["movements"]
    assert (matched["refund_id"], matched["matched_by"], moved["reference"], moved["provider_refund_id"]) == (
        refunded.id, "reference", refunded.idempotency_key, None)  # fmt: skip
    assert matched["difference"] == 0 and result.difference == 0
    assert [(m["reference"], m["amount"]) for m in result.external] == [("refunded-in-paytrail-s-panel", -500)]


@pytest.mark.parametrize("forgery", ["unsigned", "another secret", "body changed", "unknown algorithm"])
def test_a_report_paytrail_did_not_sign_is_401_and_stores_nothing(paytrail, refunded, client, db, work, forgery):
    body, headers = report([PAID, refund_row(refunded)], secret="another-secret" if forgery == "another secret" else SECRET)
    if forgery == "unsigned":
        del headers["signature"]
    elif forgery == "body changed":
        body = body.replace(b'"amount": 25.55', b'"amount": 2555.0')
    elif forgery == "unknown algorithm":
        headers["checkout-algorithm"] = "md5"
    assert post(client, callback_of(db), body=body, headers=headers).status_code == 401
    work()
    assert paytrail_events(db) == [] and db.scalars(select(SettlementRecord)).all() == []


def test_an_unknown_shop_or_settlement_address_is_404(paytrail, refunded, client, db):
    url = callback_of(db)
    assert post(client, url.replace(shop_of(db).webhook_key, "no-such-shop"), [PAID]).status_code == 404
    assert post(client, url.replace("/678", "/six-seven-eight"), [PAID]).status_code == 404
    assert paytrail_events(db) == []


@pytest.mark.parametrize("rows", [{"payments": []}, [{**PAID, "settlementId": 679}], [{**PAID, "amount": "lots"}]])
def test_a_signed_report_not_in_the_documented_shape_is_400_and_stores_nothing(paytrail, refunded, client, db, rows):
    assert post(client, callback_of(db), rows).status_code == 400
    body, headers = report([PAID])
    headers["signature"] = sign(headers, b"<html>", SECRET)
    assert post(client, callback_of(db), body=b"<html>", headers=headers).status_code == 400
    assert paytrail_events(db) == []


def test_a_period_asks_for_each_of_its_settlements_with_its_own_callback(paytrail, asked, db, http):
    http.add(responses.GET, f"{PAYTRAIL}/settlements", **signed(
        [item(679, "2026-01-20T10:00:00.000Z"), item(678, "2026-01-06T13:43:32.780Z")], secret=SECRET))

    assert read_settlements(shop_of(db).id, "paytrail", "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00") == [
        "678", "679"]  # fmt: skip

    assert [(sid, json.loads(body)["callbackUrl"]) for sid, _, body in asked] == [
        ("678", callback_of(db, "678")), ("679", callback_of(db, "679"))]  # fmt: skip
    assert db.scalars(select(SettlementRecord)).all() == []  # kept only when each report comes


def test_without_public_url_nothing_is_asked_and_the_merchant_is_told(paytrail, asked, app, db, http, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_URL", "")
    shop_id = shop_of(db).id

    assert read_settlement(shop_id, "paytrail", "678") is None
    assert read_settlements(shop_id, "paytrail", "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00") == []

    assert asked == [] and not [c for c in http.calls if "/settlements" in c.request.url]
    db.expire_all()
    message = db.get(Shop, shop_id).alerts["settlements"]["message"]
    assert "paytrail settlements could not be read" in message and "PUBLIC_URL" in message


def test_a_report_request_paytrail_refuses_is_told_to_the_merchant_and_a_later_ask_clears_it(paytrail, db, http, request):
    shop_id = shop_of(db).id
    http.add(responses.POST, f"{PAYTRAIL}/settlements/999/payments/report", status=404,
             json={"status": "error", "message": "Settlement not found"})  # fmt: skip
    asked = request.getfixturevalue("asked")  # after the 404: the first registered match answers

    assert read_settlement(shop_id, "paytrail", "999") is None
    db.expire_all()
    assert "Settlement not found" in db.get(Shop, shop_id).alerts["settlements"]["message"]

    assert read_settlement(shop_id, "paytrail", "678") is None
    db.expire_all()
    assert "settlements" not in (db.get(Shop, shop_id).alerts or {}) and [sid for sid, _, _ in asked] == ["678"]
