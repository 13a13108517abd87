"""Credit notes: issued once per refund that succeeded, where the shop turned them on; found; drawn as a PDF.

A shop turns them on in its bookkeeping settings (`Shop.books["credit_notes"]`, optionally with a
`credit_note_prefix`). A shop whose ERP issues its own credit notes leaves them off: it gets none, and finds every
refund's references (order, return code, our reference, the provider's refund id) in the books export.

Exactly one note per refund, numbered per shop without gaps: the number is taken by one atomic
`UPDATE shops SET credit_note_seq = credit_note_seq + 1 ... RETURNING` as the first statement of the transaction
that inserts the note, so an issue that rolls back gives its number back, and a second issuer of the same shop
waits for the first (PostgreSQL: the shop's row lock; SQLite: the database's write lock, taken by that first
statement), then finds its note and gives its own number back. `credit_notes.refund_id` is unique besides.

Which refunds are owed a note: those that succeed while the shop has notes on (`refund_succeeded` queues the job).
Turning notes on does not issue any for refunds paid before; an operator who wants them asks for each
(`issue_credit_note`, or the job of that name, with the refund's id): it issues for any refund that succeeded.
The sweeper recovers lost jobs (`owed`) over the last OWED_WINDOW only, and never before the moment notes were
turned on: `books["credit_notes_since"]` (ISO 8601) where the settings record it, else the completion of the
refund of the shop's first note (no note yet, nothing recorded: nothing is known to be owed).

Keeping: the notes are accounting vouchers. The Finnish Accounting Act (kirjanpitolaki 1336/1997) 2:10 keeps
vouchers at least six years from the end of the year in which the financial period ended (the books and the
financial statements ten years from the period's end). Palautus never deletes a note: the stored document is the
voucher, and the PDF is drawn from it alone (never from the refund or the shop as they are later), so it reads
the same however long it is kept. It names no customer, so an erasure has nothing to take out of it.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy import case, func, literal, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.credit_notes import Credit, Goods, Sale, Seller, build_document, format_number
from integration.models import CreditNote, Refund, Return, Shop, Withdrawal, utcnow
from integration.refunds import RefundStatus
from integration.services.books import rows_for_refund
from integration.services.books_settings import zone_of
from integration.services.context import Ctx
from integration.withdrawal import Kind

__all__ = ["issues_credit_notes", "issue_credit_note", "queue_credit_note", "note_for", "owed", "render_pdf",
           "OWED_WINDOW"]  # fmt: skip

logger = logging.getLogger(__name__)

OWED_WINDOW = timedelta(days=30)
_TAKE_NUMBER = text("UPDATE shops SET credit_note_seq = credit_note_seq + 1 WHERE id = :id RETURNING credit_note_seq")


def issues_credit_notes(shop: Shop) -> bool:
    """Whether Palautus issues the shop's credit notes (else its ERP does, from the books export)."""
    return (shop.books or {}).get("credit_notes") is True


def note_for(session: Session, refund_id: int) -> CreditNote | None:
    """The refund's credit note, if it has one."""
    return session.scalar(select(CreditNote).where(CreditNote.refund_id == refund_id))


def queue_credit_note(ctx: Ctx, refund: Refund) -> None:
    """After the commit that books the refund as succeeded: its credit note's job, where the shop issues them."""
    shop = ctx.session.get(Shop, refund.ret.shop_id)
    if shop is not None and issues_credit_notes(shop):
        ctx.later(ctx.tasks.issue_credit_note, refund.id)


def issue_credit_note(session: Session, refund_id: int) -> CreditNote | None:
    """The refund's credit note, issued now unless it has one; None for a refund that has not succeeded or a shop
    that does not issue them. Committed."""
    refund = session.get(Refund, refund_id)
    if refund is None or refund.status != RefundStatus.SUCCEEDED.value:
        return None
    shop = session.get(Shop, refund.ret.shop_id)
    if not issues_credit_notes(shop):
        return None
    found = note_for(session, refund_id)
    if found is not None:
        return found
    session.commit()  # what was read stays; the number is taken as the first statement of a transaction of its own
    try:
        return _issue(session, shop, refund)
    except IntegrityError:  # issued by another session meanwhile (a race the shop's lock does not see)
        session.rollback()
        found = note_for(session, refund_id)
        if found is None:  # another conflict (a number taken outside this code): not this run's to hide
            raise
        return found
    except BaseException:
        session.rollback()  # the number goes back with the rest
        raise


def _issue(session: Session, shop: Shop, refund: Refund) -> CreditNote:
    sequence = session.execute(_TAKE_NUMBER, {"id": shop.id}).scalar_one()
    if note_for(session, refund.id) is not None:  # another issuer committed it while this one waited for the shop
        session.rollback()  # and this one's number goes back
        return note_for(session, refund.id)
    issued_at = utcnow()
    number = format_number(sequence, (shop.books or {}).get("credit_note_prefix"))
    note = CreditNote(shop_id=shop.id, number=sequence, refund_id=refund.id, issued_at=issued_at,
                      currency=refund.currency, total=refund.amount,
                      document=_document(session, shop, refund, number, sequence, issued_at))  # fmt: skip
    session.add(note)
    session.commit()
    logger.info("credit note issued", extra={"shop_id": shop.id, "refund_id": refund.id, "credit_note": number})
    return note


