"""/api/v1/insight: which products come back and why (flags with their evidence), refund times, feedback.

The figures and the flag rule are integration/insight.py's; what each counts is integration/services/insight.py's.
The CSV follows RFC 4180 (CRLF line ends, fields with commas, quotes or line breaks quoted, quotes doubled) and
says so in its media type: `text/csv; charset=utf-8; header=present` (the parameters RFC 4180 section 3
registers). Text cells that a spreadsheet would run as a formula start with a ' (OWASP's CSV injection advice).
"""
from __future__ import annotations

import marshmallow as ma
from flask import Response

from integration import insight, insight_csv
from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.schemas import _In
from integration.models import utcnow
from integration.services import insight as queries

__all__ = ["bp", "period_of", "csv_response", "DEFAULT_DAYS"]

bp = Blueprint("insight", __name__, url_prefix="/api/v1", description="Which products come back and why")
bp.before_request(authenticate)

DEFAULT_DAYS = 90
CSV_TYPE = "text/csv; charset=utf-8; header=present"


class PeriodQuery(_In):
    start = ma.fields.Date(data_key="from", metadata={"description": (
        "the first day (UTC) of the period, included; by default 90 days before `to`")})
    end = ma.fields.Date(data_key="to", metadata={"description": (
        "the last day (UTC) of the period, included; by default today. A `to` before `from` is a period of no days")})


def period_of(args: dict) -> insight.Period:
    """The period the query asks for: the last DEFAULT_DAYS days up to today unless it says otherwise."""
    end = args.get("end") or utcnow().date()
    start = args.get("start") or insight.Period.last(DEFAULT_DAYS, end).start
    return insight.Period(start, end)


class InsightPeriodOut(ma.Schema):
    start = ma.fields.Date(data_key="from", required=True)
    end = ma.fields.Date(data_key="to", required=True)


def _rate(description: str, **kwargs) -> ma.fields.Float:
    return ma.fields.Float(metadata={"description": description}, **kwargs)


class InsightReasonOut(ma.Schema):
    reason = ma.fields.String(required=True, metadata={"description": "the return reason (as in ReturnCreate)"})
    units = ma.fields.Integer(required=True, metadata={"description": "units returned for it"})
    share = _rate("of the units returned, the share returned for this reason (0-1)", required=True)
    rate = _rate("units returned for this reason per unit sold (0-1)", required=True)
    shop_share = _rate("the whole shop's share for this reason", required=True)
    shop_rate = _rate("the whole shop's rate for this reason", required=True)


class InsightVariantOut(ma.Schema):
    product_id = ma.fields.String(allow_none=True, required=True, metadata={"description": (
        "the platform's product id; null for a custom item (known by its title)")})
    variant_id = ma.fields.String(allow_none=True, required=True, metadata={"description": (
        "the platform's variant id; null on a product of several variants (they are listed in `variants`)")})
    title = ma.fields.String(required=True)
    sku = ma.fields.String(allow_none=True, required=True)
    units_sold = ma.fields.Integer(attribute="sold", required=True)
    units_returned = ma.fields.Integer(attribute="returned", required=True)
    return_rate = _rate("units returned per unit sold (0-1); null when none were sold", attribute="rate",
                        allow_none=True, required=True)  # fmt: skip
    reasons = ma.fields.List(ma.fields.Nested(InsightReasonOut), required=True, metadata={
        "description": "the reasons it came back for, most units first, each beside the shop's"})


class InsightProductOut(InsightVariantOut):
    variants = ma.fields.List(ma.fields.Nested(InsightVariantOut), required=True, metadata={
        "description": "its variants, when it has several"})


class InsightFlagOut(ma.Schema):
    product_id = ma.fields.String(allow_none=True, required=True)
    variant_id = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "set when one variant of a product of several stands out, not the whole product"})
    title = ma.fields.String(required=True)
    sku = ma.fields.String(allow_none=True, required=True)
    reason = ma.fields.String(required=True)
    advice = ma.fields.String(required=True, metadata={"description": (
        "what to look at: size_chart, quality, description, packaging, picking, photos, product_page, delivery, "
        "notes or ask_reason")})
    advice_text = ma.fields.String(required=True)
    rate = _rate("its units returned for the reason per unit sold", required=True)
    shop_rate = _rate("the same rate over the rest of the shop (every other product)", required=True)
    ratio = _rate("rate / shop_rate; null when the rest of the shop had no such return", allow_none=True, required=True)
    returns = ma.fields.Integer(required=True, metadata={"description": "its units returned for the reason"})
    units = ma.fields.Integer(required=True, metadata={"description": "its units sold"})
    shop_returns = ma.fields.Integer(required=True, metadata={"description": "the rest of the shop's, for the reason"})
    shop_units = ma.fields.Integer(required=True, metadata={"description": "the rest of the shop's units sold"})
    p_value = _rate("one-sided conditional binomial test of the two rates", required=True)
    tests = ma.fields.Integer(required=True, metadata={"description": "tests made: p_value was held to alpha / tests"})
    sentence = ma.fields.String(required=True, metadata={"description": "the flag in words, for a person"})


class InsightRuleOut(ma.Schema):
    min_units = ma.fields.Integer(required=True, metadata={"description": "units a product must have sold"})
    min_returns = ma.fields.Integer(required=True, metadata={"description": "units it must have returned for the reason"})
    min_ratio = _rate("times the rest of the shop's rate, at least", required=True)
    alpha = _rate("the chance, at most, that noise flags anything at all (Bonferroni)", required=True)


