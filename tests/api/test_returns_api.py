"""Opening returns through the API, and moving them through their states."""
from __future__ import annotations

import re

import pytest

from integration.models import Return, ReturnEvent, ReturnItem
from tests.api.conftest import JACKET, ORDER_ID, SOCKS, count


def test_a_return_opened_through_the_api_is_201_with_code_items_decision_and_timeline(api, order):
    body = {"order_id": order, "method": "drop_off", "customer_note": "too small",
            "items": [{"line_id": JACKET, "quantity": 1, "reason": "size_too_small", "note": "M is S"},
                      {"line_id": SOCKS, "quantity": 1}]}  # fmt: skip
    response = api.post("/returns", json=body)
    assert response.status_code == 201
    ret = response.get_json()
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", ret["code"])
    assert (ret["status"], ret["method"], ret["source"]) == ("requested", "drop_off", "merchant_api")
    assert (ret["order_id"], ret["order_name"], ret["currency"]) == (ORDER_ID, "#1106", "EUR")
    assert [(i["line_id"], i["quantity"], i["reason"], i["note"]) for i in ret["items"]] == [
        (JACKET, 1, "size_too_small", "M is S"), (SOCKS, 1, "other", None),
    ]
    assert ret["customer_note"] == "too small"
    # The order is from March; the default 30-day window has ended, and the decision says so.
    assert ret["decision"]["eligible"] is False
    assert ret["decision"]["reasons"] == ["the 30-day return window ended on 2026-04-01"]
    assert [(e["kind"], e["actor"]) for e in ret["timeline"]] == [("requested", "merchant")]
    assert api.get(f"/returns/{ret['id']}").get_json() == ret


def test_a_return_inside_the_window_is_eligible_and_auto_approved_when_the_policy_says_so(api, order):
    api.put("/shop/policy", json={"window_days": 3650, "auto_approve": True})
    ret = api.post("/returns", json={"order_id": order, "items": [{"line_id": JACKET, "quantity": 2}]}).get_json()
    assert ret["decision"] == {"eligible": True, "reasons": [], "auto_approve": True}
    assert ret["status"] == "approved"
    assert [e["kind"] for e in ret["timeline"]] == ["requested", "approved"]


def test_asking_back_more_units_than_were_bought_opens_an_ineligible_return(api, order):
    ret = api.post("/returns", json={"order_id": order, "items": [{"line_id": SOCKS, "quantity": 2}]}).get_json()
    assert "more units than can still be returned: Wool socks, 3-pack" in ret["decision"]["reasons"]


def test_a_return_for_an_unknown_order_is_404_and_writes_nothing(api, order, db):
    response = api.post("/returns", json={"order_id": "999", "items": [{"line_id": JACKET, "quantity": 1}]})
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "message": "order 999 not found"}
    assert count(db, Return) == 0


def test_a_line_the_order_does_not_have_is_404_naming_the_line_and_writes_nothing(api, order, db):
    # 404 like an unknown order: the body is as the document asks, the line it names is not there.
    items = [{"line_id": JACKET, "quantity": 1}, {"line_id": "424242", "quantity": 1}]
    response = api.post("/returns", json={"order_id": order, "items": items})
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "message": "order #1106 has no line 424242"}
    assert (count(db, Return), count(db, ReturnItem)) == (0, 0)


