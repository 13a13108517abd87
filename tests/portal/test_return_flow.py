"""Screens 2 to 4: items, method with the refund preview, done; one return opened, as the preview said."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from integration.models import Order, Return, Shop
from integration.policy import ReturnPolicy
from integration.services import ledger
from integration.services.context import Ctx
from integration.tasks import RecordingTasks
from tests.portal.conftest import EMAIL, SLUG, line_ids, open_order


def _choose(forms, items_url, fields):
    return forms.post(items_url, {"step": "items", **fields})


def _selection(html: str) -> str:
    return re.search(r'name="selection" value="([^"]+)"', html)[1]


def test_the_item_screen_shows_each_line_and_why_one_cannot_go_back(app, forms, order_id):
    items_url = open_order(forms)
    html = forms.get(items_url + "?lang=en").get_data(as_text=True)
    ids = line_ids(app, order_id)
    assert "Villapaita ääkkösillä" in html and "Bought: 2" in html and "Can be returned: 2" in html
    assert f'<label for="qty-{ids["L1"]}">' in html and f'<label for="reason-{ids["L1"]}">' in html
    assert f'name="qty-{ids["L3"]}"' not in html  # SEALED-1 is excluded by the policy
    assert "Cannot be returned." in html and "The shop does not take this product back." in html


def test_wrong_quantities_and_reasons_are_told_at_their_fields(app, forms, order_id):
    items_url, ids = open_order(forms), line_ids(app, order_id)
    too_many = _choose(forms, items_url, {f"qty-{ids['L1']}": "3", f"reason-{ids['L1']}": "size_too_small"})
    assert too_many.status_code == 400 and f'id="qty-{ids["L1"]}-error"' in too_many.get_data(as_text=True)
    bad_reason = _choose(forms, items_url, {f"qty-{ids['L1']}": "1", f"reason-{ids['L1']}": "because"})
    assert bad_reason.status_code == 400 and f'id="reason-{ids["L1"]}-error"' in bad_reason.get_data(as_text=True)
    nothing = _choose(forms, items_url, {f"qty-{ids['L1']}": "0"})
    assert nothing.status_code == 400 and 'id="items-error"' in nothing.get_data(as_text=True)
    smuggled = _choose(forms, items_url, {f"qty-{ids['L3']}": "1", f"reason-{ids['L3']}": "other"})
    assert smuggled.status_code == 400  # the excluded line has no field: choosing it chooses nothing


def test_the_full_flow_opens_one_portal_return_whose_refund_is_the_preview(app, forms, order_id, portal_shop):
    items_url, ids = open_order(forms, email=EMAIL.upper()), line_ids(app, order_id)
    method = _choose(forms, items_url + "?lang=sv", {
        f"qty-{ids['L1']}": "1", f"reason-{ids['L1']}": "size_too_small", f"note-{ids['L1']}": "Liian pieni",
        f"qty-{ids['L2']}": "1", f"reason-{ids['L2']}": "defective",
    })  # fmt: skip
    html = method.get_data(as_text=True)
    assert method.status_code == 200 and '<html lang="sv">' in html
    assert 'value="drop_off"' in html and 'value="postal"' in html
    assert "Lämna paketet hos Posti." in html and "PT-12345" in html
    shown = re.search(r'id="refund-drop_off".*?<tr class="total"><th scope="row">[^<]+</th><td>([^<]+)</td>', html, re.S)[1]

    done = forms.post(items_url, {"step": "confirm", "selection": _selection(html), "method": "drop_off"})
    assert done.status_code == 303 and "/r/" in done.headers["Location"]
    with app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(Return)) == 1
        ret = session.scalar(select(Return))
        assert (ret.source, ret.method, ret.language, ret.customer_email) == ("portal", "drop_off", "sv", EMAIL)
        assert [(i.quantity, i.reason, i.reason_note) for i in ret.items] == [(1, "size_too_small", "Liian pieni"),
                                                                             (1, "defective", None)]  # fmt: skip
        ctx = Ctx(session, RecordingTasks(), app.extensions["providers"])
        plan, _payment = ledger.plan_for(session, ret, ReturnPolicy.from_dict(session.get(Shop, portal_shop).policy),
                                         ctx.routes_for(session.get(Shop, portal_shop)))  # fmt: skip
        code = ret.code
    # Sweater 49.90 less 10 % restocking; the faulty socks pay no fee and waive the return shipping for all.
    assert plan.amount == 4990 + 1990 - 499 and plan.fees == {"restocking": 499}
    assert shown.replace("\xa0", " ") == "64,81 €"
    page = forms.get(done.headers["Location"]).get_data(as_text=True)
    assert code in page and "<svg" in page and "slip.pdf" in page and "https://palautus.example.fi/r/" in page


def test_a_method_the_shop_does_not_offer_and_a_tampered_selection_are_refused(app, forms, order_id):
    items_url, ids = open_order(forms), line_ids(app, order_id)
    html = _choose(forms, items_url, {f"qty-{ids['L1']}": "1", f"reason-{ids['L1']}": "color"}).get_data(as_text=True)
    pickup = forms.post(items_url, {"step": "confirm", "selection": _selection(html), "method": "pickup"})
    assert pickup.status_code == 400 and 'id="method-error"' in pickup.get_data(as_text=True)
    tampered = forms.post(items_url, {"step": "confirm", "selection": _selection(html)[:-2] + "xx", "method": "postal"})
    assert tampered.status_code == 404
    with app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(Return)) == 0


def test_a_second_confirm_of_the_same_choice_explains_instead_of_opening_another(app, forms, order_id):
    items_url, ids = open_order(forms), line_ids(app, order_id)
    html = _choose(forms, items_url, {f"qty-{ids['L1']}": "2", f"reason-{ids['L1']}": "color"}).get_data(as_text=True)
    data = {"step": "confirm", "selection": _selection(html), "method": "postal"}
    assert forms.post(items_url, data).status_code == 303
    again = forms.post(items_url, data)
    assert again.status_code == 400
    with app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(Return)) == 1


def test_an_order_past_its_window_says_why_nothing_can_go_back(app, forms, order_id):
    from datetime import timedelta

    from integration.models import utcnow

    with app.extensions["db"].session() as session:
        session.get(Order, order_id).delivered_at = utcnow() - timedelta(days=40)
        session.commit()
    html = forms.get(open_order(forms) + "?lang=en").get_data(as_text=True)
    assert "The 30-day return period ended on" in html and "Continue" not in html


def test_bad_and_expired_order_links_get_their_pages(app, forms, order_id, monkeypatch):
    items_url = open_order(forms)
    assert forms.get(items_url[:-3] + "abc").status_code == 404
    import time

    later = time.time() + 3 * 3600
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    assert forms.get(items_url).status_code == 410


def test_the_language_switch_changes_the_page_language(forms, portal_shop):
    for code, label in (("fi", "Peruuta sopimus tästä"), ("sv", "Ångra avtalet här"), ("en", "Withdraw from contract here")):
        html = forms.get(f"/s/{SLUG}/?lang={code}").get_data(as_text=True)
        assert f'<html lang="{code}">' in html and f">{label}</a>" in html
        assert f'href="/s/{SLUG}/?lang=fi" lang="fi" hreflang="fi"' in html
