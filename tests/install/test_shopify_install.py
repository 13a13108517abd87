"""Installing on Shopify from the browser, end to end against the sandbox shop's OAuth behind `responses`:
the signed app URL, the approval, the callback, the code for expiring tokens, the webhooks; then the tokens
kept fresh (before they expire, and on a 401), one refresh at a time, and an old token moved to an expiring one."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select

from integration.models import Shop
from sandbox.shopify import query_hmac
from tests.conftest import SHOP_DOMAIN, SHOPIFY_SECRET

CLIENT_ID = "palautus-test-client-id"
PUBLIC_URL = "https://palautus.example"


@pytest.fixture
def config(config):
    return {**config, "SHOPIFY_CLIENT_ID": CLIENT_ID, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def oauth_shop(shopify):
    """The sandbox shop with the app's OAuth on: it takes only the tokens it issued."""
    shopify.client_id, shopify.client_secret = CLIENT_ID, SHOPIFY_SECRET
    return shopify


def signed(params: dict, secret: str = SHOPIFY_SECRET) -> str:
    return urlencode({**params, "hmac": query_hmac(params, secret)})


def app_url(shop: str = SHOP_DOMAIN, at: float | None = None, secret: str = SHOPIFY_SECRET) -> str:
    return "/install/shopify?" + signed({"shop": shop, "timestamp": str(int(at or time.time())), "host": "YWRtaW4"}, secret)


def install(client, shop):
    """Open the app URL, approve in the shop, come back: the landing page's response."""
    began = client.get(app_url())
    assert began.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(began.headers["Location"]).query, keep_blank_values=True).items()}
    back = urlsplit(shop.authorize(query).headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def credentials(app) -> dict:
    with app.extensions["db"].session() as session:
        return app.extensions["vault"].open(session.scalar(select(Shop)).credentials)


def test_the_app_url_sends_the_merchant_to_approve_the_least_scopes_with_a_state_bound_to_the_browser(client, oauth_shop):
    answer = client.get(app_url())
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query, keep_blank_values=True).items()}
    assert (target.scheme, target.netloc, target.path) == ("https", SHOP_DOMAIN, "/admin/oauth/authorize")
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == f"{PUBLIC_URL}/install/shopify/callback"
    assert set(query["scope"].split(",")) == {"write_orders", "write_returns", "read_locations", "write_inventory",
                                              "read_shopify_payments_payouts", "read_shopify_payments_accounts", "read_products"}  # fmt: skip
    assert query["grant_options[]"] == "" and len(query["state"]) >= 24
    cookie = answer.headers["Set-Cookie"]
    assert "palautus_shopify_state=" in cookie and "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    assert query["state"] not in cookie  # the cookie is signed, not the bare nonce


def test_an_install_registers_the_shop_with_expiring_tokens_sealed_and_subscribes_its_webhooks(client, oauth_shop, app, db):
    page = install(client, oauth_shop)
    assert page.status_code == 200 and "Palautus is installed" in page.get_data(as_text=True)
    assert "plt_" in page.get_data(as_text=True)  # the API key, shown once
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    [exchange] = oauth_shop.token_requests
    assert exchange["expiring"] == "1" and exchange["client_id"] == CLIENT_ID and "code" in exchange
    kept = credentials(app)
    assert kept["access_token"] == oauth_shop.access_token and kept["refresh_token"].startswith("shprt_")
    assert datetime.fromisoformat(kept["access_token_expires_at"]) > datetime.now(timezone.utc) + timedelta(minutes=50)
    topics = {sub["topic"] for sub in oauth_shop.subscriptions if sub["uri"] == f"{PUBLIC_URL}/webhooks/shopify"}
    assert {"ORDERS_CREATE", "RETURNS_REQUEST", "REFUNDS_CREATE", "ORDER_TRANSACTIONS_CREATE"} <= topics
    assert len(topics) == len(oauth_shop.subscriptions) == 11  # app/uninstalled is app-wide, in shopify.app.toml
    # Nothing secret in clear in the database: the row holds only the sealed blob.
    row = db.execute(select(Shop.credentials)).scalar_one()
    assert oauth_shop.access_token.encode() not in row and kept["refresh_token"].encode() not in row


def test_installing_again_updates_the_same_shop_never_a_second_one(client, oauth_shop, app, db):
    install(client, oauth_shop)
    first = credentials(app)["access_token"]
    again = install(client, oauth_shop)
    assert again.status_code == 200 and "installed before" in again.get_data(as_text=True)
    assert len(db.scalars(select(Shop)).all()) == 1 and credentials(app)["access_token"] != first
    assert len(oauth_shop.subscriptions) == 11  # subscriptions present are not made twice


