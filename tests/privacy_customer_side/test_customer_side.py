"""The customer's side in a data request and an erasure: statements of withdrawal, the messages sent to the customer,
a return's own e-mail, their feedback and a deduction's reason; a shop's erasure takes all of it too."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from integration.models import DashboardLogin, Message, Return, Shop, Withdrawal, utcnow
from integration.returns import Actor
from integration.services import messages as book
from integration.services import privacy
from integration.services.returns import approve_return, receive_return
from integration.services.shops import uninstall_shop
from integration.services.withdrawals import submit_withdrawal
from tests.messages.conftest import EMAIL, a_return, deliver, make_order, messages
from tests.messages.test_steps import paid_refund
from tests.privacy_customer_side.conftest import found

OTHER = "otto@example.com"
NAME, COMMENT, DEDUCTION = "Aino Virtanen", "Aino here: the boots pinched", "Aino wore them outdoors, soles dirty"
SUBMITTED = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
PERSONAL = (EMAIL, NAME, COMMENT, DEDUCTION)


def to_aino(smtp) -> int:
    """How many e-mails reached Aino's address (in any case)."""
    return sum(1 for e in smtp.received if e["To"].lower() == EMAIL)


def statement(ctx, shop, order, code, email=EMAIL, name=NAME, reference="#1001") -> Withdrawal:
    """A statement as the withdrawal function stores it, its acknowledgement written (not sent yet)."""
    withdrawal = Withdrawal(shop_id=shop.id, order_id=order.id if order else None, code=code, kind="withdrawal",
                            status="received" if order else "unmatched", customer_name=name, email=email,
                            order_reference=reference, lines=[{"platform_line_id": "101", "quantity": 1}],
                            language="fi", submitted_at=SUBMITTED)  # fmt: skip
    ctx.session.add(withdrawal)
    book.withdrawal_received(ctx, withdrawal)
    ctx.commit()
    return withdrawal


def aino_and_otto(ctx, shop, db) -> dict:
    """Aino's order and return (her own e-mail on it, her feedback, a deduction's reason), a message sent to her and
    one not yet, her statement on the order and one that matched no order (her address in capitals), and a return
    she opened on an order whose e-mail has changed since; Otto's order, return and statement."""
    order = make_order(db, shop)
    ret = a_return(ctx, shop, order, customer_email=EMAIL)
    approve_return(ctx, shop, ret.id, Actor.MERCHANT)
    deliver(ctx)  # "approved", sent
    ret.feedback_rating, ret.feedback_comment, ret.feedback_at = 2, COMMENT, utcnow()
    ret.items[0].deduction, ret.items[0].deduction_reason = 500, DEDUCTION
    db.commit()
    receive_return(ctx, shop, ret.id, Actor.MERCHANT)  # "received", written, not sent
    matched = statement(ctx, shop, order, "PERU-AAAA")
    unmatched = statement(ctx, shop, None, "PERU-BBBB", email=EMAIL.upper(), reference="#9999")
    moved = a_return(ctx, shop, make_order(db, shop, email="new.owner@example.com", number=1003), customer_email=EMAIL)
    otto_order = make_order(db, shop, email=OTHER, number=1002)
    otto_return = a_return(ctx, shop, otto_order, customer_email=OTHER)
    approve_return(ctx, shop, otto_return.id, Actor.MERCHANT)
    otto = statement(ctx, shop, otto_order, "PERU-CCCC", email=OTHER, name="Otto Muu", reference="#1002")
    return {"order": order, "ret": ret, "matched": matched, "unmatched": unmatched, "moved": moved,
            "otto_return": otto_return, "otto": otto}  # fmt: skip


def test_a_data_request_exports_the_customer_s_statements_messages_return_e_mail_feedback_and_deductions(
    ctx, shop_row, db, smtp
):
    made = aino_and_otto(ctx, shop_row, db)
    export = privacy.export_customer(db, shop_row, email=EMAIL)

    assert [w["code"] for w in export["withdrawals"]] == ["PERU-AAAA", "PERU-BBBB"]  # by order, by e-mail
    matched = export["withdrawals"][0]
    assert (matched["customer_name"], matched["email"], matched["order_id"]) == (NAME, EMAIL, "6001")
    assert matched["submitted_at"] == SUBMITTED.isoformat() and matched["order_reference"] == "#1001"
    sent = [(m["kind"], m["recipient"], m["sent_at"] is not None) for m in export["messages"]]
    assert sent == [("requested", EMAIL, True), ("approved", EMAIL, True), ("received", EMAIL, False),
                    ("withdrawal_received", EMAIL, False), ("withdrawal_received", EMAIL.upper(), False),
                    ("requested", EMAIL, False)]  # fmt: skip
    returns = {r["code"]: r for r in export["returns"]}
    assert set(returns) == {made["ret"].code, made["moved"].code}  # and the one on an order now someone else's
    mine = returns[made["ret"].code]
    assert mine["customer_email"] == EMAIL and (mine["feedback"]["rating"], mine["feedback"]["comment"]) == (2, COMMENT)
    assert (mine["items"][0]["deduction"], mine["items"][0]["deduction_reason"]) == (500, DEDUCTION)
    assert OTHER not in str(export) and "Otto" not in str(export)


