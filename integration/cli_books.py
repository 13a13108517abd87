"""Command-line tools for the books: `flask --app wsgi books export|settlement`.

`books export` writes a period's ledger in any of the export formats (the same file the API and the dashboard
give); `books settlement` reads a payout from its provider now, in this process, and prints its reconciliation:
for an operator checking a merchant's month, or a cron of the merchant's own.
"""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from adapters.platforms import PLATFORMS
from integration.errors import PalautusError
from integration.models import SettlementRecord
from integration.services.books import Period
from integration.services.books_settings import zone_of
from integration.services.exports import KINDS, export
from integration.services.settlements import reconcile

__all__ = ["books_group"]

books_group = AppGroup("books", help="The refund ledger: export a period, read and reconcile a payout.")

_shop = [click.option("--platform", default=next(iter(PLATFORMS)), show_default=True, type=click.Choice(sorted(PLATFORMS))),
         click.option("--domain", required=True, help="the shop's domain or store URL")]  # fmt: skip


def _with_shop(command):
    for option in reversed(_shop):
        command = option(command)
    return command


@books_group.command("export")
@_with_shop
@click.option("--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="the first day")
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]), help="the last day, inclusive")
@click.option("--format", "kind", type=click.Choice(KINDS), default="rows.csv", show_default=True)
@click.option("--dialect", type=click.Choice(["rfc4180", "excel-fi"]), default="rfc4180", show_default=True)
@click.option("--currency", default=None, help="the journal formats' one currency (the shop's by default)")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="where to write it (default: the file's own name, in this directory)")  # fmt: skip
def export_books(platform, domain, first, last, kind, dialect, currency, output):
    """Write the shop's refund ledger of a period (its own time zone's days) as a file."""
    from integration.cli import _find

    with current_app.extensions["db"].session() as session:
        shop = _find(session, platform, domain)
        period = Period(first.date(), last.date(), zone_of(shop))
        try:
            download = export(session, shop, period, kind, dialect, currency)
        except PalautusError as e:
            raise click.ClickException(e.message) from None
    path = Path(output or download.filename)
    path.write_bytes(download.body)
    click.echo(f"wrote {path} ({len(download.body)} bytes, {download.content_type})")


@books_group.command("settlement")
@_with_shop
@click.option("--route", required=True, help="the payment route: stripe, klarna, paypal, paytrail, shopify")
@click.argument("settlement_id")
def read_settlement_now(platform, domain, route, settlement_id):
    """Read one payout from its provider now and print its reconciliation (difference 0: it balances)."""
    from integration.cli import _find
    from jobs.settlements import read_settlement

    with current_app.extensions["db"].session() as session:
        shop = _find(session, platform, domain)
        shop_id = shop.id
    row_id = read_settlement(shop_id, route, settlement_id)
    with current_app.extensions["db"].session() as session:
        shop = _find(session, platform, domain)
        if row_id is None:
            alert = (shop.alerts or {}).get("settlements") or {}
            raise click.ClickException(alert.get("message") or f"{route} payout {settlement_id} was not read yet "
                                       "(a provider that reports later sends it to Palautus)")  # fmt: skip
        row = session.scalar(select(SettlementRecord).where(SettlementRecord.id == row_id))
        report = reconcile(session, shop, row).as_dict()
    totals = report["totals"]
    click.echo(f"{route} {settlement_id}: net {totals['net']} {report['settlement']['currency']}, "
               f"{len(report['matched'])} matched, {len(report['external'])} external, {len(report['fees'])} fees, "
               f"{len(report['in_transit'])} in transit, difference {totals['difference']}")  # fmt: skip
    for found in report["matched"]:
        if found["difference"]:
            click.echo(f"  refund {found['refund_ref']} ({found['return_code']}): moved {found['moved']}, "
                       f"expected {found['expected']}, difference {found['difference']}")  # fmt: skip
    for found in report["external"]:
        click.echo(f"  external {found['movement_id']}: {found['amount']} {found['currency']} "
                   f"(recorded in the shop: {'yes' if found['recorded_in_shop'] else 'no'})")  # fmt: skip
    if totals["difference"]:
        raise SystemExit(1)
