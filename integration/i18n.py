"""Languages: the customer's pages, their e-mails and the dashboard in Finnish, Swedish and English (flask-babel).

The language is, in order: one the visitor chose (`?lang=`, then kept in their session), the one their
browser asks for, the shop's own default, Finnish. A job writing an e-mail uses the language stored with the
return or withdrawal (`force_locale`), never a request's.
"""
from __future__ import annotations

from flask import Flask, g, request, session
from flask_babel import Babel

__all__ = ["LANGUAGES", "LANGUAGE_NAMES", "init_i18n", "choose_language", "language_or_default"]

LANGUAGES = ("fi", "sv", "en")
# Each language named in itself: what a language switch shows.
LANGUAGE_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}
DEFAULT_LANGUAGE = "fi"


def language_or_default(value: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """`value` cut to its language ("sv-FI" -> "sv") when it is one of ours, else `default`."""
    code = str(value or "").replace("_", "-").split("-")[0].strip().lower()
    return code if code in LANGUAGES else default


def choose_language() -> str:
    """The language of this request's page (flask-babel's locale selector)."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    shop_default = language_or_default(getattr(g, "shop_language", None))
    return request.accept_languages.best_match(LANGUAGES) or shop_default


def init_i18n(app: Flask) -> None:
    """Install flask-babel with the translations under integration/translations."""
    Babel(app, locale_selector=choose_language, default_translation_directories="translations")
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, LANGUAGE_NAMES=LANGUAGE_NAMES)
