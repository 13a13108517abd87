"""The Flask application factory: everything is built here, nothing connects at import."""
from __future__ import annotations

import logging

from dotenv import load_dotenv
from flask import Flask, request

from adapters.payments import ROUTES
from adapters.platforms import PLATFORMS
from integration import db
from integration.config import is_production, load_config
from integration.logs import configure_logging
from integration.secrets import secret_key_from_config, vault_from_config

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(config: dict | None = None) -> Flask:
    """Build the app from the environment (and `.env`), or from `config` in tests."""
    if config is None:
        load_dotenv()
    settings = load_config(config)
    app = Flask(__name__)
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_WEBHOOK_BYTES"]
    app.json.sort_keys = False
    configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"] or ("json" if is_production(settings) else "text"))

    db.init_app(app)
    app.extensions["vault"] = vault_from_config(settings)
    app.secret_key = secret_key_from_config(settings)  # Flask's sessions and every signed link (itsdangerous)
    _init_tasks(app)
    app.extensions["providers"] = dict(ROUTES)  # payment routes Palautus can refund through, by provider
    # Each platform's own gateway route, where it has one: which of its payments it can refund.
    app.extensions["gateways"] = {name: adapter.gateway for name, adapter in PLATFORMS.items() if adapter.gateway}
    app.before_request(_bind_correlation)  # first: every answer and record of the request carries it
    app.teardown_request(_unbind_correlation)
    from integration.i18n import init_i18n

    init_i18n(app)
    from integration.pages import init_pages

    init_pages(app)
    _register_blueprints(app)
    from integration.limits import init_limits

    init_limits(app)
    app.after_request(_transport_headers)

    from integration.cli import register_cli

    register_cli(app)
    return app


def _bind_correlation():
    """Every request gets a correlation id (its caller's X-Request-Id, or a new one): logged with each of its
    records, carried by every job it enqueues, and given back in the answer."""
    from flask import g

    from integration.logs import accept_correlation_id, bind

    g.correlation_id = accept_correlation_id(request.headers.get("X-Request-Id"))
    g.correlation_token = bind(g.correlation_id)


def _unbind_correlation(_error=None):
    from flask import g

    from integration.logs import unbind

    token = g.pop("correlation_token", None)
    if token is not None:
        unbind(token)


def _transport_headers(response):
    """Every answer over https tells the browser to keep to https (HSTS), and none is sniffed for another type."""
    if request.is_secure:  # behind a proxy, as the proxy says (PROXY_HOPS)
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    from flask import g

    if "correlation_id" in g:
        response.headers["X-Request-Id"] = g.correlation_id
    return response


def _init_tasks(app: Flask) -> None:
    from jobs.queue import RQTasks, redis_factory

    from webhooks.outbox import Outbox

    app.extensions["tasks"] = RQTasks(redis_factory(app.config), app.config)
    app.extensions["outbox"] = Outbox(app)


def _register_blueprints(app: Flask) -> None:
    from integration.api import init_api
    from integration.api.errors import register_error_handlers
    from integration.health import bp as health_bp
    from integration.install.shopify import bp as install_shopify_bp
    from integration.install.woocommerce import bp as install_woocommerce_bp
    from webhooks import bp as webhooks_bp

    init_api(app)
    app.register_blueprint(install_shopify_bp)
    app.register_blueprint(install_woocommerce_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(health_bp)
    from integration.metrics import bp as metrics_bp, observe_deliveries

    app.register_blueprint(metrics_bp)
    observe_deliveries(app, PLATFORMS, ROUTES)
    from integration.ops import init_ops

    init_ops(app)
    from integration.dashboard import init_dashboard

    init_dashboard(app)
    from integration.portal import init_portal

    init_portal(app)  # the customer's pages; also app.extensions["status_link"] for the e-mails
    register_error_handlers(app)
