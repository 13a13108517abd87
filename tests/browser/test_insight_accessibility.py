"""The insight page in headless Chromium under its real CSP: no WCAG 2.1 A/AA violation (axe-core), charts drawn,
nothing wider than a phone's screen. Skipped, saying so, where Chromium is not installed (.ci/run installs it)."""
from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, wcag_violations
from tests.browser.flows import press
from tests.dashboard.conftest import make_link
from tests.insight import world

pytestmark = pytest.mark.browser


@pytest.fixture
def generated(app, shop):
    """The insight tests' generated shop of known truth (tests/insight/world.py), as the test shop's rows."""
    counts = world.generate()
    with app.extensions["db"].session() as session:
        world.write(session, shop[0].id, counts)
    return counts


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_insight_page_has_no_wcag_21_aa_violations_and_fits_the_screen(request, app, shop, generated, device):
    page, server = request.getfixturevalue(device), request.getfixturevalue("live_server")
    page.goto(f"{server}/dashboard/login/{make_link(app, shop[0])}")
    press(page, page.locator("main form button[type=submit]"))
    page.goto(f"{server}/dashboard/insight?from=2026-03-01&to=2026-03-31")
    assert page.locator(".flag-sentence").count() == 2
    assert page.locator("svg.chart[role=img]").first.bounding_box()["height"] > 50  # drawn, its CSS applied
    screenshot(page, f"dashboard-insight-{device}")
    found = wcag_violations(page)
    if page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
        found.append("reflow: the page is wider than the screen")
    assert found == []
