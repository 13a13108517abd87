"""Fixtures of the customer e-mail tests: a real SMTP server (aiosmtpd) on a free port, a shop, its orders and returns.

The use cases run with a Tasks port that only records (`ctx.tasks.calls`), so nothing but the send jobs the
test runs itself reaches the network; `deliver(ctx)` runs the send job of every message the steps queued.
Opening a return that stays requested writes its "request received" message too: a test picks the message it
means by kind (`of_kind`) and the e-mail by that message's Message-ID (`email_of`). The test shop writes to its
customers in English unless a test says otherwise (Palautus's own default is Finnish).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
from datetime import datetime, timezone
from decimal import Decimal
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from integration.models import Message, Order, OrderLine, Shop
from integration.returns import Actor
from integration.services.context import Ctx
from integration.services.returns import ItemRequest, open_return
from integration.tasks import RecordingTasks

EMAIL = "aino.virtanen@example.com"
PAID_AT = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


class MailServer:
    """What an SMTP server received; `replies` queues answers to give instead of accepting (per SMTP command)."""

    def __init__(self):
        self.received = []  # email.message.EmailMessage, in the order the server accepted them
        self.replies = {"RCPT": [], "DATA": []}
        self.hold = None  # a threading.Event: DATA keeps the message, then answers only once it is set
        self.holding = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.replies["RCPT"]:
            return self.replies["RCPT"].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.replies["DATA"]:
            return self.replies["DATA"].pop(0)
        self.received.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
        if self.hold is not None:
            self.holding.set()
            for _ in range(600):  # the client dies meanwhile; the server has the message either way
                if self.hold.is_set():
                    break
                await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's own log of every command
    server = MailServer()
    server.port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    yield server
    if server.hold is not None:
        server.hold.set()
    controller.stop()


@pytest.fixture
def config(config, smtp):
    return {**config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port, "SMTP_SECURITY": "none",
            "MAIL_FROM": "returns@palautus.example"}  # fmt: skip


@pytest.fixture
def ctx(app, db):
    """The use cases' context on the test's session, with a Tasks port that only records."""
    return Ctx(db, RecordingTasks(), app.extensions["providers"], app.extensions["gateways"])


@pytest.fixture
def shop_row(shop, db) -> Shop:
    """The registered test shop as a row of the test's session: a name, a profile, refunds only when asked.

    Its default language is English, so the e-mails of a return or order that name no language are in English."""
    row = db.get(Shop, shop[0].id)
    row.name = "Kenkäkauppa"
    row.profile = {"legal_name": "Kenkäkauppa Oy", "email": "asiakaspalvelu@kenkakauppa.example",
                   "address": "Esimerkkikatu 1, 00100 Helsinki", "vat_id": "FI12345678",
                   "default_language": "en"}  # fmt: skip
    row.policy = {"refund_on": "manual"}
    db.commit()
    return row


def make_order(db, shop: Shop, email: str | None = EMAIL, locale: str | None = None, number: int = 1001) -> Order:
    """A paid order of two lines: two pairs of boots (line "101") and one of socks (line "102")."""
    order = Order(shop_id=shop.id, platform_order_id=str(5000 + number), name=f"#{number}", email=email,
                  currency="EUR", shop_currency="EUR", taxes_included=True, financial_status="paid",
                  platform_updated_at=PAID_AT, processed_at=PAID_AT, locale=locale)  # fmt: skip
    order.lines.append(OrderLine(platform_line_id="101", title="Talvisaappaat", quantity=2, unit_price=12900,
                                 tax_total=4993, tax_rate=Decimal("0.255")))  # fmt: skip
    order.lines.append(OrderLine(platform_line_id="102", title="Villasukat", quantity=1, unit_price=1990,
                                 tax_total=404, tax_rate=Decimal("0.255")))  # fmt: skip
    db.add(order)
    db.commit()
    return order


def a_return(ctx, shop: Shop, order: Order, method: str = "drop_off", **kwargs):
    """A return of one pair of boots, asked for in the portal."""
    return open_return(ctx, shop, order, [ItemRequest("101", 1)], method=method, source="portal",
                       actor=Actor.CUSTOMER, **kwargs)  # fmt: skip


def deliver(ctx) -> list[int]:
    """Run the send job of every message the steps queued (and forget they were queued); their ids."""
    from jobs.messages import send_message

    ids = [args[0] for name, *args in ctx.tasks.calls if name == "send_message"]
    ctx.tasks.calls[:] = [call for call in ctx.tasks.calls if call[0] != "send_message"]
    for message_id in ids:
        send_message(message_id)
    return ids


def messages(db) -> list[Message]:
    """Every message row as the database has it now, oldest first."""
    db.expire_all()
    return list(db.scalars(select(Message).order_by(Message.id)))


def of_kind(db, kind: str) -> list[Message]:
    """The messages of one kind ("requested", "approved", ...), oldest first."""
    return [m for m in messages(db) if m.kind == kind]


def email_of(smtp, message: Message):
    """The one e-mail the server received for `message` (by its Message-ID)."""
    [email] = [e for e in smtp.received if e["Message-ID"] == message.message_id]
    return email


def text_of(email) -> str:
    return email.get_body(("plain",)).get_content()


def html_of(email) -> str:
    return email.get_body(("html",)).get_content()
