"""GET /shop and PUT /shop/policy: the shop's return policy, changed through the API."""
from __future__ import annotations

import pytest

from integration.models import Shop

DEFAULT_POLICY = {
    "window_days": 30, "refund_on": "received", "auto_approve": False, "restocking_fee_percent": "0.00",
    "return_shipping_fees": [], "non_returnable_skus": [],
    "methods": ["postal", "drop_off", "in_store", "pickup", "customer_service"], "refund_shipping": "whole_order",
    "auto_approve_reasons": [], "auto_approve_max_order_values": [], "abuse_limit_returns": None,
    "abuse_limit_days": 30, "non_returnable_tags": [], "non_returnable_product_types": [],
    "non_returnable_gift_cards": True, "final_sale_tags": ["final-sale"], "max_units_per_return": None,
    "withdrawal_return_cost_disclosed": False, "withdrawal_exceptions": {},
}  # fmt: skip


def test_the_shop_shows_its_default_policy(api):
    shop = api.get("/shop").get_json()
    assert (shop["domain"], shop["platform"], shop["currency"]) == ("palautus-test.myshopify.com", "shopify", "EUR")
    assert shop["policy"] == DEFAULT_POLICY


def test_a_valid_policy_change_persists_and_leaves_the_other_settings_alone(api, shop, db):
    change = {"window_days": 60, "refund_on": "manual", "restocking_fee_percent": "7.5",
              "non_returnable_skus": ["GIFT-CARD"], "methods": ["postal", "in_store"]}  # fmt: skip
    response = api.put("/shop/policy", json=change)
    assert response.status_code == 200
    expected = {**DEFAULT_POLICY, **change, "restocking_fee_percent": "7.50"}
    assert response.get_json()["policy"] == expected
    assert api.get("/shop").get_json()["policy"] == expected
    assert db.get(Shop, shop[0].id).policy["window_days"] == 60


BAD_POLICIES = {
    "negative window": ({"window_days": -1}, "window_days: Must be greater than or equal to 0"),
    "window as text": ({"window_days": "month"}, "window_days: Not a valid integer."),
    "window as a numeric string": ({"window_days": "30"}, "window_days: Not a valid integer."),
    "window as a fraction": ({"window_days": 2.5e-42}, "window_days: Not a valid integer."),
    "refund_on": ({"refund_on": "whenever"}, "refund_on: Must be one of: approved, received, manual."),
    "fee over 100": ({"restocking_fee_percent": "150"}, "restocking_fee_percent: Must be greater than or equal to 0 and less than or equal to 100."),
    "fee just over 100": ({"restocking_fee_percent": "100.01"}, "restocking_fee_percent: Must be greater than or equal to 0 and less than or equal to 100."),
    "fee 999.99": ({"restocking_fee_percent": "999.99"}, "restocking_fee_percent: Must be greater than or equal to 0 and less than or equal to 100."),
    "fee as a number": ({"restocking_fee_percent": 7.5}, 'restocking_fee_percent: must be a string like "7.50"'),
    "fee with 3 decimals": ({"restocking_fee_percent": "7.505"}, 'restocking_fee_percent: must be a string like "7.50"'),
    "fee with a newline": ({"restocking_fee_percent": "7.5\n"}, 'restocking_fee_percent: must be a string like "7.50"'),
    "fee NaN": ({"restocking_fee_percent": "NaN"}, 'restocking_fee_percent: must be a string like "7.50"'),
    "negative shipping": ({"return_shipping_fees": [{"currency": "EUR", "amount": -1}]}, "return_shipping_fees.0.amount: Must be greater than or equal to 0"),
    "huge shipping": ({"return_shipping_fees": [{"currency": "EUR", "amount": 10**30}]}, "return_shipping_fees.0.amount: Must be greater than or equal to 0 and less than or equal to 100000000."),
    "shipping without a currency": ({"return_shipping_fees": [{"amount": 500}]}, "return_shipping_fees.0.currency: Missing data for required field."),
    "shipping in a lower-case currency": ({"return_shipping_fees": [{"currency": "eur", "amount": 500}]}, "return_shipping_fees.0.currency: String does not match expected pattern."),
    "one currency twice": ({"return_shipping_fees": [{"currency": "EUR", "amount": 500}, {"currency": "EUR", "amount": 400}]}, "return_shipping_fees: lists a currency more than once"),
    "one fee for every currency": ({"return_shipping_fee": 500}, "return_shipping_fee: is not a field of this request"),
    "refund_shipping": ({"refund_shipping": "sometimes"}, "refund_shipping: Must be one of: whole_order, never."),
    "auto_approve": ({"auto_approve": "perhaps"}, "auto_approve: Not a valid boolean."),
    "auto_approve as 0": ({"auto_approve": 0}, "auto_approve: Not a valid boolean."),
    "sku with NUL": ({"non_returnable_skus": ["GIFT\x00"]}, "non_returnable_skus.0: must not contain NUL characters"),
    "methods": ({"methods": ["teleport"]}, "methods.0: Must be one of: postal"),
    "unknown key": ({"colour": "blue"}, "colour: is not a field of this request"),
    "method object without a method": ({"methods": [{"carrier": "Posti"}]}, "methods.0.method: Missing data for required field."),
    "drop-off code on a postal method": ({"methods": [{"method": "postal", "drop_off_code": "1"}]}, "methods.0.drop_off_code: is not a field"),
    "drop-off code with spaces": ({"methods": [{"method": "drop_off", "drop_off_code": "12 34"}]}, "methods.0.drop_off_code: String does not match"),
    "instructions in german": ({"methods": [{"method": "postal", "instructions": {"de": "Hallo"}}]}, "methods.0.instructions.de: is not a field"),
    "method as a number": ({"methods": [7]}, "methods.0: must be a method name or an object with a method"),
    "unknown reason": ({"auto_approve_reasons": ["bored"]}, "auto_approve_reasons.0: Must be one of"),
    "zero units per return": ({"max_units_per_return": 0}, "max_units_per_return: Must be greater than or equal to 1"),
    "abuse days as null": ({"abuse_limit_days": None}, "abuse_limit_days: Field may not be null."),
    "unknown exception": ({"withdrawal_exceptions": {"sale": ["x"]}}, "withdrawal_exceptions.sale: is not a field"),
    "gift cards as 1": ({"non_returnable_gift_cards": 1}, "non_returnable_gift_cards: Not a valid boolean."),
}  # fmt: skip


