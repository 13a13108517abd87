"""Signing in: a one-time signed link, the session it leads to, sign-out, and one shop never seeing another's."""
from __future__ import annotations

import time
from datetime import timedelta

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from integration.models import DashboardLogin, Return, utcnow
from tests.dashboard.conftest import make_link


def test_a_link_signs_in_once_and_a_second_use_is_refused(app, browser, client, shop, build):
    build(shop[0])
    token = make_link(app, shop[0])
    opened = browser.get(f"/dashboard/login/{token}")
    assert opened.status_code == 200 and "Sign in" in opened.get_data(as_text=True)  # fetching uses nothing up
    answer = browser.post(f"/dashboard/login/{token}")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/dashboard/returns")
    assert browser.get("/dashboard/returns").status_code == 200
    browser.post("/dashboard/logout", page="/dashboard/returns")
    again = browser.post(f"/dashboard/login/{token}")
    assert again.status_code == 401 and "does not work" in again.get_data(as_text=True)
    assert browser.get("/dashboard/returns").status_code == 401


def test_an_expired_link_is_refused(app, browser, shop, db):
    token = make_link(app, shop[0], now=utcnow() - timedelta(minutes=16))
    assert browser.post(f"/dashboard/login/{token}").status_code == 401
    assert db.scalar(select(DashboardLogin.used_at)) is None


def test_a_link_signed_with_another_key_or_altered_is_refused(app, browser, shop, db):
    token = make_link(app, shop[0])
    nonce = URLSafeTimedSerializer(app.secret_key, salt="palautus.dashboard.login").loads(token)["nonce"]
    forged = URLSafeTimedSerializer("not-the-secret-key", salt="palautus.dashboard.login").dumps(
        {"shop": shop[0].id, "nonce": nonce})  # fmt: skip
    for bad in (forged, token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "nonsense"):
        assert browser.post(f"/dashboard/login/{bad}").status_code == 401
    assert db.scalar(select(DashboardLogin.used_at)) is None
    assert browser.post(f"/dashboard/login/{token}").status_code == 303  # the real one still works


def test_every_page_needs_a_signed_in_shop(browser, shop):
    for path in ("/dashboard/returns", "/dashboard/refunds/failed", "/dashboard/withdrawals", "/dashboard/feedback",
                 "/dashboard/policy", "/dashboard/profile", "/dashboard/returns/1"):
        answer = browser.get(path)
        assert answer.status_code == 401 and "Sign in to Palautus" in answer.get_data(as_text=True), path


def test_the_session_cookie_is_http_only_same_site_lax_and_ends_after_twelve_hours(app, browser, shop):
    answer = browser.sign_in(app, shop[0])
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with browser.client.session_transaction() as session:
        session["dashboard"] = {**session["dashboard"], "at": int(time.time()) - 12 * 3600 - 1}
    assert browser.get("/dashboard/returns").status_code == 401


def test_the_session_cookie_is_secure_when_palautus_is_on_https(config, shop, register):
    from integration.app import create_app
    from tests.dashboard.conftest import Browser

    app = create_app({**config, "PUBLIC_URL": "https://palautus.example"})
    answer = Browser(app.test_client()).sign_in(app, shop[0])
    assert answer.status_code == 303 and "Secure" in answer.headers["Set-Cookie"]
    app.extensions["db"].dispose()


def test_a_shop_sees_only_its_own_returns_and_another_shop_s_return_is_404(app, signed_in, shop, other_shop, build, db):
    own, theirs = build(shop[0], platform_order_id="1001"), build(other_shop, platform_order_id="2002")
    listing = signed_in.get("/dashboard/returns").get_data(as_text=True)
    own_code, their_code = (db.get(Return, i).code for i in (own, theirs))
    assert own_code in listing and their_code not in listing
    assert signed_in.get(f"/dashboard/returns/{theirs}").status_code == 404
    assert signed_in.get(f"/dashboard/returns/{theirs}/approve").status_code == 404
    answer = signed_in.post(f"/dashboard/returns/{theirs}/approve", {"confirm": "yes"}, page="/dashboard/returns")
    assert answer.status_code == 404
    db.expire_all()
    assert db.get(Return, theirs).status == "requested"
    assert "<p>0 returns</p>" in signed_in.get(f"/dashboard/returns?q={their_code}").get_data(as_text=True)


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(signed_in, shop, build, db):
    return_id = build(shop[0])
    answer = signed_in.client.post(f"/dashboard/returns/{return_id}/approve", data={"confirm": "yes"})
    assert answer.status_code == 400 and "expired" in answer.get_data(as_text=True)
    assert db.get(Return, return_id).status == "requested"


def test_guessing_links_is_slowed_down_after_the_failed_attempt_limit(app, browser, shop, config):
    app.config["FAILED_AUTH_LIMIT"] = "3 per minute"
    answers = [browser.post("/dashboard/login/nonsense").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert browser.post(f"/dashboard/login/{make_link(app, shop[0])}").status_code == 429  # even a good one, meanwhile
