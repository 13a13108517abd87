"""The merchant REST API under /api/v1, documented by its own OpenAPI document."""
from __future__ import annotations

from flask import send_from_directory
from swagger_ui_bundle import swagger_ui_path

from integration.api.errors import Api, register_error_docs
from integration.api.schemas import Percent
from integration.limits import api_key_bucket, api_limit, limiter

__all__ = ["init_api", "API_TITLE", "SWAGGER_UI_ASSETS"]

API_TITLE = "Palautus merchant API"
# Swagger UI's JS and CSS, served by us from the swagger-ui-bundle package: a CDN leaves the docs
# page blank wherever the internet is out of reach (and tells a third party who reads our docs).
SWAGGER_UI_ASSETS = "/api/v1/docs/assets/"


def init_api(app) -> Api:
    """Register the API blueprints and the OpenAPI document at /api/v1/openapi.json."""
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_ASSETS,
        # Swagger UI would otherwise load a badge from validator.swagger.io, handing it our document's URL.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={
            "security": [{"bearerAuth": []}],
            "info": {"description": "Returns, refunds and the return policy of the shop the API key belongs to."},
        },
    )
    api = Api(app)  # its OpenAPI document is built on first use: what writes into it goes through api.document
    api.document(lambda: api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "the shop's API key (plt_...)"}
    ))
    register_error_docs(api)
    api.register_field(Percent, "string", "decimal")
    from integration.api import books, credit_notes, dashboard, events, insight, orders, privacy, returns, shop

    for module in (returns, orders, shop, events, privacy, dashboard, insight, books, credit_notes):
        _limit_per_key(module.bp)
        api.register_blueprint(module.bp)
    _serve_swagger_ui(app)
    return api


_LIMITED: set[str] = set()  # blueprints given the per-key limit (once per process: the limiter is process-wide)


def _limit_per_key(bp) -> None:
    if bp.name not in _LIMITED:
        limiter.shared_limit(api_limit, scope="api", key_func=api_key_bucket)(bp)  # one count across the API
        _LIMITED.add(bp.name)


def _serve_swagger_ui(app) -> None:
    """Serve the package's files under SWAGGER_UI_ASSETS, where the docs page looks for them."""

    def swagger_ui_asset(filename):
        return send_from_directory(str(swagger_ui_path), filename)

    app.add_url_rule(f"{SWAGGER_UI_ASSETS}<path:filename>", view_func=swagger_ui_asset)
