"""A customer's erasure empties their messages: no address, no words, and nothing more is sent to them."""
from __future__ import annotations

from integration.returns import Actor
from integration.services import messages as book
from integration.services.returns import approve_return, receive_return
from tests.messages.conftest import EMAIL, a_return, deliver, make_order, messages


def test_an_erasure_empties_the_customer_s_messages_and_stops_those_not_sent(ctx, shop_row, db, smtp):
    ret = a_return(ctx, shop_row, make_order(db, shop_row))
    other = a_return(ctx, shop_row, make_order(db, shop_row, email="otto@example.com", number=1002))
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    approve_return(ctx, shop_row, other.id, Actor.MERCHANT)
    deliver(ctx)  # each return's "request received" and approval
    receive_return(ctx, shop_row, ret.id, Actor.MERCHANT)  # its message written, not sent yet

    assert book.erase(db, return_ids=[ret.id]) == 3
    db.commit()
    deliver(ctx)

    mine = {m.kind: m for m in messages(db) if m.return_id == ret.id}
    others = [m for m in messages(db) if m.return_id == other.id]
    assert sorted(mine) == ["approved", "received", "requested"]
    for sent in (mine["requested"], mine["approved"]):
        assert (sent.recipient, sent.data, sent.status) == ("", {}, "sent")
    pending = mine["received"]
    assert (pending.recipient, pending.status) == ("", "failed") and "erased" in pending.error
    assert [(m.kind, m.recipient, m.status) for m in others] == [
        ("requested", "otto@example.com", "sent"), ("approved", "otto@example.com", "sent")]  # fmt: skip
    assert sorted(e["To"] for e in smtp.received) == [EMAIL, EMAIL, "otto@example.com", "otto@example.com"]
    assert book.for_status(ctx, ret, "received") is None  # reported again: its key is still taken
