"""Connecting a WooCommerce store from the browser, end to end against the sandbox store behind `responses`:
the form, the redirect to the store's /wc-auth/v1/authorize, the admin's approval, the store's unsigned key
delivery, the shop registered with its key sealed, the webhooks created by a job with our secret, the done page;
and every delivery Palautus must refuse (unknown, expired, reused, read-only, another store's key), each
storing nothing, which makes the store delete the key."""
from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from adapters.errors import PayloadError
from adapters.platforms.woocommerce.authorize import authorize_url, read_key_delivery
from adapters.platforms.woocommerce.platform import TOPICS
from integration.models import Base, PendingConnection, Shop, utcnow
from integration.services.shops import uninstall_shop
from sandbox.http import Request
from tests.conftest import auth
from tests.fakes import FakeWooCommerce
from tests.woocommerce.conftest import PUBLIC_URL, STORE_URL

CALLBACK = f"{PUBLIC_URL}/install/woocommerce/callback"
BRIEF_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
CSP_DIRECTIVES = ("default-src 'none'", "style-src 'unsafe-inline'", "form-action 'self' https:")


def begin(client, url: str = STORE_URL):
    """The merchant submits the form: Palautus's 303 to the store's authorize page."""
    answer = client.post("/install/woocommerce", data={"store_url": url})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return answer.headers["Location"]


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def approve(store, location: str):
    """The store's admin opens the authorize page and clicks Approve: the store's answer to the browser."""
    return store.handle(Request.of("GET", location, {}, ""))


