"""The withdrawal function: a statement, its one confirmation button, the receipt; nothing stored before."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from integration.models import Withdrawal
from tests.portal.conftest import EMAIL, SLUG, line_ids

URL = f"/s/{SLUG}/withdraw"
STATEMENT = {"step": "statement", "name": "Anna Asiakas", "order": "#1001", "email": EMAIL, "scope": "all"}


def _count(app) -> int:
    with app.extensions["db"].session() as session:
        return session.scalar(select(func.count()).select_from(Withdrawal))


def _token(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html)[1]


def test_step_one_asks_only_for_name_order_and_e_mail(forms, portal_shop):
    html = forms.get(URL + "?lang=fi").get_data(as_text=True)
    assert "<h1>Peruuta sopimus tästä</h1>" in html
    assert set(re.findall(r'<(?:input|select|textarea)[^>]* name="([^"]+)"', html)) == {
        "csrf_token", "step", "name", "order", "email", "scope"}  # fmt: skip


def test_the_two_steps_store_one_statement_and_acknowledge_it(app, forms, order_id, monkeypatch):
    import integration.portal.withdraw as view

    calls = []
    real = view.submit_withdrawal
    monkeypatch.setattr(view, "submit_withdrawal", lambda *a, **k: calls.append(k) or real(*a, **k))
    step2 = forms.post(URL + "?lang=sv", STATEMENT, page=URL + "?lang=sv")
    html = step2.get_data(as_text=True)
    assert step2.status_code == 200 and _count(app) == 0  # nothing stored before the confirmation
    buttons = re.findall(r"<button[^>]*>(.*?)</button>", html, re.S)
    assert buttons == ["Bekräfta frånträde"]
    assert "Anna Asiakas" in html and EMAIL in html

    confirm = {"step": "confirm", "token": _token(html)}
    done = forms.post(URL, confirm)
    again = forms.post(URL, confirm)  # a double click, a reload
    assert done.status_code == again.status_code == 303
    assert _count(app) == 1 and len(calls) == 2 and calls[0]["language"] == "sv"
    receipt = forms.get(done.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "Your withdrawal has been received" in receipt and EMAIL in receipt and "Received on" in receipt
    assert re.search(r"Received on [^<]*\d{4}[^<]*\d\d:\d\d", receipt)
    with app.extensions["db"].session() as session:
        withdrawal = session.scalar(select(Withdrawal))
        assert (withdrawal.customer_name, withdrawal.email, withdrawal.lines) == ("Anna Asiakas", EMAIL, [])
        assert withdrawal.code in receipt


def test_some_items_are_chosen_on_step_one(app, forms, order_id):
    ids = line_ids(app, order_id)
    listing = forms.post(URL, {**STATEMENT, "scope": "some"}, page=URL)
    assert listing.status_code == 200 and f'name="qty-{ids["L2"]}"' in listing.get_data(as_text=True)
    none_chosen = forms.post(URL, {**STATEMENT, "scope": "some", "picking": "1"}, page=URL)
    assert none_chosen.status_code == 400 and 'id="items-error"' in none_chosen.get_data(as_text=True)
    step2 = forms.post(URL, {**STATEMENT, "scope": "some", "picking": "1", f"qty-{ids['L2']}": "1"}, page=URL)
    assert step2.status_code == 200 and "1 × Sukat" in step2.get_data(as_text=True)
    assert forms.post(URL, {"step": "confirm", "token": _token(step2.get_data(as_text=True))}).status_code == 303
    with app.extensions["db"].session() as session:
        assert session.scalar(select(Withdrawal)).lines == [{"platform_line_id": "L2", "quantity": 1}]


def test_missing_facts_and_tampered_statements_are_refused(app, forms, order_id):
    missing = forms.post(URL, {"step": "statement", "name": "", "order": "", "email": "x"}, page=URL)
    html = missing.get_data(as_text=True)
    assert missing.status_code == 400 and all(f'id="{f}-error"' in html for f in ("name", "order", "email"))
    step2 = forms.post(URL, STATEMENT, page=URL).get_data(as_text=True)
    tampered = forms.post(URL, {"step": "confirm", "token": _token(step2)[:-3] + "abc"}, page=URL)
    assert tampered.status_code == 404 and _count(app) == 0


def test_a_statement_for_an_order_not_found_is_still_received(app, forms, order_id):
    step2 = forms.post(URL, {**STATEMENT, "order": "77777"}, page=URL).get_data(as_text=True)
    assert forms.post(URL, {"step": "confirm", "token": _token(step2)}).status_code == 303
    assert _count(app) == 1


def test_the_withdrawal_function_is_in_every_page_footer(forms, order_id):
    for path in (f"/s/{SLUG}/", f"/s/{SLUG}/policy", URL):
        assert f'class="withdraw-link" href="{URL}"' in forms.get(path).get_data(as_text=True)


def test_the_policy_page_says_the_rules_in_words(forms, portal_shop):
    html = forms.get(f"/s/{SLUG}/policy?lang=en").get_data(as_text=True)
    assert "within 30 days of receiving them" in html
    assert "A restocking fee of 10 % of the price" in html
    assert "Take the parcel to a Posti service point. Your drop-off code: PT-12345." in html
    assert "€5.90" in html and "€4.90" in html
    assert "right to withdraw from an online purchase within 14 days" in html
    assert f'<a class="button" href="{URL}">Withdraw from contract here</a>' in html
    assert "FI12345678" in html
