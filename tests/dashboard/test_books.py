"""The bookkeeping pages: a real refund's period with its VAT and the API's own files, the payouts read and
reconciled to the cent, and the bookkeeping settings checked as the API checks them."""
from __future__ import annotations

import html
import io
import re
import zipfile
from datetime import date, timedelta
from urllib.parse import parse_qs

import pytest

from integration.dashboard.books import last_month
from integration.models import Return, Shop, utcnow
from integration.records import MovementKind, Settlement, SettlementMovement
from integration.services.settlements import store_settlement
from integration.tasks import RecordingTasks
from tests.books.test_ledger import refunded, today
from tests.conftest import auth
from tests.jobs.helpers import PI

EXPORT_LINK = re.compile(r'href="(/dashboard/books/export/[^"]+)"')


def text(answer, status: int = 200) -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)[:800]
    return answer.get_data(as_text=True)


@pytest.fixture
def refund(client, shop, post_webhook, work, shopify, stripe, db):
    """A refund that really went back today: a 2025 sale to Finland, at 14 %."""
    return refunded(client, shop[1], post_webhook, work, shopify, db)


def stored(db, shop: Shop, route: str, payout: str, *movements: SettlementMovement) -> int:
    """A payout as the job stores it, paying out what its movements less their fees add up to: its row id."""
    net = sum(m.amount for m in movements) - sum(m.fee for m in movements)
    row = store_settlement(db, db.get(Shop, shop.id), route, Settlement(route, payout, "EUR", net, "paid", utcnow(), movements))
    db.commit()
    return row.id


def test_the_books_page_shows_the_refund_its_totals_vat_line_and_rows(signed_in, refund, db):
    page = text(signed_in.get("/dashboard/books", query_string={"from": today(), "to": today()}))
    ret = db.get(Return, refund.return_id)
    amount, vat = f"{refund.amount / 100:.2f} EUR", f"{refund.tax / 100:.2f} EUR"
    net = f"{(refund.amount - refund.tax) / 100:.2f} EUR"
    totals, vat_table, rows = page.split("<h2>")[1], page.split("<h2>")[2], page.split("<h2>")[4]
    assert amount in totals and net in totals and vat in totals and "<td class=\"num\">1</td>" in totals
    assert all(shown in vat_table for shown in (utcnow().strftime("%Y-%m"), "FI", "14 %", amount, vat))
    assert ret.code in rows and "goods" in rows and "palautus" in rows
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    assert "No refunds in this period." in text(signed_in.get(f"/dashboard/books?from={yesterday}&to={yesterday}"))


def test_the_books_page_shows_last_month_by_default_and_says_when_a_date_is_not_understood(signed_in):
    first, last = last_month(utcnow().date())  # the shop counts days in UTC until it names its zone
    assert first.day == 1 and (last + timedelta(days=1)) == utcnow().date().replace(day=1)
    page = text(signed_in.get("/dashboard/books"))
    assert f'value="{first.isoformat()}"' in page and f'value="{last.isoformat()}"' in page
    assert last_month(date(2026, 1, 15)) == (date(2025, 12, 1), date(2025, 12, 31))
    bad = text(signed_in.get("/dashboard/books?from=31.1.2026"))
    assert "A date was not understood" in bad and f'value="{first.isoformat()}"' in bad
    assert "before the first" in text(signed_in.get("/dashboard/books?from=2026-02-01&to=2026-01-01"))


def test_every_download_is_the_api_s_file_for_the_same_period(signed_in, client, shop, refund):
    page = text(signed_in.get("/dashboard/books", query_string={"from": today(), "to": today()}))
    links = [html.unescape(link) for link in EXPORT_LINK.findall(page)]
    assert sorted(map(kind_of, links)) == ["netvisor.zip", "procountor.json", "rows.csv/excel-fi", "rows.csv/rfc4180", "sie"]
    for link in links:
        mine = signed_in.get(link)
        theirs = client.get(link.replace("/dashboard/books/export/", "/api/v1/books/export/"), headers=auth(shop[1]))
        assert (mine.status_code, theirs.status_code) == (200, 200), link
        for header in ("Content-Type", "Content-Disposition"):
            assert mine.headers[header] == theirs.headers[header], (link, header)
        if "/sie" in link:  # the SIE file names the day it was made (#GEN): the same unless midnight passed between
            assert without_gen(mine.data) == without_gen(theirs.data)
        else:
            assert mine.data == theirs.data, link
        assert refund.idempotency_key.encode() in unpacked(mine.data), link  # the refund is in every file


