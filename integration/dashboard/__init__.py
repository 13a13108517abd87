"""The merchant dashboard: HTML pages for a shop's staff, signed in per shop, under /dashboard.

- blueprint.py: the blueprint (CSRF on every POST, strict headers, no caching) and the pages' formatting helpers;
- auth.py: one-time sign-in links, the session, sign-out; every other page needs a signed-in shop;
- returns.py, actions.py: the returns list, a return's page, and the confirmed moves through the use cases;
- reports.py, queries.py: failed refunds, withdrawals, feedback, and the shop-scoped queries behind the lists;
- settings.py, policy_form.py: the policy editor (built from ReturnPolicy's fields) and the shop's profile.
- books.py, settlements.py: a period's refunds for the books and their downloads, the bookkeeping settings, and
  the providers' payouts reconciled to the cent.
"""
from __future__ import annotations

from flask import Flask

__all__ = ["init_dashboard"]


def init_dashboard(app: Flask) -> None:
    """Register the dashboard; its session cookie is SameSite=Lax, and Secure where Palautus is on https."""
    from integration.dashboard import actions, auth, insight, reports, returns, settings  # noqa: F401 - their views join bp
    from integration.dashboard import books, settlements  # noqa: F401 - the bookkeeping pages join bp too
    from integration.dashboard.blueprint import bp

    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if str(app.config.get("PUBLIC_URL") or "").lower().startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.register_blueprint(bp)
