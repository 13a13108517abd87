"""What every HTML page Palautus serves to people shares: CSRF protection of its forms, and its security headers.

The JSON API, the webhooks and the install endpoints are not forms and are not touched: a blueprint of pages
calls `protect_forms(bp)`, which checks Flask-WTF's CSRF token on every POST it receives.
"""
from __future__ import annotations

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect

__all__ = ["csrf", "init_pages", "protect_forms"]

csrf = CSRFProtect()

# No script or style from elsewhere, no framing by another site, no form posted elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def init_pages(app: Flask) -> None:
    """CSRF for the page blueprints only (WTF_CSRF_CHECK_DEFAULT off: each page blueprint asks for it)."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 4 * 3600)  # a customer may leave the form open a while
    csrf.init_app(app)


def protect_forms(bp: Blueprint) -> None:
    """Check the CSRF token of every POST to `bp`, and give its pages the strict security headers."""
    bp.before_request(csrf.protect)

    @bp.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
