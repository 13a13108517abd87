"""/api/v1/books and /api/v1/settlements: the refund ledger of a period, its VAT, and the providers' settlements.

The ledger is JSON here (canonical); the same rows as CSV and as journal files for accounting software are under
/api/v1/books/export/... The settlements are read from the providers by a job (POST answers 202), then
reconciled on every GET, so a refund that settles later shows up without reading anything again.
"""
from __future__ import annotations

from datetime import date, timedelta

import marshmallow as ma
from flask import Response, current_app
from marshmallow import validate
from sqlalchemy import select

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.paging import page
from integration.api.schemas import Flag, Text, _In
from integration.books import Component, totals, vat_summary
from integration.errors import NotFound
from integration.exports.csv import DIALECTS
from integration.models import SettlementRecord
from integration.services.books import Period, ledger
from integration.services.books_settings import ZONES, books_of, change_books, zone_of
from integration.services.exports import LEFT_OUT, export
from integration.services.settlements import reconcile, settlement_routes

__all__ = ["bp", "period_of", "PeriodQuery"]

bp = Blueprint("books", __name__, url_prefix="/api/v1", description="The refund ledger, VAT and settlements")
bp.before_request(authenticate)

MAX_DAYS = 400  # one export covers a year and a bit at most: a bigger one is several


YEARS_2000_TO_2999 = r"^2[0-9]{3}-"  # what a period can name: the document says so, and the check holds it


class PeriodQuery(_In):
    """A period of whole days: `to` is `from` or later, at most MAX_DAYS days in all (rules a schema cannot say)."""

    start = ma.fields.Date(data_key="from", required=True, metadata={
        "description": "the first day, inclusive", "pattern": YEARS_2000_TO_2999})
    end = ma.fields.Date(data_key="to", required=True, metadata={
        "description": f"the last day, inclusive: from or later, at most {MAX_DAYS} days after it",
        "pattern": YEARS_2000_TO_2999})

    @ma.validates_schema
    def _order(self, data, **kwargs):
        if data["end"] < data["start"]:
            raise ma.ValidationError("must not be before from", "to")
        if (data["end"] - data["start"]).days >= MAX_DAYS:
            raise ma.ValidationError(f"a period is at most {MAX_DAYS} days", "to")
        if data["start"] < date(2000, 1, 1) or data["end"] > date(2999, 12, 31):
            raise ma.ValidationError("must be a day between 2000 and 2999", "from")


class BookRowOut(ma.Schema):
    source = ma.fields.String(metadata={"description": "palautus or external"})
    refund_ref = ma.fields.String(metadata={"description": "our refund's key, or the platform's refund id"})
    refund_id = ma.fields.Integer(allow_none=True)
    order_ref = ma.fields.String()
    platform_order_id = ma.fields.String()
    sale_date = ma.fields.Date(allow_none=True)
    refund_date = ma.fields.Date()
    return_code = ma.fields.String(allow_none=True)
    provider = ma.fields.String(allow_none=True)
    route = ma.fields.String(allow_none=True)
    provider_refund_id = ma.fields.String(allow_none=True)
    country = ma.fields.String(metadata={"description": "the VAT country, ISO 3166-1 alpha-2; empty where unknown"})
    rate = ma.fields.Decimal(as_string=True, metadata={"description": "VAT rate in percent: the original sale's"})
    component = ma.fields.String(validate=validate.OneOf(Component.ALL))
    currency = ma.fields.String()
    gross = ma.fields.Integer(metadata={"description": "minor units; negative for what the shop kept"})
    net = ma.fields.Integer()
    vat = ma.fields.Integer()


class LedgerOut(ma.Schema):
    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    timezone = ma.fields.String()
    rows = ma.fields.List(ma.fields.Nested(BookRowOut))
    totals = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Dict(),
                            metadata={"description": "per currency: gross, net, vat and refunds"})


class VatLineOut(ma.Schema):
    month = ma.fields.String()
    country = ma.fields.String()
    rate = ma.fields.Decimal(as_string=True)
    currency = ma.fields.String()
    gross = ma.fields.Integer()
    net = ma.fields.Integer()
    vat = ma.fields.Integer()
    refunds = ma.fields.Integer()


class VatSummaryOut(ma.Schema):
    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    timezone = ma.fields.String()
    lines = ma.fields.List(ma.fields.Nested(VatLineOut))


