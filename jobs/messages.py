"""send_message: e-mail one customer message, never twice, and record the outcome.

The Message row was committed with its step. The job claims it (a lease: compare-and-set pending -> sending,
or a claim that ran out), renders its templates in its language, hands it to the SMTP server and marks it
sent. A failure that may pass puts it back to pending and raises, so rq retries it (then the sweeper, after a
growing pause, up to MAX_ATTEMPTS); a refusal for good fails it with the server's reason. A message sent is
never claimed again, so a second job queued for it, or its step's job run twice, sends nothing more.

A claim that ran out means the run before stopped (the worker died, or rq killed it at the job timeout) and
may have given the message to the server. So a run records the hand-over first (`handed_at`, committed once
the recipient is accepted, just before DATA), and a later run that finds it does not send again: the message
is marked sent with "unconfirmed" in its error, for an operator to see. The server takes a message only with
its final "." and answers within milliseconds, so a run that stopped after the hand-over almost always
delivered it; the rare one lost in that window (or whose answer timed out) is the price of never sending one
twice. Resending it under the same Message-ID was the alternative: Gmail would show it once, but Outlook and
most phone clients show both, and a customer told twice that their refund went out may think it went twice.
Before the hand-over nothing reached the server, and a later run sends it, with the same Message-ID.
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta

from flask_babel import force_locale
from sqlalchemy import and_, or_, update

from integration import mail
from integration.models import Message, Return, Withdrawal, utcnow
from integration.services.messages import MessageStatus, contents
from jobs.context import JobContext, job_context

__all__ = ["send_message", "LEASE_SECONDS", "MAX_ATTEMPTS"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 180  # longer than a run can last: rq stops a job after JOB_TIMEOUT (120 s)
MAX_ATTEMPTS = 24  # with rq's retries and the sweeper's pauses (up to an hour each): about a day of outage
M = MessageStatus
UNCONFIRMED = "unconfirmed: handed to the SMTP server by a run that stopped before its answer; not sent again"


class _Lost(Exception):
    """Another run claimed the message meanwhile (this run's lease ran out): this one stops before DATA."""


def send_message(message_id: int) -> None:
    """Send one customer e-mail and record the outcome; safe to run any number of times."""
    with job_context() as jc:
        message = _claim(jc.session, message_id)
        ids = {"message_id": message_id}
        if message is None:
            logger.info("message sent, failed or held by another run", extra=ids)
            return
        fence = message.attempts  # every write of this run holds only while no other run has claimed it since
        if message.handed_at is not None:
            _finish(jc.session, message, fence, M.SENT, sent_at=message.handed_at, error=UNCONFIRMED)
            logger.warning("message handed over by a run that stopped: not sent again", extra=ids)
        elif not message.recipient:  # erased (integration.services.messages.erase) while a run held it
            _finish(jc.session, message, fence, M.FAILED, error="the customer's data was erased before it was sent")
        elif fence > MAX_ATTEMPTS:
            _finish(jc.session, message, fence, M.FAILED, error=f"gave up after {MAX_ATTEMPTS} attempts: {message.error}")
            logger.error("message given up", extra=ids)
        else:
            _send(jc, message, fence, ids)


def _claim(session, message_id: int) -> Message | None:
    """Take the message for this run: pending, or held by a claim that ran out; committed."""
    now = utcnow()
    free = or_(Message.status == M.PENDING.value, and_(Message.status == M.SENDING.value, Message.claimed_until < now))
    result = session.execute(
        update(Message).where(Message.id == message_id, free)
        .values(status=M.SENDING.value, claimed_until=now + timedelta(seconds=LEASE_SECONDS), attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    session.commit()
    return session.get(Message, message_id, populate_existing=True) if result.rowcount == 1 else None


def _send(jc: JobContext, message: Message, fence: int, ids: dict) -> None:
    handed = False

    def hand_over() -> None:
        nonlocal handed
        _hand_over(jc.session, message, fence)
        handed = True

    try:
        mail.send(_compose(jc, message), jc.app.config, before_data=hand_over)
    except _Lost:
        logger.info("message taken over by another run", extra=ids)
    except mail.MailRefused as e:
        _finish(jc.session, message, fence, M.FAILED, handed_at=None, error=str(e))
        logger.error("message refused: %s", e, extra=ids)
    except mail.MailUnavailable as e:  # the server does not have it, even if it was handed over
        _retry(jc, message, fence, e, ids)
        raise
    except Exception as e:
        if not handed:  # a template, the database: nothing reached the server
            _retry(jc, message, fence, e, ids)
            raise
        # MailUnconfirmed, or the run stopped (rq's timeout) while the server's answer was outstanding.
        _finish(jc.session, message, fence, M.SENT, sent_at=utcnow(), error=f"unconfirmed: {_said(e)}")
        logger.warning("message handed over without an answer: not sent again", extra=ids)
        if not isinstance(e, mail.MailUnconfirmed):
            raise
    else:
        _finish(jc.session, message, fence, M.SENT, sent_at=utcnow(), error=None)
        logger.info("message sent", extra={**ids, "kind": message.kind})


def _retry(jc: JobContext, message: Message, fence: int, error: Exception, ids: dict) -> None:
    """Back to pending, not handed over, with the error; rq's retries (then the sweeper) send it again."""
    _finish(jc.session, message, fence, M.PENDING, handed_at=None, error=_said(error),
            next_attempt_at=utcnow() + _pause(fence))  # fmt: skip
    logger.warning("message will be retried: %s", _said(error), extra=ids)


def _said(error: Exception) -> str:
    """A failure as recorded and logged: a mail error's own words (they carry no address), else only its type."""
    return str(error)[:2000] if isinstance(error, mail.MailError) else type(error).__name__


def _hand_over(session, message: Message, fence: int) -> None:
    """Record, committed, that the server may have the message from now on; _Lost if this run's claim is gone."""
    result = session.execute(
        update(Message).where(Message.id == message.id, Message.attempts == fence, Message.status == M.SENDING.value,
                              Message.handed_at.is_(None))
        .values(handed_at=utcnow()).execution_options(synchronize_session=False)
    )  # fmt: skip
    session.commit()
    if result.rowcount != 1:
        raise _Lost()


def _finish(session, message: Message, fence: int, status: MessageStatus, **values) -> None:
    """Give the claim back with the outcome, if this run still holds it; committed."""
    session.rollback()
    session.execute(
        update(Message).where(Message.id == message.id, Message.attempts == fence, Message.status == M.SENDING.value)
        .values(status=status.value, claimed_until=None, **values).execution_options(synchronize_session=False)
    )  # fmt: skip
    session.commit()


def _pause(attempts: int) -> timedelta:
    """How long the sweeper leaves a message to rq's retries after a failed attempt: growing, at most an hour."""
    return min(timedelta(seconds=30 * 2 ** min(attempts, 10)), timedelta(hours=1))


def _compose(jc: JobContext, message: Message):
    """The MIME message: its templates rendered in the message's language, from the shop, replies to the shop."""
    context = {**contents(jc.session, message), "status_url": _status_url(jc, message)}
    env = jc.app.jinja_env
    with force_locale(message.language):
        subject, text, html = [env.get_template(f"mail/{message.kind}.{part}").render(context)
                               for part in ("subject.txt", "txt", "html")]  # fmt: skip
    shop = context["shop"]
    return mail.build(mail.Mail(
        sender=mail.sender(jc.app.config.get("MAIL_FROM"), shop["name"]), recipient=message.recipient,
        subject=subject, text=_tidy(text), html=html, message_id=message.message_id, reply_to=shop["email"],
        language=message.language,
    ))  # fmt: skip


def _tidy(text: str) -> str:
    """Plain text as a person would type it: no trailing spaces, at most one empty line in a row."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def _status_url(jc: JobContext, message: Message) -> str | None:
    """The return's status page, where the portal offers one (`status_link`) and PUBLIC_URL says where it lives."""
    link, base = jc.app.extensions.get("status_link"), jc.app.config.get("PUBLIC_URL")
    return_id = message.return_id
    if return_id is None and message.withdrawal_id is not None:
        return_id = jc.session.get(Withdrawal, message.withdrawal_id).return_id
    if link is None or not base or return_id is None:
        return None
    try:
        # A job has no request: Flask builds URLs in a request context made for it, at the public address.
        with jc.app.test_request_context("/", base_url=base):
            return link(jc.session.get(Return, return_id))
    except Exception as e:  # noqa: BLE001 - best effort: the message goes without the link rather than not at all
        logger.warning("no status link for the message: %s", type(e).__name__, extra={"message_id": message.id})
        return None
