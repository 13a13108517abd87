"""`flask books export` and `flask books settlement`, on a refund that really went back."""
from __future__ import annotations

import csv
import io

from tests.books import siecheck
from tests.books.test_ledger import refunded, today
from tests.conftest import SHOP_DOMAIN


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def test_a_period_is_written_in_the_format_asked_for(app, client, shop, post_webhook, work, shopify, stripe, db, tmp_path):
    _, key = shop
    refund = refunded(client, key, post_webhook, work, shopify, db)
    target = tmp_path / "ledger.csv"
    result = run(app, "books", "export", "--domain", SHOP_DOMAIN, "--from", today(), "--to", today(),
                 "--dialect", "excel-fi", "--output", str(target))  # fmt: skip
    assert result.exit_code == 0, result.output
    [row] = csv.DictReader(io.StringIO(target.read_bytes()[3:].decode(), newline=""), delimiter=";")
    assert row["refund_ref"] == refund.idempotency_key
    sie = tmp_path / "ledger.si"
    assert run(app, "books", "export", "--domain", SHOP_DOMAIN, "--from", today(), "--to", today(), "--format", "sie",
               "--output", str(sie)).exit_code == 0  # fmt: skip
    siecheck.check(sie.read_bytes())
    assert b"#VER" in sie.read_bytes()
    swedish = tmp_path / "sek.si"
    assert run(app, "books", "export", "--domain", SHOP_DOMAIN, "--from", today(), "--to", today(), "--format", "sie",
               "--currency", "SEK", "--output", str(swedish)).exit_code == 0  # fmt: skip
    assert b"#VER" not in swedish.read_bytes()  # nothing in SEK: no voucher, never the EUR refund taken for SEK


def test_a_payout_is_read_and_its_reconciliation_printed(app, client, shop, post_webhook, work, shopify, stripe, db):
    _, key = shop
    refunded(client, key, post_webhook, work, shopify, db)
    payout = stripe.pay_out()
    result = run(app, "books", "settlement", "--domain", SHOP_DOMAIN, "--route", "stripe", payout)
    assert result.exit_code == 0, result.output
    assert f"stripe {payout}:" in result.output and "1 matched" in result.output and "difference 0" in result.output
    unknown = app.test_cli_runner().invoke(args=["books", "settlement", "--domain", SHOP_DOMAIN, "--route", "stripe", "po_nope"])
    assert unknown.exit_code != 0 and "could not be read" in unknown.output
