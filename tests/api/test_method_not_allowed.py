"""A method a URL does not take is a 405 in the one error shape, with the `Allow` header RFC 9110 asks for."""
from __future__ import annotations

import re

import pytest

from tests.conftest import auth

IMPLICIT = {"HEAD", "OPTIONS"}  # answered by Flask for every route, never in the document


def allowed(response) -> set[str]:
    return {method.strip() for method in response.headers["Allow"].split(",")}


@pytest.mark.parametrize(("method", "path", "methods"), [
    ("delete", "/api/v1/returns", {"GET", "POST"}),
    ("patch", "/api/v1/shop/policy", {"PUT"}),
    ("put", "/api/v1/returns/1/approve", {"POST"}),
    ("delete", "/api/v1/returns/1", {"GET"}),
    ("post", "/api/v1/openapi.json", {"GET"}),
])  # fmt: skip
def test_a_method_the_url_does_not_take_is_405_with_allow_listing_the_ones_it_does(client, key, method, path, methods):
    response = getattr(client, method)(path, headers=auth(key))
    assert response.status_code == 405
    assert allowed(response) - IMPLICIT == methods
    assert response.get_json()["error"] == "method_not_allowed"
    assert response.content_type == "application/json"


def test_the_405_carries_allow_without_an_api_key_too(client):
    response = client.delete("/api/v1/shop/policy")
    assert response.status_code == 405
    assert allowed(response) - IMPLICIT == {"PUT"}


def test_every_documented_path_answers_an_undocumented_method_with_allow_naming_the_documented_ones(
    client, key, document
):
    for path, item in document["paths"].items():
        documented = {method.upper() for method in item if method != "parameters"}
        url = re.sub(r"\{\w+\}", "1", path)
        undocumented = next(m for m in ("PATCH", "DELETE", "PUT") if m not in documented)
        response = client.open(url, method=undocumented, headers=auth(key))
        assert response.status_code == 405, path
        assert allowed(response) - IMPLICIT == documented, path