def test_an_erasure_empties_the_customer_s_side_keeps_the_statements_evidence_and_sends_nothing_more(
    ctx, shop_row, db, smtp
):
    made = aino_and_otto(ctx, shop_row, db)
    assert [e["To"] for e in smtp.received] == [EMAIL, EMAIL]  # "requested" and "approved", before the erasure

    row = privacy.request_redaction(db, shop_row, source=privacy.MERCHANT_API, email=EMAIL)
    deliver(ctx)  # the jobs queued for the messages written before the erasure run now

    assert to_aino(smtp) == 2  # nothing more reached the customer, the acknowledgements neither
    assert sorted({e["To"] for e in smtp.received}) == [EMAIL, OTHER]  # Otto's went out
    assert found(db, *PERSONAL) == []
    erased = row.export["erased"]
    assert (erased["return_emails"], erased["feedback_comments"], erased["deduction_reasons"]) == (2, 1, 1)
    assert (erased["withdrawals"], erased["messages"]) == (2, 6)
    ret = db.get(Return, made["ret"].id)
    assert (ret.customer_email, ret.feedback_comment, ret.feedback_rating) == (None, None, 2)
    assert (ret.items[0].deduction_reason, ret.items[0].deduction) == (None, 500)
    statement_ = db.get(Withdrawal, made["matched"].id)
    assert (statement_.customer_name, statement_.email) == ("", "")
    kept = (statement_.code, statement_.kind, statement_.order_id, statement_.order_reference, statement_.lines,
            statement_.submitted_at)  # fmt: skip
    assert kept == ("PERU-AAAA", "withdrawal", made["order"].id, "#1001", [{"platform_line_id": "101", "quantity": 1}],
                    SUBMITTED)  # fmt: skip
    assert db.get(Withdrawal, made["unmatched"].id).email == ""
    theirs = [m for m in messages(db) if m.recipient != OTHER]
    assert {(m.recipient, str(m.data)) for m in theirs} == {("", "{}")}
    assert [(m.kind, m.status) for m in theirs] == [
        ("requested", "sent"), ("approved", "sent"), ("received", "failed"), ("withdrawal_received", "failed"),
        ("withdrawal_received", "failed"), ("requested", "failed")]  # fmt: skip
    assert {m.recipient for m in messages(db)} == {"", OTHER}  # Otto's stay his
    assert db.get(Withdrawal, made["otto"].id).email == OTHER and db.get(Return, made["otto_return"].id).customer_email


def test_nothing_written_after_the_erasure_brings_the_address_back(ctx, shop_row, db, smtp):
    made = aino_and_otto(ctx, shop_row, db)
    privacy.request_redaction(db, shop_row, source=privacy.MERCHANT_API, email=EMAIL)
    sent = to_aino(smtp)
    paid_refund(ctx, db.get(Return, made["ret"].id))  # a later step: its message has no address to go to
    deliver(ctx)
    assert found(db, *PERSONAL) == [] and to_aino(smtp) == sent == 2
    assert book.for_status(ctx, db.get(Return, made["ret"].id), "received") is None  # its key is still taken

    # A statement the customer makes after the erasure is a new act: kept, and acknowledged.
    later = submit_withdrawal(ctx, shop_row, customer_name=NAME, email=EMAIL, order_reference="#1001")
    deliver(ctx)
    assert (later.email, later.status, smtp.received[-1]["To"]) == (EMAIL, "unmatched", EMAIL)
    assert to_aino(smtp) == sent + 1


def test_a_later_data_request_of_another_customer_keeps_nothing_of_the_erased_one(ctx, shop_row, db, smtp):
    aino_and_otto(ctx, shop_row, db)
    other = privacy.request_export(db, shop_row, source=privacy.MERCHANT_API, email=OTHER)
    assert [w["code"] for w in other.export["withdrawals"]] == ["PERU-CCCC"]
    privacy.request_redaction(db, shop_row, source=privacy.MERCHANT_API, email=EMAIL)
    assert found(db, *PERSONAL) == []
    assert [w["email"] for w in privacy.export_customer(db, shop_row, email=OTHER)["withdrawals"]] == [OTHER]


def test_a_shop_s_erasure_leaves_nothing_of_the_customer_side(app, ctx, shop_row, db, smtp):
    made = aino_and_otto(ctx, shop_row, db)
    paid_refund(ctx, made["ret"])  # kept for the books, with its statement
    made["matched"].return_id = made["ret"].id
    db.add(DashboardLogin(shop_id=shop_row.id, nonce="n-1", email="staff@kenkakauppa.example", expires_at=utcnow()))
    db.commit()
    uninstall_shop(db, app.extensions["vault"], db.get(Shop, shop_row.id))

    row = privacy.request_shop_redaction(db, db.get(Shop, shop_row.id), app.extensions["vault"], source="shopify")

    assert found(db, *PERSONAL, OTHER, "Otto", "staff@kenkakauppa.example") == []
    assert [w.code for w in db.scalars(select(Withdrawal))] == ["PERU-AAAA"]  # the others had no return kept
    assert db.scalar(select(DashboardLogin.nonce)) == "n-1"  # a link used stays used
    assert {m.status for m in db.scalars(select(Message))} <= {"sent", "failed"}
    erased = row.export["erased"]
    assert (erased["withdrawals_deleted"], erased["staff_login_emails"], erased["withdrawals"]) == (2, 1, 3)