def land(client, reply):
    """The browser follows the store's redirect back to Palautus's done page."""
    assert reply.status == 302, reply.body
    back = urlsplit(reply.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def connect(client, store, url: str = STORE_URL):
    """The whole flow in the browser; (the done page, the authorize URL)."""
    location = begin(client, url)
    return land(client, approve(store, location)), location


def shops(db) -> list[Shop]:
    db.expire_all()
    return db.scalars(select(Shop)).all()


def everything_stored(app) -> str:
    """Every row of every table, as text (bytes as they are stored), to search for what must never be there."""
    with app.extensions["db"].engine.connect() as conn:
        return "\n".join(repr(row) for table in Base.metadata.sorted_tables for row in conn.execute(select(table)))


def basic(key: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def assert_headers(answer) -> None:
    for name, value in BRIEF_HEADERS.items():
        assert answer.headers.get(name) == value, name
    csp = [part.strip() for part in answer.headers["Content-Security-Policy"].split(";")]
    assert all(directive in csp for directive in CSP_DIRECTIVES), csp
    assert answer.headers["Content-Type"].startswith("text/html")


# --- the whole flow ----------------------------------------------------------------------------------------------


def test_the_form_is_a_plain_page_with_the_security_headers(client):
    answer = client.get("/install/woocommerce")
    assert answer.status_code == 200
    assert_headers(answer)
    html = answer.get_data(as_text=True)
    assert '<form method="post" action="/install/woocommerce">' in html and 'name="store_url"' in html
    assert "<script" not in html


def test_the_form_leads_to_the_stores_authorize_page_with_exactly_the_parameters_woocommerce_takes(client, db):
    location = begin(client, "https://Store.example/wp-json/")
    pending = db.scalar(select(PendingConnection))
    token = pending.token
    target = urlsplit(location)
    assert (target.scheme, target.netloc, target.path) == ("https", "store.example", "/wc-auth/v1/authorize")
    assert query_of(location) == {
        "app_name": "Palautus", "scope": "read_write", "user_id": token,
        "return_url": f"{PUBLIC_URL}/install/woocommerce/done?c={token}", "callback_url": CALLBACK,
    }  # fmt: skip
    assert "return_url=https%3A%2F%2Fpalautus.example%2Finstall%2Fwoocommerce%2Fdone%3Fc%3D" in target.query
    assert len(token) >= 43 and pending.store_url == STORE_URL and pending.completed_at is None
    assert timedelta(minutes=59) < pending.expires_at - utcnow() <= timedelta(hours=1)


def test_approving_registers_the_store_with_its_key_sealed_then_a_job_creates_its_webhooks(app, client, db, store, work):
    location = begin(client)
    token = query_of(location)["user_id"]
    reply = approve(store, location)

    # The store posted the key once and got exactly 200, then sent the admin back with success=1.
    assert store.key_deliveries == [(CALLBACK, 200)]
    assert reply.status == 302
    assert reply.headers["Location"] == f"{PUBLIC_URL}/install/woocommerce/done?c={token}&success=1&user_id={token}"
    [(key, granted)] = store.api_keys.items()
    assert granted["permissions"] == "read_write"

    [shop] = shops(db)
    assert (shop.platform, shop.domain, shop.uninstalled_at) == ("woocommerce", STORE_URL, None)
    credentials = app.extensions["vault"].open(shop.credentials)
    assert credentials["consumer_key"] == key and credentials["consumer_secret"] == granted["secret"]
    assert len(credentials["webhook_secret"]) >= 40
    pending = db.scalar(select(PendingConnection))
    assert pending.completed_at is not None and pending.shop_id == shop.id and pending.error is None

    # Sealed by the vault only: the plaintext secret is in no row of any table, and neither is the webhook secret.
    stored = everything_stored(app)
    assert granted["secret"] not in stored and credentials["webhook_secret"] not in stored and key not in stored

    # Answered before any webhook existed: the job creates them with our secret at the store's own address.
    assert store.webhooks == {}
    work()
    url = f"{PUBLIC_URL}/webhooks/woocommerce/{shop.webhook_key}"
    hooks = sorted(store.webhooks.values(), key=lambda w: w["topic"])
    assert [(w["topic"], w["delivery_url"], w["status"], w["secret"]) for w in hooks] == [
        (topic, url, "active", credentials["webhook_secret"])
        for topic in sorted(TOPICS)]  # fmt: skip
    assert [status for _, status in store.pings] == [200] * len(TOPICS)
    assert shops(db)[0].alerts == {}

    # The done page: connected, what happens next; never the API key (anyone could have started the link).
    done = land(client, reply)
    assert done.status_code == 200
    assert_headers(done)
    assert done.headers["Cache-Control"] == "no-store"
    html = done.get_data(as_text=True)
    assert "is connected" in html and "order.created" in html and "plt_" not in html and "rotate-key" in html


def test_the_new_key_pair_works_at_the_store_and_a_refused_one_is_deleted_there(store):
    location = authorize_url(STORE_URL, app_name="Palautus", user_id="u1", return_url="https://app.example/back",
                             callback_url="https://app.example/keys")  # fmt: skip
    store.key_sender = lambda url, body, headers: 200
    assert approve(store, location).status == 302
    [(key, granted)] = store.api_keys.items()
    assert store.handle(Request.of("GET", f"{STORE_URL}/wp-json/wc/v3/webhooks", basic(key, granted["secret"]), "")).status == 200
    store.key_sender = lambda url, body, headers: 201  # only exactly 200 keeps the key
    refused = approve(store, location)
    assert refused.status == 401 and "unable to send the consumer data" in refused.body and len(store.api_keys) == 1
    read_only = approve(store, location.replace("scope=read_write", "scope=read").replace("user_id=u1", "user_id=u2"))
    assert read_only.status == 401
    store.key_sender = lambda url, body, headers: 200
    approve(store, location.replace("scope=read_write", "scope=read"))
    [read_key] = [k for k, v in store.api_keys.items() if v["permissions"] == "read"]
    creds = basic(read_key, store.api_keys[read_key]["secret"])
    answer = store.handle(Request.of("POST", f"{STORE_URL}/wp-json/wc/v3/webhooks", creds, json.dumps({"topic": "order.created"})))
    assert answer.status == 401 and "write permissions" in answer.body["message"]
    http_callback = approve(store, location.replace("https%3A%2F%2Fapp.example%2Fkeys", "http%3A%2F%2Fapp.example%2Fkeys"))
    assert http_callback.status == 401 and "needs to be over SSL" in http_callback.body


# --- what Palautus refuses, storing nothing -------------------------------------------------------------------------


def assert_refused_and_deleted(store, reply, db, status: int) -> None:
    """The store met a refusal (status), so it deleted the key and showed its admin an error; no shop exists."""
    assert [answer for _, answer in store.key_deliveries] == [status]
    assert reply.status == 401 and "unable to send the consumer data" in reply.body
    assert store.api_keys == {} and shops(db) == []


def test_an_unknown_user_id_is_refused_and_nothing_is_stored(client, db, store, app):
    location = begin(client)
    forged = location.replace(f"user_id={query_of(location)['user_id']}", "user_id=someone-elses-guess")
    assert_refused_and_deleted(store, approve(store, forged), db, 404)
    assert "consumer_secret" not in everything_stored(app)


def test_an_expired_connection_is_refused_and_nothing_is_stored(client, db, store):
    location = begin(client)
    db.execute(update(PendingConnection).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert_refused_and_deleted(store, approve(store, location), db, 400)
    assert db.scalar(select(PendingConnection)).completed_at is None


def test_a_user_id_is_taken_once_a_second_delivery_with_it_is_refused(app, client, db, store):
    location = begin(client)
    approve(store, location)
    [shop] = shops(db)
    first = app.extensions["vault"].open(shop.credentials)
    replay = approve(store, location)  # the same user_id again: a new key pair, refused, deleted at the store
    assert replay.status == 401 and [answer for _, answer in store.key_deliveries] == [200, 400]
    assert list(store.api_keys) == [first["consumer_key"]]
    [same] = shops(db)
    assert app.extensions["vault"].open(same.credentials) == first


def test_a_read_only_key_is_refused_and_the_done_page_says_why(client, db, store):
    location = begin(client)
    reply = approve(store, location.replace("scope=read_write", "scope=read"))
    assert_refused_and_deleted(store, reply, db, 400)
    pending = db.scalar(select(PendingConnection))
    assert pending.completed_at is None and "read access" in pending.error
    page = client.get(f"/install/woocommerce/done?c={pending.token}")
    assert page.status_code == 400 and "Read/Write" in page.get_data(as_text=True)


def test_a_key_from_another_store_is_refused_so_nobody_can_swap_in_their_own(client, db, store, http):
    other = FakeWooCommerce(http, "https://other.example", client=client)
    location = begin(client)  # started for store.example...
    reply = approve(other, location.replace("https://store.example", "https://other.example"))  # ...keys from another
    assert reply.status == 401 and other.api_keys == {} and shops(db) == []
    assert "did not work at https://store.example" in db.scalar(select(PendingConnection)).error


def test_a_callback_that_is_not_the_stores_shape_is_refused(client, db):
    assert client.post("/install/woocommerce/callback", data=b"not json").status_code == 400
    body = {"key_id": 1, "user_id": "x", "consumer_key": "ck_" + "0" * 40, "consumer_secret": "cs_" + "1" * 40,
            "key_permissions": "read_write"}  # fmt: skip
    assert client.post("/install/woocommerce/callback", json=body).status_code == 404  # a user_id never given
    assert client.post("/install/woocommerce/callback", json={**body, "key_id": "1"}).status_code == 400
    assert client.post("/install/woocommerce/callback", data=b"{" + b" " * 20000 + b"}").status_code == 413
    assert shops(db) == []


# --- reconnecting ---------------------------------------------------------------------------------------------------


def test_connecting_again_updates_the_same_shop_and_duplicates_no_webhook(app, client, db, store, work):
    connect(client, store)
    work()
    [shop] = shops(db)
    from integration.services.shops import rotate_api_key

    api_key = rotate_api_key(db, shop)  # the key the operator gave the merchant
    before = app.extensions["vault"].open(shop.credentials)
    store.revoke_key(before["consumer_key"])  # the merchant revoked the old key, say

    second_page, _ = connect(client, store)
    work()
    [again] = shops(db)
    after = app.extensions["vault"].open(again.credentials)
    assert again.id == shop.id and after["consumer_key"] != before["consumer_key"]
    assert after["consumer_key"] in store.api_keys and after["webhook_secret"] == before["webhook_secret"]
    assert len(store.webhooks) == len(TOPICS) and all(w["secret"] == before["webhook_secret"] for w in store.webhooks.values())
    html = second_page.get_data(as_text=True)
    assert "is connected" in html and "plt_" not in html  # the shop's API key is unchanged...
    assert client.get("/api/v1/shop", headers=auth(api_key)).status_code == 200  # ...and still works


def test_an_uninstalled_store_is_reinstated_and_its_old_api_key_stays_dead(app, client, db, store, work, register):
    connect(client, store)
    [shop] = shops(db)
    from integration.services.shops import rotate_api_key

    old_key = rotate_api_key(db, shop)  # the key the operator gave the merchant
    assert client.get("/api/v1/shop", headers=auth(old_key)).status_code == 200
    uninstall_shop(db, app.extensions["vault"], shop)
    connect(client, store)
    [again] = shops(db)
    assert again.id == shop.id and again.uninstalled_at is None
    assert client.get("/api/v1/shop", headers=auth(old_key)).status_code == 401  # rotated at reinstatement


# --- the done page never shows the key ----------------------------------------------------------------------------


def test_the_api_key_is_shown_in_no_browser_not_even_the_one_that_started_the_connection(app, client, store, redis):
    """Whoever starts a connection sees the whole approval link: the browser holding its cookie may be an attacker's
    who sent the link to the store's admin. So the key goes through the operator, never a page."""
    location = begin(client)
    reply = approve(store, location)
    for browser in (client, app.test_client()):
        html = land(browser, reply).get_data(as_text=True)
        assert "is connected" in html and "plt_" not in html and "rotate-key" in html
    assert redis.keys("palautus:install:*") == []  # nor kept anywhere for a page


def test_without_redis_the_store_is_still_connected_and_the_page_says_how_to_get_a_key(client, db, store, redis_down):
    location = begin(client)
    with redis_down():
        reply = approve(store, location)
    assert store.key_deliveries == [(CALLBACK, 200)] and len(shops(db)) == 1
    html = land(client, reply).get_data(as_text=True)
    assert "is connected" in html and "plt_" not in html and "rotate-key" in html


def test_a_store_that_refuses_the_key_later_is_flagged_on_the_shop_and_on_the_done_page(client, db, store, work):
    location = begin(client)
    reply = approve(store, location)
    store.revoke_key(next(iter(store.api_keys)))  # revoked before the job ran
    work()
    [shop] = shops(db)
    assert "refused" in shop.alerts["store"]["message"] and store.webhooks == {}
    assert "Not yet working" in land(client, reply).get_data(as_text=True)


def test_a_store_briefly_unreachable_for_the_job_is_flagged_then_set_up_by_rqs_retry(client, db, store, work):
    approve(store, begin(client))
    store.faults = [503]  # the job's first call meets an outage; the retry gets through
    work()
    [shop] = shops(db)
    assert len(store.webhooks) == len(TOPICS) and shop.alerts == {}
    # the callback's check, the job's check that met the outage, and the retry's check and listing
    assert store.calls.count(("GET", "/webhooks")) == 4


def test_the_admin_who_declines_lands_on_a_page_that_says_nothing_was_connected(client, db, store):
    store.approve = False
    html = land(client, approve(store, begin(client))).get_data(as_text=True)
    assert "declined" in html and shops(db) == [] and store.key_deliveries == []


def test_an_unknown_done_link_is_a_404_page(client):
    answer = client.get("/install/woocommerce/done?c=nothing-like-it")
    assert answer.status_code == 404
    assert_headers(answer)


# --- configuration, input and abuse ----------------------------------------------------------------------------------


@pytest.mark.parametrize("public", ["", "http://palautus.example"])
def test_without_an_https_public_url_nothing_starts_and_the_page_says_what_to_set(app, client, db, public):
    app.config["PUBLIC_URL"] = public
    for answer in (client.get("/install/woocommerce"), client.post("/install/woocommerce", data={"store_url": STORE_URL})):
        assert answer.status_code == 503
        assert_headers(answer)
        assert "PUBLIC_URL" in answer.get_data(as_text=True)
    assert db.scalar(select(PendingConnection)) is None


def test_a_bad_store_url_re_renders_the_form_with_a_message(client, db):
    answer = client.post("/install/woocommerce", data={"store_url": "ftp://store.example"})
    assert answer.status_code == 400 and "not a store URL" in answer.get_data(as_text=True)
    assert db.scalar(select(PendingConnection)) is None


def test_a_hostile_store_url_is_escaped_everywhere_it_is_shown(client):
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    answer = client.post("/install/woocommerce", data={"store_url": hostile})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert_headers(answer)
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert 'value="&quot;&gt;&lt;script&gt;' in html


def test_production_refuses_a_plain_http_store(app, client, db):
    app.config["ENV"] = "production"
    answer = client.post("/install/woocommerce", data={"store_url": "http://store.example"})
    assert answer.status_code == 400 and "https://" in answer.get_data(as_text=True)
    assert db.scalar(select(PendingConnection)) is None


def test_the_posts_are_rate_limited_per_address(client, db):
    for _ in range(10):
        assert client.post("/install/woocommerce", data={"store_url": STORE_URL}).status_code == 303
    limited = client.post("/install/woocommerce", data={"store_url": STORE_URL})
    assert limited.status_code == 429
    assert_headers(limited)
    elsewhere = client.post("/install/woocommerce", data={"store_url": STORE_URL}, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 303
    assert client.get("/install/woocommerce").status_code == 200  # the form itself is not limited
    assert len(db.scalars(select(PendingConnection)).all()) == 11


def test_the_callback_is_rate_limited_per_address(client):
    body = {"key_id": 1, "user_id": "x", "consumer_key": "ck_" + "0" * 40, "consumer_secret": "cs_" + "1" * 40,
            "key_permissions": "read_write"}  # fmt: skip
    statuses = [client.post("/install/woocommerce/callback", json=body).status_code for _ in range(31)]
    assert statuses == [404] * 30 + [429]


# --- the protocol module ----------------------------------------------------------------------------------------------


def test_the_authorize_url_refuses_what_woocommerce_would_refuse_or_change():
    with pytest.raises(ValueError, match="https"):
        authorize_url(STORE_URL, app_name="P", user_id="u", return_url="https://a/b", callback_url="http://a/c")
    with pytest.raises(ValueError, match="scope"):
        authorize_url(STORE_URL, app_name="P", user_id="u", return_url="https://a/b", callback_url="https://a/c", scope="all")
    with pytest.raises(ValueError, match="user_id"):  # decoded twice by the store: a + would come back a space
        authorize_url(STORE_URL, app_name="P", user_id="a+b", return_url="https://a/b", callback_url="https://a/c")


def test_a_key_delivery_is_read_strictly_and_never_shows_its_secret():
    body = {"key_id": 7, "user_id": "tok", "consumer_key": "ck_" + "a" * 40, "consumer_secret": "cs_" + "b" * 40,
            "key_permissions": "read_write"}  # fmt: skip
    delivery = read_key_delivery(body)
    assert delivery.credentials == {"consumer_key": body["consumer_key"], "consumer_secret": body["consumer_secret"]}
    assert "b" * 40 not in repr(delivery) and "a" * 40 not in repr(delivery)
    for field, value in (("key_id", True), ("user_id", 5), ("consumer_key", "ck_<script>"), ("consumer_secret", ""),
                         ("key_permissions", "admin")):  # fmt: skip
        with pytest.raises(PayloadError, match=field):
            read_key_delivery({**body, field: value})


def test_a_store_address_that_is_not_public_is_refused_before_anything_is_asked_of_it(app, client, db):
    """The store URL decides where Palautus sends requests: never into its own network."""
    for url in ("https://10.0.0.5", "https://169.254.169.254", "https://[fd00::1]"):  # any environment
        assert client.post("/install/woocommerce", data={"store_url": url}).status_code == 400, url
    app.config["ENV"] = "production"
    for url in ("https://localhost", "https://db.internal", "https://2130706433", "https://127.0.0.1",
                "https://shop.example.com:6379"):  # fmt: skip
        answer = client.post("/install/woocommerce", data={"store_url": url})
        assert answer.status_code == 400 and "Location" not in answer.headers, url
    assert db.scalars(select(PendingConnection)).all() == []
