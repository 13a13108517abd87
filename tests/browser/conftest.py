"""Browser tests: real headless Chromium (Debian's `chromium` package) driven by Playwright, against the app
served on localhost by a thread of this process.

Where no Chromium is installed they are skipped, saying so; `.ci/run` installs it, so CI always runs them.
Playwright never downloads a browser of its own here: it drives the one at CHROMIUM_PATH (/usr/bin/chromium).
Screenshots are kept as test artefacts under var/test-artifacts/ (BROWSER_ARTIFACTS to change).
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.messages.conftest import smtp  # noqa: F401 - the aiosmtpd fixture, reused as it is
from tests.portal.conftest import portal_shop  # noqa: F401 - the registered shop with its policy and profile

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS") or ROOT / "var" / "test-artifacts")
# As root in a container, with no network beyond this machine: no sandbox, no GPU, nothing phoning home.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: `apt-get install chromium` (Debian) or set "
                    "CHROMIUM_PATH; .ci/run installs it")  # fmt: skip
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app):
    """The test's app on http://127.0.0.1:<port>, served by a thread until the test ends.

    The server's threads share the app's engine with the test (its rows, its checks): SQLAlchemy's pool is
    thread-safe, and for a SQLite file it opens connections with check_same_thread=False; db.py's WAL and
    busy_timeout let a request write while the test reads. Each request has its own app context and session.
    """
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    requests_log = logging.getLogger("werkzeug")
    level, requests_log.level = requests_log.level, logging.WARNING  # a line per request drowns a failure's output
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    requests_log.setLevel(level)


@pytest.fixture
def phone(browser):
    """A phone-sized page (390 x 844, touch), in Finnish unless the test opens another context."""
    context = browser.new_context(locale="fi-FI", **PHONE)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """Keep what the page shows now as var/test-artifacts/<name>.png (full page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wcag_violations(page) -> list[str]:
    """axe-core's WCAG 2.1 A and AA rules on the page as it is now: each violation with the elements it found."""
    from axe_playwright_python.sync_playwright import Axe

    # resultTypes: the passes are not sent back element by element, which halves each run.
    options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
    result = Axe().run(page, options=options)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result.response["violations"]]  # fmt: skip


# --- The portal's world, shared by the browser tests: the portal and e-mail tests' own builders (one shop with
# its policy, order #1001 of three lines) and a local SMTP server for the e-mails ---


@pytest.fixture
def config(config, smtp):  # noqa: F811 - the e-mails go to the test's own SMTP server
    return {**config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port, "SMTP_SECURITY": "none",
            "MAIL_FROM": "returns@palautus.example"}  # fmt: skip


@pytest.fixture
def order_id(app, portal_shop) -> int:  # noqa: F811 - the imported fixture
    """Order #1001 of the portal shop: paid, delivered two days ago, three lines (one excluded by the policy)."""
    from tests.portal.conftest import add_order

    return add_order(app, portal_shop)
