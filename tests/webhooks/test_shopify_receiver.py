"""POST /webhooks/shopify at the HTTP edge: verify the raw bytes, store once, enqueue, answer."""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from datetime import datetime, timezone

import pytest
from rq.job import Job
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from integration.app import create_app
from integration.models import Shop, WebhookEvent
from tests.conftest import SHOP_DOMAIN, SHOPIFY_SECRET, payload, shopify_headers, sign_shopify
from tests.webhooks.conftest import ORDER, assert_error, fresh

URL = "/webhooks/shopify"
# Spacing, key order and a raw UTF-8 "ä" that json.dumps would have escaped: only these exact bytes verify.
RAW = b'{ "id" : 5196695273621,\n  "note": "k\xc3\xa4rry",  "updated_at": "2026-03-02T14:06:40+02:00" }'


def post(client, body: bytes, topic: str = "orders/create", **overrides):
    return client.post(URL, data=body, headers=shopify_headers(body, topic, **overrides))


# --- the happy path ---------------------------------------------------------------------------


def test_a_valid_delivery_is_stored_once_with_its_headers_and_exact_bytes_and_one_job_is_queued(
    client, shop, inbox, queued, redis
):
    response = post(client, RAW, webhook_id="delivery-1", **{"X-Shopify-API-Version": "2026-10"})

    assert response.status_code == 200, response.get_json()
    [event] = inbox()
    assert response.get_json() == {"status": "accepted", "event_id": event.id}
    assert (event.shop_id, event.platform, event.topic) == (shop[0].id, "shopify", "orders/create")
    assert event.delivery_id == "delivery-1"
    assert event.event_id == "98880550-7158-44d4-b7cd-2c97c8a091b5"
    assert event.api_version == "2026-10"
    assert event.triggered_at == datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
    assert event.body == RAW
    assert (event.status, event.attempts, event.error, event.processed_at) == ("received", 0, None, None)
    [job_id] = queued()
    job = Job.fetch(job_id, connection=redis)
    assert (job.func_name, job.args) == ("jobs.events.process_webhook", (event.id,))


def test_header_names_are_read_case_insensitively_as_http2_sends_them(client, shop, inbox, queued):
    headers = {k.lower(): v for k, v in shopify_headers(RAW, "orders/create", webhook_id="h2-delivery").items()}

    response = client.post(URL, data=RAW, headers=headers)

    assert response.status_code == 200, response.get_json()
    assert [(e.topic, e.delivery_id) for e in inbox()] == [("orders/create", "h2-delivery")]
    assert len(queued()) == 1


def test_a_delivery_to_an_uninstalled_shop_is_still_stored_for_the_privacy_topics_that_follow(
    client, shop, db, inbox
):
    db.get(Shop, shop[0].id).uninstalled_at = datetime.now(timezone.utc)
    db.commit()

    response = post(client, b'{"shop_id": 1, "shop_domain": "palautus-test.myshopify.com"}', "shop/redact")

    assert response.status_code == 200
    assert [e.topic for e in inbox()] == ["shop/redact"]


def test_a_triggered_at_with_an_offset_is_stored_in_utc(client, shop, inbox):
    response = post(client, RAW, **{"X-Shopify-Triggered-At": "2026-11-20T12:00:00+02:00"})

    assert response.status_code == 200
    assert inbox()[0].triggered_at == datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("value", ["not a date", "2026-11-20T10:00:00", "0001-01-01T00:00:00+01:00",
                                   "9999-12-31T23:59:59-01:00", ""])  # fmt: skip
def test_a_triggered_at_that_is_not_a_usable_utc_time_is_stored_as_unknown(client, shop, inbox, value):
    response = post(client, RAW, **{"X-Shopify-Triggered-At": value})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert inbox()[0].triggered_at is None


# --- 401: the signature -----------------------------------------------------------------------


def _tampered(body: bytes) -> str:
    good = sign_shopify(body)
    return good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]


BAD_SIGNATURES = {
    "one character changed": (RAW, lambda body: _tampered(body)),
    "signed over re-serialised json": (
        json.dumps(payload(ORDER), indent=2).encode(),
        lambda body: sign_shopify(json.dumps(json.loads(body), separators=(",", ":")).encode()),
    ),
    "signed with another secret": (RAW, lambda body: sign_shopify(body, "shpss_someone_elses_secret")),
    "hex digest instead of base64": (
        RAW, lambda body: hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    ),
    "signature of another body": (RAW, lambda body: sign_shopify(body + b" ")),
    "signature not base64 at all": (RAW, lambda body: "ä€ not base64 \t"),
    "signature header missing": (RAW, lambda body: None),
    "signature header empty": (RAW, lambda body: ""),
    "empty body with a bad signature": (b"", lambda body: base64.b64encode(b"x" * 32).decode()),
    "empty body with no signature": (b"", lambda body: None),
}