ITEM = {"line_id": JACKET, "quantity": 1}
BAD_BODIES = {
    "quantity 0": ({"order_id": ORDER_ID, "items": [{**ITEM, "quantity": 0}]}, "items.0.quantity: Must be greater than or equal to 1"),
    "quantity -1": ({"order_id": ORDER_ID, "items": [{**ITEM, "quantity": -1}]}, "items.0.quantity: Must be greater than or equal to 1"),
    "quantity text": ({"order_id": ORDER_ID, "items": [{**ITEM, "quantity": "one"}]}, "items.0.quantity: Not a valid integer."),
    "missing items": ({"order_id": ORDER_ID}, "items: Missing data for required field."),
    "no items": ({"order_id": ORDER_ID, "items": []}, "items: Length must be between 1 and 250."),
    "missing line": ({"order_id": ORDER_ID, "items": [{"quantity": 1}]}, "items.0.line_id: Missing data for required field."),
    "missing order": ({"items": [ITEM]}, "order_id: Missing data for required field."),
    "order as number": ({"order_id": int(ORDER_ID), "items": [ITEM]}, "order_id: Not a valid string."),
    "unknown field": ({"order_id": ORDER_ID, "items": [ITEM], "colour": "red"}, "colour: is not a field of this request"),
    "unknown item field": ({"order_id": ORDER_ID, "items": [{**ITEM, "size": "M"}]}, "items.0.size: is not a field of this request"),
    "bad reason": ({"order_id": ORDER_ID, "items": [{**ITEM, "reason": "meh"}]}, "items.0.reason: Must be one of: size_too_small"),
    "bad method": ({"order_id": ORDER_ID, "items": [ITEM], "method": "pigeon"}, "method: Must be one of: postal"),
    "item not an object": ({"order_id": ORDER_ID, "items": [JACKET]}, "items.0: must be a JSON object"),
    "a line twice": ({"order_id": ORDER_ID, "items": [ITEM, ITEM]}, f"items: line {JACKET} is listed twice: give its total quantity once"),
    "NUL in a note": ({"order_id": ORDER_ID, "items": [ITEM], "customer_note": "a\x00b"}, "customer_note: must not contain NUL characters"),
}  # fmt: skip
RAW_BODIES = {
    "malformed JSON": ('{"order_id": "5196695273621", "items": [', "body: Invalid JSON body."),
    "JSON array": ('[{"order_id": "5196695273621"}]', "body: must be a JSON object"),
    "JSON null": ("null", "body: must be a JSON object"),
    "JSON string": ('"5196695273621"', "body: must be a JSON object"),
}


