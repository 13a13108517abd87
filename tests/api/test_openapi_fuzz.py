"""Schemathesis fuzzes the merchant API from its own OpenAPI document, with a real shop's key.

Every generated request, valid or not, must get an answer the document declares
(status, content type, body shape), and never a 500.

The document is loaded from the running app inside each test, and cases are drawn
with `APIOperation.as_strategy()` under a plain `hypothesis.given`: schemathesis'
`from_fixture(...).parametrize()` reads `request.node._nodeid`, which pytest 9 no
longer has, and loading the app at import would break the "nothing at import" rule.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import JACKET
from tests.conftest import auth

CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance, negative_data_rejection,
]  # fmt: skip
# 25 per operation keeps the file well under a minute; FUZZ_EXAMPLES=400 for a deeper run before a release.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 25)), deadline=None,
    suppress_health_check=list(HealthCheck), database=None,
)  # fmt: skip

OPERATIONS = [
    ("GET", "/api/v1/returns"),
    ("POST", "/api/v1/returns"),
    ("GET", "/api/v1/returns/{return_id}"),
    ("GET", "/api/v1/returns/{return_id}/refund-plan"),
    ("POST", "/api/v1/returns/{return_id}/approve"),
    ("POST", "/api/v1/returns/{return_id}/reject"),
    ("POST", "/api/v1/returns/{return_id}/cancel"),
    ("POST", "/api/v1/returns/{return_id}/in-transit"),
    ("POST", "/api/v1/returns/{return_id}/receive"),
    ("POST", "/api/v1/returns/{return_id}/refund"),
    ("POST", "/api/v1/returns/{return_id}/close"),
    ("GET", "/api/v1/refunds"),
    ("GET", "/api/v1/shop"),
    ("PUT", "/api/v1/shop/policy"),
]


@pytest.fixture
def api_schema(app, open_return):
    """The API's own OpenAPI document as Schemathesis loads it, with two returns of the shop to find."""
    ids = [open_return()["id"], open_return(items=[{"line_id": JACKET, "quantity": 1}])["id"]]
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), ids


def _sent_as_generated(case) -> bool:
    # A query parameter whose value is [] never reaches the wire, so the "invalid" request that
    # negative_data_rejection judges is not the one the app received: skip those cases.
    return all(value != [] for value in (case.query or {}).values())


def _cases(operation, return_ids):
    negative = operation.as_strategy(GenerationMode.NEGATIVE).filter(_sent_as_generated)
    modes = [operation.as_strategy(GenerationMode.POSITIVE), negative]
    if "{return_id}" in operation.path:  # random ids find nothing: aim some cases at the shop's real returns
        modes += [operation.as_strategy(path_parameters={"return_id": i}) for i in return_ids]
    return st.one_of(modes)


def test_the_fuzzed_operations_are_every_operation_the_document_declares(api_schema):
    schema, _ = api_schema
    declared = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert declared == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_500_or_an_answer_the_document_does_not_declare(api_schema, key, method, path):
    schema, return_ids = api_schema

    @FUZZ
    @given(case=_cases(schema[path][method], return_ids))
    def fuzz(case):
        case.call_and_validate(headers=auth(key), checks=CHECKS)

    fuzz()
