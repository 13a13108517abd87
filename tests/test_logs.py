"""Logs: a correlation id from the request into every job it causes; a line per provider call with the provider's
request id and no query string; JSON lines on request."""
from __future__ import annotations

import json
import logging

import requests
import responses

from adapters.http import send
from integration.logs import _json_formatter, correlated


def test_every_answer_carries_a_correlation_id_and_a_caller_s_plain_one_is_kept(client):
    assert len(client.get("/livez").headers["X-Request-Id"]) == 32
    assert client.get("/livez", headers={"X-Request-Id": "lb-7f3a.9"}).headers["X-Request-Id"] == "lb-7f3a.9"
    junk = client.get("/livez", headers={"X-Request-Id": "x\" injected=1 " + "y" * 80}).headers["X-Request-Id"]
    assert "injected" not in junk and len(junk) == 32


def test_a_request_s_id_follows_it_into_the_jobs_it_causes_and_the_provider_calls_they_make(
    client, shop, post_webhook, work, shopify, stripe, caplog
):
    from tests.jobs.helpers import SWEATER, the_order_arrives

    caplog.set_level(logging.INFO)
    the_order_arrives(post_webhook, work, shopify)
    caplog.clear()
    from tests.conftest import auth

    answer = client.post("/api/v1/returns", headers={**auth(shop[1]), "X-Request-Id": "merchant-call-42"}, json={
        "order_id": "5196695273621", "items": [{"line_id": SWEATER, "quantity": 1, "reason": "size_too_small"}]})
    assert answer.status_code == 201, answer.get_json()
    return_id = answer.get_json()["id"]
    for action in ("approve", "receive"):
        client.post(f"/api/v1/returns/{return_id}/{action}", headers={**auth(shop[1]), "X-Request-Id": "merchant-call-42"},
                    json={})  # fmt: skip
    work()
    jobs = [r for r in caplog.records if r.name.startswith("jobs.") and getattr(r, "correlation_id", None)]
    calls = [r for r in caplog.records if r.getMessage() == "provider call" and r.provider == "stripe"]
    assert jobs and {r.correlation_id for r in jobs} == {"merchant-call-42"}
    assert calls and calls[0].correlation_id == "merchant-call-42" and calls[0].method == "POST"


@responses.activate
def test_a_provider_call_is_logged_with_its_request_id_and_never_its_query(caplog):
    responses.get("https://api.example/v1/refunds/re_1", json={}, headers={"Request-Id": "req_abc123"})
    caplog.set_level(logging.INFO, logger="adapters.http")
    with correlated("corr-1"):
        send(requests.Session(), "GET", "https://api.example/v1/refunds/re_1?signature=s3cret&key=k3y",
             provider="stripe", timeout=5)  # fmt: skip
    [record] = [r for r in caplog.records if r.getMessage() == "provider call"]
    assert (record.path, record.status, record.provider_request_id) == ("/v1/refunds/re_1", 200, "req_abc123")
    assert record.correlation_id == "corr-1"
    assert "s3cret" not in str(vars(record)) and "k3y" not in str(vars(record))


def test_json_lines_hold_the_message_the_ids_and_the_correlation():
    record = logging.makeLogRecord({"name": "jobs.refunds", "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": "refund sent", "refund_id": 7, "correlation_id": "corr-9"})  # fmt: skip
    line = json.loads(_json_formatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "jobs.refunds", "refund sent")
    assert (line["refund_id"], line["correlation_id"]) == (7, "corr-9") and "time" in line


def test_an_unknown_log_format_is_refused_at_start():
    import pytest

    from integration.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_config({"LOG_FORMAT": "xml"}, environ={})