@pytest.mark.parametrize("case", BAD_SIGNATURES)
def test_a_delivery_whose_signature_does_not_match_the_raw_bytes_is_refused_with_401_and_nothing_is_kept(
    client, shop, inbox, queued, case
):
    body, signature = BAD_SIGNATURES[case]

    response = post(client, body, **{"X-Shopify-Hmac-Sha256": signature(body)})

    assert_error(response, 401, "unauthorized")
    assert SHOPIFY_SECRET not in response.get_data(as_text=True)
    assert inbox() == [] and queued() == []


def test_a_shop_with_its_own_webhook_secret_is_verified_with_it_and_refuses_the_app_secret(
    client, register, inbox, queued
):
    own = "shpss_custom_app_secret_of_the_shop"
    custom, _ = register(domain="custom-app.myshopify.com", webhook_secret=own)

    refused = post(client, RAW, domain="custom-app.myshopify.com", secret=SHOPIFY_SECRET, webhook_id="app-secret")
    accepted = post(client, RAW, domain="custom-app.myshopify.com", secret=own, webhook_id="own-secret")

    assert_error(refused, 401, "unauthorized")
    assert own not in refused.get_data(as_text=True) and SHOPIFY_SECRET not in refused.get_data(as_text=True)
    assert accepted.status_code == 200, accepted.get_json()
    assert [(e.shop_id, e.delivery_id) for e in inbox()] == [(custom.id, "own-secret")]
    assert len(queued()) == 1


# --- 404: the shop ----------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["someone-else.myshopify.com", "PALAUTUS-TEST.example.com", "not a domain"])
def test_a_delivery_for_a_shop_we_do_not_know_with_a_valid_app_signature_gets_404_and_nothing_is_kept(
    client, shop, inbox, queued, domain
):
    response = post(client, RAW, domain=domain)

    assert_error(response, 404, "not_found")
    assert inbox() == [] and queued() == []


def test_a_delivery_for_an_unknown_shop_with_a_bad_signature_gets_401_so_shops_cannot_be_probed(
    client, shop, inbox
):
    response = post(client, RAW, domain="someone-else.myshopify.com", secret="guess")

    assert_error(response, 401, "unauthorized")
    assert inbox() == []


def test_the_shop_domain_header_is_matched_case_insensitively(client, shop, inbox):
    response = post(client, RAW, domain=SHOP_DOMAIN.upper())

    assert response.status_code == 200
    assert [e.shop_id for e in inbox()] == [shop[0].id]


# --- 400: the body and the headers ------------------------------------------------------------

