"""The refund plan preview, starting refunds, and finding refunds (failed ones above all)."""
from __future__ import annotations

import pytest

from integration.models import Refund, Return, ReturnEvent
from tests.api.conftest import JACKET, count

# 1 of 2 jackets (line 179.80 - 10.00 discount = 169.80, VAT 24 % included: 32.86) -> 84.90, VAT 16.43;
# plus the 19.90 socks, VAT 3.85. See tests/jobs/test_return_to_refund.py.
AMOUNT, VAT = 8490 + 1990, {"0.24": 1643 + 385}


def test_the_refund_plan_of_one_jacket_and_the_socks_pays_back_104_80_with_20_28_vat(api, open_return):
    ret = open_return()
    response = api.get(f"/returns/{ret['id']}/refund-plan")
    assert response.status_code == 200
    plan = response.get_json()
    assert (plan["amount"], plan["subtotal"], plan["vat"], plan["tax"]) == (AMOUNT, AMOUNT, VAT, 2028)
    assert (plan["currency"], plan["fees"], plan["capped"], plan["provider"]) == ("EUR", {}, False, "stripe")
    assert [(l["return_item_id"], l["quantity"], l["amount"], l["tax"], l["tax_rate"]) for l in plan["lines"]] == [
        (ret["items"][0]["id"], 1, 8490, 1643, "0.24"), (ret["items"][1]["id"], 1, 1990, 385, "0.24"),
    ]  # fmt: skip


def test_previewing_the_refund_plan_changes_nothing(api, open_return, db):
    ret = open_return()
    before = (count(db, Refund), count(db, ReturnEvent), db.get(Return, ret["id"]).updated_at)
    for _ in range(2):
        assert api.get(f"/returns/{ret['id']}/refund-plan").status_code == 200
    db.expire_all()
    assert (count(db, Refund), count(db, ReturnEvent), db.get(Return, ret["id"]).updated_at) == before
    assert api.get(f"/returns/{ret['id']}").get_json() == ret


def test_the_refund_plan_deducts_the_restocking_and_return_shipping_fees_of_the_policy(api, open_return):
    ret = open_return()
    fees = {"restocking_fee_percent": "10", "return_shipping_fees": [{"currency": "EUR", "amount": 495}]}
    assert api.put("/shop/policy", json=fees).status_code == 200
    plan = api.get(f"/returns/{ret['id']}/refund-plan").get_json()
    assert plan["subtotal"] == AMOUNT
    assert plan["fees"] == {"restocking": 1048, "return_shipping": 495}  # 10 % of 104.80, rounded half up
    assert plan["amount"] == AMOUNT - 1048 - 495


def test_a_refund_plan_for_an_order_in_a_currency_without_a_return_shipping_fee_is_a_conflict_saying_what_to_set(
    api, open_return
):
    ret = open_return()
    assert api.put("/shop/policy", json={"return_shipping_fees": [{"currency": "SEK", "amount": 4900}]}).status_code == 200
    answer = api.get(f"/returns/{ret['id']}/refund-plan")
    assert answer.status_code == 409
    assert answer.get_json()["message"].endswith("none in EUR: set return_shipping_fees.EUR (0 for none)")


def test_a_manual_refund_is_202_with_the_planned_refund_pending_and_a_second_one_is_409(api, open_return, db):
    api.put("/shop/policy", json={"refund_on": "manual"})
    ret = open_return()
    api.move(ret["id"], "approve")
    response = api.post(f"/returns/{ret['id']}/refund")
    assert response.status_code == 202
    [refund] = response.get_json()["refunds"]
    assert (refund["status"], refund["amount"], refund["vat"], refund["provider"]) == ("pending", AMOUNT, VAT, "stripe")
    again = api.post(f"/returns/{ret['id']}/refund")
    assert again.status_code == 409
    assert again.get_json()["message"] == f"refund {refund['id']} of this return is still under way"
    assert count(db, Refund) == 1


def test_a_received_return_refunded_at_stripe_can_be_closed(api, open_return, work, stripe):
    ret = open_return()
    api.move(ret["id"], "approve", "receive")
    work()
    shown = api.get(f"/returns/{ret['id']}").get_json()
    assert (shown["status"], shown["refunds"][0]["status"]) == ("refunded", "succeeded")
    assert stripe.money_moved == AMOUNT
    assert api.move(ret["id"], "close")["status"] == "closed"
    plan = api.get(f"/returns/{ret['id']}/refund-plan").get_json()
    assert (plan["amount"], plan["lines"]) == (0, [])  # nothing is owed twice


@pytest.fixture
def failed_refund(api, open_return, work, stripe):
    """A return whose refund Stripe declined."""
    stripe.status = "failed"
    ret = open_return()
    api.move(ret["id"], "approve", "receive")
    work()
    return ret


def test_failed_refunds_are_found_with_status_failed_and_say_why(api, failed_refund):
    response = api.get("/refunds?status=failed")
    assert response.status_code == 200
    [refund] = response.get_json()
    assert (refund["return_id"], refund["status"], refund["amount"]) == (failed_refund["id"], "failed", AMOUNT)
    assert refund["last_error"] == "lost_or_stolen_card"
    assert refund["completed_at"] is not None
    assert api.get("/refunds?status=succeeded").get_json() == []
    assert [r["id"] for r in api.get("/refunds").get_json()] == [refund["id"]]


@pytest.mark.parametrize(("query", "problem"), [
    ("status=lost", "status: Must be one of: pending, submitted, succeeded, failed."),
    ("stauts=failed", "stauts: is not a field of this request"),
    ("page=0", "page: Must be greater than or equal to 1."),
])  # fmt: skip
def test_a_bad_refund_filter_is_400_saying_what_is_wrong(api, shop, query, problem):
    response = api.get(f"/refunds?{query}")
    assert response.status_code == 400
    assert response.get_json()["message"] == f"the request is not valid: {problem}"


def test_refunds_are_listed_newest_first_a_page_at_a_time(api, open_return, work):
    api.put("/shop/policy", json={"refund_on": "manual"})
    one_jacket = [{"line_id": JACKET, "quantity": 1}]
    first, second = open_return(items=one_jacket), open_return(items=one_jacket)
    for ret in (first, second):
        api.move(ret["id"], "approve", "refund")
    response = api.get("/refunds?page_size=1")
    assert [r["return_id"] for r in response.get_json()] == [second["id"]]
    assert '"total": 2' in response.headers["X-Pagination"]
    assert [r["return_id"] for r in api.get("/refunds?page_size=1&page=2").get_json()] == [first["id"]]
