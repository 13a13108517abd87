"""After delivery a statement opens a return on the withdrawal track: the law's decision, not the shop policy's."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from integration.models import Refund, Return, Withdrawal
from tests.conftest import auth
from tests.fakes import stripe_sale
from tests.jobs.helpers import SOCKS, SWEATER
from tests.withdrawals.conftest import WHOLE, set_policy, withdrawal

FEES = {"restocking_fee_percent": "15", "return_shipping_fees": {"EUR": 500}}


def the_return(db) -> Return:
    db.expire_all()
    return db.scalar(select(Return))


def test_a_timely_statement_opens_an_approved_return_on_the_withdrawal_track_due_in_14_days(
        order_arrives, submit, work, db, shopify):  # fmt: skip
    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=3)
    found = withdrawal(db, submit())
    work()
    ret, found = the_return(db), withdrawal(db, found.id)
    assert (found.status, found.kind, found.return_id, found.error) == ("carried_out", "withdrawal", ret.id, None)
    assert (ret.track, ret.source, ret.status, ret.method) == ("withdrawal", "withdrawal", "approved", "postal")
    assert ret.refund_due_at == found.submitted_at + timedelta(days=14)
    assert ret.customer_email == found.email and ret.decision["eligible"] and not ret.decision["late"]
    assert sorted((i.order_line.platform_line_id, i.quantity) for i in ret.items) == [(SWEATER, 2), (SOCKS, 1)]
    assert shopify.cancelled == {}  # delivered goods come back; the order stands


def test_no_fee_of_the_shops_policy_is_kept_from_a_withdrawal_refunded_on_approval(
        order_arrives, submit, work, db, shop, stripe):  # fmt: skip
    set_policy(db, shop, refund_on="approved", **FEES)
    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=3)
    submit()
    work()
    refund = db.scalar(select(Refund))
    assert (refund.fees, refund.amount, refund.shipping, refund.status) == ({}, WHOLE, 590, "succeeded")
    assert stripe.money_moved == WHOLE  # the goods, and the outbound shipping of a whole-order withdrawal


def test_no_fee_of_the_shops_policy_is_kept_from_a_withdrawal_refunded_on_receipt(
        order_arrives, submit, work, db, shop, client, stripe):  # fmt: skip
    set_policy(db, shop, refund_on="received", **FEES)
    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=3)
    submit()
    work()
    assert client.post(f"/api/v1/returns/{the_return(db).id}/receive", json={}, headers=auth(shop[1])).status_code == 200
    work()
    refund = db.scalar(select(Refund))
    assert (refund.fees, refund.amount) == ({}, WHOLE)


def test_a_late_statement_is_recorded_and_flagged_for_the_merchant_not_refused(order_arrives, submit, work, db):
    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=40)
    found = withdrawal(db, submit())
    work()
    ret, found = the_return(db), withdrawal(db, found.id)
    assert ret.track == "withdrawal" and ret.status == "requested"  # the merchant decides: Art. 10 may apply
    assert ret.decision["late"] and not ret.decision["eligible"] and "period ended" in ret.decision["reasons"][0]
    assert found.status == "attention" and "period ended" in found.error and found.return_id == ret.id


def test_shipped_but_with_no_delivery_date_the_statement_is_on_time_and_the_goods_come_back(
        order_arrives, submit, work, db, shopify):  # fmt: skip
    order_arrives([stripe_sale(amount="195.60")], shipped=True)
    found = withdrawal(db, submit())
    work()
    assert (the_return(db).status, withdrawal(db, found.id).kind) == ("approved", "withdrawal")
    assert the_return(db).decision["basis"] == "shipped" and shopify.cancelled == {}


def test_a_withdrawal_from_some_items_returns_only_those(order_arrives, submit, work, db):
    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=1)
    submit(lines=[{"platform_line_id": SWEATER, "quantity": 1}])
    work()
    assert [(i.order_line.platform_line_id, i.quantity) for i in the_return(db).items] == [(SWEATER, 1)]


def test_running_the_job_again_opens_nothing_new(order_arrives, submit, work, db):
    from jobs.withdrawals import carry_out_withdrawal

    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=1)
    found = submit()
    work()
    carry_out_withdrawal(found)
    db.expire_all()
    assert len(db.scalars(select(Return)).all()) == 1 and withdrawal(db, found).status == "carried_out"


def test_a_run_killed_after_opening_the_return_finds_it_and_links_it(order_arrives, submit, db, monkeypatch):
    from integration.services import withdrawals as service
    from jobs.withdrawals import carry_out_withdrawal

    class Killed(BaseException):
        pass

    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=1)
    found = submit()
    real = service._linked
    monkeypatch.setattr(service, "_linked", lambda *a: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):  # the worker died once the return was committed, before it was linked
        carry_out_withdrawal(found)
    monkeypatch.setattr(service, "_linked", real)
    carry_out_withdrawal(found)
    db.expire_all()
    returns = db.scalars(select(Return)).all()
    assert len(returns) == 1 and returns[0].status == "approved"
    assert db.get(Withdrawal, found).return_id == returns[0].id


def test_a_withdrawal_made_in_time_cannot_be_cancelled_by_the_merchant(order_arrives, submit, work, db, shop, client):
    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=3)
    submit()
    work()
    ret = the_return(db)  # approved by the law's policy; rejecting it is no move an approved return can make
    answer = client.post(f"/api/v1/returns/{ret.id}/cancel", json={}, headers=auth(shop[1]))
    assert answer.status_code == 409 and "withdrawal the customer made in time" in answer.get_json()["message"]
    assert the_return(db).status == "approved"


def test_a_late_withdrawal_is_the_merchant_s_to_reject(order_arrives, submit, work, db, shop, client):
    order_arrives([stripe_sale(amount="195.60")], delivered_days_ago=40)
    submit()
    work()
    answer = client.post(f"/api/v1/returns/{the_return(db).id}/reject", json={"reason": "return_period_ended"}, headers=auth(shop[1]))
    assert answer.status_code == 200 and the_return(db).status == "rejected"
