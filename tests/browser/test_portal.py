"""The customer portal in a real browser: a return on a phone in four screens, a withdrawal in two steps with its
e-mail, and the language switch."""
from __future__ import annotations

import re
from datetime import timezone
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import select

from integration.models import Message, Return, Withdrawal
from tests.browser.conftest import screenshot
from tests.browser.flows import EMAIL, SLUG, Screens, choose_items, choose_method, find_order, press, submit, withdraw


def test_a_customer_completes_a_return_on_a_phone_in_finnish_in_four_screens(app, live_server, phone, order_id):
    screens = Screens(phone)
    phone.goto(f"{live_server}/s/{SLUG}/")
    assert phone.locator("html").get_attribute("lang") == "fi"
    screenshot(phone, "portal-1-find")
    find_order(phone, live_server, "#1001", EMAIL.lower())
    assert "/order/" in phone.url and phone.locator("html[lang=fi]").count() == 1
    screenshot(phone, "portal-2-items")
    choose_items(phone, app, order_id, {"L1": (1, "size_too_small")})
    choose_method(phone, "drop_off")
    preview = phone.locator("#refund-drop_off")
    assert preview.is_visible() and re.search(r"\d+,\d\d\s€", preview.locator("tfoot tr.total td").inner_text())
    screenshot(phone, "portal-3-method")
    submit(phone)
    screenshot(phone, "portal-4-done")

    assert len(screens) <= 4, screens.urls
    assert re.search(r"/r/[^/]+/done$", phone.url)
    with app.extensions["db"].session() as session:
        [ret] = session.scalars(select(Return)).all()
        assert ret.source == "portal" and [i.quantity for i in ret.items] == [1]
    assert phone.locator(".return-code").inner_text().strip() == ret.code
    qr = phone.locator("figure.qr svg[role=img]")
    assert qr.is_visible() and ret.code in qr.locator("title").text_content()
    slip = phone.request.get(phone.locator("a[href$='/slip.pdf']").evaluate("a => a.href"))
    assert slip.ok and slip.headers["content-type"] == "application/pdf" and slip.body().startswith(b"%PDF")


def test_a_customer_withdraws_in_two_steps_and_the_confirmation_email_arrives(app, live_server, phone, order_id,
                                                                              smtp, work, shopify):  # fmt: skip
    """`shopify`: carrying the statement out reads the order's payments from the (fake) shop."""
    phone.goto(f"{live_server}/s/{SLUG}/")
    press(phone, phone.locator("footer").get_by_role("link", name="Peruuta sopimus tästä", exact=True))
    assert phone.locator("html[lang=fi] h1").inner_text() == "Peruuta sopimus tästä"
    screenshot(phone, "withdraw-1-statement")
    withdraw(phone, "Anna Asiakas", "#1001", EMAIL)
    screenshot(phone, "withdraw-2-confirm")

    buttons = phone.locator("main").get_by_role("button")
    assert buttons.count() == 1 and buttons.inner_text().strip() == "Vahvista peruuttaminen"
    press(phone, buttons)
    screenshot(phone, "withdraw-3-received")
    with app.extensions["db"].session() as session:
        [statement] = session.scalars(select(Withdrawal)).all()
    assert "/withdraw/received/" in phone.url and statement.code in phone.locator("main").inner_text()
    assert re.search(r"\d{4}\D+\d{1,2}[.:]\d\d", phone.locator("main .lead").inner_text())  # a date and a time

    work()  # every job the confirmation queued: the acknowledgement, and carrying the withdrawal out
    with app.extensions["db"].session() as session:
        [ack] = session.scalars(select(Message).where(Message.kind == "withdrawal_received")).all()
    [email] = [m for m in smtp.received if m["Message-ID"] == ack.message_id]
    text = email.get_body(("plain",)).get_content()
    submitted = statement.submitted_at.replace(tzinfo=statement.submitted_at.tzinfo or timezone.utc)
    received_on = format_date(submitted.astimezone(ZoneInfo("Europe/Helsinki")), "long", locale="fi")
    assert email["To"] == EMAIL and email["Content-Language"] == "fi"
    assert "Anna Asiakas" in text and "1001" in text and statement.code in text and received_on in text
    # Carrying a matched statement out opens the withdrawal's return, approved: its instructions are the only
    # other e-mail, and the acknowledgement reached the server once.
    assert sorted(m["Message-ID"] == ack.message_id for m in smtp.received) == [False, True]
    assert {m["To"] for m in smtp.received} == {EMAIL}


def test_the_find_order_screen_follows_the_language_switch(live_server, phone, portal_shop):
    phone.goto(f"{live_server}/s/{SLUG}/")
    for code, name in (("sv", "Svenska"), ("en", "English")):
        press(phone, phone.get_by_role("navigation").get_by_role("link", name=name, exact=True))
        assert phone.locator("html").get_attribute("lang") == code
        assert phone.locator("#order").is_visible() and phone.locator("#email").is_visible()
        screenshot(phone, f"portal-1-find-{code}")
