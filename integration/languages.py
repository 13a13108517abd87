"""The languages Palautus speaks to customers and merchants, and how a stored or asked-for language is read: pure."""
from __future__ import annotations

__all__ = ["LANGUAGES", "LANGUAGE_NAMES", "DEFAULT_LANGUAGE", "language_or_default"]

LANGUAGES = ("fi", "sv", "en")
# Each language named in itself: what a language switch shows.
LANGUAGE_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}
DEFAULT_LANGUAGE = "fi"


def language_or_default(value: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """`value` cut to its language ("sv-FI" -> "sv") when it is one of ours, else `default`."""
    code = str(value or "").replace("_", "-").split("-")[0].strip().lower()
    return code if code in LANGUAGES else default
