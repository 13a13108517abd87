"""The small HTML pages the install flows show a merchant: escaped, with security headers, no scripts."""
from __future__ import annotations

from html import escape

from flask import Response

__all__ = ["page", "SECURITY_HEADERS"]

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}  # fmt: skip


def page(title: str, paragraphs: list[str], status: int = 200, raw: str = "") -> Response:
    """A page of escaped paragraphs (and `raw` HTML the caller built from escaped parts)."""
    body = "".join(f"<p>{escape(text)}</p>" for text in paragraphs)
    html = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)} · Palautus</title>"
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}"
            "code{background:#f3f3f3;padding:.1em .3em;word-break:break-all}</style>"
            f"<h1>{escape(title)}</h1>{body}{raw}</html>")  # fmt: skip
    return Response(html, status=status, mimetype="text/html", headers=SECURITY_HEADERS)
