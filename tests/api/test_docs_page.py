"""/api/v1/docs works without the internet: Swagger UI's files come from the app, not a CDN."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

ASSET_TYPES = {".js": {"text/javascript", "application/javascript"}, ".css": {"text/css"}}


@pytest.fixture
def page(client) -> str:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def referenced(page: str) -> list[str]:
    """Every URL the page loads a script or a style sheet from."""
    return re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"', page)


def test_the_docs_page_references_only_urls_of_the_app_itself(page):
    urls = referenced(page)
    assert len(urls) == 3  # the style sheet, the preset and the bundle
    for url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), url
        assert url.startswith("/api/v1/docs/assets/"), url
    assert "http://" not in page and "https://" not in page and "//cdn" not in page


def test_every_asset_the_docs_page_references_is_served_by_the_app(client, page):
    for url in referenced(page):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.mimetype in ASSET_TYPES[url[url.rindex("."):]], url
        assert len(response.get_data()) > 10_000, url  # the real file, not an error page
        response.close()


def test_the_docs_page_reads_the_document_from_the_app_and_sends_it_to_no_validator(page):
    assert 'url: "/api/v1/openapi.json"' in page
    assert re.search(r'"validatorUrl": ?null', page)


@pytest.mark.parametrize("path", ["nothing.js", "../../../integration/app.py", "%2e%2e/__init__.py"])
def test_the_asset_route_serves_nothing_outside_the_swagger_ui_package(client, path):
    assert client.get(f"/api/v1/docs/assets/{path}").status_code == 404