def unpacked(data: bytes) -> bytes:
    """A file's bytes, or a ZIP's members' bytes one after another."""
    if data[:2] != b"PK":
        return data
    archive = zipfile.ZipFile(io.BytesIO(data))
    return b"".join(archive.read(name) for name in archive.namelist())


def kind_of(link: str) -> str:
    """A download link's file kind, with its CSV dialect: "rows.csv/excel-fi", "sie"."""
    path, _, query = link.partition("?")
    dialect = parse_qs(query).get("dialect")
    return path.rsplit("/", 1)[1] + (f"/{dialect[0]}" if dialect else "")


def without_gen(sie: bytes) -> bytes:
    return re.sub(rb"#GEN \d{8}", b"#GEN", sie)


def test_a_download_with_a_bad_period_or_currency_is_refused(signed_in):
    assert signed_in.get("/dashboard/books/export/sie?from=2026-02-01&to=2026-01-01").status_code == 400
    assert signed_in.get("/dashboard/books/export/procountor.json?currency=eur").status_code == 400
    assert signed_in.get("/dashboard/books/export/rows.csv?dialect=tsv").status_code == 400
    assert signed_in.get("/dashboard/books/export/rows.xlsx").status_code == 404


def test_the_payouts_page_queues_a_read_of_one_payout_and_of_a_period(signed_in, shop, app):
    tasks = RecordingTasks()  # the test's app only: its reads are recorded, not queued
    app.extensions["tasks"].read_settlement, app.extensions["tasks"].read_settlements = (
        tasks.read_settlement, tasks.read_settlements)
    page = text(signed_in.get("/dashboard/settlements"))
    assert '<option value="stripe"' in page and "No payout has been read yet." in page
    one = signed_in.post("/dashboard/settlements/read", {"what": "one", "route": "stripe", "settlement_id": " po_1 "},
                         page="/dashboard/settlements", follow_redirects=True)  # fmt: skip
    assert "Reading payout po_1 through stripe is queued" in text(one)
    period = {"what": "period", "route": "stripe", "from": "2026-01-01", "to": "2026-01-31"}
    assert "is queued" in text(signed_in.post("/dashboard/settlements/read", period, page="/dashboard/settlements",
                                              follow_redirects=True))  # fmt: skip
    shop_id = shop[0].id
    assert tasks.calls == [("read_settlement", shop_id, "stripe", "po_1"), (
        "read_settlements", shop_id, "stripe", "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00")]
    refused = [{"what": "one", "route": "nowhere", "settlement_id": "po_2"}, {"what": "one", "route": "stripe"},
               {**period, "to": "2025-12-31"}, {**period, "from": ""}]  # fmt: skip
    for form in refused:
        assert signed_in.post("/dashboard/settlements/read", form, page="/dashboard/settlements").status_code == 400, form
    without_token = signed_in.client.post("/dashboard/settlements/read", data={"what": "one", "route": "stripe",
                                                                             "settlement_id": "po_3"})  # fmt: skip
    assert without_token.status_code == 400 and len(tasks.calls) == 2


