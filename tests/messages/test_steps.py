"""Every customer-facing step of a return sends one e-mail, in the customer's language, and only one."""
from __future__ import annotations

import logging

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from integration.models import Refund, Return
from integration.returns import Actor, ReturnStatus
from integration.services import messages as book
from integration.services import refunds
from integration.services.returns import apply_platform_status, approve_return, receive_return, reject_return
from tests.messages.conftest import (EMAIL, a_return, deliver, email_of, html_of, make_order, messages, of_kind,
                                     text_of)  # fmt: skip


def paid_refund(ctx, ret, amount=12900) -> Refund:
    """The return's refund, paid back through Stripe as far as the books go."""
    refund = Refund(return_id=ret.id, sequence=1, idempotency_key=f"palautus-{ret.id}-1", amount=amount,
                    currency="EUR", status="submitted", provider="stripe", route="stripe")  # fmt: skip
    ctx.session.add(refund)
    ctx.session.commit()
    refunds.refund_succeeded(ctx, refund, provider_refund_id="re_1", provider_status="succeeded")
    return refund


def test_each_step_of_a_return_sends_its_one_e_mail(ctx, shop_row, db, smtp):
    ret = a_return(ctx, shop_row, make_order(db, shop_row))  # stays requested: its "request received" is written
    assert book.for_status(ctx, ret, ReturnStatus.REQUESTED) is None  # written by opening it: not again
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    receive_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    refund = paid_refund(ctx, ret)
    deliver(ctx)

    assert [m.kind for m in messages(db)] == ["requested", "approved", "received", "refund_sent"]
    assert {(m.status, m.recipient, m.attempts) for m in messages(db)} == {("sent", EMAIL, 1)}
    assert [m.dedupe_key for m in messages(db)] == [f"return:{ret.id}:requested", f"return:{ret.id}:approved",
                                                    f"return:{ret.id}:received", f"refund:{refund.id}:sent"]  # fmt: skip
    assert [e["To"] for e in smtp.received] == [EMAIL] * 4
    assert [e["Message-ID"] for e in smtp.received] == [m.message_id for m in messages(db)]
    assert ret.code in smtp.received[1]["Subject"] and ret.code in text_of(smtp.received[1])
    assert "Talvisaappaat" in text_of(smtp.received[2])


def test_opening_a_return_that_stays_requested_sends_one_request_received_e_mail(ctx, shop_row, db, smtp):
    ret = a_return(ctx, shop_row, make_order(db, shop_row))
    assert [name for name, *_ in ctx.tasks.calls].count("send_message") == 1
    deliver(ctx)
    deliver(ctx)  # nothing queued twice, nothing sent twice

    assert db.scalar(select(Return.status)) == "requested"
    [message] = messages(db)
    assert (message.kind, message.dedupe_key, message.status) == ("requested", f"return:{ret.id}:requested", "sent")
    [email] = smtp.received
    assert email["To"] == EMAIL and email["Subject"] == f"We have received your return request {ret.code}"
    assert "Please do not send anything yet." in text_of(email) and "Talvisaappaat" in text_of(email)


def test_an_auto_approved_return_sends_the_approval_and_no_request_received(ctx, shop_row, db, smtp):
    shop_row.policy = {"refund_on": "manual", "auto_approve": True}
    ret = a_return(ctx, shop_row, make_order(db, shop_row))
    deliver(ctx)

    assert db.scalar(select(Return.status)) == "approved"
    assert [(m.kind, m.dedupe_key) for m in messages(db)] == [("approved", f"return:{ret.id}:approved")]
    [email] = smtp.received
    assert email["Subject"] == f"Your return {ret.code} has been approved"


@pytest.mark.parametrize("auto_approve, status, kinds", [
    (False, "requested", []),  # held for the merchant: the statement's acknowledgement told the customer
    (True, "approved", ["approved"]),  # the law's policy approves it: the approval only
])  # fmt: skip
def test_a_withdrawal_track_return_sends_no_request_received(ctx, shop_row, db, smtp, auto_approve, status, kinds):
    ret = a_return(ctx, shop_row, make_order(db, shop_row), track="withdrawal", auto_approve=auto_approve)
    deliver(ctx)

    assert (ret.track, db.scalar(select(Return.status))) == ("withdrawal", status)
    assert [m.kind for m in messages(db)] == kinds and len(smtp.received) == len(kinds)
    assert book.for_status(ctx, ret, ReturnStatus.REQUESTED) is None  # not even when asked for


