"""What a customer does in the portal, step by step, through the page: typing, choosing, tapping or clicking.

Selectors are the pages' own ids, form field names and roles, never their words: the words are translated.
"""
from __future__ import annotations

from tests.portal.conftest import EMAIL, SLUG, line_ids

__all__ = ["EMAIL", "SLUG", "Screens", "press", "submit", "find_order", "choose_items", "choose_method", "withdraw"]


class Screens:
    """The documents the page's main frame loaded, in order (a POST answered with a redirect is one screen)."""

    def __init__(self, page):
        self.urls: list[str] = []
        page.on("framenavigated", lambda frame: frame.parent_frame is None and self.urls.append(frame.url))

    def __len__(self) -> int:
        return len(self.urls)


def press(page, locator) -> None:
    """Tap on a touch screen, click elsewhere; then wait for the page it leads to."""
    touch = page.evaluate("navigator.maxTouchPoints > 0")
    with page.expect_navigation():
        if touch:
            locator.tap()
        else:
            locator.click()


def submit(page, form: str = "main form") -> None:
    """Send the page's form with its own submit button."""
    press(page, page.locator(form).locator("button[type=submit]"))


def find_order(page, base: str, number: str = "1001", email: str = EMAIL, slug: str = SLUG) -> None:
    """Screen 1: open the shop's portal (`slug`'s), type the order number and e-mail, send."""
    if f"/s/{slug}/" not in page.url:
        page.goto(f"{base}/s/{slug}/")
    page.locator("#order").fill(number)
    page.locator("#email").fill(email)
    submit(page)


def choose_items(page, app, order_id: int, choices: dict[str, tuple[int, str]]) -> None:
    """Screen 2: for each platform line id, how many and why; then on to screen 3."""
    ids = line_ids(app, order_id)
    for line, (units, reason) in choices.items():
        page.locator(f"#qty-{ids[line]}").select_option(str(units))
        page.locator(f"#reason-{ids[line]}").select_option(reason)
    submit(page)


def choose_method(page, method: str) -> None:
    """Screen 3: choose how the items go back (its refund preview is under the choice)."""
    page.locator(f"#method-{method}").check()


def withdraw(page, name: str, order: str, email: str) -> None:
    """The withdrawal function's step 1: the statement's three facts, then step 2."""
    page.locator("#name").fill(name)
    page.locator("#order").fill(order)
    page.locator("#email").fill(email)
    submit(page)
