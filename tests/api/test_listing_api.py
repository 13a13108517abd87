"""GET /returns: filters and pagination."""
from __future__ import annotations

import json

import pytest

from tests.api.conftest import ORDER_ID, SOCKS


@pytest.fixture
def three(api, open_return):
    """Three returns, oldest first: one approved, one rejected, one requested."""
    returns = [open_return(), open_return(), open_return(items=[{"line_id": SOCKS, "quantity": 1}])]
    api.move(returns[0]["id"], "approve")
    api.move(returns[1]["id"], "reject")
    return returns


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [r["id"] for r in response.get_json()]


def test_the_list_is_newest_first_with_summaries(api, three):
    listed = api.get("/returns").get_json()
    assert [r["id"] for r in listed] == [r["id"] for r in reversed(three)]
    assert [r["status"] for r in listed] == ["requested", "rejected", "approved"]
    assert set(listed[0]) == {"id", "code", "status", "method", "source", "order_id", "order_name", "currency",
                              "platform_return_id", "created_at", "updated_at"}  # fmt: skip


@pytest.mark.parametrize(("status", "index"), [("approved", 0), ("rejected", 1), ("requested", 2)])
def test_the_status_filter_finds_the_returns_in_that_status(api, three, status, index):
    assert ids(api.get(f"/returns?status={status}")) == [three[index]["id"]]
    assert ids(api.get("/returns?status=closed")) == []


def test_the_code_filter_finds_one_return_whatever_the_case(api, three):
    code = three[1]["code"]
    assert ids(api.get(f"/returns?code={code}")) == [three[1]["id"]]
    assert ids(api.get(f"/returns?code={code.lower()}")) == [three[1]["id"]]
    assert ids(api.get("/returns?code=AAAA-AAAA")) == []


def test_the_order_filter_finds_the_returns_of_that_order(api, three):
    assert len(ids(api.get(f"/returns?order={ORDER_ID}"))) == 3
    assert ids(api.get("/returns?order=1")) == []
    assert ids(api.get(f"/returns?order={ORDER_ID}&status=approved")) == [three[0]["id"]]


def test_the_list_is_paginated_with_the_x_pagination_header(api, three):
    first = api.get("/returns?page_size=2")
    assert ids(first) == [three[2]["id"], three[1]["id"]]
    assert json.loads(first.headers["X-Pagination"]) == {
        "total": 3, "total_pages": 2, "first_page": 1, "last_page": 2, "page": 1, "next_page": 2,
    }
    second = api.get("/returns?page_size=2&page=2")
    assert ids(second) == [three[0]["id"]]
    assert json.loads(second.headers["X-Pagination"])["previous_page"] == 1
    assert ids(api.get("/returns?page=99999999999999999999")) == []  # past the end, not an SQL overflow


@pytest.mark.parametrize(("query", "problem"), [
    ("status=lost", "status: Must be one of: requested, approved"),
    ("state=approved", "state: is not a field of this request"),
    ("page=0", "page: Must be greater than or equal to 1."),
    ("page_size=1000", "page_size: Must be greater than or equal to 1 and less than or equal to 100."),
    ("code=%00", "code: must not contain NUL characters"),
])  # fmt: skip
def test_a_bad_filter_is_400_saying_what_is_wrong(api, shop, query, problem):
    response = api.get(f"/returns?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert response.get_json()["message"].startswith(f"the request is not valid: {problem}")