def test_a_payout_s_report_shows_the_planted_cent_the_external_refund_and_the_fees(signed_in, shop, refund, db):
    now = utcnow()
    row_id = stored(db, shop[0], "stripe", "po_1",
        SettlementMovement("txn_charge", MovementKind.CHARGE, 20000, 320, "EUR", now, payment_id=PI, provider_type="charge"),
        SettlementMovement("txn_ours", MovementKind.REFUND, -(refund.amount + 1), 0, "EUR", now,
                           provider_refund_id=refund.provider_refund_id, payment_id=PI, provider_type="refund"),
        SettlementMovement("txn_dashboard", MovementKind.REFUND, -1000, 0, "EUR", now, provider_refund_id="re_dashboard",
                           payment_id=PI, provider_type="refund"),
        SettlementMovement("txn_fee", MovementKind.FEE, -150, 0, "EUR", now, provider_type="stripe_fee"))  # fmt: skip
    balanced = stored(db, shop[0], "stripe", "po_2",
                      SettlementMovement("txn_c2", MovementKind.CHARGE, 5000, 100, "EUR", now, provider_type="charge"))
    listed = text(signed_in.get("/dashboard/settlements"))
    assert "po_1" in listed and "Differs by 0.01 EUR" in listed and "po_2" in listed and "Balances to the cent" in listed
    report = text(signed_in.get(f"/dashboard/settlements/{row_id}"))
    matched, external, fees = (report.split("<h2>")[n] for n in (2, 3, 4))
    assert f'href="/dashboard/returns/{refund.return_id}"' in matched and db.get(Return, refund.return_id).code in matched
    assert f"{refund.amount / 100:.2f} EUR" in matched and f"-{(refund.amount + 1) / 100:.2f} EUR" in matched
    assert "-0.01 EUR" in matched
    assert "txn_dashboard" in external and "-10.00 EUR" in external and "this payout" in external
    assert "txn_charge" in fees and "3.20 EUR" in fees and "txn_fee" in fees and "1.50 EUR" in fees
    assert report.count("Differs by 0.01 EUR") == 3  # the verdict, the refunds' line and the total
    assert "Balances to the cent" in report  # the payout's own arithmetic
    assert "Balances to the cent" in text(signed_in.get(f"/dashboard/settlements/{balanced}")).split("<h2>")[0]


def test_another_shop_s_payout_is_not_found(signed_in, other_shop, db):
    theirs = stored(db, other_shop, "stripe", "po_theirs",
                    SettlementMovement("txn_x", MovementKind.CHARGE, 5000, 0, "EUR", utcnow(), provider_type="charge"))
    assert "po_theirs" not in text(signed_in.get("/dashboard/settlements"))
    assert signed_in.get(f"/dashboard/settlements/{theirs}").status_code == 404
    assert signed_in.get("/dashboard/settlements/99999999999").status_code == 404


def test_the_settings_form_saves_a_valid_change_and_refuses_a_bad_time_zone(signed_in, shop, db):
    db.get(Shop, shop[0].id).profile = {"legal_name": "Kenkä ja Sukka Oy", "address": "Esplanadi 1, Helsinki",
                                        "vat_id": "FI12345678"}  # the seller a credit note names  # fmt: skip
    db.commit()
    page = text(signed_in.get("/dashboard/books/settings"))
    assert "1711" in page and "Luottokorttisaamiset" in page and "PUT /api/v1/books/settings" in page
    sent = {"credit_notes": "1", "credit_note_prefix": "HY-", "timezone": "Europe/Helsinki", "chart": "fi"}
    saved = signed_in.post("/dashboard/books/settings", sent)
    assert saved.status_code == 303
    db.expire_all()
    books = db.get(Shop, shop[0].id).books
    assert {name: books[name] for name in sent} == {"credit_notes": True, "credit_note_prefix": "HY-",
                                                    "timezone": "Europe/Helsinki", "chart": "fi"}  # fmt: skip
    refused = signed_in.post("/dashboard/books/settings", {**sent, "timezone": "Mars/Olympus_Mons", "chart": "bas"})
    page = text(refused, 400)
    assert "timezone must be an IANA time zone name" in page and 'value="Mars/Olympus_Mons"' in page
    db.expire_all()
    assert db.get(Shop, shop[0].id).books["timezone"] == "Europe/Helsinki" and db.get(Shop, shop[0].id).books["chart"] == "fi"
    assert "Europe/Helsinki" in text(signed_in.get("/dashboard/books"))  # the period is counted in the shop's zone


def test_the_bookkeeping_pages_need_a_signed_in_shop(browser, shop):
    for path in ("/dashboard/books", "/dashboard/books/settings", "/dashboard/books/export/rows.csv",
                 "/dashboard/settlements", "/dashboard/settlements/1"):  # fmt: skip
        answer = browser.get(path)
        assert answer.status_code == 401 and "Sign in to Palautus" in answer.get_data(as_text=True), path
    assert browser.client.post("/dashboard/books/settings", data={"timezone": "UTC"}).status_code in (400, 401)
