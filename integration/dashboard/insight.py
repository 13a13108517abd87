"""The insight page: which products come back and why (flags with their evidence first), refund times, feedback.

The figures are the API's (integration/services/insight.py, the rule in integration/insight.py); this page adds
words in the merchant's language, SVG charts drawn here (insight_charts.py) each beside a table of the same
figures, a period filter, and the CSV downloads.
"""
from __future__ import annotations

from datetime import date

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from integration import insight, insight_csv
from integration.api.auth import ctx
from integration.api.insight import DEFAULT_DAYS, csv_response
from integration.dashboard.auth import current_shop
from integration.dashboard.blueprint import bp
from integration.dashboard.insight_charts import Series, bar_chart
from integration.models import utcnow
from integration.returns import Reason
from integration.services import insight as queries

__all__ = ["insight_page", "products_csv", "refund_times_csv", "REASON_WORDS", "ADVICE_WORDS", "flag_sentence"]

R = Reason
# The merchant's words for the reasons and what to do (English as integration/insight.py writes them).
REASON_WORDS = {
    R.SIZE_TOO_SMALL: _l("too small"), R.SIZE_TOO_LARGE: _l("too large"), R.NOT_AS_DESCRIBED: _l("not as described"),
    R.DEFECTIVE: _l("defective"), R.DAMAGED_IN_TRANSIT: _l("damaged in transit"), R.WRONG_ITEM: _l("wrong item"),
    R.CHANGED_MIND: _l("changed mind"), R.STYLE: _l("style"), R.COLOR: _l("color"), R.ARRIVED_LATE: _l("arrived late"),
    R.OTHER: _l("other"), R.UNKNOWN: _l("unknown"),
}  # fmt: skip
ADVICE_WORDS = {
    R.SIZE_TOO_SMALL: _l("check the size chart (it runs small)"),
    R.SIZE_TOO_LARGE: _l("check the size chart (it runs large)"),
    R.NOT_AS_DESCRIBED: _l("fix the description and photos"),
    R.DEFECTIVE: _l("quality: check the batch with the supplier"),
    R.DAMAGED_IN_TRANSIT: _l("packaging: protect it better in transit"),
    R.WRONG_ITEM: _l("picking: check the stock location and labels"),
    R.COLOR: _l("check the colours in the photos"),
    R.STYLE: _l("show the fit and style better in the photos"),
    R.CHANGED_MIND: _l("check that the product page sets the right expectations"),
    R.ARRIVED_LATE: _l("check the delivery times and the carrier"),
    R.OTHER: _l("read the customers' notes on these returns"),
    R.UNKNOWN: _l("ask customers for a reason when they return it"),
}
REASON_WORDS = {reason.value: words for reason, words in REASON_WORDS.items()}
ADVICE_WORDS = {reason.value: words for reason, words in ADVICE_WORDS.items()}
TOP = 12  # products in the return-rate chart
MIX_CHARTS = 3  # flagged products given a reason-mix chart


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return _("%(n)s h", n=f"{hours:.1f}") if hours < 48 else _("%(n)s d", n=f"{hours / 24:.1f}")


def flag_sentence(flag: insight.Flag) -> str:
    """The flag in the merchant's language (in English, word for word the API's `sentence`)."""
    compared = (_("%(ratio)sx the rest of the shop's rate", ratio=f"{flag.ratio:.1f}") if flag.ratio
                else _("none elsewhere in the shop"))  # fmt: skip
    return _("%(label)s: '%(reason)s' %(rate)s of units, %(compared)s, over %(returns)s returns -> %(advice)s",
             label=flag.label, reason=REASON_WORDS[flag.reason], rate=_percent(flag.rate), compared=compared,
             returns=flag.returns, advice=ADVICE_WORDS[flag.reason])  # fmt: skip