@pytest.mark.parametrize(("body", "problem"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_an_invalid_return_request_is_400_saying_what_is_wrong_and_writes_nothing(api, order, db, body, problem):
    response = api.post("/returns", json=body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["error"] == "bad_request"
    assert error["message"].startswith(f"the request is not valid: {problem}")
    assert isinstance(error["details"], dict)
    assert count(db, Return) == 0


@pytest.mark.parametrize(("raw", "problem"), RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_a_body_that_is_not_a_json_object_is_400_saying_so_and_writes_nothing(api, order, db, raw, problem):
    response = api.post("/returns", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["message"] == f"the request is not valid: {problem}"
    assert count(db, Return) == 0


def test_every_legal_move_answers_with_the_new_status_and_records_it(api, open_return):
    ret = open_return()
    steps = [("approve", "approved"), ("in-transit", "in_transit"), ("receive", "received"), ("close", "closed")]
    for action, status in steps:
        response = api.post(f"/returns/{ret['id']}/{action}", json={})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == status
    shown = api.get(f"/returns/{ret['id']}").get_json()
    moves = [(e["from_status"], e["to_status"], e["actor"]) for e in shown["timeline"] if e["to_status"]]
    assert moves == [
        ("requested", "approved", "merchant"), ("approved", "in_transit", "merchant"),
        ("in_transit", "received", "merchant"), ("received", "closed", "merchant"),
    ]  # fmt: skip


@pytest.mark.parametrize(("path", "status"), [
    (["reject"], "rejected"),
    (["cancel"], "cancelled"),
    (["approve", "cancel"], "cancelled"),
    (["approve", "receive"], "received"),  # in store: it never travelled
])  # fmt: skip
def test_the_other_legal_moves_answer_200_with_the_new_status(api, open_return, path, status):
    ret = open_return()
    assert api.move(ret["id"], *path)["status"] == status


def test_moves_carry_their_data_into_the_return_and_its_timeline(api, open_return):
    ret = open_return()
    api.post(f"/returns/{ret['id']}/approve", json={"note": "fine"})
    api.post(f"/returns/{ret['id']}/in-transit", json={"tracking": "JJFI12345"})
    jacket = ret["items"][0]["id"]
    condition = {"item_id": jacket, "condition": "opened", "restock": True}
    received = api.post(f"/returns/{ret['id']}/receive", json={"items": [condition]})
    body = received.get_json()
    assert [(i["condition"], i["restock"]) for i in body["items"]] == [("opened", True), (None, None)]
    data = {e["kind"]: e["data"] for e in body["timeline"]}
    assert data["approved"] == {"note": "fine"}
    assert data["in_transit"] == {"tracking": "JJFI12345"}


def test_a_rejection_keeps_its_reason(api, open_return):
    ret = open_return()
    body = api.post(f"/returns/{ret['id']}/reject", json={"reason": "final_sale", "note": "sale item"}).get_json()
    assert body["timeline"][-1]["data"] == {"reason": "final_sale", "note": "sale item"}


ILLEGAL = [
    ([], "receive", "requested", "received"),
    ([], "in-transit", "requested", "in_transit"),
    ([], "close", "requested", "closed"),
    (["reject"], "approve", "rejected", "approved"),
    (["cancel"], "approve", "cancelled", "approved"),
    (["approve"], "approve", "approved", "approved"),
    (["approve"], "reject", "approved", "rejected"),
    (["approve", "in-transit"], "cancel", "in_transit", "cancelled"),
    (["approve", "receive"], "cancel", "received", "cancelled"),
    (["approve", "receive", "close"], "approve", "closed", "approved"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "action", "current", "target"), ILLEGAL, ids=[f"{c} -> {a}" for _, a, c, _ in ILLEGAL])
def test_an_illegal_move_is_409_naming_both_states_and_changes_nothing(
    api, open_return, db, path, action, current, target
):
    ret = open_return()
    api.move(ret["id"], *path)
    events = count(db, ReturnEvent)
    response = api.post(f"/returns/{ret['id']}/{action}", json={})
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "illegal_transition",
        "message": f"a return that is {current} cannot become {target}",
        "details": {"current": current, "target": target},
    }
    assert api.get(f"/returns/{ret['id']}").get_json()["status"] == current
    assert count(db, ReturnEvent) == events


@pytest.mark.parametrize("path", [[], ["reject"], ["cancel"]], ids=["requested", "rejected", "cancelled"])
def test_refunding_a_return_that_was_not_approved_is_409_and_starts_nothing(api, open_return, path):
    ret = open_return()
    status = api.move(ret["id"], *path)["status"] if path else "requested"
    response = api.post(f"/returns/{ret['id']}/refund")
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"
    assert response.get_json()["message"] == f"a return that is {status} cannot be refunded"
    shown = api.get(f"/returns/{ret['id']}").get_json()
    assert (shown["status"], shown["refunds"]) == (status, [])


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "in-transit", "receive", "refund", "close"])
def test_moving_an_unknown_return_is_404(api, order, action):
    response = api.post(f"/returns/4242/{action}", json={})
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "message": "return 4242 not found"}


@pytest.mark.parametrize("return_id", ["0", "-1", "abc", "2147483648", "99999999999999999999999"])
def test_a_return_id_that_cannot_exist_is_404_not_a_500(api, order, return_id):
    for path in (f"/returns/{return_id}", f"/returns/{return_id}/refund-plan"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"


def test_receiving_an_item_the_return_does_not_have_is_404_naming_it_and_changes_nothing(api, open_return):
    ret = open_return()
    api.move(ret["id"], "approve")
    response = api.post(f"/returns/{ret['id']}/receive", json={"items": [{"item_id": 999_999}]})
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "message": f"return {ret['code']} has no item 999999"}
    assert api.get(f"/returns/{ret['id']}").get_json()["status"] == "approved"


@pytest.mark.parametrize("item_id", [0, -381704, 2_147_483_648, 1.5, "7", True])
def test_an_item_id_no_item_can_have_is_400_like_any_body_the_document_rejects(api, open_return, item_id):
    ret = open_return()
    api.move(ret["id"], "approve")
    response = api.post(f"/returns/{ret['id']}/receive", json={"items": [{"item_id": item_id}]})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("the request is not valid: items.0.item_id: ")


def test_a_move_without_a_body_is_taken_as_an_empty_one_as_the_document_says(api, open_return, document):
    ret = open_return()
    response = api.post(f"/returns/{ret['id']}/approve")
    assert response.status_code == 200
    assert response.get_json()["status"] == "approved"
    assert document["paths"]["/api/v1/returns/{return_id}/approve"]["post"]["requestBody"]["required"] is False