@pytest.mark.parametrize(("change", "problem"), BAD_POLICIES.values(), ids=BAD_POLICIES.keys())
def test_an_invalid_policy_is_400_saying_what_is_wrong_and_changes_nothing(api, change, problem):
    response = api.put("/shop/policy", json=change)
    assert response.status_code == 400
    assert response.get_json()["message"].startswith(f"the request is not valid: {problem}")
    assert api.get("/shop").get_json()["policy"] == DEFAULT_POLICY


def test_a_policy_body_that_is_not_an_object_is_400(api):
    response = api.put("/shop/policy", data="[]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["message"] == "the request is not valid: body: must be a JSON object"


NO_JSON_BODY = {
    "no body": {},
    "empty body": {"data": b""},
    "empty JSON body": {"data": b"", "content_type": "application/json"},
    "blank JSON body": {"data": b"  ", "content_type": "application/json"},
    "JSON without its content type": {"data": b'{"window_days": 60}'},
    "a form": {"data": {"window_days": "60"}},
}  # fmt: skip


@pytest.mark.parametrize("kwargs", NO_JSON_BODY.values(), ids=NO_JSON_BODY.keys())
def test_a_policy_change_without_a_json_body_is_400_saying_one_is_required_and_changes_nothing(api, kwargs):
    response = api.put("/shop/policy", **kwargs)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "bad_request",
        "message": "the request is not valid: body: a JSON object body is required (Content-Type: application/json)",
        "details": {"body": ["a JSON object body is required (Content-Type: application/json)"]},
    }
    assert api.get("/shop").get_json()["policy"] == DEFAULT_POLICY


def test_an_empty_json_object_is_a_policy_change_that_changes_nothing(api):
    response = api.put("/shop/policy", json={})
    assert response.status_code == 200
    assert response.get_json()["policy"] == DEFAULT_POLICY


def test_the_document_says_the_policy_body_is_required(document):
    assert document["paths"]["/api/v1/shop/policy"]["put"]["requestBody"]["required"] is True


def test_return_shipping_fees_are_set_per_currency_and_shown_the_same_way(api, shop, db):
    fees = [{"currency": "SEK", "amount": 4900}, {"currency": "EUR", "amount": 495}]
    response = api.put("/shop/policy", json={"return_shipping_fees": fees, "refund_shipping": "never"})
    assert response.status_code == 200
    assert response.get_json()["policy"]["return_shipping_fees"] == sorted(fees, key=lambda fee: fee["currency"])
    assert db.get(Shop, shop[0].id).policy["return_shipping_fees"] == {"EUR": 495, "SEK": 4900}


