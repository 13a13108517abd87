"""The merchant REST API under /api/v1, documented by its own OpenAPI document."""
from __future__ import annotations

from integration.api.errors import Api, register_error_docs
from integration.api.schemas import Percent

__all__ = ["init_api", "API_TITLE"]

API_TITLE = "Palautus merchant API"


def init_api(app) -> Api:
    """Register the API blueprints and the OpenAPI document at /api/v1/openapi.json."""
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
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
    from integration.api import returns, shop

    api.register_blueprint(returns.bp)
    api.register_blueprint(shop.bp)
    return api