ACCOUNT = r"^[0-9]{3,10}$"
_account = {"validate": validate.Regexp(ACCOUNT), "metadata": {"pattern": ACCOUNT}}
RATE_KEYS = ('keys are VAT rates in percent as the ledger writes them ("24", "13.5", "0"; no trailing zeros) or "*" '
             "for any other rate")


def _by_rate(description: str):
    return ma.fields.Dict(keys=ma.fields.String(), values=Text(**_account), metadata={"description": f"{description}: {RATE_KEYS}"})


class IncomeIn(_In):
    goods = _by_rate("sales of goods")
    shipping = _by_rate("shipping")
    return_shipping_fee = _by_rate("return shipping fees kept")
    restocking_fee = _by_rate("restocking fees kept")
    diminished_value = _by_rate("deductions for diminished value")


class CountryIn(_In):
    income = ma.fields.Nested(IncomeIn)
    output_vat = _by_rate("output VAT")


class AccountsIn(_In):
    """The merchant's accounts over the chart's defaults: each object merges key by key."""

    home_country = Text(validate=validate.Regexp(r"^[A-Z]{2}$"), metadata={"pattern": r"^[A-Z]{2}$"})
    income = ma.fields.Nested(IncomeIn)
    output_vat = _by_rate("output VAT")
    clearing = ma.fields.Dict(keys=Text(validate=validate.Regexp(r"\S")), values=Text(**_account), metadata={
        "description": 'per payment provider or route ("stripe", "shopify", ...) or "*": what the provider owes'})
    provider_fees = Text(**_account)
    external_refunds = Text(**_account)
    uncredited = Text(**_account)
    unallocated = Text(**_account)
    by_country = ma.fields.Dict(keys=Text(validate=validate.Regexp(r"^[A-Z]{2}$")), values=ma.fields.Nested(CountryIn),
                                metadata={"description": "per VAT country (keys: ISO 3166-1 alpha-2, such as SE)"})
    names = ma.fields.Dict(keys=Text(**_account), values=Text(validate=validate.Regexp(r"\S")),
                           metadata={"description": "account number -> its name (SIE files name their accounts)"})


class BooksSettings(_In):
    credit_notes = Flag()
    credit_note_prefix = Text(validate=validate.Regexp(r"^[A-Za-z0-9/_.-]{0,20}$"),
                              metadata={"pattern": r"^[A-Za-z0-9/_.-]{0,20}$"})
    timezone = Text(validate=validate.OneOf(ZONES), metadata={"description": "an IANA time zone, such as Europe/Helsinki"})
    chart = Text(validate=validate.OneOf(["fi", "bas"]))
    accounts = ma.fields.Nested(AccountsIn, metadata={"description": "accounts over the chart's defaults (see the README)"})


class BooksSettingsOut(ma.Schema):
    credit_notes = Flag()
    credit_note_prefix = ma.fields.String()
    timezone = ma.fields.String()
    chart = ma.fields.String()
    accounts = ma.fields.Dict()


ROUTE = r"^[a-z][a-z0-9_]{0,39}$"


class SettlementRead(_In):
    route = Text(required=True, validate=validate.Regexp(ROUTE), metadata={"pattern": ROUTE, "description": (
        "the payment route (stripe, klarna, paypal, paytrail, shopify, ...): a provider the shop gave Palautus keys "
        "for, or its platform's own gateway; another is a 404")})
    settlement_id = Text(validate=validate.Length(min=1, max=255), metadata={"description": "one payout by its id"})
    start = ma.fields.Date(data_key="from", metadata={"description": "or every payout from this day",
                                                      "pattern": YEARS_2000_TO_2999})
    end = ma.fields.Date(data_key="to", metadata={"description": "to this day, inclusive", "pattern": YEARS_2000_TO_2999})

    @ma.validates_schema
    def _one(self, data, **kwargs):
        if ("settlement_id" in data) == ("start" in data or "end" in data):
            raise ma.ValidationError("give either settlement_id, or from and to", "settlement_id")
        if "settlement_id" not in data and ("start" not in data or "end" not in data):
            raise ma.ValidationError("from and to go together", "from")
        if "start" in data and not (timedelta(0) <= data["end"] - data["start"] < timedelta(days=MAX_DAYS)):
            raise ma.ValidationError(f"to must be from or later, at most {MAX_DAYS} days on", "to")
        if "start" in data and (data["start"] < date(2000, 1, 1) or data["end"] > date(2999, 12, 31)):
            raise ma.ValidationError("must be a day between 2000 and 2999", "from")


