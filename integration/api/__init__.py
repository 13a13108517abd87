"""The merchant REST API under /api/v1, documented by its own OpenAPI document."""
from __future__ import annotations

from flask import send_from_directory
from swagger_ui_bundle import swagger_ui_path

from integration.api.errors import Api, register_error_docs
from integration.api.schemas import Percent

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
    api = Api(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "the shop's API key (plt_...)"}
    )
    register_error_docs(api)
    api.register_field(Percent, "string", "decimal")
    from integration.api import events, orders, privacy, returns, shop

    api.register_blueprint(returns.bp)
    api.register_blueprint(orders.bp)
    api.register_blueprint(shop.bp)
    api.register_blueprint(events.bp)
    api.register_blueprint(privacy.bp)
    _serve_swagger_ui(app)
    return api


def _serve_swagger_ui(app) -> None:
    """Serve the package's files under SWAGGER_UI_ASSETS, where the docs page looks for them."""

    def swagger_ui_asset(filename):
        return send_from_directory(str(swagger_ui_path), filename)

    app.add_url_rule(f"{SWAGGER_UI_ASSETS}<path:filename>", view_func=swagger_ui_asset)