def _period() -> tuple[insight.Period, str | None]:
    """The period the filter asks for (the last DEFAULT_DAYS days by default), and a message if it was not a date."""
    today, problem = utcnow().date(), None
    picked = {}
    for name in ("from", "to"):
        raw = request.args.get(name, "").strip()
        try:
            picked[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            picked[name], problem = None, _("A date was not understood: write it as YYYY-MM-DD.")
    end = picked["to"] or today
    return insight.Period(picked["from"] or insight.Period.last(DEFAULT_DAYS, end).start, end), problem


def _line_of(found: insight.Insight, flag: insight.Flag) -> insight.Line | None:
    """The table's line of the flagged product, or of its flagged variant."""
    for product in found.products:
        if insight.product_key(product.product_id, product.title) == flag.product:
            return next((v for v in product.variants if v.variant_id == flag.variant_id), product)
    return None


def _chart(ident: str, title: str, *args, **kwargs) -> dict:
    """A chart and its title, which the page shows above it too."""
    return {"title": title, "svg": bar_chart(ident, title, *args, **kwargs)}


def _charts(found: insight.Insight, refunds: dict) -> dict:
    """The page's SVG charts, each with a description in words."""
    shown = [p for p in found.products if p.sold][:TOP]
    rates = _chart("rates", _("Return rate per product"),
                   "; ".join(f"{p.title}: {_percent(p.rate)}" for p in shown) or _("No sales in the period."),
                   [Series(_("Return rate"), "chart-a")], [(p.title, [p.rate or 0]) for p in shown], _percent,
                   marker=(_("shop %(rate)s", rate=_percent(found.rate)), found.rate or 0))  # fmt: skip
    mixes = []
    for n, flag in enumerate(found.flags[:MIX_CHARTS]):
        line = _line_of(found, flag)
        if line is None:
            continue
        words = [(str(REASON_WORDS[r.reason]), [r.share, r.shop_share]) for r in line.reasons]
        desc = "; ".join(_("%(reason)s: %(share)s, shop %(shop)s", reason=w, share=_percent(a), shop=_percent(b))
                         for w, (a, b) in words)  # fmt: skip
        title = _("Reason mix: %(label)s against the shop", label=flag.label)
        mixes.append(_chart(f"mix{n}", title, desc, [Series(flag.label, "chart-a"), Series(_("the shop"), "chart-b")],
                            words, _percent))  # fmt: skip
    times = {kind: _times_chart(kind, rows) for kind, rows in (("method", refunds["by_method"]),
                                                                ("route", refunds["by_route"]))}  # fmt: skip
    return {"rates": rates, "mixes": mixes, "times": times}


def _times_chart(kind: str, rows) -> dict | None:
    if not rows:
        return None
    title = _("Time to refund per return method") if kind == "method" else _("Time to refund per refund route")
    desc = "; ".join(_("%(key)s: p50 %(p50)s, p90 %(p90)s", key=r.key, p50=_duration(r.p50), p90=_duration(r.p90))
                     for r in rows)  # fmt: skip
    return _chart(f"times-{kind}", title, desc, [Series("p50", "chart-a"), Series("p90", "chart-b")],
                     [(r.key.replace("_", " "), [r.p50, r.p90]) for r in rows], _duration)  # fmt: skip


@bp.get("/insight")
def insight_page():
    """Flags with their evidence, then the products, reason mixes, refund times and feedback over a period."""
    period, problem = _period()
    session, shop = ctx().session, current_shop()
    found = queries.products(session, shop.id, period)
    refunds = queries.refund_summary(session, shop.id, period)
    return render_template(
        "dashboard/insight.html", period=period, message=problem, found=found, refunds=refunds,
        feedback=queries.feedback_summary(session, shop.id, period), charts=_charts(found, refunds),
        sentence=flag_sentence, percent=_percent, duration=_duration, reason_words=REASON_WORDS,
        args={"from": period.start.isoformat(), "to": period.end.isoformat()},
    )  # fmt: skip


@bp.get("/insight/products.csv")
def products_csv():
    """The products of the period as CSV (the API's /insight/products.csv)."""
    period, _problem = _period()
    found = queries.products(ctx().session, current_shop().id, period)
    return csv_response(insight_csv.products_csv(found), f"products-{period.start}-{period.end}.csv")


@bp.get("/insight/refund-times.csv")
def refund_times_csv():
    """Time to refund per return method and per route, as CSV."""
    period, _problem = _period()
    refunds = queries.refund_summary(ctx().session, current_shop().id, period)
    return csv_response(insight_csv.refund_times_csv(refunds["by_method"], refunds["by_route"]),
                        f"refund-times-{period.start}-{period.end}.csv")  # fmt: skip
