"""The merchant's moves: each confirmed, each through its use case, each refusal shown on the page."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Refund, Return, ReturnItem


def act(browser, return_id: int, action: str, **fields):
    path = f"/dashboard/returns/{return_id}/{action}"
    return browser.post(path, {"confirm": "yes", **fields})


def status(db, return_id: int) -> str:
    db.expire_all()
    return db.get(Return, return_id).status


def test_each_action_has_a_confirmation_page_and_nothing_happens_without_the_box_ticked(signed_in, shop, build, db):
    return_id = build(shop[0])
    page = signed_in.get(f"/dashboard/returns/{return_id}/approve").get_data(as_text=True)
    assert "Approve return" in page and 'name="confirm"' in page and "required" in page
    answer = signed_in.post(f"/dashboard/returns/{return_id}/approve", {})
    assert answer.status_code == 400 and "Tick the box" in answer.get_data(as_text=True)
    assert status(db, return_id) == "requested"


def test_approving_moves_the_return_to_approved_and_records_the_merchant(signed_in, shop, build, db):
    return_id = build(shop[0])
    answer = act(signed_in, return_id, "approve", note="ok by phone")
    assert answer.status_code == 303
    assert status(db, return_id) == "approved"
    page = signed_in.get(answer.headers["Location"]).get_data(as_text=True)
    assert "The return is approved." in page and "by merchant" in page and "ok by phone" in page


def test_rejecting_needs_a_reason_and_then_rejects(signed_in, shop, build, db):
    return_id = build(shop[0])
    refused = act(signed_in, return_id, "reject", reason="  ")
    assert refused.status_code == 400 and "Say why" in refused.get_data(as_text=True)
    assert status(db, return_id) == "requested"
    assert act(signed_in, return_id, "reject", reason="worn outside").status_code == 303
    assert status(db, return_id) == "rejected"


def test_an_illegal_move_is_shown_as_a_message_not_a_server_error(signed_in, shop, build, db):
    return_id = build(shop[0])
    act(signed_in, return_id, "reject", reason="late")
    answer = act(signed_in, return_id, "approve")
    assert answer.status_code == 409
    assert "a return that is rejected cannot become approved" in answer.get_data(as_text=True)
    assert status(db, return_id) == "rejected"


def test_receiving_a_withdrawal_records_each_item_s_condition_restock_and_deduction(signed_in, shop, build, db):
    return_id = build(shop[0], track="withdrawal", approve=True)
    jumper, socks = db.scalars(select(ReturnItem).where(ReturnItem.return_id == return_id).order_by(ReturnItem.id))
    form = signed_in.get(f"/dashboard/returns/{return_id}/receive").get_data(as_text=True)
    assert f'name="deduction_{jumper.id}"' in form and f'name="deduction_reason_{jumper.id}"' in form
    answer = act(signed_in, return_id, "receive", **{
        f"condition_{jumper.id}": "used", f"deduction_{jumper.id}": "12,50", f"deduction_reason_{jumper.id}": "worn, tags cut",
        f"condition_{socks.id}": "new", f"restock_{socks.id}": "1"})  # fmt: skip
    assert answer.status_code == 303
    assert status(db, return_id) == "received"
    jumper, socks = db.scalars(select(ReturnItem).where(ReturnItem.return_id == return_id).order_by(ReturnItem.id))
    assert (jumper.condition, jumper.restock, jumper.deduction, jumper.deduction_reason) == ("used", False, 1250, "worn, tags cut")
    assert (socks.condition, socks.restock, socks.deduction) == ("new", True, 0)


def test_a_deduction_above_the_item_s_value_or_without_a_reason_is_refused_and_nothing_is_received(signed_in, shop, build, db):
    return_id = build(shop[0], track="withdrawal", approve=True)
    jumper = db.scalars(select(ReturnItem).where(ReturnItem.return_id == return_id).order_by(ReturnItem.id)).first()
    over = act(signed_in, return_id, "receive", **{f"deduction_{jumper.id}": "89.91", f"deduction_reason_{jumper.id}": "x"})
    assert over.status_code == 400 and "more than the item was paid" in over.get_data(as_text=True)
    bare = act(signed_in, return_id, "receive", **{f"deduction_{jumper.id}": "5"})
    assert bare.status_code == 400 and "needs its reason" in bare.get_data(as_text=True)
    junk = act(signed_in, return_id, "receive", **{f"deduction_{jumper.id}": "five"})
    assert junk.status_code == 400
    assert status(db, return_id) == "approved"
    assert db.get(ReturnItem, jumper.id).deduction == 0


def test_a_plain_return_s_receive_form_has_no_deduction(signed_in, shop, build):
    return_id = build(shop[0], approve=True)
    assert "deduction_" not in signed_in.get(f"/dashboard/returns/{return_id}/receive").get_data(as_text=True)


def test_refunding_writes_the_refund_and_queues_it(signed_in, shop, build, db):
    return_id = build(shop[0], approve=True)
    confirm = signed_in.get(f"/dashboard/returns/{return_id}/refund").get_data(as_text=True)
    assert "Would pay back 107.35 EUR." in confirm  # the jumper and one of two socks, tax included
    answer = act(signed_in, return_id, "refund")
    assert answer.status_code == 303
    [refund] = db.scalars(select(Refund).where(Refund.return_id == return_id)).all()
    assert (refund.amount, refund.currency, refund.status, refund.route) == (10735, "EUR", "pending", "stripe")
    assert "on its way" in signed_in.get(answer.headers["Location"]).get_data(as_text=True)
    again = act(signed_in, return_id, "refund")  # one under way already: the use case's Conflict, on the page
    assert again.status_code == 409


def test_cancelling_and_closing_go_through_their_use_cases(signed_in, shop, build, db):
    cancelled = build(shop[0])
    assert act(signed_in, cancelled, "cancel").status_code == 303 and status(db, cancelled) == "cancelled"
    assert "Nothing more can be done" in signed_in.get(f"/dashboard/returns/{cancelled}").get_data(as_text=True)
    assert "cannot be handled this way" in signed_in.get(f"/dashboard/returns/{cancelled}/close").get_data(as_text=True)
