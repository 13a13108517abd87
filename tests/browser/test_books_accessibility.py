"""The bookkeeping pages of the dashboard against axe-core's WCAG 2.1 A and AA rules, on a desktop and a phone:
the refunds for the books, the payouts, one payout's report and the bookkeeping settings (with a refused setting)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from integration.models import Order, Refund, Shop, utcnow
from integration.records import MovementKind, Settlement, SettlementMovement
from integration.returns import Actor
from integration.services.context import Ctx
from integration.services.returns import ItemRequest, open_return
from integration.services.settlements import store_settlement
from integration.tasks import RecordingTasks
from tests.browser.conftest import screenshot, wcag_violations
from tests.browser.flows import press, submit
from tests.dashboard.conftest import make_link


def _refund_and_payout(app, shop_id: int, order_id: int) -> int:
    """A refund of one item that went back today, and a payout that carries it a cent off: the payout's row id."""
    with app.extensions["db"].session() as session:
        shop = session.get(Shop, shop_id)
        ctx = Ctx(session, RecordingTasks(), app.extensions["providers"])
        ret = open_return(ctx, shop, session.get(Order, order_id), [ItemRequest("L1", 1, "size_too_large")],
                          method="postal", source="portal", actor=Actor.CUSTOMER)  # fmt: skip
        now = utcnow()
        ret.refunds.append(Refund(sequence=1, idempotency_key=f"k-{ret.id}", amount=4491, currency="EUR", tax=869,
                                  status="succeeded", completed_at=now, provider="stripe", route="stripe",
                                  provider_refund_id="re_a11y", lines=[{"amount": 4491, "tax": 869, "tax_rate": "0.24"}],
                                  vat={"0.24": 869}))  # fmt: skip
        movements = (SettlementMovement("txn_ch", MovementKind.CHARGE, 9000, 150, "EUR", now, provider_type="charge"),
                     SettlementMovement("txn_re", MovementKind.REFUND, -4492, 0, "EUR", now, provider_refund_id="re_a11y",
                                        provider_type="refund"),
                     SettlementMovement("txn_fee", MovementKind.FEE, -100, 0, "EUR", now, provider_type="stripe_fee"))  # fmt: skip
        net = sum(m.amount - m.fee for m in movements)
        row = store_settlement(session, shop, "stripe", Settlement("stripe", "po_a11y", "EUR", net, "paid", now, movements))
        session.commit()
        return row.id


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_bookkeeping_pages_have_no_wcag_21_aa_violations(request, app, live_server, portal_shop, order_id, device):
    page, found = request.getfixturevalue(device), {}
    payout = _refund_and_payout(app, portal_shop, order_id)
    today = utcnow().date().isoformat()

    def check(name: str) -> None:
        found[name] = wcag_violations(page)
        if page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):  # WCAG 1.4.10 reflow
            found[name].append("reflow: the page is wider than the screen")
        screenshot(page, f"dashboard-{name.replace(' ', '-')}-{device}")

    page.goto(f"{live_server}/dashboard/login/{make_link(app, SimpleNamespace(id=portal_shop))}")
    submit(page)
    page.goto(f"{live_server}/dashboard/books?from={today}&to={today}")
    assert page.locator("main table").count() == 3
    check("books")
    page.goto(f"{live_server}/dashboard/settlements")
    check("payouts")
    press(page, page.locator(f"main table a[href$='/dashboard/settlements/{payout}']"))
    check("payout report")
    page.goto(f"{live_server}/dashboard/books/settings")
    check("books settings")
    page.locator("#timezone").fill("Mars/Olympus_Mons")
    submit(page, "main form.settings")
    assert page.get_by_role("alert").is_visible()
    check("books settings refused")

    assert {name: v for name, v in found.items() if v} == {}, "\n".join(
        f"{name}: {v}" for name, violations in found.items() for v in violations)  # fmt: skip
