"""The text of an uncompressed fpdf2 PDF, read back the way a PDF viewer reads it (for assertions only).

fpdf2 writes text in an embedded TrueType font as two-byte glyph codes (`(...) Tj` under `/F1 9.00 Tf`), and
gives each font a ToUnicode CMap (PDF 32000-1:2008 section 9.10.3) whose `bfchar` entries map those codes to
Unicode. This reads the CMaps, follows the font of each text run, and decodes the literal strings
(section 7.3.4.2: backslash escapes), so a test can look for "Kenkä" in what the page shows.
"""
from __future__ import annotations

import re

__all__ = ["pdf_text"]

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}


def pdf_text(data: bytes) -> str:
    """Every text run of the PDF, in the order drawn, one per line."""
    objects = {int(number): body for number, body in _OBJECT.findall(data)}
    fonts = _fonts(objects)
    runs, font = [], None
    for content in (body for body in objects.values() if b"BT" in body and b"stream" in body):
        for match in re.finditer(rb"/(F\d+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", content, re.S):
            if match[1]:
                font = fonts.get(match[1].decode())
            elif font is not None:
                runs.append(_decode(_unescape(match[2]), font))
    return "\n".join(runs)


def _fonts(objects: dict[int, bytes]) -> dict[str, dict[int, str]]:
    """Resource name (F1) -> glyph code -> character."""
    names = {}
    for body in objects.values():
        for name, number in re.findall(rb"/(F\d+) (\d+) 0 R", body):
            names[name.decode()] = int(number)
    fonts = {}
    for name, number in names.items():
        cmap = re.search(rb"/ToUnicode (\d+) 0 R", objects.get(number, b""))
        if cmap:
            pairs = re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]{4,})>", objects[int(cmap[1])])
            fonts[name] = {int(code, 16): bytes.fromhex(text.decode()).decode("utf-16-be") for code, text in pairs}
    return fonts


def _unescape(raw: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i : i + 1] == b"\\":
            nxt = raw[i + 1 : i + 2]
            octal = re.match(rb"[0-7]{1,3}", raw[i + 1 : i + 4])
            if octal:
                out.append(int(octal[0], 8))
                i += 1 + len(octal[0])
                continue
            out += _ESCAPES.get(nxt, nxt)
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def _decode(raw: bytes, font: dict[int, str]) -> str:
    return "".join(font.get(int.from_bytes(raw[i : i + 2], "big"), "?") for i in range(0, len(raw) - 1, 2))
