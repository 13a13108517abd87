"""GET /shop and PUT /shop/policy: the shop's return policy, changed through the API."""
from __future__ import annotations

import pytest

from integration.models import Shop

DEFAULT_POLICY = {
    "window_days": 30, "refund_on": "received", "auto_approve": False, "restocking_fee_percent": "0.00",
    "return_shipping_fees": [], "non_returnable_skus": [],
    "methods": ["postal", "drop_off", "in_store", "pickup", "customer_service"], "refund_shipping": "whole_order",
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