def _document(session: Session, shop: Shop, refund: Refund, number: str, sequence: int, issued_at: datetime) -> dict:
    """The note's document: the dates of the sale and of the refund as the books have them (the same rows give
    the totals), the date of issue in the shop's time zone."""
    ret, order, profile = refund.ret, refund.ret.order, shop.profile or {}
    rows = rows_for_refund(shop, refund, zone_of(shop), by_payment=False)  # dated as the books date it, in the shop's own zone
    seller = Seller(profile.get("legal_name") or shop.name or shop.domain, profile.get("address"),
                    profile.get("vat_id"), profile.get("email"))  # fmt: skip
    sale_date = rows[0].sale_date if rows else (order.processed_at.date() if order.processed_at else None)
    sale = Sale(order.name, shop.platform, order.platform_order_id, sale_date)
    refund_date = rows[0].refund_date if rows else (refund.completed_at or refund.created_at).date()
    credit = Credit(refund.idempotency_key, refund_date, ret.code, _reason(session, ret), refund.provider,
                    refund.provider_refund_id, refund.amount, refund.currency)  # fmt: skip
    lines = {line.id: line for line in order.lines}
    goods = [_goods(lines.get(line["order_line_id"]), line) for line in refund.lines or []]
    return build_document(number, sequence, issued_at.astimezone(zone_of(shop)), seller, sale, credit, goods, rows)


def _goods(order_line, line: dict) -> Goods:
    title = order_line.title if order_line is not None else f"Order line {line['order_line_id']}"
    rate = Decimal(str(line.get("tax_rate") if line.get("tax_rate") is not None else 0))
    return Goods(title, order_line.sku if order_line is not None else None, line["quantity"], line["amount"],
                 line["tax"], rate)  # fmt: skip


def _reason(session: Session, ret: Return) -> str:
    """Why the money went back: a cancellation (a withdrawal before delivery), a withdrawal, or a return."""
    cancelled = select(Withdrawal.id).where(Withdrawal.return_id == ret.id, Withdrawal.kind == Kind.CANCELLATION.value)
    if session.scalar(cancelled.limit(1)) is not None:
        return "cancellation"
    return "withdrawal" if ret.track == "withdrawal" else "return"


# --- what the sweeper recovers ------------------------------------------------------------------------------


def owed(session: Session, now: datetime, cutoff: datetime, limit: int) -> list[int]:
    """Succeeded refunds whose credit note's job was lost: of shops that issue notes, completed before `cutoff`, in
    the last OWED_WINDOW and since the shop turned notes on, with no note, and not queued since `cutoff`
    (`Refund.enqueued_at`: push_refund's stamp while the refund is under way, this job's once it succeeded)."""
    starts = _starts(session, now - OWED_WINDOW)
    if not starts:
        return []
    start = case({shop_id: literal(moment, Refund.completed_at.type) for shop_id, moment in starts.items()},
                 value=Return.shop_id)  # fmt: skip
    noted = select(CreditNote.id).where(CreditNote.refund_id == Refund.id).exists()
    query = select(Refund.id).join(Return, Return.id == Refund.return_id).where(
        Return.shop_id.in_(list(starts)), Refund.status == RefundStatus.SUCCEEDED.value,
        Refund.completed_at >= start, Refund.completed_at < cutoff, ~noted,
        or_(Refund.enqueued_at.is_(None), Refund.enqueued_at < cutoff),
    )  # fmt: skip
    return list(session.scalars(query.order_by(Refund.completed_at, Refund.id).limit(limit)))


def _starts(session: Session, earliest: datetime) -> dict[int, datetime]:
    """From when each shop that issues notes is owed them, no earlier than `earliest` (see the module's docstring)."""
    shops = session.execute(select(Shop.id, Shop.books).where(Shop.books["credit_notes"].as_boolean())).all()
    recorded = {shop_id: _moment((books or {}).get("credit_notes_since")) for shop_id, books in shops
                if (books or {}).get("credit_notes") is True}  # fmt: skip
    unknown = [shop_id for shop_id, since in recorded.items() if since is None]
    first = dict(session.execute(
        select(CreditNote.shop_id, func.min(Refund.completed_at)).join(Refund, Refund.id == CreditNote.refund_id)
        .where(CreditNote.shop_id.in_(unknown)).group_by(CreditNote.shop_id)
    ).all()) if unknown else {}  # fmt: skip
    since = {shop_id: moment or first.get(shop_id) for shop_id, moment in recorded.items()}
    return {shop_id: max(moment, earliest) for shop_id, moment in since.items() if moment is not None}


