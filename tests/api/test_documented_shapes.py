"""What the API sends and takes is what its OpenAPI document says, checked with jsonschema."""
from __future__ import annotations

import json
import re

import marshmallow as ma
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator  # OpenAPI 3.0's schemas are draft 4's, give or take

from integration.api.schemas import Percent, PolicySchema
from tests.api.conftest import SOCKS

POLICY = {"$ref": "#/components/schemas/Policy"}


def validator(document, schema) -> Draft4Validator:
    """A validator for `schema` that resolves `#/components/...` in the document."""
    return Draft4Validator({**schema, "components": document["components"]})


def accepted(change: dict) -> bool:
    """Whether the API takes this policy change (the same schema PUT /shop/policy loads)."""
    try:
        PolicySchema().load(change)
    except ma.ValidationError:
        return False
    return True


def test_the_x_pagination_header_is_json_of_the_schema_the_document_gives_it(api, open_return, document):
    open_return(), open_return(items=[{"line_id": SOCKS, "quantity": 1}])
    declared = document["paths"]["/api/v1/returns"]["get"]["responses"]["200"]["headers"]["X-Pagination"]
    header = document["components"]["headers"][declared["$ref"].rsplit("/", 1)[1]]
    assert "schema" not in header  # a bare schema means OpenAPI's "simple" style (total,2,page,1), not JSON
    schema = validator(document, header["content"]["application/json"]["schema"])
    for query in ("", "?page_size=1", "?page_size=1&page=2", "?page=99", "?status=closed"):
        response = api.get(f"/returns{query}")
        assert response.status_code == 200
        schema.validate(json.loads(response.headers["X-Pagination"]))


def test_the_refunds_list_documents_the_same_x_pagination_header(document):
    headers = document["paths"]["/api/v1/refunds"]["get"]["responses"]["200"]["headers"]
    assert headers["X-Pagination"] == {"$ref": "#/components/headers/PAGINATION"}


@settings(max_examples=300, deadline=None, database=None)
@given(fee=st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,2})?", fullmatch=True) | st.text(alphabet="0123456789.-e ", max_size=7))
@example(fee="150")
@example(fee="100.01")
@example(fee="999.99")
@example(fee="100.00")
@example(fee="099.99")
def test_the_documented_fee_pattern_admits_exactly_the_fees_the_api_accepts(fee):
    assert (re.search(Percent.PATTERN, fee) is not None) == accepted({"restocking_fee_percent": fee})


@pytest.mark.parametrize("change", [
    {"window_days": 60}, {"window_days": 2.5e-42}, {"window_days": 30.0}, {"window_days": "30"},
    {"window_days": True}, {"auto_approve": True}, {"auto_approve": 0}, {"auto_approve": "true"},
    {"return_shipping_fees": [{"currency": "EUR", "amount": 500}]}, {"return_shipping_fees": [{"currency": "EUR", "amount": 1.5}]},
    {"return_shipping_fees": [{"currency": "eur", "amount": 500}]}, {"return_shipping_fee": 500}, {"non_returnable_skus": ["GIFT"]},
    {"non_returnable_skus": ["GIFT\x00"]}, {"refund_on": "manual\x00"}, {"restocking_fee_percent": "100.01"},
])  # fmt: skip
def test_a_policy_change_is_accepted_exactly_when_the_document_says_it_is_valid(document, change):
    assert validator(document, POLICY).is_valid(change) == accepted(change)
