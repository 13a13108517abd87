"""The probes (/healthz, /livez, /readyz) and /metrics: what each says, and that a scrape never fails."""
from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from tests.conftest import shopify_headers


def samples(client) -> dict:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_livez_says_only_that_the_process_answers(client, redis_down):
    with redis_down():
        assert client.get("/livez").status_code == 200


def test_readyz_is_ready_on_a_migrated_database_and_not_when_its_schema_is_behind(client, db):
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["schema"] == "ok"
    head = db.execute(text("SELECT version_num FROM alembic_version")).scalar()
    db.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    db.commit()
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503 and "run the migrations" in behind.get_json()["schema"]
        assert client.get("/healthz").status_code == 200  # healthz keeps its meaning: database and Redis
    finally:
        db.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        db.commit()


def test_readyz_is_not_ready_without_redis(client, redis_down):
    with redis_down():
        answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["redis"].startswith("unavailable")


def test_deliveries_are_counted_by_platform_topic_and_outcome(client, shop, post_webhook):
    before = samples(client)
    order = {"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1"}
    assert post_webhook("orders/create", order, webhook_id="a").status_code == 200
    assert post_webhook("orders/create", order, webhook_id="a").status_code == 200  # the same delivery again
    body = json.dumps(order).encode()
    forged = shopify_headers(body, "orders/create", secret="not-ours")
    assert client.post("/webhooks/shopify", data=body, headers=forged).status_code == 401
    odd = shopify_headers(body, "made/up-topic", secret="not-ours")
    assert client.post("/webhooks/shopify", data=body, headers=odd).status_code == 401
    after = samples(client)
    name = "palautus_webhook_deliveries_total"
    for outcome, topic, n in (("stored", "orders/create", 1), ("duplicate", "orders/create", 1),
                              ("rejected_signature", "orders/create", 1), ("rejected_signature", "other", 1)):
        labels = {"platform": "shopify", "topic": topic, "outcome": outcome}
        assert value(after, name, **labels) - value(before, name, **labels) == n, (outcome, topic)
    count = "palautus_webhook_handling_seconds_count"
    assert value(after, count, platform="shopify") - value(before, count, platform="shopify") == 4


def test_a_scrape_reads_refunds_the_inbox_and_the_queue(client, shop, post_webhook, db):
    order = {"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1"}
    post_webhook("orders/create", order, webhook_id="waiting")  # stored and queued, not yet processed
    found = samples(client)
    assert value(found, "palautus_inbox_backlog", platform="shopify") == 1
    assert value(found, "palautus_inbox_oldest_unprocessed_seconds", platform="shopify") >= 0
    assert value(found, "palautus_queue_jobs", queue="palautus-test", state="queued") == 1
    assert value(found, "palautus_scrape_error", source="database") == 0
    assert value(found, "palautus_scrape_error", source="redis") == 0


def test_a_scrape_while_redis_is_down_still_answers_and_says_what_it_could_not_read(client, redis_down):
    with redis_down():
        found = samples(client)
    assert value(found, "palautus_scrape_error", source="redis") == 1
    assert value(found, "palautus_scrape_error", source="database") == 0


def test_a_count_that_cannot_be_written_never_turns_a_stored_delivery_into_a_500(client, shop, post_webhook, monkeypatch):
    import integration.metrics as metrics

    def broken(*labels):
        raise OSError("No space left on device")

    monkeypatch.setattr(metrics.DELIVERIES, "labels", broken)
    order = {"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1"}
    assert post_webhook("orders/create", order, webhook_id="a").status_code == 200
