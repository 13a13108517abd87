"""The send job: one e-mail per message whatever runs twice or dies, retries what may pass, fails what cannot."""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from integration.mail import MailUnavailable
from integration.models import Message, utcnow
from integration.returns import Actor
from integration.services.returns import approve_return
from jobs.messages import MAX_ATTEMPTS, _claim, send_message
from jobs.sweep import sweep
from tests.messages.conftest import EMAIL, a_return, deliver, email_of, make_order, messages, of_kind, text_of


@pytest.fixture
def approved(ctx, shop_row, db) -> int:
    """A return just approved: its message written and its send job asked for, not run; the message's id.

    The return's "request received" message (written when it was opened) is written too, and never sent here."""
    ret = a_return(ctx, shop_row, make_order(db, shop_row))
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    [message] = of_kind(db, "approved")
    queued = [args[0] for name, *args in ctx.tasks.calls if name == "send_message"]
    assert message.id in queued and len(queued) == 2  # the request's message and the approval's
    return message.id


def the(db, message_id: int) -> Message:
    """The message as the database has it now."""
    db.expire_all()
    return db.get(Message, message_id)


def lease_runs_out(db, message_id: int) -> None:
    """Time passes: the claim of the run that stopped runs out, and the message is older than the sweeper's wait."""
    an_hour_ago = utcnow() - timedelta(hours=1)
    db.execute(update(Message).where(Message.id == message_id).values(claimed_until=an_hour_ago, created_at=an_hour_ago))
    db.commit()


def test_the_send_job_queued_twice_sends_one_e_mail(app, approved, work, smtp, db):
    app.extensions["tasks"].send_message(approved)
    app.extensions["tasks"].send_message(approved)
    work()
    send_message(approved)  # and once more, by hand, long after
    assert len(smtp.received) == 1 and the(db, approved).status == "sent" and the(db, approved).attempts == 1


def _send_in_a_child(config: dict, message_id: int) -> None:
    from integration.app import create_app

    app = create_app(config)
    with app.app_context():
        send_message(message_id)


def test_a_worker_killed_after_the_server_took_the_message_never_sends_it_again(
        approved, smtp, db, config, work):  # fmt: skip
    smtp.hold = threading.Event()  # the server keeps the message, then holds its answer: the worker dies meanwhile
    child = multiprocessing.get_context("fork").Process(target=_send_in_a_child, args=(config, approved))
    child.start()
    assert smtp.holding.wait(20), "the message never reached the server"
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL
    smtp.hold.set()

    message = the(db, approved)
    assert (message.status, message.attempts, message.sent_at) == ("sending", 1, None)
    assert message.handed_at is not None and len(smtp.received) == 1
    assert sweep()["messages"] == 0  # the dead worker's claim still stands
    lease_runs_out(db, approved)
    assert sweep()["messages"] == 1
    work()

    message = the(db, approved)
    assert len(smtp.received) == 1  # not sent again: the server may have it (it did)
    assert (message.status, message.attempts) == ("sent", 2) and message.error.startswith("unconfirmed")
    assert sweep()["messages"] == 0


def test_a_worker_that_died_before_handing_the_message_over_has_it_sent_once_its_claim_runs_out(approved, smtp, db):
    assert _claim(db, approved) is not None  # claimed, then the worker died before it reached the server
    send_message(approved)
    assert smtp.received == []  # the claim still stands

    lease_runs_out(db, approved)
    send_message(approved)
    send_message(approved)
    [email] = smtp.received
    assert email["Message-ID"] == the(db, approved).message_id  # the id fixed when the step wrote it
    assert (the(db, approved).status, the(db, approved).error) == ("sent", None)


def test_a_message_whose_answer_times_out_is_not_sent_again(approved, smtp, db, monkeypatch):
    monkeypatch.setattr("integration.mail.TIMEOUT", 0.5)
    smtp.hold = threading.Event()  # the server has it and never answers in time
    send_message(approved)
    smtp.hold.set()
    send_message(approved)

    assert len(smtp.received) == 1
    message = the(db, approved)
    assert message.status == "sent" and message.error.startswith("unconfirmed: no answer after the message was sent")