def test_reinstalling_after_an_uninstall_shows_a_new_api_key_and_the_old_one_stays_dead(client, oauth_shop, app, db):
    import re

    from tests.conftest import auth

    [old_key] = re.findall(r"plt_[A-Za-z0-9_-]+", install(client, oauth_shop).get_data(as_text=True))
    assert client.post("/api/v1/shop/disconnect", headers=auth(old_key)).status_code == 200
    page = install(client, oauth_shop).get_data(as_text=True)
    [new_key] = re.findall(r"plt_[A-Za-z0-9_-]+", page)
    assert new_key != old_key and "old API key no longer works" in page
    assert client.get("/api/v1/shop", headers=auth(old_key)).status_code == 401
    assert client.get("/api/v1/shop", headers=auth(new_key)).status_code == 200
    assert len(db.scalars(select(Shop)).all()) == 1


def test_a_signed_query_whose_values_hold_ampersands_and_percents_is_verified_as_shopify_signs_it(client, oauth_shop):
    params = {"shop": SHOP_DOMAIN, "timestamp": str(int(time.time())), "host": "a&b=c%d"}
    message = "host=a%26b=c%25d&shop=" + SHOP_DOMAIN + "&timestamp=" + params["timestamp"]
    import hashlib
    import hmac as hmac_

    digest = hmac_.new(SHOPIFY_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert client.get("/install/shopify?" + urlencode({**params, "hmac": digest})).status_code == 302
    unescaped = "host=a&b=c%d&shop=" + SHOP_DOMAIN + "&timestamp=" + params["timestamp"]
    forged = hmac_.new(SHOPIFY_SECRET.encode(), unescaped.encode(), hashlib.sha256).hexdigest()
    assert client.get("/install/shopify?" + urlencode({**params, "hmac": forged})).status_code == 401


@pytest.mark.parametrize("case", ["bad hmac", "other secret", "stale", "future", "not myshopify", "trailing newline", "no hmac"])
def test_an_app_url_shopify_did_not_sign_now_for_a_myshopify_shop_is_refused_401(client, oauth_shop, case):
    url = {
        "bad hmac": app_url().replace("hmac=", "hmac=0"),
        "other secret": app_url(secret="not-the-app-secret"),
        "stale": app_url(at=time.time() - 120),
        "future": app_url(at=time.time() + 120),
        "not myshopify": app_url(shop="evil.example.com"),
        "trailing newline": app_url(shop=SHOP_DOMAIN + "\n"),
        "no hmac": "/install/shopify?" + urlencode({"shop": SHOP_DOMAIN, "timestamp": str(int(time.time()))}),
    }[case]
    answer = client.get(url)
    assert answer.status_code == 401 and "Location" not in answer.headers and "Nothing was installed" in answer.get_data(as_text=True)


def test_a_callback_whose_state_is_not_this_browser_s_is_refused_and_installs_nothing(client, oauth_shop, app, db):
    began = client.get(app_url())
    query = {k: v[0] for k, v in parse_qs(urlsplit(began.headers["Location"]).query, keep_blank_values=True).items()}
    back = urlsplit(oauth_shop.authorize({**query, "state": "someone-elses-state"}).headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 403
    client.delete_cookie("palautus_shopify_state", path="/install/shopify")
    back = urlsplit(oauth_shop.authorize(query).headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 403  # no cookie: not started in this browser
    assert db.scalars(select(Shop)).all() == [] and oauth_shop.token_requests == []


def test_a_callback_with_a_forged_hmac_or_a_used_code_installs_nothing(client, oauth_shop, db):
    page = install(client, oauth_shop)
    assert page.status_code == 200
    began = client.get(app_url())
    query = {k: v[0] for k, v in parse_qs(urlsplit(began.headers["Location"]).query, keep_blank_values=True).items()}
    back = urlsplit(oauth_shop.authorize(query).headers["Location"])
    forged = back.query.replace("hmac=", "hmac=f")
    assert client.get(f"{back.path}?{forged}").status_code == 401
    code = parse_qs(back.query)["code"][0]
    oauth_shop.codes[code] = True  # used already
    assert client.get(f"{back.path}?{back.query}").status_code == 502


def test_without_the_app_s_credentials_or_a_public_url_the_install_says_so_503(app, client, oauth_shop):
    app.config["PUBLIC_URL"] = ""
    assert client.get(app_url()).status_code == 503


# --- the tokens kept fresh ------------------------------------------------------------------------------------


def a_job_reads_an_order(app, shopify) -> None:
    """A job uses the shop's platform (reading an order's payments), as any refund or sync would."""
    from jobs.context import job_context

    shopify.transactions = []
    with job_context() as jc:
        shop = jc.session.scalar(select(Shop))
        jc.platform(shop).order_payments("5196695273621")


def test_an_access_token_about_to_expire_is_refreshed_before_it_is_used_and_the_refresh_token_rotates(client, oauth_shop, app, db):
    install(client, oauth_shop)
    old = credentials(app)
    from jobs.context import fresh_tokens

    with app.extensions["db"].session() as session:  # 4 minutes left: refreshed ahead
        shop = session.scalar(select(Shop))
        kept = app.extensions["vault"].open(shop.credentials)
        kept["access_token_expires_at"] = (datetime.now(timezone.utc) + timedelta(minutes=4)).isoformat()
        shop.credentials = app.extensions["vault"].seal(kept)
        session.commit()
    a_job_reads_an_order(app, oauth_shop)
    new = credentials(app)
    assert new["access_token"] != old["access_token"] and new["refresh_token"] != old["refresh_token"]
    assert oauth_shop.token_requests[-1]["grant_type"] == "refresh_token"
    assert oauth_shop.refresh_tokens[old["refresh_token"]] is False  # the old refresh token is spent
    assert fresh_tokens(app, db.scalar(select(Shop.id)))["access_token"] == new["access_token"]  # not due: untouched


def test_a_401_renews_the_token_once_and_the_call_goes_through(client, oauth_shop, app):
    install(client, oauth_shop)
    oauth_shop.expire_access_token()  # it ran out between our check and the call
    a_job_reads_an_order(app, oauth_shop)
    assert [r.get("grant_type") for r in oauth_shop.token_requests][-1] == "refresh_token"
    assert credentials(app)["access_token"] == oauth_shop.access_token


def test_two_workers_that_find_the_token_expiring_refresh_it_once(client, oauth_shop, app, db):
    install(client, oauth_shop)
    shop_id = db.scalar(select(Shop.id))
    with app.extensions["db"].session() as session:
        shop = session.scalar(select(Shop))
        kept = app.extensions["vault"].open(shop.credentials)
        kept["access_token_expires_at"] = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
        shop.credentials = app.extensions["vault"].seal(kept)
        session.commit()
    from jobs.context import fresh_tokens

    errors = []

    def worker():
        try:
            with app.app_context():
                fresh_tokens(app, shop_id)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert [r.get("grant_type") for r in oauth_shop.token_requests].count("refresh_token") == 1


def test_a_refresh_token_shopify_refuses_flags_the_shop_for_a_reinstall(client, oauth_shop, app, db):
    install(client, oauth_shop)
    oauth_shop.refresh_tokens.clear()  # revoked
    oauth_shop.expire_access_token()
    from adapters.errors import ProviderRejected

    with pytest.raises(ProviderRejected):
        a_job_reads_an_order(app, oauth_shop)
    db.expire_all()
    assert "reinstall" in db.scalar(select(Shop)).alerts["tokens"]["message"]


def test_a_shop_registered_with_a_non_expiring_token_is_moved_to_an_expiring_one_by_token_exchange(
    register, oauth_shop, app
):
    oauth_shop._issue(expiring=False)  # the app's old non-expiring offline token
    register(access_token=oauth_shop.access_token)
    a_job_reads_an_order(app, oauth_shop)
    [exchange] = oauth_shop.token_requests
    assert exchange["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert exchange["subject_token_type"] == "urn:shopify:params:oauth:token-type:offline-access-token"
    kept = credentials(app)
    assert kept["refresh_token"] and kept["access_token"] == oauth_shop.access_token


def test_a_custom_app_s_own_token_is_never_exchanged(register, shopify, app):
    register(webhook_secret="a custom app's own secret")  # a custom app: its own token and secret, no OAuth
    a_job_reads_an_order(app, shopify)
    assert shopify.token_requests == []


def test_the_app_configuration_declares_the_compliance_topics_and_the_scopes_the_install_asks_for():
    import tomllib
    from pathlib import Path

    from adapters.platforms.shopify.oauth import SCOPES

    toml = tomllib.loads((Path(__file__).resolve().parents[2] / "shopify.app.toml").read_text())
    subscriptions = toml["webhooks"]["subscriptions"]
    assert {"customers/data_request", "customers/redact", "shop/redact"} == {
        topic for sub in subscriptions for topic in sub.get("compliance_topics", [])}
    assert "app/uninstalled" in {topic for sub in subscriptions for topic in sub.get("topics", [])}
    assert set(toml["access_scopes"]["scopes"].split(",")) == set(SCOPES) and toml["embedded"] is False
    assert toml["auth"]["redirect_urls"][0].endswith("/install/shopify/callback")


@pytest.mark.parametrize("due", [False, True])
def test_an_uninstall_of_a_shop_with_expiring_tokens_is_believed_when_shopify_will_not_renew_them(
    client, oauth_shop, app, db, post_webhook, work, due
):
    """Shopify revokes the access and the refresh token at uninstall: the check's 401 leads to a renewal that
    Shopify refuses (or the token was due and the renewal comes first); that refusal is the uninstall."""
    from integration.models import WebhookEvent
    from integration.services.shops import replace_credentials
    from tests.install.test_uninstall import UNINSTALLED

    install(client, oauth_shop)
    if due:
        replace_credentials(db, app.extensions["vault"], db.scalar(select(Shop)),
                            {"access_token_expires_at": "2020-01-01T00:00:00+00:00"})  # fmt: skip
    oauth_shop.access_token = "shpat_revoked_by_the_uninstall"
    for token in list(oauth_shop.refresh_tokens):
        oauth_shop.refresh_tokens[token] = False
    assert post_webhook("app/uninstalled", UNINSTALLED, webhook_id="uninstalled").status_code == 200
    work()
    db.expire_all()
    event = db.scalar(select(WebhookEvent))
    assert event.status == "processed", event.error
    assert db.scalar(select(Shop)).uninstalled_at is not None and "refresh_token" not in credentials(app)


@pytest.mark.parametrize(("status", "body", "revoked"), [
    (400, {"error": "invalid_grant", "error_description": "refresh token is not valid"}, True),
    (401, {"error": "invalid_client"}, False),  # our client secret is wrong: nothing said of the merchant's grant
    (402, {"errors": "Unavailable Shop"}, False),  # a frozen shop has not uninstalled the app
    (423, {"errors": "Locked"}, False),
    (302, {}, False),
    (200, {"unexpected": "page"}, False),  # not the token endpoint's answer
])  # fmt: skip
def test_only_a_refused_grant_counts_as_revoked(status, body, revoked):
    import responses

    from adapters.errors import GrantRevoked, ProviderError

    with responses.RequestsMock() as mocked:
        mocked.post(f"https://{SHOP_DOMAIN}/admin/oauth/access_token", status=status, json=body)
        from adapters.platforms.shopify import oauth

        with pytest.raises(ProviderError) as raised:
            oauth.refresh("https://{shop}", SHOP_DOMAIN, CLIENT_ID, SHOPIFY_SECRET, "shprt_x")
    assert isinstance(raised.value, GrantRevoked) is revoked


def test_an_uninstall_checked_while_the_shop_installs_again_forgets_nothing_of_the_new_install(
    client, oauth_shop, app, db, post_webhook, work, monkeypatch
):
    """Shopify refuses the old token; before the uninstall is written, the merchant installs again: the uninstall
    finds other tokens stored than the one refused, and forgets nothing."""
    from integration.models import WebhookEvent
    from tests.install.test_uninstall import UNINSTALLED

    install(client, oauth_shop)
    oauth_shop.access_token = "shpat_revoked_by_the_uninstall"
    for token in list(oauth_shop.refresh_tokens):
        oauth_shop.refresh_tokens[token] = False
    import integration.services.shops as shops_service

    real = shops_service.locked_credentials

    def reinstalled_meanwhile(session, vault, shop):
        if not getattr(reinstalled_meanwhile, "done", False):
            reinstalled_meanwhile.done = True
            with app.extensions["db"].session() as other:  # the install callback's commit, just before
                row = other.get(Shop, shop.id)
                row.credentials = vault.seal({**vault.open(row.credentials), "access_token": "shpat_new_install"})
                other.commit()
        return real(session, vault, shop)

    monkeypatch.setattr(shops_service, "locked_credentials", reinstalled_meanwhile)
    assert post_webhook("app/uninstalled", UNINSTALLED, webhook_id="uninstalled").status_code == 200
    work()
    db.expire_all()
    event = db.scalar(select(WebhookEvent))
    assert event.status == "failed" and "not believed" in event.error
    assert db.scalar(select(Shop)).uninstalled_at is None and credentials(app)["access_token"] == "shpat_new_install"
