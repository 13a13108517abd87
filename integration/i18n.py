"""Languages: the customer's pages, their e-mails and the dashboard in Finnish, Swedish and English (flask-babel).

The language is, in order: one the visitor chose (`?lang=`, then kept in their session), the one their
browser asks for, the shop's own default, Finnish. A job writing an e-mail uses the language stored with the
return or withdrawal (`force_locale`), never a request's.
"""
from __future__ import annotations

from flask import Flask, g, request, session
from flask_babel import Babel

from integration.languages import LANGUAGE_NAMES, LANGUAGES, language_or_default

__all__ = ["LANGUAGES", "LANGUAGE_NAMES", "init_i18n", "choose_language", "language_or_default"]


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
