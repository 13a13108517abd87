"""The merchant dashboard in a real browser: sign in with a one-time link, open a return, approve it."""
from __future__ import annotations

from types import SimpleNamespace

from integration.models import Order, Return, Shop
from integration.returns import Actor
from integration.services.context import Ctx
from integration.services.returns import ItemRequest, open_return
from integration.tasks import RecordingTasks
from tests.browser.conftest import screenshot, wcag_violations
from tests.browser.flows import press
from tests.dashboard.conftest import make_link


def _requested_return(app, shop_id: int, order_id: int) -> int:
    """A return asked for in the portal, under a policy that leaves approving to the merchant: its id."""
    with app.extensions["db"].session() as session:
        shop = session.get(Shop, shop_id)
        shop.policy = {**shop.policy, "auto_approve": False}
        ctx = Ctx(session, RecordingTasks(), app.extensions["providers"])
        ret = open_return(ctx, shop, session.get(Order, order_id), [ItemRequest("L1", 1, "size_too_large")],
                          method="postal", source="portal", actor=Actor.CUSTOMER)  # fmt: skip
        assert ret.status == "requested"
        return ret.id


def test_a_merchant_approves_a_return_in_the_dashboard(app, live_server, desktop, portal_shop, order_id):
    return_id = _requested_return(app, portal_shop, order_id)
    desktop.goto(f"{live_server}/dashboard/login/{make_link(app, SimpleNamespace(id=portal_shop))}")
    press(desktop, desktop.locator("main form button[type=submit]"))
    assert desktop.url.endswith("/dashboard/returns")
    list_violations = wcag_violations(desktop)

    press(desktop, desktop.locator(f"main table a[href$='/dashboard/returns/{return_id}']"))
    assert desktop.locator("h1 .badge-requested").is_visible()
    detail_violations = wcag_violations(desktop)
    press(desktop, desktop.locator(f"a[href$='/returns/{return_id}/approve']"))
    confirm_violations = wcag_violations(desktop)
    desktop.locator("#confirm").check()
    press(desktop, desktop.locator("main form button[type=submit]"))

    assert desktop.url.endswith(f"/dashboard/returns/{return_id}")
    assert desktop.locator("h1 .badge-approved").is_visible() and desktop.get_by_role("status").is_visible()
    screenshot(desktop, "dashboard-return-approved")
    with app.extensions["db"].session() as session:
        assert session.get(Return, return_id).status == "approved"
    found = {"list": list_violations, "detail": detail_violations, "confirmation": confirm_violations}
    assert {page: v for page, v in found.items() if v} == {}, found
