"""Schemathesis fuzzes the merchant API from its own OpenAPI document, with a real shop's key.

Every generated request, valid or not, must pass every check schemathesis has: an
answer the document declares (status, content type, headers, body shape), never a 500,
invalid input refused, valid input accepted, auth enforced, and a 405 with `Allow` for
a method the document does not declare.

The document is loaded from the running app inside each test, and cases are drawn
with `APIOperation.as_strategy()` under a plain `hypothesis.given`: schemathesis'
`from_fixture(...).parametrize()` reads `request.node._nodeid`, which pytest 9 no
longer has, and loading the app at import would break the "nothing at import" rule.
The coverage phase (boundaries, missing credentials, undeclared methods) is replayed
case by case, since some checks (`unsupported_method`, `missing_required_header`) only
judge its cases.
"""
from __future__ import annotations

import os
import re
from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

from integration.api.books import MAX_DAYS
from tests.api.conftest import JACKET, ORDER_ID
from tests.conftest import auth


def every_check() -> list:
    """All the checks schemathesis registers, read from its registry rather than picked by hand.

    A new check in a schemathesis upgrade joins in by itself. Only class-based checks (none are
    built in) are left out: they run through the schema's own run state, not a `checks=` list.
    """
    load_all_checks()
    return [check for check in CHECKS.get_all() if not isinstance(check, type)]


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
    ("GET", "/api/v1/orders/{order_id}"),
    ("GET", "/api/v1/shop"),
    ("PUT", "/api/v1/shop/policy"),
    ("POST", "/api/v1/shop/disconnect"),
    ("GET", "/api/v1/events"),
    ("POST", "/api/v1/events/{event_id}/retry"),
    ("POST", "/api/v1/privacy/exports"),
    ("POST", "/api/v1/privacy/redactions"),
    ("GET", "/api/v1/privacy/requests"),
    ("GET", "/api/v1/privacy/requests/{request_id}"),
    ("POST", "/api/v1/dashboard-links"),
    ("GET", "/api/v1/insight/products"),
    ("GET", "/api/v1/insight/products.csv"),
    ("GET", "/api/v1/insight/refund-times"),
    ("GET", "/api/v1/insight/feedback"),
    ("GET", "/api/v1/books/rows"),
    ("GET", "/api/v1/books/vat-summary"),
    ("GET", "/api/v1/books/settings"),
    ("PUT", "/api/v1/books/settings"),
    ("GET", "/api/v1/books/export/rows.csv"),
    ("GET", "/api/v1/books/export/procountor.json"),
    ("GET", "/api/v1/books/export/netvisor.zip"),
    ("GET", "/api/v1/books/export/sie"),
    ("GET", "/api/v1/settlements"),
    ("POST", "/api/v1/settlements/read"),
    ("GET", "/api/v1/settlements/{settlement_row_id}"),
    ("GET", "/api/v1/credit-notes"),
    ("GET", "/api/v1/credit-notes/{number}"),
    ("GET", "/api/v1/credit-notes/{number}.pdf"),
]


@pytest.fixture
def config(config):
    """The fuzzer sends hundreds of requests without a valid key from one address, to check each is a 401; the
    slow-down after FAILED_AUTH_LIMIT of them (a 429, documented too) is tested in tests/api/test_rate_limits.py."""
    return {**config, "FAILED_AUTH_LIMIT": "100000 per minute"}


@pytest.fixture
def api_schema(app, open_return, api):
    """The API's own OpenAPI document as Schemathesis loads it, with two returns and a privacy request of the shop
    to find."""
    ids = [open_return()["id"], open_return(items=[{"line_id": JACKET, "quantity": 1}])["id"]]
    exported = api.post("/privacy/exports", json={"order_ids": [ORDER_ID]})
    assert exported.status_code == 201, exported.get_json()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), ids, [exported.get_json()["id"]]


def _sent_as_generated(case) -> bool:
    # A query parameter whose value is [] never reaches the wire, so the "invalid" request that
    # negative_data_rejection judges is not the one the app received: skip those cases.
    return all(value != [] for value in (case.query or {}).values())


