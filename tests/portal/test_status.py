"""The return's own pages by its signed link: status, slip, QR code, feedback; links that cannot be forged."""
from __future__ import annotations

from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from integration.models import Order, Refund, Return, Shop, utcnow
from integration.returns import Actor
from integration.services.context import Ctx
from integration.services.feedback import give_feedback
from integration.services.returns import ItemRequest, open_return
from integration.tasks import RecordingTasks
from tests.portal.conftest import SLUG, add_order


def _open(app, shop_id: int, order_id: int, language: str = "fi") -> tuple[int, str]:
    with app.extensions["db"].session() as session:
        ctx = Ctx(session, RecordingTasks(), app.extensions["providers"])
        ret = open_return(ctx, session.get(Shop, shop_id), session.get(Order, order_id),
                          [ItemRequest("L1", 1, "color")], method="drop_off", source="portal", actor=Actor.CUSTOMER,
                          language=language)  # fmt: skip
        with app.test_request_context():
            link = app.extensions["status_link"](ret)
        return ret.id, link


def _refunded(app, return_id: int) -> None:
    with app.extensions["db"].session() as session:
        ret = session.get(Return, return_id)
        ret.refunds.append(Refund(sequence=1, idempotency_key=f"k-{return_id}", amount=4491, currency="EUR",
                                  status="succeeded", completed_at=utcnow()))  # fmt: skip
        session.commit()


def _path(link: str) -> str:
    return link.removeprefix("https://palautus.example.fi")


def test_the_status_link_is_absolute_at_public_url_and_shows_the_return(app, forms, order_id, portal_shop):
    return_id, link = _open(app, portal_shop, order_id, language="en")
    assert link.startswith("https://palautus.example.fi/r/")
    html = forms.get(_path(link)).get_data(as_text=True)
    with app.extensions["db"].session() as session:
        code = session.get(Return, return_id).code
    assert '<html lang="en">' in html  # the return's language, unless the visitor chose another
    assert code in html and "Villapaita ääkkösillä" in html and "Take the parcel to a Posti service point." in html
    assert 'role="img"' in html and "<svg" in html and "slip.pdf" in html


def test_a_status_link_cannot_be_forged_for_another_return(app, forms, order_id, portal_shop):
    first, link = _open(app, portal_shop, order_id)
    second, _other = _open(app, portal_shop, add_order(app, portal_shop, name="#1002"))
    forged = URLSafeSerializer("not-our-secret", salt="palautus.portal.status").dumps({"r": second, "s": portal_shop})
    assert forms.get(f"/r/{forged}").status_code == 404
    token = _path(link).removeprefix("/r/")
    payload, signature = token.split(".")
    assert forms.get(f"/r/{payload}.{signature[:-1]}A").status_code == 404
    with app.test_request_context():
        from integration.portal import links

        feedback = links.feedback_token(app.extensions["db"].sessionmaker().get(Return, second))
    assert forms.get(f"/r/{feedback}").status_code == 404  # a feedback token is no status link
    assert forms.get(f"/r/{token}").status_code == 200


def test_the_slip_is_a_pdf_naming_the_code(app, forms, order_id, portal_shop):
    return_id, link = _open(app, portal_shop, order_id)
    response = forms.get(_path(link) + "/slip.pdf")
    with app.extensions["db"].session() as session:
        code = session.get(Return, return_id).code
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF") and code.encode() in response.data
    assert b"/FontFile2" in response.data  # the embedded Unicode font, for ä, ö and å


def test_feedback_is_offered_only_after_the_refund_and_taken_once(app, forms, order_id, portal_shop):
    return_id, link = _open(app, portal_shop, order_id, language="en")
    assert 'id="feedback"' not in forms.get(_path(link)).get_data(as_text=True)
    _refunded(app, return_id)
    html = forms.get(_path(link)).get_data(as_text=True)
    assert 'id="feedback"' in html and 'name="rating"' in html
    action = html.split('id="feedback" class="feedback" method="post" action="')[1].split('"')[0]
    bad = forms.post(action, {"rating": "6"}, page=_path(link))
    assert bad.status_code == 400 and 'id="rating-error"' in bad.get_data(as_text=True)
    assert forms.post(action, {"rating": "4", "comment": "Nopeaa!"}, page=_path(link)).status_code == 303
    assert forms.post(action, {"rating": "1", "comment": "again"}, page=f"/s/{SLUG}/").status_code == 303
    with app.extensions["db"].session() as session:
        ret = session.get(Return, return_id)
        assert (ret.feedback_rating, ret.feedback_comment) == (4, "Nopeaa!") and ret.feedback_at is not None
    assert 'name="rating"' not in forms.get(_path(link)).get_data(as_text=True)


def test_the_feedback_service_compares_and_sets(app, order_id, portal_shop):
    import pytest

    from integration.errors import Conflict, InvalidInput

    return_id, _link = _open(app, portal_shop, order_id)
    with app.extensions["db"].session() as session:
        ctx = Ctx(session, RecordingTasks(), app.extensions["providers"])
        ret = session.get(Return, return_id)
        with pytest.raises(Conflict):
            give_feedback(ctx, ret, 5)
    _refunded(app, return_id)
    with app.extensions["db"].session() as session:
        ctx = Ctx(session, RecordingTasks(), app.extensions["providers"])
        ret = session.get(Return, return_id)
        with pytest.raises(InvalidInput):
            give_feedback(ctx, ret, 0)
        version = ret.version
        assert give_feedback(ctx, ret, 5, "hyvä") is True
        assert give_feedback(ctx, ret, 2) is False
        assert (ret.feedback_rating, ret.version) == (5, version)
        assert session.scalar(select(Return.feedback_comment)) == "hyvä"
