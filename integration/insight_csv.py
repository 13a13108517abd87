"""The insight as RFC 4180 CSV: CRLF line ends, a header record, fields with commas, quotes or line breaks quoted
and their quotes doubled (Python's csv "excel" dialect does exactly this). Text cells that a spreadsheet would
run as a formula get a leading ' (OWASP's CSV injection advice; ASVS 5.0 requirement 1.2.10). Stdlib only.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable

from integration.insight import Durations, Insight, product_key
from integration.returns import Reason

__all__ = ["CSV_COLUMNS", "products_csv", "refund_times_csv"]

CSV_COLUMNS = ["product_id", "variant_id", "title", "sku", "units_sold", "units_returned", "return_rate",
               *(f"returned_{r.value}" for r in Reason), "flags"]  # fmt: skip
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    """Text as a spreadsheet shows it and never runs it: a leading = + - @ tab or CR gets a ' before it
    (OWASP's CSV injection advice; ASVS 5.0 requirement 1.2.10)."""
    text = text or ""
    return "'" + text if text.startswith(_FORMULA) else text


def _writer(out: io.StringIO):
    return csv.writer(out, lineterminator="\r\n")  # csv's "excel" dialect: RFC 4180's quoting and doubling


def refund_times_csv(by_method: Iterable[Durations], by_route: Iterable[Durations]) -> str:
    """RFC 4180 CSV of the refund times: a record per return method, then per refund route."""
    out = io.StringIO()
    writer = _writer(out)
    writer.writerow(["by", "key", "refunds", "p50_seconds", "p90_seconds"])
    for by, rows in (("method", by_method), ("route", by_route)):
        writer.writerows([by, _cell(row.key), row.count, row.p50, row.p90] for row in rows)
    return out.getvalue()


def products_csv(insight: Insight) -> str:
    """RFC 4180 CSV: a header, then a record per variant, CRLF line ends, fields quoted where needed."""
    flagged = defaultdict(list)  # (product, variant or None): the reasons flagged
    for f in insight.flags:
        flagged[(f.product, f.variant_id)].append(f.reason)
    out = io.StringIO()
    writer = _writer(out)
    writer.writerow(CSV_COLUMNS)
    for product in insight.products:
        for line in product.variants or (product,):
            units = {share.reason: share.units for share in line.reasons}
            key = product_key(product.product_id, product.title)
            reasons = flagged[(key, None)] + (flagged[(key, line.variant_id)] if product.variants else [])
            writer.writerow([_cell(line.product_id), _cell(line.variant_id), _cell(line.title), _cell(line.sku),
                             line.sold, line.returned, "" if line.rate is None else f"{line.rate:.4f}",
                             *(units.get(r.value, 0) for r in Reason), " ".join(dict.fromkeys(reasons))])  # fmt: skip
    return out.getvalue()
