"""A period's refunds downloaded in every format, through the API, from a refund that really went back."""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from tests.books import dtd, siecheck
from tests.books.test_ledger import refunded, today
from tests.conftest import auth

SAMPLES = Path(__file__).parent / "samples"


def download(client, key, path, **query):
    answer = client.get(f"/api/v1/books/export/{path}", query_string={"from": today(), "to": today(), **query},
                        headers=auth(key))  # fmt: skip
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="palautus-')
    return answer


def test_every_format_carries_the_refund_and_balances(client, shop, post_webhook, work, shopify, stripe, db):
    _, key = shop
    refund = refunded(client, key, post_webhook, work, shopify, db)

    plain = download(client, key, "rows.csv")
    records = list(csv.DictReader(io.StringIO(plain.get_data(as_text=True), newline="")))
    assert plain.data.endswith(b"\r\n") and not plain.data.startswith(b"\xef\xbb\xbf")
    assert [(r["refund_ref"], r["rate"], r["country"]) for r in records] == [(refund.idempotency_key, "14", "FI")]

    excel = download(client, key, "rows.csv", dialect="excel-fi").data
    assert excel.startswith(b"\xef\xbb\xbf")
    [row] = list(csv.DictReader(io.StringIO(excel[3:].decode("utf-8"), newline=""), delimiter=";"))
    gross = f"{refund.amount // 100},{refund.amount % 100:02d}"
    assert gross in row.values()

    receipts = json.loads(download(client, key, "procountor.json").data)
    assert len(receipts) == 1 and receipts[0]["transactions"]

    packed = zipfile.ZipFile(io.BytesIO(download(client, key, "netvisor.zip").data))
    [name] = packed.namelist()
    root = ET.fromstring(packed.read(name))
    assert dtd.errors(root, dtd.load(SAMPLES / "netvisor_accounting.dtd")) == []

    sie = download(client, key, "sie")
    assert sie.headers["Content-Type"].startswith("text/plain; charset=IBM437")
    siecheck.check(sie.data)  # the grammar, the 4I items, every #VER summing to zero


def test_a_format_that_takes_one_currency_is_asked_for_one(client, shop):
    _, key = shop
    answer = client.get("/api/v1/books/export/sie", query_string={"from": today(), "to": today(), "currency": "eur"},
                        headers=auth(key))  # fmt: skip
    assert answer.status_code == 400 and "currency" in str(answer.get_json()["details"]), answer.get_json()
    empty = download(client, key, "netvisor.zip")
    assert zipfile.ZipFile(io.BytesIO(empty.data)).namelist() == []
