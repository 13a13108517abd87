"""/api/v1/credit-notes: the credit notes Palautus issued for the shop's refunds, as JSON and as PDF.

Only where the shop has Palautus issue them (its bookkeeping settings); a shop whose ERP issues its own finds
every refund's references in the books export instead. A note is addressed by its number in the shop's series
(1, 2, 3...; the printed number adds the shop's prefix). The JSON is the document as issued and stored; the PDF
is drawn from it (integration/services/credit_notes.py).
"""
from __future__ import annotations

import re

import marshmallow as ma
from flask import Response
from marshmallow import validate
from sqlalchemy import select

from integration.api.auth import authenticate, ctx, current_shop
from integration.api.errors import Blueprint
from integration.api.paging import page
from integration.api.schemas import MAX_ID, _In
from integration.errors import NotFound
from integration.models import CreditNote
from integration.services.credit_notes import render_pdf

__all__ = ["bp", "CreditNoteOut", "CreditNoteSummary", "CreditNoteQuery"]

bp = Blueprint("credit_notes", __name__, url_prefix="/api/v1", description="Credit notes issued for refunds")
bp.before_request(authenticate)

NOTE = "/credit-notes/<int(min=1, max=2147483647):number>"
DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"


def _described(text: str, **kwargs) -> dict:
    return {"metadata": {"description": text, **kwargs.pop("metadata", {})}, **kwargs}


class CreditNoteQuery(_In):
    refund_id = ma.fields.Integer(strict=False, validate=validate.Range(min=1, max=MAX_ID),
                                  **_described("only the note of this refund"))  # fmt: skip


class MoneyOut(ma.Schema):
    amount = ma.fields.String(required=True, **_described("major units, as a decimal string: 84.90",
                                                          metadata={"pattern": DECIMAL}))  # fmt: skip
    minor = ma.fields.Integer(required=True, **_described("minor units: 8490"))


class _Amounts(ma.Schema):
    net = ma.fields.Nested(MoneyOut, required=True, **_described("VAT excluded"))
    vat = ma.fields.Nested(MoneyOut, required=True)
    gross = ma.fields.Nested(MoneyOut, required=True, **_described("VAT included"))


class CreditNoteLineOut(_Amounts):
    kind = ma.fields.String(required=True, **_described(
        "goods, shipping, or what the shop kept: restocking_fee, return_shipping_fee, diminished_value, uncredited"))
    description = ma.fields.String(required=True)
    sku = ma.fields.String(required=True, allow_none=True)
    quantity = ma.fields.Integer(required=True, allow_none=True)
    unit_price = ma.fields.Nested(MoneyOut, required=True, allow_none=True, **_described(
        "a unit's price VAT excluded (rounded to the minor unit); null on lines that are not goods"))
    vat_rate = ma.fields.String(required=True, **_described("percent, the original sale's: 24, 25.5, 14"))


class RateTotalOut(_Amounts):
    vat_rate = ma.fields.String(required=True, **_described("percent"))


class SellerOut(ma.Schema):
    name = ma.fields.String(required=True)
    address = ma.fields.String(required=True, allow_none=True)
    vat_id = ma.fields.String(required=True, allow_none=True)
    email = ma.fields.String(required=True, allow_none=True)


class AmendsOut(ma.Schema):
    order_name = ma.fields.String(required=True, **_described("the order as the customer knows it: #1001"))
    platform = ma.fields.String(required=True)
    platform_order_id = ma.fields.String(required=True)
    order_date = ma.fields.String(required=True, allow_none=True, metadata={"format": "date"})
    text = ma.fields.String(required=True, **_described("the reference in words"))


class ReasonOut(ma.Schema):
    code = ma.fields.String(required=True, **_described("return, withdrawal or cancellation"))
    text = ma.fields.String(required=True)


