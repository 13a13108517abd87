"""A statement of withdrawal whose items are already in a return the customer opened in the portal: the statement
makes that return a withdrawal (its track, its due date, no fees), rather than finding nothing left to send back.
And a withdrawal's return is acknowledged by the statement's own e-mail, never by the portal's "request received"."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from integration.models import Message, Order, Refund, Return, ReturnEvent, Shop
from integration.returns import Actor
from tests.conftest import auth
from tests.fakes import stripe_sale
from tests.jobs.helpers import SOCKS, SWEATER
from tests.withdrawals.conftest import WHOLE, set_policy, withdrawal

FEES = {"restocking_fee_percent": "10", "return_shipping_fees": {"EUR": 500}}
SALE = stripe_sale(amount="195.60")


def portal_return(app, *items) -> int:
    """A return the customer opened in the portal for (platform line id, units) items; its id."""
    from integration.services.returns import ItemRequest, open_return
    from jobs.context import new_ctx

    with app.extensions["db"].session() as session:
        order = session.scalar(select(Order))
        ret = open_return(new_ctx(app, session), session.get(Shop, order.shop_id), order,
                          [ItemRequest(line, units, "changed_mind") for line, units in items],
                          method="postal", source="portal", actor=Actor.CUSTOMER)  # fmt: skip
        return ret.id


def the_return(db, return_id: int) -> Return:
    db.expire_all()
    return db.get(Return, return_id)


def events(db, return_id: int) -> list[ReturnEvent]:
    return db.scalars(select(ReturnEvent).where(ReturnEvent.return_id == return_id).order_by(ReturnEvent.id)).all()


def test_a_return_already_holding_the_items_becomes_the_withdrawal_and_is_refunded_without_its_fees(
        order_arrives, submit, work, db, shop, app, client, stripe):  # fmt: skip
    set_policy(db, shop, auto_approve=True, **FEES)
    order_arrives([SALE], delivered_days_ago=2)
    held = portal_return(app, (SWEATER, 2), (SOCKS, 1))
    found = submit()
    work()
    ret, statement = the_return(db, held), withdrawal(db, found)
    assert (statement.status, statement.error, statement.return_id, statement.kind) == ("carried_out", None, held, "withdrawal")
    assert (ret.track, ret.status, ret.refund_due_at) == ("withdrawal", "approved", statement.submitted_at + timedelta(days=14))
    assert db.scalars(select(Return)).all() == [ret]  # nothing new opened
    [adopted] = [e for e in events(db, held) if e.kind == "withdrawal_adopted"]
    assert adopted.data["withdrawal"] == statement.code
    assert client.post(f"/api/v1/returns/{held}/receive", json={}, headers=auth(shop[1])).status_code == 200
    work()
    refund = db.scalar(select(Refund))
    assert (refund.amount, refund.fees, refund.status) == (WHOLE, {}, "succeeded") and stripe.money_moved == WHOLE


def test_only_the_returns_holding_the_lines_the_statement_names_are_moved(order_arrives, submit, work, db, shop, app):
    set_policy(db, shop, auto_approve=True, **FEES)
    order_arrives([SALE], delivered_days_ago=2)
    sweaters, socks = portal_return(app, (SWEATER, 2)), portal_return(app, (SOCKS, 1))
    found = submit(lines=[{"platform_line_id": SOCKS, "quantity": 1}])
    work()
    assert (the_return(db, sweaters).track, the_return(db, socks).track) == ("return", "withdrawal")
    assert withdrawal(db, found).status == "carried_out" and withdrawal(db, found).return_id == socks


def test_the_rest_of_the_order_gets_the_statements_own_return_which_names_the_one_moved(
        order_arrives, submit, work, db, shop, app):  # fmt: skip
    set_policy(db, shop, auto_approve=True, **FEES)
    order_arrives([SALE], delivered_days_ago=2)
    held = portal_return(app, (SWEATER, 1))
    found = submit()
    work()
    statement = withdrawal(db, found)
    own = the_return(db, statement.return_id)
    assert own.id != held and own.source == "withdrawal" and statement.status == "carried_out"
    assert sorted((i.order_line.platform_line_id, i.quantity) for i in own.items) == sorted([(SOCKS, 1), (SWEATER, 1)])
    assert the_return(db, held).track == "withdrawal"
    [named] = [e for e in events(db, own.id) if e.kind == "withdrawal_returns"]
    assert named.data["returns"] == [the_return(db, held).code]


def test_a_refund_already_paid_with_fees_stays_and_the_merchant_is_told_to_refund_the_fees(
        order_arrives, submit, work, db, shop, app, stripe):  # fmt: skip
    set_policy(db, shop, auto_approve=True, refund_on="approved", **FEES)
    order_arrives([SALE], delivered_days_ago=2)
    held = portal_return(app, (SOCKS, 1))
    work()  # the portal return's refund: the socks less 10 % and the 5.00 return shipping fee
    paid = stripe.money_moved
    assert 0 < paid < 1990
    found = submit(lines=[{"platform_line_id": SOCKS, "quantity": 1}])
    work()
    statement = withdrawal(db, found)
    assert the_return(db, held).track == "withdrawal" and statement.return_id == held
    assert len(db.scalars(select(Refund)).all()) == 1 and stripe.money_moved == paid  # paid once, not again
    assert statement.status == "attention" and f"{(1990 - paid) / 100:.2f}" in statement.error and "fees" in statement.error


def test_a_return_still_waiting_for_the_merchant_is_moved_and_left_to_their_decision(
        order_arrives, submit, work, db, shop, app):  # fmt: skip
    set_policy(db, shop, auto_approve=False, **FEES)
    order_arrives([SALE], delivered_days_ago=2)
    held = portal_return(app, (SWEATER, 2), (SOCKS, 1))
    found = submit()
    work()
    ret, statement = the_return(db, held), withdrawal(db, found)
    assert (ret.track, ret.status, statement.return_id) == ("withdrawal", "requested", held)
    assert statement.status == "attention" and ret.code in statement.error and "decision" in statement.error


def test_a_late_statement_moves_nothing_and_is_left_to_the_merchant(order_arrives, submit, work, db, shop, app):
    set_policy(db, shop, auto_approve=True, **FEES)
    order_arrives([SALE], delivered_days_ago=40)
    held = portal_return(app, (SWEATER, 2), (SOCKS, 1))
    found = submit()
    work()
    statement = withdrawal(db, found)
    assert the_return(db, held).track == "return" and statement.return_id is None
    assert statement.status == "attention" and the_return(db, held).code in statement.error


# --- the customer's e-mails --------------------------------------------------------------------------------


def kinds(db) -> list[tuple[str, str]]:
    db.expire_all()
    return [("withdrawal" if m.withdrawal_id else "return", m.kind) for m in db.scalars(select(Message).order_by(Message.id))]


def test_a_withdrawal_return_sends_the_acknowledgement_and_the_approval_never_request_received(
        order_arrives, submit, work, db):  # fmt: skip
    order_arrives([SALE], delivered_days_ago=3)
    submit()
    work()
    assert kinds(db) == [("withdrawal", "withdrawal_received"), ("return", "approved")]


def test_a_late_withdrawal_return_waiting_for_the_merchant_sends_only_the_acknowledgement(
        order_arrives, submit, work, db):  # fmt: skip
    order_arrives([SALE], delivered_days_ago=40)
    submit()
    work()
    assert kinds(db) == [("withdrawal", "withdrawal_received")]
