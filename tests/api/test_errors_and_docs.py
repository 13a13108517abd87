"""One error shape everywhere, no 500 for anything a client can send, and an OpenAPI document that says so."""
from __future__ import annotations

import pytest

from tests.conftest import auth

ERROR_REF = {"$ref": "#/components/schemas/Error"}


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield method.upper(), path, operation


def test_every_operation_documents_the_401_with_its_www_authenticate_header(document):
    for method, path, operation in operations(document):
        assert operation["responses"]["401"] == {"$ref": "#/components/responses/BEARER_REQUIRED"}, (method, path)
    unauthorized = document["components"]["responses"]["BEARER_REQUIRED"]
    assert unauthorized["content"]["application/json"]["schema"] == ERROR_REF
    assert "WWW-Authenticate" in unauthorized["headers"]


def test_operations_on_one_return_document_404_and_moves_document_409(document):
    for method, path, operation in operations(document):
        responses = operation["responses"]
        if "{return_id}" in path:
            assert responses["404"] == {"$ref": "#/components/responses/NOT_FOUND"}, (method, path)
        if method == "POST" and "{return_id}" in path:
            assert responses["409"] == {"$ref": "#/components/responses/CONFLICT"}, (method, path)
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert responses["400"] == {"$ref": "#/components/responses/BAD_REQUEST"}, (method, path)
        assert "422" not in responses, (method, path)  # the API says 400 for every bad input
    assert document["paths"]["/api/v1/returns"]["post"]["responses"]["404"]  # an unknown order


def test_the_documented_error_responses_use_the_error_schema(document):
    for name in ("BAD_REQUEST", "NOT_FOUND", "CONFLICT", "DEFAULT_ERROR"):
        assert document["components"]["responses"][name]["content"]["application/json"]["schema"] == ERROR_REF
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    assert error["properties"]["details"]["type"] == "object"


def test_return_ids_are_documented_with_the_range_the_database_can_hold(document):
    [param] = document["paths"]["/api/v1/returns/{return_id}"]["parameters"]
    assert param["schema"] == {"type": "integer", "minimum": 1, "maximum": 2147483647}


def test_the_restocking_fee_is_documented_as_the_decimal_string_the_api_answers_with(document):
    fee = document["components"]["schemas"]["Policy"]["properties"]["restocking_fee_percent"]
    assert (fee["type"], fee["pattern"]) == ("string", r"^(100(\.00?)?|0?[0-9]{1,2}(\.[0-9]{1,2})?)$")
    assert "minimum" not in fee  # "0.00" there made the document invalid


def test_an_unexpected_error_is_a_500_that_tells_nothing(app, client, caplog):
    def explode():
        raise RuntimeError("secret detail: sk_test_do_not_show")

    app.add_url_rule("/api/v1/explode", "explode", explode)
    response = client.get("/api/v1/explode")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal_error", "message": "something went wrong on our side"}
    assert "sk_test" not in response.get_data(as_text=True)
    assert "unhandled error" in caplog.text  # but the log has it, for us


ODD_REQUESTS = [
    ("delete", "/api/v1/returns", {}, 405),
    ("patch", "/api/v1/shop/policy", {"json": {}}, 405),
    ("get", "/api/v1/nothing-here", {}, 404),
    ("post", "/api/v1/returns", {"data": "order_id=1&items=2"}, 400),  # a form, not JSON
    ("post", "/api/v1/returns", {"data": b"\xff\xfe{", "content_type": "application/json"}, 400),
    ("post", "/api/v1/returns", {"data": "{" * 5000, "content_type": "application/json"}, 400),
    ("post", "/api/v1/returns", {"data": "[" * 100_000, "content_type": "application/json"}, 400),  # too deep for json
    ("post", "/api/v1/returns", {"data": "x" * (3 * 1024 * 1024), "content_type": "application/json"}, 413),
    ("post", "/api/v1/returns", {"json": {"order_id": "1", "items": [{"line_id": "1", "quantity": 10**40}]}}, 400),
    ("put", "/api/v1/shop/policy", {"json": {"window_days": 1e300}}, 400),
    ("put", "/api/v1/shop/policy", {"json": {"restocking_fee_percent": "1e999999"}}, 400),
    ("get", "/api/v1/returns?page_size=abc", {}, 400),
    ("post", "/api/v1/returns/1/receive", {"json": {"items": [{"item_id": "x" * 1000}]}}, 400),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), ODD_REQUESTS)
def test_an_odd_request_gets_a_json_error_and_never_a_500_or_a_stack_trace(client, key, method, path, kwargs, status):
    response = getattr(client, method)(path, headers=auth(key), **kwargs)
    assert response.status_code == status
    body = response.get_json()
    assert set(body) <= {"error", "message", "details"} and body["error"] and body["message"]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