class RefundRefOut(ma.Schema):
    reference = ma.fields.String(required=True, **_described("Palautus's reference of the refund"))
    date = ma.fields.String(required=True, metadata={"format": "date", "description": "when the money went back"})
    return_code = ma.fields.String(required=True, allow_none=True)
    provider = ma.fields.String(required=True, allow_none=True)
    provider_refund_id = ma.fields.String(required=True, allow_none=True)


class CreditNoteOut(ma.Schema):
    """The document as issued."""

    version = ma.fields.Integer(required=True, **_described("the document's layout"))
    type = ma.fields.String(required=True, **_described("credit_note"))
    language = ma.fields.String(required=True)
    number = ma.fields.String(required=True, **_described("as printed: the shop's prefix and the sequence"))
    sequence = ma.fields.Integer(required=True, **_described("the number in the shop's series, without gaps"))
    issued_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    issue_date = ma.fields.String(required=True, metadata={"format": "date"})
    seller = ma.fields.Nested(SellerOut, required=True)
    amends = ma.fields.Nested(AmendsOut, required=True, **_described("the original sale it amends"))
    reason = ma.fields.Nested(ReasonOut, required=True)
    amendment = ma.fields.String(required=True, **_described("what it amends, in words"))
    refund = ma.fields.Nested(RefundRefOut, required=True)
    vat_country = ma.fields.String(required=True, **_described("ISO 3166-1 alpha-2; empty where unknown"))
    currency = ma.fields.String(required=True)
    lines = ma.fields.List(ma.fields.Nested(CreditNoteLineOut), required=True, **_described(
        "credited amounts positive, amounts the shop kept negative"))
    totals = ma.fields.List(ma.fields.Nested(RateTotalOut), required=True, **_described("per VAT rate"))
    total = ma.fields.Nested(_Amounts, required=True, **_described("gross: what went back to the customer"))


class CreditNoteSummary(ma.Schema):
    number = ma.fields.String(attribute="document.number", required=True)
    sequence = ma.fields.Integer(attribute="number", required=True, **_described("addresses the note in this API"))
    refund_id = ma.fields.Integer(required=True)
    return_code = ma.fields.String(attribute="document.refund.return_code", required=True, allow_none=True)
    order_name = ma.fields.String(attribute="document.amends.order_name", required=True)
    issued_at = ma.fields.DateTime(required=True)
    currency = ma.fields.String(required=True)
    total = ma.fields.Integer(required=True, **_described("minor units credited, VAT included"))


@bp.get("/credit-notes")
@bp.arguments(CreditNoteQuery, location="query")
@bp.response(200, CreditNoteSummary(many=True))
@bp.error_responses()
@bp.paginate()
def list_credit_notes(args, pagination_parameters):
    """The credit notes issued for the shop's refunds, newest first"""
    query = select(CreditNote).where(CreditNote.shop_id == current_shop().id)
    if "refund_id" in args:
        query = query.where(CreditNote.refund_id == args["refund_id"])
    return page(query.order_by(CreditNote.number.desc()), pagination_parameters)


@bp.get(NOTE)
@bp.response(200, CreditNoteOut)
@bp.error_responses(404)
def get_credit_note(number):
    """A credit note as issued: seller, the sale it amends and why, lines, totals per VAT rate"""
    return _note(number).document


@bp.get(f"{NOTE}.pdf")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf",
             description="the credit note as a PDF, drawn from the document as issued")  # fmt: skip
@bp.error_responses(404)
def get_credit_note_pdf(number):
    """A credit note as a PDF"""
    note = _note(number)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", note.document.get("number") or str(note.number))
    return Response(render_pdf(note), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="credit-note-{name}.pdf"'})  # fmt: skip


def _note(number: int) -> CreditNote:
    """The shop's note of that number; another shop's, or none, is the same 404."""
    note = ctx().session.scalar(select(CreditNote).where(CreditNote.shop_id == current_shop().id,
                                                         CreditNote.number == number))  # fmt: skip
    if note is None:
        raise NotFound(f"credit note {number} not found")
    return note