def test_the_e_mail_is_text_with_an_html_alternative_from_the_shop_replying_to_the_shop(ctx, shop_row, db, smtp):
    ret = a_return(ctx, shop_row, make_order(db, shop_row))
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    deliver(ctx)

    assert len(smtp.received) == 2  # the request's and the approval's
    email = email_of(smtp, of_kind(db, "approved")[0])
    assert email.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in email.iter_parts()] == ["text/plain", "text/html"]
    assert email["From"].addresses[0].display_name == "Kenkäkauppa via Palautus"
    assert email["From"].addresses[0].addr_spec == "returns@palautus.example"
    assert email["Reply-To"] == "asiakaspalvelu@kenkakauppa.example" and email["Auto-Submitted"] == "auto-generated"
    assert ret.code in html_of(email) and "Kenkäkauppa Oy" in html_of(email) and "FI12345678" in text_of(email)


def test_the_html_escapes_what_the_shop_and_the_customer_wrote(ctx, shop_row, db, smtp):
    shop_row.name = "<b>Shoes</b> & co"
    ret = a_return(ctx, shop_row, make_order(db, shop_row))
    reject_return(ctx, shop_row, ret.id, Actor.MERCHANT, reason="other", note="<script>x</script>")
    deliver(ctx)

    email = email_of(smtp, of_kind(db, "rejected")[0])
    html = html_of(email)
    assert "&lt;b&gt;Shoes&lt;/b&gt; &amp; co" in html and "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>x</script>" in text_of(email)


def test_the_approval_says_how_to_send_the_items_back_in_the_shop_s_words(ctx, shop_row, db, smtp):
    shop_row.policy = {"refund_on": "manual", "methods": [
        {"method": "drop_off", "carrier": "Posti", "drop_off_code": "PAL-123",
         "instructions": {"fi": "Vie paketti Postiin.", "en": "Take the parcel to Posti."}}, "postal"]}  # fmt: skip
    ret = a_return(ctx, shop_row, make_order(db, shop_row), language="en")
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    deliver(ctx)

    text = text_of(email_of(smtp, of_kind(db, "approved")[0]))
    assert "Take the parcel to Posti." in text and "Vie paketti" not in text
    assert "PAL-123" in text and "Posti" in text and ret.code in text and "drop-off point" in text


def test_a_rejection_says_why(ctx, shop_row, db, smtp):
    ret = a_return(ctx, shop_row, make_order(db, shop_row), language="en")
    reject_return(ctx, shop_row, ret.id, Actor.MERCHANT, reason="final_sale", note="Alennustuote.")
    deliver(ctx)

    [rejection] = of_kind(db, "rejected")
    email = email_of(smtp, rejection)
    assert "sold as final sale" in text_of(email) and "Alennustuote." in text_of(email)
    assert rejection.data == {"reason": "final_sale", "note": "Alennustuote."}


def test_the_refund_e_mail_gives_the_amount_and_where_the_money_goes(ctx, shop_row, db, smtp):
    ret = a_return(ctx, shop_row, make_order(db, shop_row), language="en")
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    receive_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    paid_refund(ctx, ret, amount=10480)
    deliver(ctx)

    email = email_of(smtp, of_kind(db, "refund_sent")[0])
    assert "€104.80" in email["Subject"] and "€104.80" in text_of(email) and "(Stripe)" in text_of(email)


def test_a_step_replayed_or_reported_twice_writes_no_second_message(ctx, shop_row, db, smtp):
    ret = a_return(ctx, shop_row, make_order(db, shop_row), platform_return_id="9001")
    apply_platform_status(ctx, shop_row, "9001", ReturnStatus.APPROVED)
    apply_platform_status(ctx, shop_row, "9001", ReturnStatus.APPROVED)  # the same webhook's job, run again
    assert book.for_status(ctx, ret, ReturnStatus.APPROVED) is None  # the step's own key: written already
    receive_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    refund = paid_refund(ctx, ret)
    refunds.refund_succeeded(ctx, refund, provider_refund_id="re_1")  # the provider's webhook says it again
    assert book.refund_sent(ctx, refund) is None  # the refund's own key: written already
    ctx.commit()
    deliver(ctx)
    deliver(ctx)

    assert [m.kind for m in messages(db)] == ["requested", "approved", "received", "refund_sent"]
    assert len(smtp.received) == 4


@pytest.mark.parametrize("step", [ReturnStatus.IN_TRANSIT, ReturnStatus.CANCELLED, ReturnStatus.CLOSED])
def test_the_steps_the_customer_is_not_told_of_write_nothing(ctx, shop_row, db, step):
    ret = a_return(ctx, shop_row, make_order(db, shop_row))
    assert book.for_status(ctx, ret, step) is None
    ctx.commit()
    assert [m.kind for m in messages(db)] == ["requested"]  # only opening it wrote one