BAD_BODIES = {
    "malformed json": b'{"id": 1,',
    "a json array": b'[{"id": 1}]',
    "a json string": b'"orders/create"',
    "a json number": b"42",
    "json null": b"null",
    "empty body": b"",
    "only whitespace": b" \n",
    "trailing garbage": b'{"id": 1} {"id": 2}',
    "non-utf-8 bytes": b'{"note": "k\xe4rry"}',
    "utf-16 encoded json": '{"id": 1}'.encode("utf-16"),
    "utf-16-le without a bom": '{"id": 1}'.encode("utf-16-le"),
    "an encoded lone surrogate": b'{"note": "\xed\xa0\x80"}',
    "an escaped lone surrogate, which no job could store": b'{"email": "\\ud800@example.com"}',
    "NaN, which json does not have": b'{"total_price": NaN}',
    "Infinity, which json does not have": b'{"total_price": -Infinity}',
    "nesting deeper than the parser's recursion limit": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("case", BAD_BODIES)
def test_a_correctly_signed_body_that_is_not_a_json_object_gets_400_with_a_message_and_nothing_is_kept(
    client, shop, inbox, queued, case
):
    response = post(client, BAD_BODIES[case])

    body = assert_error(response, 400, "bad_request")
    assert "JSON" in body["message"]
    assert inbox() == [] and queued() == []


BAD_HEADERS = {
    "no topic": {"X-Shopify-Topic": None},
    "no webhook id": {"X-Shopify-Webhook-Id": None},
    "no shop domain": {"X-Shopify-Shop-Domain": None},
    "a blank topic": {"X-Shopify-Topic": "   "},
    "a blank webhook id": {"X-Shopify-Webhook-Id": " "},
    "a topic longer than the column": {"X-Shopify-Topic": "orders/" + "x" * 200},
    "a topic with a space": {"X-Shopify-Topic": "orders create"},
    "a topic with a control character": {"X-Shopify-Topic": "orders/create\x00"},
    "a webhook id longer than the column": {"X-Shopify-Webhook-Id": "d" * 256},
    "a webhook id with a control character": {"X-Shopify-Webhook-Id": "delivery\x001"},
}


@pytest.mark.parametrize("case", BAD_HEADERS)
def test_a_correctly_signed_delivery_without_usable_headers_gets_400_and_nothing_is_kept(
    client, shop, inbox, queued, case
):
    response = post(client, RAW, **BAD_HEADERS[case])

    assert_error(response, 400)
    assert inbox() == [] and queued() == []


@pytest.mark.parametrize("topic", ["customer.tags_added", "Orders/Create", "some_future/topic_we_never_heard_of"])
def test_any_plausible_topic_is_accepted_so_shopify_never_drops_the_subscription(client, shop, inbox, topic):
    response = post(client, RAW, topic=topic)

    assert response.status_code == 200, response.get_json()
    assert [e.topic for e in inbox()] == [topic.lower()]


def test_a_character_escaped_as_a_surrogate_pair_is_accepted(client, shop, inbox):
    body = b'{"note": "\\ud83d\\ude00 \\u00e4"}'

    response = post(client, body)

    assert response.status_code == 200, response.get_json()
    assert [json.loads(e.body)["note"] for e in inbox()] == ["\U0001f600 \u00e4"]


def test_two_long_webhook_ids_that_share_a_prefix_are_never_taken_for_one_delivery(client, shop, inbox):
    prefix = "w" * 255

    first = post(client, RAW, webhook_id=prefix + "1")
    second = post(client, RAW, webhook_id=prefix + "2")

    # Truncating to the column silently turned the second into a "duplicate" of the first: lost.
    assert second.get_json().get("status") != "duplicate"
    assert first.status_code == second.status_code


# --- 413: the size ----------------------------------------------------------------------------


@pytest.fixture
def small_app(config, shop):
    app = create_app({**config, "MAX_WEBHOOK_BYTES": 1000})
    yield app
    app.extensions["db"].engine.dispose()


def _object_of(size: int) -> bytes:
    body = b'{"pad": "' + b"x" * (size - 11) + b'"}'
    assert len(body) == size
    return body


def test_a_body_larger_than_max_webhook_bytes_gets_413_and_nothing_is_kept(small_app, inbox, queued):
    response = post(small_app.test_client(), _object_of(1001))

    assert_error(response, 413)
    assert inbox() == [] and queued() == []


def test_a_body_of_exactly_max_webhook_bytes_is_accepted(small_app, inbox):
    response = post(small_app.test_client(), _object_of(1000))

    assert response.status_code == 200, response.get_json()
    assert len(inbox()) == 1


def test_a_chunked_body_without_content_length_is_cut_off_at_max_webhook_bytes_with_413(small_app, inbox):
    body = _object_of(5000)
    headers = shopify_headers(body, "orders/create", **{"Transfer-Encoding": "chunked"})

    response = small_app.test_client().post(
        URL, input_stream=io.BytesIO(body), headers=headers, environ_overrides={"wsgi.input_terminated": True}
    )  # as gunicorn and the dev server pass a chunked body: no length, the server ends the stream

    assert_error(response, 413)
    assert inbox() == []


# --- the queue and the database failing -------------------------------------------------------


def test_with_redis_down_the_delivery_is_still_stored_and_acknowledged(app, client, shop, inbox, queued, redis_down):
    with redis_down():
        response = post(client, RAW)

    assert response.status_code == 200, response.get_json()
    assert [e.status for e in inbox()] == ["received"]
    assert queued() == []


@pytest.fixture
def dead_database(app, shop):
    """The app's sessions bound to a database that refuses connections; restored afterwards."""
    database = app.extensions["db"]
    sessionmaker = database.sessionmaker
    live, live_intake = sessionmaker.kw["bind"], database.intake
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/palautus", connect_args={"connect_timeout": 1})
    sessionmaker.configure(bind=dead)
    database.intake = dead.execution_options(isolation_level="AUTOCOMMIT")  # the receivers' inserts
    yield
    sessionmaker.configure(bind=live)
    database.intake = live_intake
    dead.dispose()


def test_a_kept_shop_s_delivery_with_the_database_gone_is_503_never_200(app, client, shop, inbox):
    assert post(client, RAW, webhook_id="before").status_code == 200  # the shop is now kept at the door
    database = app.extensions["db"]
    live = database.intake
    database.intake = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/palautus",
                                    connect_args={"connect_timeout": 1})  # fmt: skip
    try:
        response = post(client, RAW, webhook_id="during")
    finally:
        database.intake.dispose()
        database.intake = live
    assert_error(response, 503, "unavailable")
    assert [e.delivery_id for e in inbox()] == ["before"]


