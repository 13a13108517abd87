"""E-mail out: build a customer message (plain text with an HTML alternative) and hand it to the SMTP server.

A failure comes out as one of three errors, so the job knows whether to try again:
- MailUnavailable: the server does not have the message, and later may work (no connection, TLS, login, a 4xx,
  our sender refused: what an operator or time fixes);
- MailRefused: the server refused the recipient or the message for good (a 5xx to RCPT TO or to the message);
- MailUnconfirmed: the whole message went out but the server's answer never came back: it may have it.
`before_data` runs once the recipient is accepted, just before DATA: the caller records there that from now
on the server may have the message. With SMTP_HOST empty (development) the message is kept as an .eml file
under VAR_DIR/mail instead. Error texts never carry an address: a server's reply often quotes the recipient.
"""
from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, parseaddr
from pathlib import Path

__all__ = ["Mail", "MailError", "MailUnavailable", "MailRefused", "MailUnconfirmed", "build", "send", "sender",
           "keep_on_disk", "TIMEOUT"]  # fmt: skip

logger = logging.getLogger(__name__)

TIMEOUT = 30  # seconds for each read or write on the SMTP connection
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"]+@[^\s<>()\[\],;:\"]+")


class MailError(Exception):
    """A message that did not (or not provably) reach the SMTP server; `code` is the server's reply code, if any."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class MailUnavailable(MailError):
    """Nothing was accepted; trying again later may work."""


class MailRefused(MailError):
    """The server refused the recipient or the message for good."""


class MailUnconfirmed(MailError):
    """The message went out whole, but whether the server took it is unknown."""


@dataclass(frozen=True)
class Mail:
    sender: Address
    recipient: str
    subject: str
    text: str
    html: str
    message_id: str
    reply_to: str | None = None
    language: str | None = None


def sender(mail_from: str, display_name: str) -> Address:
    """The From of a shop's message: "<shop> via Palautus" at the MAIL_FROM address (a local one when unset)."""
    address = parseaddr(mail_from or "")[1] or "palautus@localhost"
    return Address(display_name=f"{display_name} via Palautus", addr_spec=address)


def build(mail: Mail) -> EmailMessage:
    """The MIME message: text/plain with a text/html alternative, quoted-printable (any server takes 7-bit)."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = mail.sender
    message["To"] = mail.recipient
    message["Subject"] = " ".join(mail.subject.split())  # one line, whatever the template left in it
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = mail.message_id
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies leave it alone
    message.set_content(mail.text, cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", cte="quoted-printable")
    if mail.language:  # after the content: setting the content clears every Content-* header
        message["Content-Language"] = mail.language
    return message


def send(message: EmailMessage, config: Mapping, before_data: Callable[[], None] = lambda: None) -> None:
    """Hand `message` to the SMTP server (or, with no SMTP_HOST, to a file); a MailError when it did not take it."""
    if not config.get("SMTP_HOST"):
        path = keep_on_disk(message.as_bytes(), Path(config["VAR_DIR"]) / "mail")
        logger.info("no SMTP_HOST: message kept on disk", extra={"file": path.name})
        return
    envelope_from, recipient = message["From"].addresses[0].addr_spec, message["To"].addresses[0].addr_spec
    if not (envelope_from + recipient).isascii():
        raise MailRefused("an address with non-ASCII characters (SMTPUTF8 is not used)")
    try:
        smtp = _connect(config)
    except (smtplib.SMTPException, OSError) as e:
        raise _unavailable(e) from None
    try:
        _transfer(smtp, envelope_from, recipient, message.as_bytes(), before_data)
    except (smtplib.SMTPException, OSError) as e:
        raise _unavailable(e) from None
    finally:
        _quit(smtp)


def _connect(config: Mapping) -> smtplib.SMTP:
    host, port, security = config["SMTP_HOST"], int(config["SMTP_PORT"]), config["SMTP_SECURITY"]
    if security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=TIMEOUT)
    try:
        smtp.ehlo()
        if security == "starttls":
            # A server that does not offer STARTTLS is an error, never a fall-back to plain text.
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _transfer(smtp: smtplib.SMTP, envelope_from: str, recipient: str, payload: bytes, before_data) -> None:
    code, reply = smtp.mail(envelope_from)
    if code != 250:
        raise MailUnavailable(_text(code, reply), code)  # our own sender refused: an operator fixes it
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        raise _refusal(code, reply)
    before_data()
    code, reply = smtp.docmd("DATA")
    if code != 354:
        raise _refusal(code, reply)
    # A failure while sending leaves the final "." unsent: the server discards what it got.
    smtp.send(_dot_stuffed(payload))
    try:
        code, reply = smtp.getreply()
    except (smtplib.SMTPException, OSError) as e:
        raise MailUnconfirmed(f"no answer after the message was sent ({type(e).__name__})") from None
    if code != 250:
        raise _refusal(code, reply)


def _dot_stuffed(payload: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2): CRLF lines, a leading "." doubled, ended by "."."""
    body = re.sub(rb"(?m)^\.", b"..", re.sub(rb"\r?\n", b"\r\n", payload))
    return body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye, ignoring any trouble: what the server accepted stays accepted whatever QUIT answers."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _refusal(code: int, reply: bytes | str) -> MailError:
    kind = MailRefused if 500 <= code < 600 else MailUnavailable
    return kind(_text(code, reply), code)


def _unavailable(error: Exception) -> MailError:
    if isinstance(error, smtplib.SMTPResponseException):
        return MailUnavailable(_text(error.smtp_code, error.smtp_error), error.smtp_code)
    return MailUnavailable(f"{type(error).__name__}: {_clean(str(error))}")


def _text(code: int, reply: bytes | str) -> str:
    return f"{code} {_clean(reply)}"


def _clean(reply: bytes | str) -> str:
    """A server's words without any e-mail address in them, short."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return _ADDRESS.sub("<address>", " ".join(text.split()))[:300]


def keep_on_disk(raw: bytes, folder: Path) -> Path:
    """Write one message as an .eml file named by its Message-ID: the same message written again replaces it."""
    folder.mkdir(parents=True, exist_ok=True)
    message_id = str(BytesHeaderParser(policy=policy.default).parsebytes(raw).get("Message-ID") or "")
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", message_id.strip("<> ")) or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
    path = folder / f"{name}.eml"
    partial = path.with_suffix(".part")
    partial.write_bytes(raw)
    partial.replace(path)  # whole or not at all: a reader never sees half a message
    return path
