"""GET /shop and PUT /shop/policy: the shop's return policy, changed through the API."""
from __future__ import annotations

import pytest

from integration.models import Shop

DEFAULT_POLICY = {
    "window_days": 30, "refund_on": "received", "auto_approve": False, "restocking_fee_percent": "0.00",
    "return_shipping_fee": 0, "non_returnable_skus": [], "methods": ["postal", "drop_off", "in_store", "pickup", "customer_service"],
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
    "refund_on": ({"refund_on": "whenever"}, "refund_on: Must be one of: approved, received, manual."),
    "fee over 100": ({"restocking_fee_percent": "150"}, "restocking_fee_percent: Must be greater than or equal to 0 and less than or equal to 100."),
    "fee as a number": ({"restocking_fee_percent": 7.5}, 'restocking_fee_percent: must be a string like "7.50"'),
    "fee with 3 decimals": ({"restocking_fee_percent": "7.505"}, 'restocking_fee_percent: must be a string like "7.50"'),
    "fee with a newline": ({"restocking_fee_percent": "7.5\n"}, 'restocking_fee_percent: must be a string like "7.50"'),
    "fee NaN": ({"restocking_fee_percent": "NaN"}, 'restocking_fee_percent: must be a string like "7.50"'),
    "negative shipping": ({"return_shipping_fee": -1}, "return_shipping_fee: Must be greater than or equal to 0"),
    "huge shipping": ({"return_shipping_fee": 10**30}, "return_shipping_fee: Must be greater than or equal to 0 and less than or equal to 100000000."),
    "auto_approve": ({"auto_approve": "perhaps"}, "auto_approve: Not a valid boolean."),
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