def test_with_the_database_unreachable_the_answer_is_503_with_retry_after_so_shopify_tries_again(
    client, dead_database
):
    response = post(client, RAW)

    body = assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"].isdigit()
    assert "psycopg" not in json.dumps(body) and "127.0.0.1" not in json.dumps(body)


def test_when_the_insert_fails_on_a_lost_connection_the_answer_is_503_and_nothing_is_kept(
    client, shop, inbox, queued, monkeypatch
):
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql.dml import Insert

    execute = Connection.execute

    def lost(self, statement, *args, **kwargs):
        if isinstance(statement, Insert):  # the connection dropped while the INSERT was on its way
            raise OperationalError("INSERT INTO webhook_events", {}, ConnectionError("server closed the connection"))
        return execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", lost)
    response = post(client, RAW)
    monkeypatch.undo()

    assert_error(response, 503, "unavailable")
    assert "Retry-After" in response.headers
    assert inbox() == [] and queued() == []


# --- every failure is JSON --------------------------------------------------------------------


def test_other_methods_get_a_json_405(client):
    response = client.get(URL)

    assert_error(response, 405)


def test_an_unexpected_error_is_a_json_500_without_a_traceback(client, shop, inbox, monkeypatch):
    import webhooks.intake as intake

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: " + SHOPIFY_SECRET)

    monkeypatch.setattr(intake, "store_event", broken)
    response = post(client, RAW)

    body = assert_error(response, 500, "internal_error")
    assert SHOPIFY_SECRET not in json.dumps(body) and "secret internals" not in json.dumps(body)


def test_the_inbox_holds_one_row_per_delivery_id_and_shop_however_often_it_is_posted(client, shop, db):
    for _ in range(3):
        assert post(client, RAW, webhook_id="same").status_code == 200
    post(client, RAW, webhook_id="other")

    counts = dict(fresh(db).execute(select(WebhookEvent.delivery_id, func.count()).group_by(WebhookEvent.delivery_id)).all())
    assert counts == {"same": 1, "other": 1}


# --- the shop kept at the door: a few seconds per process, never stale where it matters -------------


def _set_own_secret(app, db, secret: str) -> None:
    shop = db.scalar(select(Shop))
    vault = app.extensions["vault"]
    shop.credentials = vault.seal({**vault.open(shop.credentials), "webhook_secret": secret})
    db.commit()


def test_a_rotated_webhook_secret_is_read_again_at_its_first_delivery(app, client, shop, db, inbox):
    _set_own_secret(app, db, "first-secret")
    assert post(client, RAW, webhook_id="a", secret="first-secret").status_code == 200  # the shop is now kept
    _set_own_secret(app, db, "second-secret")
    assert post(client, RAW, webhook_id="b", secret="second-secret").status_code == 200
    assert_error(post(client, RAW, webhook_id="c", secret="neither"), 401)
    assert [e.delivery_id for e in inbox()] == ["a", "b"]


def test_a_shop_unknown_at_one_delivery_is_found_at_the_next_once_installed(client, register, inbox):
    assert_error(post(client, RAW, webhook_id="early"), 404)  # an unknown shop is not kept
    register()
    assert post(client, RAW, webhook_id="early").status_code == 200
    assert [e.delivery_id for e in inbox()] == ["early"]


def test_a_forged_delivery_for_a_kept_shop_is_401_and_the_next_genuine_one_is_stored(client, shop, inbox):
    assert post(client, RAW, webhook_id="a").status_code == 200
    assert_error(post(client, RAW, webhook_id="forged", secret="guess"), 401)
    assert post(client, RAW, webhook_id="b").status_code == 200
    assert [e.delivery_id for e in inbox()] == ["a", "b"]
