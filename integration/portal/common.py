"""What every customer page shares: the shop from the URL, the use-case context, the layout's data, errors."""
from __future__ import annotations

import logging
from datetime import timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime

from flask import abort, current_app, g, has_request_context, render_template, request, url_for
from flask_babel import format_currency, get_locale, gettext as _, refresh
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from integration.db import get_session
from integration.i18n import language_or_default
from integration.models import Shop
from integration.money import to_decimal
from integration.portal import bp, links
from integration.portal.words import confirm_label, withdraw_label
from integration.services.context import Ctx
from integration.services.shops import shop_by_portal_slug

__all__ = ["ctx", "current_shop", "use_shop", "page", "status_link", "feedback_link", "money", "shop_name", "local_time"]

logger = logging.getLogger(__name__)


def ctx() -> Ctx:
    """The use-case context for this request, built as the JSON API builds its own."""
    app, vault = current_app, current_app.extensions["vault"]
    return Ctx(get_session(), app.extensions["tasks"], app.extensions["providers"], app.extensions["gateways"],
               lambda shop: [name for name, keys in vault.open(shop.credentials).get("payments", {}).items() if keys])  # fmt: skip


def use_shop(shop: Shop | None, language: str | None = None) -> Shop:
    """Make `shop` this page's shop (404 when there is none); its default language applies unless chosen."""
    if shop is None or shop.uninstalled_at is not None:
        abort(404)
    g.portal_shop = shop
    g.shop_language = language or (shop.profile or {}).get("default_language")
    return shop


def current_shop() -> Shop:
    return g.portal_shop


@bp.url_value_preprocessor
def _shop_from_slug(endpoint, values):
    """Every /s/<slug>/... page: the installed shop of that slug, or the 404 page."""
    # A fresh start: where one app context outlives its requests (tests, a CLI), g still holds the last
    # request's shop and flask-babel's cached language.
    g.pop("portal_shop", None)
    g.pop("shop_language", None)
    refresh()
    if values and "slug" in values:
        slug = values.pop("slug")
        use_shop(shop_by_portal_slug(get_session(), slug) if len(slug) <= 64 else None)


@bp.url_defaults
def _slug_of_shop(endpoint, values):
    if "slug" not in values and "portal_shop" in g and current_app.url_map.is_endpoint_expecting(endpoint, "slug"):
        values["slug"] = g.portal_shop.portal_slug


def shop_name(shop: Shop) -> str:
    return shop.name or (shop.profile or {}).get("legal_name") or shop.domain


def money(amount: int, currency: str) -> str:
    """An amount in minor units as the page's language writes it ("12,90 €")."""
    return format_currency(to_decimal(amount, currency), currency)


def local_time(moment, what: str = "datetime") -> str:
    """A moment in the shop's time zone (its profile's, else Finland's), in the page's language, zone named."""
    name = ((g.get("portal_shop") and g.portal_shop.profile) or {}).get("timezone") or "Europe/Helsinki"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = timezone.utc
    if what == "date":
        return format_date(moment.astimezone(zone), "long", locale=get_locale())
    return format_datetime(moment, "long", tzinfo=zone, locale=get_locale())


def lang_url(code: str) -> str:
    """This page in another language: the same address (a GET) with ?lang=."""
    args = {**request.view_args, **request.args.to_dict(), "lang": code} if request.view_args is not None else {}
    try:
        return url_for(request.endpoint, **args)
    except Exception:  # noqa: BLE001 - an error page without an endpoint: the shop's front page, or none
        return "?lang=" + code


@bp.app_context_processor
def _layout():
    if not request.blueprint == "portal":
        return {}
    shop = g.get("portal_shop")
    return {"lang": language_or_default(str(get_locale() or "")), "shop": shop, "shop_name": shop_name(shop) if shop else "",
            "withdraw_label": withdraw_label, "confirm_label": confirm_label, "lang_url": lang_url, "money": money, "local_time": local_time}  # fmt: skip


def page(template: str, status: int = 200, **context):
    """A portal page, never cached (it may show an order), with the layout's data."""
    html = render_template(f"portal/{template}", **context)
    return html, status, {"Cache-Control": "no-store"}


def status_link(ret) -> str:
    """The absolute address of a return's status page (PUBLIC_URL when set): what e-mails link to."""
    return _absolute("portal.status", token=links.status_token(ret))


def customer_links(shop) -> dict:
    """The shop's stable customer-facing addresses: what the merchant links to from the storefront and e-mails."""
    return {"portal": _absolute("portal.start", slug=shop.portal_slug),
            "policy": _absolute("portal.policy", slug=shop.portal_slug),
            "withdrawal": _absolute("portal.withdraw", slug=shop.portal_slug)}  # fmt: skip


def feedback_link(ret) -> str:
    """The absolute address of a return's feedback form."""
    return _absolute("portal.feedback", token=links.feedback_token(ret))


def _absolute(endpoint: str, **values) -> str:
    public = str(current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if not public:
        return url_for(endpoint, _external=True, **values)
    if has_request_context():
        return public + url_for(endpoint, **values)
    # A job has no request: the path alone, from the URL map (Flask's url_for would want SERVER_NAME).
    return public + current_app.url_map.bind("localhost").build(endpoint, values)


def error_page(status: int, title: str, message: str):
    return page("error.html", status, title=title, message=message)


@bp.errorhandler(CSRFError)
def _csrf(error):
    return error_page(400, _("The form had expired"), _("Please go back, reload the page and send the form again."))


@bp.errorhandler(RateLimitExceeded)
def _too_many(error):
    return error_page(429, _("Too many attempts"), _("Too many attempts came from your address. Wait a few minutes "
                                                     "and try again."))  # fmt: skip


@bp.errorhandler(links.BadLink)
def _bad_link(error):
    if error.expired:
        return error_page(410, _("This page has expired"), _("For your security the page is open for a limited time. "
                                                             "Please start again."))  # fmt: skip
    return error_page(404, _("Link not valid"), _("This link is not valid. Check that you copied all of it."))


@bp.errorhandler(StaleDataError)
def _changed(error):
    return error_page(409, _("Please try again"), _("Your return was being updated at the same moment. Please reload "
                                                    "the page."))  # fmt: skip


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _unavailable(error):
    logger.error("database unavailable: %s", type(error).__name__)
    return error_page(503, _("Briefly unavailable"), _("The service is briefly unavailable. Please try again in a "
                                                       "moment."))  # fmt: skip


@bp.errorhandler(HTTPException)
def _http(error):
    if error.code == 404:
        return error_page(404, _("Page not found"), _("We could not find this page. Check the address."))
    if error.code == 405:
        return error_page(405, _("Page not found"), _("We could not find this page. Check the address."))
    return error_page(error.code or 400, _("Something is not right"), _("We could not handle this request."))


@bp.errorhandler(Exception)
def _unexpected(error):
    logger.exception("unhandled error on a customer page")
    return error_page(500, _("Something went wrong"), _("Something went wrong on our side. Please try again later."))  # fmt: skip