DROP_OFF = {"method": "drop_off", "carrier": "Posti", "drop_off_code": "12345",
            "instructions": {"fi": "Vie paketti Postiin ja kerro koodi.", "en": "Take the parcel to Posti, give the code."},
            "fee": [{"currency": "EUR", "amount": 590}]}  # fmt: skip


def test_methods_with_their_carrier_code_instructions_and_fee_are_stored_in_the_policy_s_shape_and_shown_back(api, shop, db):
    response = api.put("/shop/policy", json={"methods": ["postal", DROP_OFF]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["policy"]["methods"] == ["postal", DROP_OFF]
    assert db.get(Shop, shop[0].id).policy["methods"] == ["postal", {**DROP_OFF, "fee": {"EUR": 590}}]


def test_a_method_listed_twice_keeps_its_last_listing(api):
    response = api.put("/shop/policy", json={"methods": [DROP_OFF, "postal", "drop_off"]})
    assert response.get_json()["policy"]["methods"] == ["drop_off", "postal"]


def test_the_newer_settings_are_changed_like_the_others(api, shop, db):
    change = {"auto_approve": True, "auto_approve_reasons": ["defective", "wrong_item"],
              "auto_approve_max_order_values": [{"currency": "EUR", "amount": 20000}], "abuse_limit_returns": 3,
              "abuse_limit_days": 60, "non_returnable_tags": ["clearance"], "non_returnable_product_types": ["Food"],
              "non_returnable_gift_cards": False, "final_sale_tags": ["final-sale", "outlet"], "max_units_per_return": 5,
              "withdrawal_return_cost_disclosed": True,
              "withdrawal_exceptions": {"custom_made": ["engraved"], "sealed_hygiene": ["earrings"]}}  # fmt: skip
    response = api.put("/shop/policy", json=change)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["policy"] == {**DEFAULT_POLICY, **change}
    stored = db.get(Shop, shop[0].id).policy
    assert (stored["auto_approve_max_order_values"], stored["max_units_per_return"]) == ({"EUR": 20000}, 5)


def test_a_currency_given_twice_in_a_newer_fee_list_keeps_its_last_amount(api):
    limits = [{"currency": "EUR", "amount": 100}, {"currency": "EUR", "amount": 200}]
    response = api.put("/shop/policy", json={"auto_approve_max_order_values": limits})
    assert response.get_json()["policy"]["auto_approve_max_order_values"] == [{"currency": "EUR", "amount": 200}]


DOCUMENTED = [
    {"methods": ["postal", DROP_OFF]}, {"methods": [{"method": "postal", "drop_off_code": "1"}]},
    {"methods": [{"method": "drop_off", "drop_off_code": "12 34"}]}, {"methods": [{"method": "pickup", "fee": []}]},
    {"methods": [{"method": "in_store", "instructions": {"de": "x"}}]}, {"methods": [{}]}, {"methods": [None]},
    {"methods": ["postal", "postal"]}, {"max_units_per_return": None}, {"max_units_per_return": 0},
    {"abuse_limit_returns": None}, {"abuse_limit_days": None}, {"withdrawal_exceptions": {"perishable": ["fresh"]}},
    {"withdrawal_exceptions": {"sale": []}}, {"auto_approve_reasons": ["defective"]}, {"auto_approve_reasons": ["x"]},
    {"auto_approve_max_order_values": [{"currency": "EUR", "amount": 1}, {"currency": "EUR", "amount": 2}]},
]  # fmt: skip


def draft4(schema):
    """OpenAPI 3.0's `nullable` said the way JSON Schema draft 4 says it."""
    if isinstance(schema, list):
        return [draft4(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: draft4(value) for key, value in schema.items()}
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


@pytest.mark.parametrize("change", DOCUMENTED)
def test_a_newer_policy_setting_is_accepted_exactly_when_the_document_says_it_is_valid(document, change):
    import marshmallow as ma
    from jsonschema import Draft4Validator

    from integration.api.schemas import PolicySchema

    try:
        PolicySchema().load(change)
        accepted = True
    except ma.ValidationError:
        accepted = False
    schema = Draft4Validator({"$ref": "#/components/schemas/Policy", "components": draft4(document["components"])})
    assert schema.is_valid(change) == accepted


def test_the_shop_gives_its_customers_pages_to_link_from_the_storefront(api, shop, db):
    slug = db.get(Shop, shop[0].id).portal_slug
    links = api.get("/shop").get_json()["customer_links"]
    assert slug == "palautus-test"
    assert {name: url.split("://", 1)[1].split("/", 1)[1] for name, url in links.items()} == {
        "portal": f"s/{slug}/", "policy": f"s/{slug}/policy", "withdrawal": f"s/{slug}/withdraw"}