class InsightProductsOut(ma.Schema):
    period = ma.fields.Nested(InsightPeriodOut, required=True)
    units_sold = ma.fields.Integer(attribute="insight.sold", required=True)
    units_returned = ma.fields.Integer(attribute="insight.returned", required=True)
    return_rate = _rate("the shop's units returned per unit sold", attribute="insight.rate", allow_none=True,
                        required=True)  # fmt: skip
    reasons = ma.fields.List(ma.fields.Nested(InsightReasonOut), attribute="insight.reasons", required=True,
                             metadata={"description": "the shop's reason mix"})  # fmt: skip
    flags = ma.fields.List(ma.fields.Nested(InsightFlagOut), attribute="insight.flags", required=True, metadata={
        "description": "products (or variants) that come back for a reason more than the rest of the shop, surest first"})
    products = ma.fields.List(ma.fields.Nested(InsightProductOut), attribute="insight.products", required=True,
                              metadata={"description": "most units returned first"})  # fmt: skip
    rule = ma.fields.Nested(InsightRuleOut, attribute="insight.rule", required=True)
    tests = ma.fields.Integer(attribute="insight.tests", required=True)


class InsightDurationOut(ma.Schema):
    key = ma.fields.String(required=True, metadata={"description": "the return method, or the refund route"})
    count = ma.fields.Integer(required=True)
    p50_seconds = ma.fields.Integer(attribute="p50", required=True, metadata={
        "description": "half the refunds took at most this long (nearest rank)"})
    p90_seconds = ma.fields.Integer(attribute="p90", required=True)


class InsightTotalOut(ma.Schema):
    currency = ma.fields.String(required=True)
    amount = ma.fields.Integer(required=True, metadata={"description": "minor units refunded: 500 is 5.00 EUR"})
    count = ma.fields.Integer(required=True)


class InsightRefundTimesOut(ma.Schema):
    period = ma.fields.Nested(InsightPeriodOut, required=True)
    by_method = ma.fields.List(ma.fields.Nested(InsightDurationOut), required=True)
    by_route = ma.fields.List(ma.fields.Nested(InsightDurationOut), required=True, metadata={
        "description": "per refund route: a provider's name, the platform's, or none"})
    totals = ma.fields.List(ma.fields.Nested(InsightTotalOut), required=True)


class InsightRatingOut(ma.Schema):
    rating = ma.fields.Integer(required=True)
    count = ma.fields.Integer(required=True)


class InsightFeedbackOut(ma.Schema):
    period = ma.fields.Nested(InsightPeriodOut, required=True)
    count = ma.fields.Integer(attribute="feedback.count", required=True)
    average = _rate("the average rating, 1-5; null with none", attribute="feedback.average", allow_none=True,
                    required=True)  # fmt: skip
    distribution = ma.fields.List(ma.fields.Nested(InsightRatingOut), required=True, metadata={
        "description": "how many gave each rating, 5 to 1"})


def csv_response(text: str, name: str) -> Response:
    """A CSV download named `name`, with RFC 4180's media type."""
    return Response(text, content_type=CSV_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/insight/products")
@bp.arguments(PeriodQuery, location="query")
@bp.response(200, InsightProductsOut)
@bp.error_responses()
def products(args):
    """Units sold and returned per product and variant, the reason mix against the shop's, and flags with evidence

    Units sold: orders processed in the period (not cancelled, not removed; gift cards left out); units
    returned: the items of those orders in returns not rejected or cancelled. A flag needs a minimum sample and
    a significant difference from the rest of the shop (the rule is in `rule`)."""
    period = period_of(args)
    return {"period": period, "insight": queries.products(ctx().session, current_shop().id, period)}


@bp.get("/insight/products.csv")
@bp.arguments(PeriodQuery, location="query")
@bp.response(200, {"type": "string"}, content_type="text/csv", description=(
    "RFC 4180 CSV with a header: a record per variant, its units per return reason, the reasons it is flagged for"))
@bp.error_responses()
def products_csv(args):
    """The products of /insight/products as a CSV file"""
    period = period_of(args)
    text = insight_csv.products_csv(queries.products(ctx().session, current_shop().id, period))
    return csv_response(text, f"products-{period.start}-{period.end}.csv")


@bp.get("/insight/refund-times")
@bp.arguments(PeriodQuery, location="query")
@bp.response(200, InsightRefundTimesOut)
@bp.error_responses()
def refund_times(args):
    """Time to refund, p50 and p90, per return method and per refund route, and the totals refunded per currency

    From the return's request to the refund's completion, of the refunds that succeeded in the period."""
    return queries.refund_summary(ctx().session, current_shop().id, period_of(args))


@bp.get("/insight/feedback")
@bp.arguments(PeriodQuery, location="query")
@bp.response(200, InsightFeedbackOut)
@bp.error_responses()
def feedback(args):
    """Customers' ratings given in the period: count, average, distribution"""
    period = period_of(args)
    given = queries.feedback_summary(ctx().session, current_shop().id, period)
    ratings = [{"rating": r, "count": given.distribution[r]} for r in range(5, 0, -1)]
    return {"period": period, "feedback": given, "distribution": ratings}
