"""Every page of the customer portal against axe-core's WCAG 2.1 A and AA rules, on a phone and on a desktop."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from integration.models import Refund, Return, utcnow
from integration.portal import links
from tests.browser.conftest import wcag_violations
from tests.browser.flows import EMAIL, SLUG, choose_items, choose_method, find_order, press, submit, withdraw


def _refunded(app) -> str:
    """The portal's one return, paid back (so its feedback form is offered): the feedback link's path."""
    with app.extensions["db"].session() as session:
        ret = session.scalar(select(Return))
        ret.refunds.append(Refund(sequence=1, idempotency_key=f"k-{ret.id}", amount=4491, currency="EUR",
                                  status="succeeded", completed_at=utcnow()))  # fmt: skip
        session.commit()
        with app.test_request_context():
            return f"/f/{links.feedback_token(ret)}"


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_the_portal_pages_have_no_wcag_21_aa_violations(request, app, live_server, order_id, device):
    page, found = request.getfixturevalue(device), {}

    def check(name: str) -> None:
        found[name] = wcag_violations(page)
        # WCAG 1.4.10 reflow: nothing wider than the screen, so nothing to scroll sideways (long Finnish words)
        if page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
            found[name].append("reflow: the page is wider than the screen")

    page.goto(f"{live_server}/s/{SLUG}/")
    check("find")
    find_order(page, live_server, "", "not-an-address")
    assert page.locator("#order[aria-invalid=true]").count() == 1
    check("find, with errors")
    find_order(page, live_server)
    check("items")
    choose_items(page, app, order_id, {"L1": (1, "color"), "L2": (1, "defective")})
    choose_method(page, "postal")
    check("method and refund preview")
    submit(page)
    check("done")
    press(page, page.locator(".status-link a"))
    check("status")
    page.goto(live_server + _refunded(app))
    assert page.locator("form#feedback").is_visible()
    check("feedback form")
    press(page, page.locator("footer a[href$='/policy']"))
    check("policy")
    press(page, page.locator("footer a.withdraw-link"))
    check("withdrawal, step 1")
    withdraw(page, "Anna Asiakas", "1001", EMAIL)
    check("withdrawal, step 2")
    submit(page)
    assert "/withdraw/received/" in page.url
    check("withdrawal received")

    assert {name: v for name, v in found.items() if v} == {}, "\n".join(
        f"{name}: {v}" for name, violations in found.items() for v in violations)  # fmt: skip