def _each_line_once(case) -> bool:
    # "each order line at most once" (POST /returns `items`) is a rule JSON Schema cannot state, so
    # the document says it in words; a case that repeats a line is not valid data, and its 400 is right.
    items = case.body.get("items") if isinstance(case.body, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return True
    lines = [item.get("line_id") for item in items]
    return len(lines) == len(set(map(repr, lines)))


def _each_currency_once(case) -> bool:
    # Likewise "each currency at most once" (PUT /shop/policy `return_shipping_fees`).
    fees = case.body.get("return_shipping_fees") if isinstance(case.body, dict) else None
    if not isinstance(fees, list) or not all(isinstance(fee, dict) for fee in fees):
        return True
    currencies = [fee.get("currency") for fee in fees]
    return len(currencies) == len(set(map(repr, currencies)))


def _a_period(case) -> bool:
    # A period's `to` is its `from` or later, at most MAX_DAYS on (the books and settlements say so in words); in
    # the query (the ledger) or the body (reading a period's payouts, given instead of one payout's id).
    for found in (case.query, case.body):
        if not isinstance(found, dict) or not isinstance(found.get("from"), str) or not isinstance(found.get("to"), str):
            continue
        try:
            days = (date.fromisoformat(found["to"]) - date.fromisoformat(found["from"])).days
        except ValueError:
            continue
        if not 0 <= days < MAX_DAYS or "settlement_id" in found:
            return False
    if isinstance(case.body, dict) and case.path.endswith("/settlements/read"):
        return ("settlement_id" in case.body) != ("from" in case.body or "to" in case.body) and (
            "settlement_id" in case.body or ("from" in case.body and "to" in case.body))
    return True


RATE_KEY = re.compile(r"\*|(0|[1-9][0-9]?)(\.[0-9]?[1-9])?")
COUNTRY, ACCOUNT, NOT_BLANK = re.compile(r"[A-Z]{2}"), re.compile(r"[0-9]{3,10}"), re.compile(r".*\S.*", re.S)


def _rate_keys(case) -> bool:
    # The account map's rate mappings take rate keys as the ledger writes them ("24", "13.5") or "*", its countries
    # and account numbers their forms, its providers a name: rules on an object's keys, which OpenAPI 3.0 cannot
    # state (it has no propertyNames), so the document says them in words.
    accounts = case.body.get("accounts") if isinstance(case.body, dict) else None
    if not isinstance(accounts, dict):
        return True
    mappings = [accounts.get("output_vat")]
    countries = accounts.get("by_country") if isinstance(accounts.get("by_country"), dict) else {}
    for holder in [accounts] + [c for c in countries.values() if isinstance(c, dict)]:
        income = holder.get("income") if isinstance(holder, dict) else None
        mappings += list(income.values()) if isinstance(income, dict) else []
        mappings.append(holder.get("output_vat") if isinstance(holder, dict) else None)
    keys = [(RATE_KEY, m) for m in mappings] + [(COUNTRY, accounts.get("by_country")), (ACCOUNT, accounts.get("names")),
                                                 (NOT_BLANK, accounts.get("clearing"))]  # fmt: skip
    return all(pattern.fullmatch(key) for pattern, m in keys if isinstance(m, dict) for key in m)


def _valid(case) -> bool:
    return _each_line_once(case) and _each_currency_once(case) and _a_period(case) and _rate_keys(case)


def _cases(operation, return_ids, request_ids=()):
    negative = operation.as_strategy(GenerationMode.NEGATIVE).filter(_sent_as_generated)
    modes = [operation.as_strategy(GenerationMode.POSITIVE).filter(_valid), negative]
    if "{return_id}" in operation.path:  # random ids find nothing: aim some cases at the shop's real returns
        modes += [
            operation.as_strategy(path_parameters={"return_id": i}).filter(_valid) for i in return_ids
        ]  # fmt: skip
    if "{order_id}" in operation.path:  # and at the shop's real order
        modes.append(operation.as_strategy(path_parameters={"order_id": ORDER_ID}))
    if "{request_id}" in operation.path:  # and at the shop's real privacy request
        modes += [operation.as_strategy(path_parameters={"request_id": i}) for i in request_ids]
    return st.one_of(modes)


def _credentials(case, key) -> dict | None:
    # The document's bearer key, in place of the placeholder schemathesis puts there; a case that
    # leaves the header out on purpose (is a missing key refused?) is sent without one.
    return auth(key) if "Authorization" in (case.headers or {}) else None


def _coverage_cases(schema, operation):
    config = schema.config.generation_for(operation=operation, phase="coverage")
    modes = list(GenerationMode)
    return [case for case in schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config)
            if _valid(case) or case.meta.generation.mode.is_negative]  # fmt: skip


def test_the_fuzzed_operations_are_every_operation_the_document_declares(api_schema):
    schema, _, _ = api_schema
    declared = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert declared == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_500_or_an_answer_the_document_does_not_declare(api_schema, key, method, path):
    schema, return_ids, request_ids = api_schema

    @FUZZ
    @given(case=_cases(schema[path][method], return_ids, request_ids))
    def fuzz(case):
        case.call_and_validate(headers=_credentials(case, key), checks=every_check())

    fuzz()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_coverage_case_passes_every_check(api_schema, key, method, path):
    schema, _, _ = api_schema
    failures = []
    for case in _coverage_cases(schema, schema[path][method]):
        try:
            case.call_and_validate(headers=_credentials(case, key), checks=every_check())
        except FailureGroup as group:
            failures.append(_described(case, group))
    assert failures == []


def _described(case, group) -> str:
    sent = {"query": case.query, "body": case.body if isinstance(case.body, (dict, list, str, int, float)) else None}
    titles = sorted({failure.title for failure in group.exceptions})
    return f"{case.method} {case.formatted_path} {case.meta.phase.data.description} {str(sent)[:300]}: {titles}"


def test_the_checks_are_every_one_schemathesis_has_not_a_hand_picked_few():
    names = {check.__name__ for check in every_check()}
    assert names >= {
        "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
        "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance",
        "missing_required_header", "unsupported_method", "allow_header_conformance", "ignored_auth",
    }  # fmt: skip
    assert names == set(CHECKS.get_all_names())