def test_a_transient_refusal_is_retried_by_rq_and_sent_once(app, approved, smtp, db, work):
    smtp.replies["RCPT"].append(f"451 4.2.0 <{EMAIL}>: mailbox busy, try again later")
    app.extensions["tasks"].send_message(approved)
    work()  # the retry interval is 0 in the tests: rq runs it again at once

    assert len(smtp.received) == 1
    message = the(db, approved)
    assert (message.status, message.attempts, message.handed_at is not None) == ("sent", 2, True)


def test_a_transient_failure_leaves_the_message_pending_with_the_reason_and_no_address(approved, smtp, db):
    smtp.replies["DATA"].append(f"451 4.3.0 <{EMAIL}> temporarily deferred")
    with pytest.raises(MailUnavailable):
        send_message(approved)

    message = the(db, approved)
    assert (message.status, message.claimed_until, message.handed_at) == ("pending", None, None)
    assert message.error.startswith("451") and EMAIL not in message.error and "<<address>>" in message.error
    assert message.next_attempt_at > utcnow()  # the sweeper leaves it to rq's retries for a while
    send_message(approved)
    assert len(smtp.received) == 1


def test_a_mail_server_that_is_down_is_a_transient_failure(app, approved, smtp, db):
    app.config["SMTP_PORT"] = 1  # nothing listens there
    with pytest.raises(MailUnavailable):
        send_message(approved)
    assert the(db, approved).status == "pending" and "ConnectionRefusedError" in the(db, approved).error


def test_a_recipient_refused_for_good_fails_the_message_and_is_not_retried(app, approved, smtp, db, work):
    smtp.replies["RCPT"].append(f"550 5.1.1 <{EMAIL}>: Recipient address rejected: User unknown")
    app.extensions["tasks"].send_message(approved)
    work()
    send_message(approved)

    message = the(db, approved)
    assert (message.status, message.attempts, smtp.received) == ("failed", 1, [])
    assert message.error.startswith("550 5.1.1") and EMAIL not in message.error


def test_a_message_refused_for_its_content_fails(approved, smtp, db):
    smtp.replies["DATA"].append("554 5.7.1 Message rejected as spam")
    send_message(approved)
    assert (the(db, approved).status, the(db, approved).handed_at) == ("failed", None)


def test_a_message_that_keeps_failing_is_given_up_after_max_attempts(approved, smtp, db):
    db.execute(update(Message).where(Message.id == approved).values(attempts=MAX_ATTEMPTS, error="451 busy"))
    db.commit()
    send_message(approved)
    assert (the(db, approved).status, the(db, approved).error) == ("failed", f"gave up after {MAX_ATTEMPTS} attempts: 451 busy")
    assert smtp.received == []


def test_with_redis_down_the_message_waits_in_the_database_and_the_sweeper_sends_it(
        app, ctx, shop_row, db, smtp, work, redis_down):  # fmt: skip
    ret = a_return(ctx, shop_row, make_order(db, shop_row))  # recorded jobs: the shop's own jobs need no fake here
    deliver(ctx)  # the request's message, sent before Redis goes down
    ctx.tasks = app.extensions["tasks"]  # from here the real queue, which a real worker runs
    with redis_down():
        approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)  # committed; its job never queued
    [approval] = of_kind(db, "approved")
    work()
    assert len(smtp.received) == 1 and sweep()["messages"] == 0  # too young: its job may still be on its way
    assert the(db, approval.id).status == "pending"
    lease_runs_out(db, approval.id)
    assert sweep()["messages"] == 1
    assert sweep()["messages"] == 0  # queued a moment ago: not again
    work()
    assert len(smtp.received) == 2 and the(db, approval.id).status == "sent"
    assert email_of(smtp, approval)["Subject"] == f"Your return {ret.code} has been approved"
    assert [m.status for m in messages(db)] == ["sent", "sent"]


def test_without_an_smtp_host_the_message_is_kept_as_an_eml_file(app, approved, smtp, db, tmp_path):
    app.config["SMTP_HOST"] = ""
    send_message(approved)
    send_message(approved)

    [eml] = (tmp_path / "mail").glob("*.eml")
    assert the(db, approved).message_id.strip("<>").split("@")[0] in eml.name
    assert smtp.received == [] and the(db, approved).status == "sent"
    from email import message_from_bytes, policy

    assert "Kenkäkauppa" in text_of(message_from_bytes(eml.read_bytes(), policy=policy.default))
