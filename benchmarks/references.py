"""Reference receivers for the intake benchmark (benchmarks/intake.py), run under gunicorn as Palautus is.

- `create_bare()`: Flask and gunicorn alone. One POST route that reads the body and answers 200
  `{"status":"ok"}`: the floor no receiver on this stack can go below.
- `create_minimal()`: the "30-line receiver". POST /webhooks/shopify checks Shopify's X-Shopify-Hmac-Sha256
  (base64 HMAC-SHA256 of the raw body, compared in constant time) against one secret, inserts the raw body into
  `bench_minimal_inbox` (one psycopg connection per worker process, autocommit: one durable commit per
  delivery), enqueues one rq job (`noop`) with the row's id, and answers 200. What Palautus's receiver does, with
  nothing else.

Both are gunicorn factories (`gunicorn 'benchmarks.references:create_minimal()'`), configured from the
environment with the names Palautus reads: DATABASE_URL (a SQLAlchemy or libpq URL), REDIS_URL, QUEUE_NAME and
SHOPIFY_CLIENT_SECRET.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from flask import Flask, request

__all__ = ["create_bare", "create_minimal", "noop", "MINIMAL_TABLE", "MINIMAL_SCHEMA", "libpq_url"]

MINIMAL_TABLE = "bench_minimal_inbox"
MINIMAL_SCHEMA = (f"CREATE TABLE IF NOT EXISTS {MINIMAL_TABLE} (id bigserial PRIMARY KEY, webhook_id text, "
                  "body bytea, received_at timestamptz DEFAULT now())")  # fmt: skip
OK = ('{"status":"ok"}', 200, {"Content-Type": "application/json"})


def noop(row_id: int) -> None:
    """The job the minimal receiver enqueues: nothing to do (the benchmark measures the intake only)."""


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as psycopg's own connect() takes it."""
    scheme, sep, rest = url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


def create_bare() -> Flask:
    app = Flask(__name__)

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def receive(path):
        request.get_data(cache=False)
        return OK

    return app


def create_minimal() -> Flask:
    import psycopg
    from redis import Redis
    from rq import Queue

    secret = os.environ["SHOPIFY_CLIENT_SECRET"].encode()
    database_url = libpq_url(os.environ["DATABASE_URL"])
    queue = Queue(os.environ["QUEUE_NAME"], connection=Redis.from_url(os.environ["REDIS_URL"]))
    connection = None  # opened by the first request, in the worker process that serves it
    app = Flask(__name__)

    @app.post("/webhooks/shopify")
    def receive():
        nonlocal connection
        body = request.get_data(cache=False)
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, request.headers.get("X-Shopify-Hmac-Sha256", "").encode()):
            return '{"error":"unauthorized"}', 401, {"Content-Type": "application/json"}
        if connection is None:
            connection = psycopg.connect(database_url, autocommit=True)
        row = connection.execute(f"INSERT INTO {MINIMAL_TABLE} (webhook_id, body) VALUES (%s, %s) RETURNING id",
                                 (request.headers.get("X-Shopify-Webhook-Id"), body)).fetchone()  # fmt: skip
        queue.enqueue("benchmarks.references.noop", row[0])
        return OK

    return app
