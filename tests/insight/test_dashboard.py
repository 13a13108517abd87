"""The dashboard's insight page: flags first (the API's sentence and the evidence), SVG charts with a text
alternative and no inline style (the pages' CSP), the period filter, and the CSV downloads."""
from __future__ import annotations

import csv
import io
import re
from html import unescape
from datetime import datetime, timezone

from integration.models import Order, Refund, Return, ReturnItem
from tests.dashboard.conftest import english  # noqa: F401 - autouse: the pages in English, as the assertions read
from tests.insight import world

MARCH = "?from=2026-03-01&to=2026-03-31"


def page(signed_in, query: str = MARCH) -> str:
    answer = signed_in.get(f"/dashboard/insight{query}")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


def test_the_flags_come_first_with_the_apis_sentence_and_their_evidence(signed_in, api, generated):
    html = page(signed_in)
    sentences = [f["sentence"] for f in api.get(f"/insight/products{MARCH}").get_json()["flags"]]
    assert len(sentences) == 2
    for sentence in sentences:
        assert sentence in unescape(html)
    assert html.index('class="flag-sentence"') < html.index("<svg")  # flags before the charts
    assert re.search(r"[0-9]+ of 300 units sold \([0-9.]+ %\)", html) and "p = " in html  # the evidence
    assert "Wool socks" in html and "Product 00" in html and 'href="/dashboard/insight"' in html  # the nav link


def test_every_chart_is_an_svg_image_named_and_described_with_no_style_attribute(signed_in, app, db, shop, generated):
    _refunded(db, shop[0].id)
    html = page(signed_in)
    charts = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(charts) == 1 + 2 + 2  # return rates, two flagged products' reason mixes, refund times by method and route
    for chart in charts:
        ident = re.search(r'aria-labelledby="([^" ]+) ([^"]+)"', chart)
        assert 'role="img"' in chart and f'<title id="{ident[1]}">' in chart and f'<desc id="{ident[2]}">' in chart
    assert "style=" not in html and "<script" not in html
    assert "Reason mix: Wool socks against the shop" in html and "Time to refund per return method" in html
    assert "Content-Security-Policy" in signed_in.get(f"/dashboard/insight{MARCH}").headers


def _refunded(db, shop_id: int) -> None:
    """Two of the world's returns refunded: a day and three days after they were asked for."""
    for n, ret in enumerate(db.query(Return).filter_by(shop_id=shop_id).order_by(Return.id).limit(2), start=1):
        db.add(Refund(return_id=ret.id, sequence=1, idempotency_key=f"k-{n}", amount=1000 * n, currency="EUR",
                      status="succeeded", route="stripe", completed_at=ret.requested_at + n * (ret.requested_at - world.WHEN)))
    db.commit()


def test_the_csv_links_download_the_periods_products_and_refund_times(signed_in, generated):
    html = page(signed_in)
    links = re.findall(r'href="(/dashboard/insight/[^"]+\.csv[^"]*)"', html)
    assert [link.split("?")[0] for link in links] == ["/dashboard/insight/products.csv", "/dashboard/insight/refund-times.csv"]
    products = signed_in.get(links[0].replace("&amp;", "&"))
    assert products.status_code == 200 and products.headers["Content-Type"].startswith("text/csv")
    records = list(csv.DictReader(io.StringIO(products.get_data(as_text=True), newline="")))
    assert len(records) == len(generated) and {r["flags"] for r in records} == {"", "defective", "size_too_small"}
    times = signed_in.get(links[1].replace("&amp;", "&"))
    assert times.status_code == 200 and times.get_data(as_text=True) == "by,key,refunds,p50_seconds,p90_seconds\r\n"


def test_an_empty_shop_a_quiet_period_and_a_date_not_understood_are_said_plainly(signed_in, db, shop):
    html = page(signed_in, "")
    assert "Nothing stands out" in html and "No units were sold in the period." in html and "<svg" in html
    assert "No customer rated a return in the period." in html and "No refund was completed in the period." in html
    assert "A date was not understood" in page(signed_in, "?from=2026-02-30")
    assert 'value="2026-03-31"' in page(signed_in, MARCH)


def test_the_page_shows_only_the_signed_in_shops_products(signed_in, app, db, register, shop):
    other = register(domain="other-shop.myshopify.com")[0]
    when = datetime(2026, 3, 5, tzinfo=timezone.utc)
    world.write(db, other.id, world.generate(products=3)[:3], when)
    assert db.query(Order).count() and db.query(ReturnItem).count()
    html = page(signed_in)
    assert "Wool socks" not in html and "No units were sold in the period." in html
