"""The return's own pages, by its signed link: done (screen 4), status, the slip PDF, and the feedback form."""
from __future__ import annotations

from flask import Response, redirect, request, url_for
from flask_babel import gettext as _

from integration.errors import PalautusError
from integration.models import Return, Shop
from integration.policy import ReturnPolicy
from integration.portal import bp, links
from integration.portal.common import ctx, page, shop_name, status_link, use_shop
from integration.portal.forms import read_feedback
from integration.portal.present import instructions, timeline
from integration.portal.slip import Slip, build_slip, qr_svg
from integration.portal.words import REFUND_WORDS, method_label, reason_label
from integration.services.feedback import can_give_feedback, give_feedback


def _return(return_id: int, shop_id: int) -> Return:
    """The return a link names, with its shop as the page's shop and its language as the page's default."""
    session = ctx().session
    ret = session.get(Return, return_id)
    if ret is None or ret.shop_id != shop_id:
        raise links.BadLink()
    use_shop(session.get(Shop, shop_id), ret.language)
    return ret


def _context(ret: Return, token: str) -> dict:
    policy = ReturnPolicy.from_dict(_shop(ret).policy)
    return {"ret": ret, "token": token, "qr": qr_svg(ret.code, _("QR code of return code %(code)s", code=ret.code)),
            "instructions": instructions(policy, ret.method), "method": method_label(ret.method),
            "reason_label": reason_label, "refund_words": REFUND_WORDS, "status_url": status_link(ret)}  # fmt: skip


def _shop(ret: Return) -> Shop:
    return ctx().session.get(Shop, ret.shop_id)


@bp.get("/r/<token>/done")
def done(token):
    """Screen 4: the return code, its QR code, the slip, the status link, and what happens next."""
    ret = _return(*links.read_status(token))
    return page("done.html", **_context(ret, token))


@bp.get("/r/<token>")
def status(token):
    """Where the return stands, in words; after the refund, the feedback form."""
    ret = _return(*links.read_status(token))
    offer = can_give_feedback(ret)
    return page("status.html", steps=timeline(ret), feedback=links.feedback_token(ret) if offer else None,
                errors={}, form={}, **_context(ret, token))  # fmt: skip


@bp.get("/r/<token>/slip.pdf")
def slip(token):
    """The printable slip."""
    ret = _return(*links.read_status(token))
    shop = _shop(ret)
    text = instructions(ReturnPolicy.from_dict(shop.policy), ret.method)
    pdf = build_slip(Slip(
        shop_name=shop_name(shop), code=ret.code, title=_("Return slip"), code_label=_("Return code"),
        items_label=_("Items"), items=tuple((item.order_line.title, item.quantity) for item in ret.items),
        instructions_label=_("How to return"), instructions=tuple(p for p in (method_label(ret.method), text) if p),
        address_label=_("Return address"), address=tuple(_address(shop)),
        footer=_("Put this slip in the parcel. Order %(order)s.", order=ret.order.name),
    ))  # fmt: skip
    headers = {"Content-Disposition": f'inline; filename="return-{ret.code}.pdf"', "Cache-Control": "no-store"}
    return Response(pdf, mimetype="application/pdf", headers=headers)


def _address(shop: Shop) -> list[str]:
    profile = shop.profile or {}
    address = profile.get("return_address") or profile.get("address") or ""
    lines = address.splitlines() if isinstance(address, str) else [str(part) for part in address if part]
    return [profile.get("legal_name") or shop_name(shop), *lines] if lines else []


@bp.get("/f/<token>")
def feedback(token):
    """The feedback form on its own (the refund e-mail links here): the status page, at its form."""
    ret = _return(*links.read_feedback(token))
    return redirect(url_for("portal.status", token=links.status_token(ret), _anchor="feedback"), 303)


@bp.post("/f/<token>")
def give(token):
    """Store the rating once; a second one is thanked and ignored."""
    ret = _return(*links.read_feedback(token))
    status_token = links.status_token(ret)
    form, errors = read_feedback(request.form)
    if not errors and can_give_feedback(ret):
        try:
            give_feedback(ctx(), ret, form["rating"], form["comment"])
        except PalautusError:
            errors["rating"] = _("Feedback can be given once the refund has been paid.")
    if errors:
        return page("status.html", 400, steps=timeline(ret), feedback=token, errors=errors, form=request.form,
                    **_context(ret, status_token))  # fmt: skip
    return redirect(url_for("portal.status", token=status_token, thanks=1, _anchor="feedback"), 303)
