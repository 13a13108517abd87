"""The policy editor (every ReturnPolicy setting, saved as the JSON API saves it) and the shop's profile."""
from __future__ import annotations

from dataclasses import fields

from integration.models import Shop
from integration.policy import ReturnPolicy
from integration.return_methods import MethodOffer


def stored(db, shop_id: int, column: str) -> dict:
    db.expire_all()
    return getattr(db.get(Shop, shop_id), column)


def form_of(stored: dict | None = None, **changes) -> dict:
    """The editor's form as a browser sends it when shown `stored` (the defaults when None), with `changes`."""
    from integration.dashboard.policy_form import policy_fields

    sent: dict = {}
    for field in policy_fields(stored or {}):
        if field.widget == "checkbox":
            sent.update({field.name: "1"} if field.value else {})
        elif field.widget == "methods":
            sent["methods"] = [m for m, shown in field.value.items() if shown["offered"]]
            for method, shown in field.value.items():
                sent.update({f"method_{method}_{key}": shown[key] for key in ("carrier", "drop_off_code", "fee")})
                sent.update({f"method_{method}_instructions_{lang}": text for lang, text in shown["instructions"].items()})
        else:
            sent[field.name] = field.value
    sent.update(changes)
    return {name: value for name, value in sent.items() if value is not False}


def test_the_editor_shows_a_labelled_field_for_every_policy_setting(signed_in):
    page = signed_in.get("/dashboard/policy").get_data(as_text=True)
    for name in ReturnPolicy().to_dict():  # every stored setting (a method's own settings live inside `methods`)
        assert f'name="{name}"' in page, name
    for field in fields(MethodOffer):
        if field.name != "method":
            assert f'name="method_drop_off_{field.name}' in page, field.name
    assert 'for="f-window_days"' in page and 'id="f-window_days"' in page


def test_a_valid_policy_is_saved_through_the_api_s_use_case(signed_in, shop, db):
    answer = signed_in.post("/dashboard/policy", form_of(
        window_days="45", auto_approve="1", restocking_fee_percent="7.5", return_shipping_fees="EUR 5.90\nSEK 59",
        non_returnable_skus="GIFT-1\n SALE-2\n", methods=["postal", "drop_off"], refund_on="approved",
        abuse_limit_returns="3", method_drop_off_drop_off_code="12345", method_drop_off_instructions_fi="Vie paketti",
        method_drop_off_fee="EUR 3,90"))  # fmt: skip
    assert answer.status_code == 303, answer.get_data(as_text=True)
    expected = {**ReturnPolicy().to_dict(), "window_days": 45, "auto_approve": True, "restocking_fee_percent": "7.5",
                "return_shipping_fees": {"EUR": 590, "SEK": 5900}, "non_returnable_skus": ["GIFT-1", "SALE-2"],
                "refund_on": "approved", "abuse_limit_returns": 3,
                "methods": ["postal", {"method": "drop_off", "drop_off_code": "12345", "instructions": {"fi": "Vie paketti"},
                                       "fee": {"EUR": 390}}]}  # fmt: skip
    assert stored(db, shop[0].id, "policy") == ReturnPolicy.from_dict(expected).to_dict()
    page = signed_in.get("/dashboard/policy").get_data(as_text=True)
    assert "The return policy is saved." in page and "EUR 5.90" in page and "Vie paketti" in page
    again = signed_in.post("/dashboard/policy", form_of(stored(db, shop[0].id, "policy")))  # shown, sent back: the same
    assert again.status_code == 303 and stored(db, shop[0].id, "policy") == ReturnPolicy.from_dict(expected).to_dict()


def test_an_invalid_setting_shows_the_policy_s_own_message_and_saves_nothing(signed_in, shop, db):
    before = stored(db, shop[0].id, "policy")
    for change, message in (({"window_days": "-1"}, "window_days must be a whole number of at least 0"),
                            ({"window_days": "ten"}, "Window days must be a whole number"),
                            ({"restocking_fee_percent": "150"}, "restocking_fee_percent must be between 0 and 100"),
                            ({"return_shipping_fees": "EURO 5"}, "like EUR 5.90"),
                            ({"return_shipping_fees": "EUR 5.999"}, "more decimals than EUR allows"),
                            ({"withdrawal_exceptions": "{nope"}, "must be JSON"),
                            ({"method_drop_off_drop_off_code": "no spaces!"}, "drop_off_code must be 1-32")):  # fmt: skip
        answer = signed_in.post("/dashboard/policy", form_of(**change))
        body = answer.get_data(as_text=True)
        assert answer.status_code == 400 and message in body, (change, body[body.find('class="error"'):][:200])
        assert next(iter(change.values())) in body  # the form comes back as it was sent
    assert stored(db, shop[0].id, "policy") == before


def test_the_profile_is_saved_and_a_bad_e_mail_or_language_is_refused(signed_in, shop, db):
    profile = {"legal_name": "Kauppa Oy", "email": "asiakaspalvelu@kauppa.fi", "address": "Katu 1\n00100 Helsinki",
               "vat_id": "FI12345678", "default_language": "sv"}  # fmt: skip
    assert signed_in.post("/dashboard/profile", profile).status_code == 303
    assert stored(db, shop[0].id, "profile") == profile
    for bad, message in (({"email": "not-an-address"}, "not an e-mail address"),
                         ({"default_language": "de"}, "default_language must be one of fi, sv, en")):  # fmt: skip
        answer = signed_in.post("/dashboard/profile", {**profile, **bad})
        assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert stored(db, shop[0].id, "profile") == profile


def test_the_profile_page_gives_the_customers_pages_to_link_from_the_shop(signed_in, shop, db):
    from integration.models import Shop

    slug = db.get(Shop, shop[0].id).portal_slug
    page = signed_in.get("/dashboard/profile").get_data(as_text=True)
    for path in (f"/s/{slug}/", f"/s/{slug}/policy", f"/s/{slug}/withdraw"):
        assert f'href="https://palautus.example.fi{path}"' in page or f'href="http://localhost{path}"' in page
