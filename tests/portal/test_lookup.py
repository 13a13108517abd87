"""Screen 1: the order is found by its number and e-mail, and nothing tells which half of a wrong pair is wrong."""
from __future__ import annotations

from datetime import timedelta

from integration.models import Shop, utcnow
from tests.portal.conftest import EMAIL, SLUG, add_order

GENERIC = "We could not find an order with this order number and e-mail address."


def test_the_front_page_renders_with_its_form_layout_and_the_withdrawal_function(forms, portal_shop):
    response = forms.get(f"/s/{SLUG}/?lang=en")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="en">' in html and 'href="#main"' in html and '<main id="main"' in html
    assert '<label for="order">' in html and 'id="order" name="order"' in html
    assert 'aria-describedby="order-hint"' in html
    assert 'name="csrf_token"' in html
    assert f'href="/s/{SLUG}/withdraw">Withdraw from contract here</a>' in html
    assert f'href="/s/{SLUG}/policy"' in html
    assert "Kauppa Oy" in html
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_hash_or_none_and_any_letter_case_of_the_e_mail_find_the_order(forms, order_id):
    for number, email in (("#1001", EMAIL), ("1001", EMAIL.upper()), (" # 1001 ", f"  {EMAIL.lower()} ")):
        response = forms.post(f"/s/{SLUG}/", {"order": number, "email": email})
        assert response.status_code == 303, (number, email)
        assert f"/s/{SLUG}/order/" in response.headers["Location"]


def test_a_wrong_e_mail_and_a_wrong_number_get_the_same_message(forms, order_id):
    wrong_mail = forms.post(f"/s/{SLUG}/", {"order": "1001", "email": "someone@example.com"})
    wrong_number = forms.post(f"/s/{SLUG}/", {"order": "9999", "email": EMAIL})
    assert wrong_mail.status_code == wrong_number.status_code == 400
    for response in (wrong_mail, wrong_number):
        assert GENERIC in response.get_data(as_text=True)


def test_missing_fields_are_named_next_to_their_inputs(forms, portal_shop):
    response = forms.post(f"/s/{SLUG}/?lang=en", {"order": "", "email": "not-an-address"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<title>Error: ' in html
    assert 'id="order-error"' in html and 'aria-describedby="order-hint order-error" aria-invalid="true"' in html
    assert 'id="email-error"' in html and 'href="#email"' in html


def test_a_post_without_the_csrf_token_is_refused(client, order_id):
    response = client.post(f"/s/{SLUG}/", data={"order": "1001", "email": EMAIL})
    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)


def test_an_unknown_address_is_the_portal_s_404_page(client, portal_shop):
    response = client.get("/s/no-such-shop/")
    assert response.status_code == 404
    assert "<html" in response.get_data(as_text=True)


def test_the_pages_of_an_uninstalled_shop_are_not_served(app, forms, order_id, portal_shop):
    with app.extensions["db"].session() as session:
        session.get(Shop, portal_shop).uninstalled_at = utcnow()
        session.commit()
    assert forms.get(f"/s/{SLUG}/").status_code == 404
    assert forms.client.post(f"/s/{SLUG}/", data={"order": "1001", "email": EMAIL}).status_code == 404


def test_the_lookup_is_rate_limited_per_address(forms, order_id):
    token = forms.token(f"/s/{SLUG}/")
    answers = [forms.client.post(f"/s/{SLUG}/", data={"csrf_token": token, "order": "1", "email": "a@b.fi"}).status_code
               for _ in range(11)]  # fmt: skip
    assert answers[:10] == [400] * 10 and answers[10] == 429


def test_an_order_of_another_shop_is_not_found(app, forms, register, portal_shop):
    other, _key = register(domain="toinen.myshopify.com")
    add_order(app, other.id, delivered_at=utcnow() - timedelta(days=1))
    response = forms.post(f"/s/{SLUG}/", {"order": "1001", "email": EMAIL})
    assert response.status_code == 400


def test_a_link_from_the_shop_fills_in_the_order_number_and_e_mail_but_looks_nothing_up(client, portal_shop, order_id):
    from sqlalchemy import select

    from integration.models import Shop

    with client.application.extensions["db"].session() as session:
        slug = session.scalar(select(Shop.portal_slug))
    for path in (f"/s/{slug}/", f"/s/{slug}/withdraw"):
        page = client.get(f"{path}?order=%231001&email=anna%40example.com").get_data(as_text=True)
        assert 'value="#1001"' in page and 'value="anna@example.com"' in page
        assert "/order/" not in page  # the form only: the customer still sends it
