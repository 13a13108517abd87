"""The printable return slip (fpdf2): the shop, the return code large with its QR code, the items, the
instructions and the address. Everything arrives as text in the customer's language; nothing here reads a request.
"""
from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import segno
from fpdf import FPDF

__all__ = ["Slip", "build_slip", "qr_svg"]

FONTS = Path(__file__).resolve().parent / "static" / "fonts"
# A Unicode font shipped with the code (fpdf2's core fonts are Latin-1 only, and servers may have no fonts):
# ä, ö, å and the names of other European shops print as written.
REGULAR, BOLD = FONTS / "DejaVuSans-Latin.ttf", FONTS / "DejaVuSans-Bold-Latin.ttf"


@dataclass(frozen=True)
class Slip:
    """What goes on the slip, every label already in the customer's language."""

    shop_name: str
    code: str
    title: str  # "Return slip"
    code_label: str  # "Return code"
    items_label: str
    items: tuple[tuple[str, int], ...]  # (title, units)
    instructions_label: str
    instructions: tuple[str, ...] = ()
    address_label: str = ""
    address: tuple[str, ...] = ()
    footer: str = ""


def qr_svg(code: str, title: str) -> str:
    """The return code as an inline SVG QR code (what a service point scans), named `title` for screen readers."""
    svg = segno.make(code, error="m").svg_inline(scale=1, title=title, svgclass="qr-code", omitsize=True)
    return svg.replace("<svg ", '<svg role="img" ', 1)


def _qr_png(code: str) -> BytesIO:
    out = BytesIO()
    segno.make(code, error="m").save(out, kind="png", scale=10, border=4)
    out.seek(0)
    return out


def build_slip(slip: Slip) -> bytes:
    """The slip as a one-page A4 PDF."""
    pdf = FPDF(format="A4")
    pdf.set_title(f"{slip.title} {slip.code}")  # the document's title names the code too (search, file lists)
    pdf.set_author(slip.shop_name)
    pdf.add_font("Sans", "", str(REGULAR))
    pdf.add_font("Sans", "B", str(BOLD))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    _heading(pdf, slip)
    _section(pdf, slip.items_label, [f"{units} × {title}" for title, units in slip.items])
    _section(pdf, slip.instructions_label, list(slip.instructions))
    if slip.address:
        _section(pdf, slip.address_label, list(slip.address))
    if slip.footer:
        pdf.set_font("Sans", "", 9)
        pdf.multi_cell(0, 5, slip.footer, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _heading(pdf: FPDF, slip: Slip) -> None:
    pdf.set_font("Sans", "B", 16)
    pdf.multi_cell(120, 8, slip.shop_name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Sans", "", 12)
    pdf.cell(120, 8, slip.title, new_x="LMARGIN", new_y="NEXT")
    pdf.image(_qr_png(slip.code), x=pdf.w - pdf.r_margin - 50, y=pdf.t_margin, w=50, h=50)
    pdf.ln(6)
    pdf.set_font("Sans", "", 11)
    pdf.cell(120, 6, slip.code_label, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Sans", "B", 36)  # read aloud or typed at a counter: as large as fits
    pdf.cell(120, 16, slip.code, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), pdf.t_margin + 55))


def _section(pdf: FPDF, label: str, lines: list[str]) -> None:
    if not lines:
        return
    pdf.ln(4)
    pdf.set_font("Sans", "B", 12)
    pdf.cell(0, 8, label, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Sans", "", 11)
    for line in lines:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
