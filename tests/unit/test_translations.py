"""The Finnish and Swedish catalogues translate every text the pages and e-mails show, the compiled catalogues are
those texts, and a text added to the code without `make translations` fails here instead of showing in English."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "integration" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}|</?(?:a|b|strong|em|br|code|span|p)\b[^>]*>")


def catalogue(language: str, compiled: bool = False):
    name = "messages.mo" if compiled else "messages.po"
    with open(CATALOGUES / language / "LC_MESSAGES" / name, "rb") as f:
        return read_mo(f) if compiled else read_po(f)


def texts(message) -> list[str]:
    return [s for s in (message.string if isinstance(message.string, (list, tuple)) else [message.string])]


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_every_text_is_translated_with_the_same_placeholders(language):
    for message in catalogue(language):
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        for text in texts(message):
            assert text, f"{language}: no translation of {source!r}"
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(source)), (language, source)


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_the_compiled_catalogue_is_the_catalogue(language):
    written = {m.id: texts(m) for m in catalogue(language) if m.id and not m.fuzzy and any(texts(m))}
    compiled = {m.id: texts(m) for m in catalogue(language, compiled=True) if m.id}
    assert compiled == written, f"run `make translations` (pybabel compile) for {language}"


def test_every_text_in_the_code_is_in_the_catalogues():
    with open(CATALOGUES / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
    found = {message for _file, _line, message, _comments, _context in
             extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)}  # fmt: skip
    known = {m.id for m in catalogue("fi") if m.id}
    missing = sorted(str(m) for m in found - known)
    assert not missing, f"not in the catalogues (run `make translations`, then translate): {missing[:5]}"