class SettlementOut(ma.Schema):
    id = ma.fields.Integer()
    route = ma.fields.String()
    settlement_id = ma.fields.String()
    currency = ma.fields.String()
    net = ma.fields.Integer()
    status = ma.fields.String()
    paid_out_at = ma.fields.DateTime(allow_none=True)
    reference = ma.fields.String(allow_none=True)
    fetched_at = ma.fields.DateTime()


class SettlementQuery(_In):
    route = Text(validate=validate.Length(max=40))


class ReconciliationOut(ma.Schema):
    settlement = ma.fields.Dict()
    matched = ma.fields.List(ma.fields.Dict())
    external = ma.fields.List(ma.fields.Dict())
    fees = ma.fields.List(ma.fields.Dict())
    other = ma.fields.List(ma.fields.Dict())
    in_transit = ma.fields.List(ma.fields.Dict())
    totals = ma.fields.Dict(metadata={"description": "movements, fees, net, and the differences (0 when it balances)"})


def period_of(query: dict) -> Period:
    return Period(query["start"], query["end"], zone_of(current_shop()))


@bp.get("/books/rows")
@bp.arguments(PeriodQuery, location="query")
@bp.response(200, LedgerOut)
@bp.error_responses()
def get_rows(query):
    """The refund ledger of a period: one row per refund, VAT country, rate and component, net + vat = gross

    Ours (refunds Palautus made, dated when the money went back) and external ones (recorded in the shop's admin,
    or seen only in a provider's settlement). A refund's rows add up to what moved back to the customer.
    """
    period = period_of(query)
    rows = ledger(ctx().session, current_shop(), period)
    return {"start": period.first, "end": period.last, "timezone": period.zone.key, "rows": rows,
            "totals": totals(rows)}


class ExportQuery(PeriodQuery):
    dialect = Text(validate=validate.OneOf(sorted(DIALECTS)), load_default="rfc4180",
                   metadata={"description": "rfc4180 (comma, decimal point) or excel-fi (semicolon, decimal comma, BOM)"})


class JournalQuery(PeriodQuery):
    currency = Text(validate=validate.Regexp(r"^[A-Z]{3}$"), metadata={
        "pattern": r"^[A-Z]{3}$", "description": "the one currency of the file (accounting files take one); the shop's "
        "by default. Refunds in other currencies are left out, and the answer's Palautus-Other-Currencies header "
        "names them: ask again with each"})


LEFT_OUT_HEADER = {LEFT_OUT: {"description": "the currencies of the period's refunds this file left out (comma "
                                             "separated); absent when none", "schema": {"type": "string"}}}


def _download(query: dict, kind: str, **options) -> Response:
    """The file of `kind` for the query's period, built as the dashboard builds it (integration/services/exports.py)."""
    download = export(ctx().session, current_shop(), period_of(query), kind, **options)
    return Response(download.body, content_type=download.content_type, headers=download.headers())


@bp.get("/books/export/rows.csv")
@bp.arguments(ExportQuery, location="query")
@bp.response(200, {"type": "string"}, content_type="text/csv", description=(
    "The ledger's rows as CSV: RFC 4180, or Finnish Excel's dialect (semicolon, decimal comma, UTF-8 with BOM)"))
@bp.error_responses()
def export_rows_csv(query):
    """The refund ledger of a period as a CSV file, in either dialect"""
    return _download(query, "rows.csv", dialect=query["dialect"])


@bp.get("/books/export/procountor.json")
@bp.arguments(JournalQuery, location="query")
@bp.response(200, {"type": "array", "items": {"type": "object"}}, description=(
    "One Procountor ledger receipt per refund: each the body of one POST /ledgerreceipts"), headers=LEFT_OUT_HEADER)
@bp.error_responses()
def export_procountor(query):
    """The period's refunds as Procountor ledger receipts"""
    return _download(query, "procountor.json", currency=query.get("currency"))


@bp.get("/books/export/netvisor.zip")
@bp.arguments(JournalQuery, location="query")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/zip", description=(
    "Netvisor's accounting.nv voucher XML, one file per refund (Netvisor takes one voucher per request), zipped"), headers=LEFT_OUT_HEADER)
