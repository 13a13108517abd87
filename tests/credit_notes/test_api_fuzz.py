"""Schemathesis fuzzes the credit-note operations from the API's own document, with every check it has, as
tests/api/test_openapi_fuzz.py does for the rest of the API (whose helpers this reuses), against a shop with notes."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from jobs.credit_notes import issue_credit_note
from tests.api.test_openapi_fuzz import FUZZ, _coverage_cases, _credentials, _described, _sent_as_generated, every_check
from tests.credit_notes.conftest import COFFEE, SHOE

OPERATIONS = [
    ("GET", "/api/v1/credit-notes"),
    ("GET", "/api/v1/credit-notes/{number}"),
    ("GET", "/api/v1/credit-notes/{number}.pdf"),
]


@pytest.fixture
def config(config):
    return {**config, "FAILED_AUTH_LIMIT": "100000 per minute"}  # as in tests/api/test_openapi_fuzz.py


@pytest.fixture
def schema(app, issuing_shop, refunded):
    """The document as Schemathesis loads it, with two notes of the shop to find (one with a kept fee)."""
    issue_credit_note(refunded(issuing_shop[0], policy={"restocking_fee_percent": "10"}).refund_id)
    issue_credit_note(refunded(issuing_shop[0], lines=(SHOE, COFFEE)).refund_id)
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def _cases(operation):
    modes = [operation.as_strategy(GenerationMode.POSITIVE),
             operation.as_strategy(GenerationMode.NEGATIVE).filter(_sent_as_generated)]  # fmt: skip
    if "{number}" in operation.path:  # random numbers find nothing: aim some cases at the shop's notes
        modes += [operation.as_strategy(path_parameters={"number": n}) for n in (1, 2)]
    return st.one_of(modes)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_500_or_an_answer_the_document_does_not_declare(schema, issuing_shop, method, path):
    key = issuing_shop[1]

    @FUZZ
    @given(case=_cases(schema[path][method]))
    def fuzz(case):
        case.call_and_validate(headers=_credentials(case, key), checks=every_check())

    fuzz()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_coverage_case_passes_every_check(schema, issuing_shop, method, path):
    failures = []
    for case in _coverage_cases(schema, schema[path][method]):
        try:
            case.call_and_validate(headers=_credentials(case, issuing_shop[1]), checks=every_check())
        except FailureGroup as group:
            failures.append(_described(case, group))
    assert failures == []


def test_the_document_declares_the_credit_note_operations(schema):
    declared = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert set(OPERATIONS) <= declared
