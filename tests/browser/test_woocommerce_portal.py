"""The customer portal of a WooCommerce store in a real browser, in Swedish: a return started on a phone, followed
on its status page while the merchant approves, receives and refunds it (through Stripe, the store's own Stripe
plugin payment), and rated once after the refund."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from integration.models import Order, Refund, Return, Shop
from integration.returns import Actor
from integration.services.returns import approve_return, receive_return
from jobs.context import new_ctx
from tests.browser.conftest import screenshot, wcag_violations
from tests.browser.flows import choose_items, choose_method, find_order, press, submit
from tests.portal.conftest import POLICY
from tests.woocommerce.conftest import hooked, no_waiting, store, woo_shop  # noqa: F401 - the store and its shop

PUBLIC_URL = "https://palautus.example"  # where the store delivers its webhooks (the fake posts them to the app)
EMAIL = "aino.virtanen@example.com"  # the sandbox store's customer


@pytest.fixture
def config(config):
    return {**config, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def woo_portal(app, hooked):  # noqa: F811 - the imported fixture
    """The WooCommerce store's shop with a policy the merchant decides on (no auto-approval); its portal slug."""
    with app.extensions["db"].session() as session:
        shop = session.get(Shop, hooked[0].id)
        shop.policy, shop.name = {**POLICY, "auto_approve": False}, "Ullbutiken"
        shop.profile = {"legal_name": "Ullbutiken Ab", "email": "kundtjanst@ullbutiken.example",
                        "address": "Handelsgatan 1\n00100 Helsingfors", "vat_id": "FI87654321"}  # fmt: skip
        session.commit()
        return shop.portal_slug


def test_a_woocommerce_customer_starts_follows_and_rates_a_return_in_swedish(app, live_server, phone, woo_portal,
                                                                             store, stripe, work, db):  # noqa: F811
    placed = store.create_order([("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 1)], stripe=stripe)  # paid through Stripe
    work()  # its order.created delivery, applied
    order = db.scalar(select(Order).where(Order.platform_order_id == str(placed["id"])))
    sweater = str(next(line["id"] for line in placed["line_items"] if line["sku"] == "MERINO-M-GREY"))

    # The customer, on a phone set to Finnish, switches the portal to Swedish and returns the sweater.
    phone.goto(f"{live_server}/s/{woo_portal}/")
    press(phone, phone.get_by_role("navigation").get_by_role("link", name="Svenska", exact=True))
    assert phone.locator("html").get_attribute("lang") == "sv"
    find_order(phone, live_server, placed["number"], EMAIL.upper(), slug=woo_portal)
    assert "/order/" in phone.url and phone.locator("html[lang=sv]").count() == 1
    choose_items(phone, app, order.id, {sweater: (1, "size_too_small")})
    choose_method(phone, "drop_off")
    submit(phone)
    assert re.search(r"/r/[^/]+/done$", phone.url) and phone.locator("html[lang=sv]").count() == 1
    db.expire_all()
    [ret] = db.scalars(select(Return)).all()
    assert (ret.source, ret.status, ret.language, [i.quantity for i in ret.items]) == ("portal", "requested", "sv", [1])
    assert phone.locator(".return-code").inner_text().strip() == ret.code

    press(phone, phone.locator(".status-link a"))  # the status page, as bookmarked
    status_url = phone.url
    assert re.search(r"/r/[^/]+$", status_url) and phone.locator("html[lang=sv]").count() == 1
    assert ret.code in phone.locator("h1").inner_text()
    assert phone.locator("ol.timeline li").all_inner_texts()[-1].endswith("Vi har tagit emot din returbegäran.")
    assert phone.locator("ul.refunds").count() == 0 and phone.locator("#feedback").count() == 0

    # The merchant approves and receives the parcel; the jobs note the return on the order and pay the refund.
    with app.extensions["db"].session() as session:
        ctx, shop = new_ctx(app, session), session.get(Shop, ret.shop_id)
        approve_return(ctx, shop, ret.id, Actor.MERCHANT)
        receive_return(ctx, shop, ret.id, Actor.MERCHANT)
    work()
    db.expire_all()
    refund = db.scalar(select(Refund))
    assert (refund.status, refund.route) == ("succeeded", "stripe") and stripe.money_moved == refund.amount > 0
    notes = [n for n in store.notes[placed["id"]] if n["note"].startswith(f"Palautus return {ret.code}")]
    opened = [n for n in notes if "was opened in the return portal" in n["note"]]
    assert len(opened) == 1 and not opened[0]["customer_note"]  # the portal return's private order note, once
    assert any(f"refunded through stripe ({refund.provider_refund_id})" in n["note"] for n in notes)
    assert len(store.refunds[placed["id"]]) == 1  # the refund recorded in the store

    # The customer reloads the status page: the refund is paid, and the feedback form is offered.
    phone.reload()
    assert phone.locator("html[lang=sv]").count() == 1
    steps = phone.locator("ol.timeline li").all_inner_texts()
    assert any(s.endswith("Butiken har tagit emot dina varor.") for s in steps), steps
    assert steps[-1].endswith("Dina pengar har betalats tillbaka."), steps
    [paid] = phone.locator("ul.refunds li").all_inner_texts()
    assert "Återbetald" in paid and re.search(r"\d+,\d\d\s€", paid), paid
    assert phone.locator("form#feedback").is_visible()
    screenshot(phone, "woo-status-sv")
    assert wcag_violations(phone) == []

    # The feedback link (/f/<token>, the form's own address) leads to the form on the status page.
    feedback_url = phone.locator("form#feedback").evaluate("form => form.action")
    assert "/f/" in feedback_url
    stale = phone.context.new_page()  # a second tab, left open on the form
    stale.goto(feedback_url)
    phone.bring_to_front()  # a tab in the background gets few animation frames: Playwright's checks would crawl
    phone.goto(feedback_url)
    assert phone.url.split("#")[0] == status_url and phone.url.endswith("#feedback")
    phone.locator("label[for=rating-4]").tap()
    phone.locator("#comment").fill("Snabb återbetalning, tack!")
    submit(phone, "form#feedback")
    assert phone.locator("#feedback[role=status]").inner_text().strip() == "Tack för ditt omdöme."
    assert phone.locator("form#feedback").count() == 0 and phone.locator("html[lang=sv]").count() == 1
    screenshot(phone, "woo-feedback-sv")
    assert wcag_violations(phone) == []
    db.expire_all()
    ret = db.get(Return, ret.id)
    assert (ret.feedback_rating, ret.feedback_comment) == (4, "Snabb återbetalning, tack!")
    given_at = ret.feedback_at

    # A second rating, sent from the tab left open, is not taken: the page offers no form any more and the rating
    # stays (status.py's give: "a second one is thanked and ignored", so the page thanks rather than refuses).
    stale.bring_to_front()
    stale.locator("label[for=rating-1]").tap()
    stale.locator("#comment").fill("Igen")
    submit(stale, "form#feedback")
    assert stale.locator("form#feedback").count() == 0 and stale.locator("input[name=rating]").count() == 0
    assert stale.locator("#feedback[role=status]").inner_text().strip() == "Tack för ditt omdöme."
    db.expire_all()
    ret = db.get(Return, ret.id)
    assert (ret.feedback_rating, ret.feedback_comment, ret.feedback_at) == (4, "Snabb återbetalning, tack!", given_at)
    stale.goto(status_url)
    assert stale.locator("form#feedback").count() == 0