@bp.error_responses()
def export_netvisor(query):
    """The period's refunds as Netvisor vouchers"""
    return _download(query, "netvisor.zip", currency=query.get("currency"))


@bp.get("/books/export/sie")
@bp.arguments(JournalQuery, location="query")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="text/plain", description=(
    "An SIE 4I file (Swedish accounting software): code page 437, one #VER per refund"), headers=LEFT_OUT_HEADER)
@bp.error_responses()
def export_sie(query):
    """The period's refunds as an SIE 4I file"""
    return _download(query, "sie", currency=query.get("currency"))


@bp.get("/books/vat-summary")
@bp.arguments(PeriodQuery, location="query")
@bp.response(200, VatSummaryOut)
@bp.error_responses()
def get_vat_summary(query):
    """The period's refunds per month, VAT country and rate: what each month's VAT return takes off the sales"""
    period = period_of(query)
    lines = vat_summary(ledger(ctx().session, current_shop(), period))
    return {"start": period.first, "end": period.last, "timezone": period.zone.key, "lines": lines}


@bp.get("/books/settings")
@bp.response(200, BooksSettingsOut)
@bp.error_responses()
def get_settings():
    """The shop's bookkeeping settings: credit notes, time zone, chart and accounts"""
    return books_of(current_shop())


@bp.put("/books/settings")
@bp.arguments(BooksSettings)
@bp.response(200, BooksSettingsOut)
@bp.error_responses(409)
def put_settings(body):
    """Change the bookkeeping settings; settings left out keep their value

    Turning credit notes on is a 409 until the shop's profile names the seller (legal name, address, VAT id):
    a credit note must.
    """
    shop = current_shop()
    change_books(shop, body)
    ctx().session.commit()
    return books_of(shop)


@bp.get("/settlements")
@bp.arguments(SettlementQuery, location="query")
@bp.response(200, SettlementOut(many=True))
@bp.paginate()
@bp.error_responses()
def list_settlements(query, pagination_parameters):
    """The payouts read from the providers so far, newest first"""
    rows = select(SettlementRecord).where(SettlementRecord.shop_id == current_shop().id)
    if query.get("route"):
        rows = rows.where(SettlementRecord.route == query["route"])
    order = (SettlementRecord.paid_out_at.desc().nulls_last(), SettlementRecord.id.desc())
    return page(rows.order_by(*order), pagination_parameters)


@bp.post("/settlements/read")
@bp.arguments(SettlementRead)
@bp.response(202, SettlementRead)
@bp.error_responses(404)
def read_settlements(body):
    """Have a payout (by its id) or a period's payouts read from the provider; the job runs in the background

    Read again, a payout replaces what was read of it before. The shop's alerts say when a provider refused. Paytrail
    sends a settlement's contents later, to Palautus's callback: its payouts appear once Paytrail's report arrives.
    A route the shop has no keys for (nor is its platform's gateway) is a 404.
    """
    shop, routes = current_shop(), _routes(current_shop())
    if body["route"] not in routes:
        raise NotFound(f"the shop has no {body['route']} route: its routes are {', '.join(sorted(routes)) or 'none'}")
    tasks = current_app.extensions["tasks"]
    if "settlement_id" in body:
        tasks.read_settlement(shop.id, body["route"], body["settlement_id"])
    else:
        period = period_of(body)
        tasks.read_settlements(shop.id, body["route"], period.start.isoformat(), period.end.isoformat())
    return body


@bp.get("/settlements/<int(max=2147483647):settlement_row_id>")
@bp.response(200, ReconciliationOut)
@bp.error_responses(404)
def get_reconciliation(settlement_row_id):
    """A payout reconciled with our refunds, to the cent

    matched (by the provider's refund id, else the reference we sent; never by amount and date), external (refund
    movements no refund of ours explains), fees (rows of their own), other movements, our refunds of the route
    that succeeded but are in no payout read so far (in_transit), and the differences, which must be 0.
    """
    c, shop = ctx(), current_shop()
    row = c.session.get(SettlementRecord, settlement_row_id)
    if row is None or row.shop_id != shop.id:
        raise NotFound(f"settlement {settlement_row_id} is not one of this shop's")
    return reconcile(c.session, shop, row).as_dict()


def _routes(shop) -> set[str]:
    """The routes a shop's payouts can be read through (the dashboard offers the same)."""
    return set(settlement_routes(ctx(), shop))

