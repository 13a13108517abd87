"""Schemathesis fuzzes the insight operations from the API's own document, as tests/api/test_openapi_fuzz.py does
every operation (same checks, same generation; its list of operations names these four once they are added)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from tests.api.test_openapi_fuzz import FUZZ, _coverage_cases, _credentials, _described, _sent_as_generated, every_check

OPERATIONS = [("GET", "/api/v1/insight/products"), ("GET", "/api/v1/insight/products.csv"),
              ("GET", "/api/v1/insight/refund-times"), ("GET", "/api/v1/insight/feedback")]  # fmt: skip


@pytest.fixture
def config(config):
    return {**config, "FAILED_AUTH_LIMIT": "100000 per minute"}  # as in tests/api/test_openapi_fuzz.py


@pytest.fixture
def api_schema(app, generated):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_the_document_declares_the_four_insight_operations(api_schema):
    declared = {(op.method.upper(), op.path) for op in (r.ok() for r in api_schema.get_all_operations())}
    assert set(OPERATIONS) <= declared


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_500_or_an_answer_the_document_does_not_declare(api_schema, key, method, path):
    operation = api_schema[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE).filter(_sent_as_generated),
                      operation.as_strategy(query={"from": "2026-03-01", "to": "2026-03-31"}))  # the world's month

    @FUZZ
    @given(case=cases)
    def fuzz(case):
        case.call_and_validate(headers=_credentials(case, key), checks=every_check())

    fuzz()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_coverage_case_passes_every_check(api_schema, key, method, path):
    failures = []
    for case in _coverage_cases(api_schema, api_schema[path][method]):
        try:
            case.call_and_validate(headers=_credentials(case, key), checks=every_check())
        except FailureGroup as group:
            failures.append(_described(case, group))
    assert failures == []
