"""The customer's pages: the return portal, its status pages, the policy page and the withdrawal function.

Server-rendered, no script needed, in Finnish, Swedish and English. Screens of a return: find the order,
choose items, choose the method and see the refund, done. See links.py for what each link carries.
"""
from __future__ import annotations

from flask import Blueprint, Flask

from integration.pages import protect_forms

__all__ = ["bp", "init_portal"]

bp = Blueprint("portal", __name__, template_folder="templates", static_folder="static",
               static_url_path="/portal/static")  # fmt: skip
protect_forms(bp)  # once, with the blueprint: every app a process builds registers the same one


def init_portal(app: Flask) -> None:
    """Register the customer's pages, and the status link the e-mails use (`app.extensions["status_link"]`)."""
    from integration.portal import choose, common, lookup, policy, status, withdraw  # noqa: F401 - they add routes

    app.register_blueprint(bp)
    app.extensions["status_link"] = common.status_link
    app.extensions["feedback_link"] = common.feedback_link
    app.extensions["customer_links"] = common.customer_links