def _moment(value) -> datetime | None:
    """An ISO 8601 moment from the settings (UTC where it names no zone); None where there is none to read."""
    try:
        moment = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment and moment.tzinfo is None else moment


# --- the PDF ---------------------------------------------------------------------------------------------------

# The Unicode font shipped for the return slip (integration/portal/static/fonts, see its LICENSE.txt): ä, ö, å.
FONTS = Path(__file__).resolve().parent.parent / "portal" / "static" / "fonts"
REGULAR, BOLD = FONTS / "DejaVuSans-Latin.ttf", FONTS / "DejaVuSans-Bold-Latin.ttf"
LINE_COLUMNS = (62, 12, 22, 14, 22, 20, 22)  # description, quantity, unit price, VAT %, net, VAT, gross (mm)
TOTAL_COLUMNS = (62, 48, 22, 20, 22)


def render_pdf(credit_note: CreditNote, compress: bool = True) -> bytes:
    """The note as an A4 PDF, drawn from its stored document alone."""
    doc = credit_note.document
    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_title(f"Credit note {doc['number']}")  # the title names the number (search, file lists)
    pdf.set_author(doc["seller"]["name"])
    pdf.set_creation_date(datetime.fromisoformat(doc["issued_at"]))  # the same bytes each time it is drawn
    pdf.add_font("Sans", "", str(REGULAR))
    pdf.add_font("Sans", "B", str(BOLD))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    _heading(pdf, doc)
    _facts(pdf, doc)
    _lines(pdf, doc)
    _totals(pdf, doc)
    return bytes(pdf.output())


def _text(pdf: FPDF, value: str, size: int = 10, bold: bool = False, height: float = 5) -> None:
    pdf.set_font("Sans", "B" if bold else "", size)
    pdf.multi_cell(0, height, value, align="L", new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: FPDF, doc: dict) -> None:
    seller = doc["seller"]
    _text(pdf, f"Credit note {doc['number']}", size=18, bold=True, height=9)
    _text(pdf, f"Date of issue: {doc['issue_date']}")
    pdf.ln(3)
    _text(pdf, seller["name"], bold=True)
    for value in [seller.get("address"), seller.get("vat_id") and f"VAT id: {seller['vat_id']}", seller.get("email")]:
        if value:
            _text(pdf, value)


def _facts(pdf: FPDF, doc: dict) -> None:
    refund = doc["refund"]
    pdf.ln(3)
    _text(pdf, f"Amends: {doc['amends']['text']}", bold=True)
    _text(pdf, f"Reason: {doc['reason']['text']}")
    _text(pdf, doc["amendment"])
    facts = [("Return", refund.get("return_code")), ("Refunded on", refund.get("date")),
             ("Refund reference", refund.get("reference")),
             ("Paid back by", " ".join(v for v in (refund.get("provider"), refund.get("provider_refund_id")) if v))]  # fmt: skip
    for label, value in facts:
        if value:
            _text(pdf, f"{label}: {value}")
    pdf.ln(3)


def _table(pdf: FPDF, widths: tuple, head: tuple, rows: list[tuple]) -> None:
    pdf.set_font("Sans", "", 9)
    with pdf.table(col_widths=widths, text_align=("LEFT",) + ("RIGHT",) * (len(widths) - 1), line_height=5,
                   headings_style=FontFace(emphasis="BOLD"), width=sum(widths), align="LEFT") as table:  # fmt: skip
        for values in [head, *rows]:
            row = table.row()
            for value in values:
                row.cell(str(value))


def _lines(pdf: FPDF, doc: dict) -> None:
    currency = doc["currency"]
    head = ("Description", "Qty", "Unit excl. VAT", "VAT %", f"Net {currency}", f"VAT {currency}", f"Total {currency}")
    rows = [(line["description"] + (f" ({line['sku']})" if line.get("sku") else ""), line.get("quantity") or "",
             (line.get("unit_price") or {}).get("amount", ""), line["vat_rate"], line["net"]["amount"],
             line["vat"]["amount"], line["gross"]["amount"]) for line in doc["lines"]]  # fmt: skip
    _table(pdf, LINE_COLUMNS, head, rows)


def _totals(pdf: FPDF, doc: dict) -> None:
    currency, total = doc["currency"], doc["total"]
    pdf.ln(4)
    rows = [("", f"VAT {rate['vat_rate']} %", rate["net"]["amount"], rate["vat"]["amount"], rate["gross"]["amount"])
            for rate in doc["totals"]]  # fmt: skip
    rows.append(("", "Total", total["net"]["amount"], total["vat"]["amount"], total["gross"]["amount"]))
    _table(pdf, TOTAL_COLUMNS, ("Totals per VAT rate", "", f"Net {currency}", f"VAT {currency}", f"Total {currency}"), rows)
    pdf.ln(4)
    _text(pdf, f"Credited to the customer: {total['gross']['amount']} {currency}", size=12, bold=True, height=7)
    _text(pdf, "Amounts credited are positive; amounts the shop kept are negative.", size=8)