def test_without_an_e_mail_address_the_steps_go_on_and_nothing_is_sent(ctx, shop_row, db, smtp, caplog):
    ret = a_return(ctx, shop_row, make_order(db, shop_row, email=None))
    with caplog.at_level(logging.INFO, logger="integration.services.messages"):
        approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
        receive_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    assert deliver(ctx) == [] and messages(db) == [] and smtp.received == []
    assert db.scalar(select(Return.status)) == "received"
    assert any("no usable e-mail address" in r.getMessage() for r in caplog.records)


def test_the_return_s_own_address_comes_before_the_order_s(ctx, shop_row, db, smtp):
    ret = a_return(ctx, shop_row, make_order(db, shop_row), customer_email="aino@work.example")
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    deliver(ctx)
    assert [e["To"] for e in smtp.received] == ["aino@work.example"] * 2


@pytest.mark.parametrize("return_language, order_locale, shop_default, chosen, amount", [
    ("sv", "fi", "en", "sv", "104,80\xa0€"),  # what the customer chose in the portal
    (None, "en-US", "fi", "en", "€104.80"),  # the order's language at checkout
    (None, "de", "sv", "sv", "104,80\xa0€"),  # not one of ours: the shop's default
    (None, None, None, "fi", "104,80\xa0€"),  # nothing known: Finnish
])  # fmt: skip
def test_the_e_mail_is_in_the_customer_s_language(ctx, shop_row, db, smtp, return_language, order_locale,
                                                  shop_default, chosen, amount):  # fmt: skip
    shop_row.profile = {**shop_row.profile, "default_language": shop_default}
    ret = a_return(ctx, shop_row, make_order(db, shop_row, locale=order_locale), language=return_language)
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    receive_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    paid_refund(ctx, ret, amount=10480)
    deliver(ctx)

    assert [m.kind for m in messages(db)] == ["requested", "approved", "received", "refund_sent"]
    assert {m.language for m in messages(db)} == {chosen}
    assert {e["Content-Language"] for e in smtp.received} == {chosen}
    with force_locale(chosen):
        greeting = gettext("Hello,")  # as the language's catalogue has it
    assert greeting == {"fi": "Hei,", "sv": "Hej,", "en": "Hello,"}[chosen]  # and it is translated
    assert {text_of(e).splitlines()[0] for e in smtp.received} == {greeting}
    assert amount in text_of(smtp.received[-1])  # formatted as the language writes money


@pytest.mark.parametrize("language, received, approved, words", [
    ("fi", "Olemme vastaanottaneet palautuspyyntösi", "Palautuksesi {code} on hyväksytty",
     ("Hei,", "Älä lähetä vielä mitään.", "on hyväksynyt tilauksen #1001 tuotteiden palautuksen", "Ystävällisin terveisin")),
    ("sv", "Vi har tagit emot din returbegäran", "Din retur {code} har godkänts",
     ("Hej,", "Skicka ingenting ännu.", "har godkänt din retur av varor från beställning #1001", "Med vänliga hälsningar")),
])  # fmt: skip
def test_a_finnish_or_swedish_e_mail_is_written_in_the_language_s_own_words(ctx, shop_row, db, smtp, language,
                                                                            received, approved, words):  # fmt: skip
    ret = a_return(ctx, shop_row, make_order(db, shop_row), language=language)
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    deliver(ctx)

    request_email, approval = (email_of(smtp, of_kind(db, kind)[0]) for kind in ("requested", "approved"))
    assert request_email["Subject"] == f"{received} {ret.code}" and approval["Subject"] == approved.format(code=ret.code)
    both = text_of(request_email) + text_of(approval) + html_of(request_email) + html_of(approval)
    for said in words:
        assert said in both
    for english in ("Hello,", "Please do not send anything yet.", "has approved your return", "Best regards"):
        assert english not in both


def test_the_status_page_link_is_in_the_e_mail_where_the_portal_offers_one(app, ctx, shop_row, db, smtp):
    app.config["PUBLIC_URL"] = "https://palautus.example"
    app.extensions["status_link"] = lambda ret: f"https://palautus.example/s/status/{ret.code}"
    ret = a_return(ctx, shop_row, make_order(db, shop_row))
    approve_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    deliver(ctx)
    app.extensions.pop("status_link")
    receive_return(ctx, shop_row, ret.id, Actor.MERCHANT)
    deliver(ctx)

    link = f"https://palautus.example/s/status/{ret.code}"
    for kind in ("requested", "approved"):
        email = email_of(smtp, of_kind(db, kind)[0])
        assert link in text_of(email) and f'href="{link}"' in html_of(email)
    received = email_of(smtp, of_kind(db, "received")[0])
    assert "https://" not in text_of(received)  # no portal: no link, and the e-mail still goes
