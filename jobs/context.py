"""How a job gets the app, a database session and the adapters: one helper, nothing at import."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context

from adapters.payments import PaymentRoute, route_for
from adapters.platforms import Platform, platform_adapter
from integration.errors import MissingCredentials
from integration.models import Shop
from integration.services.context import Ctx

__all__ = ["JobContext", "job_context", "worker_app"]

_worker_app: Flask | None = None


def worker_app() -> Flask:
    """The worker process's app, built from the environment on first use."""
    global _worker_app
    if _worker_app is None:
        from integration.app import create_app

        _worker_app = create_app()
    return _worker_app


def _app() -> Flask:
    """The app of the test or request that runs the job, else the worker process's."""
    return current_app._get_current_object() if has_app_context() else worker_app()


@dataclass
class JobContext:
    app: Flask
    ctx: Ctx
    event: object | None = None  # the inbox event a webhook job is processing

    @property
    def session(self):
        return self.ctx.session

    def credentials(self, shop: Shop) -> dict:
        return self.app.extensions["vault"].open(shop.credentials)

    def platform(self, shop: Shop) -> Platform:
        """The shop's platform, with its credentials; MissingCredentials when it has none."""
        return platform_adapter(shop.platform).connect(shop.domain, self.credentials(shop), self.app.config)

    def route(self, shop: Shop, name: str) -> PaymentRoute:
        """A refund route by name: the shop platform's own gateway (the platform's name), or a provider's route
        with the shop's credentials for it; MissingCredentials when the shop has none."""
        if name == shop.platform:
            return self.platform(shop).payment_route()
        credentials = self.credentials(shop).get("payments", {}).get(name)
        if not credentials or name not in self.ctx.providers:
            raise MissingCredentials(f"the shop has no {name} credentials in Palautus", provider=name)
        return route_for(name, credentials, self.app.config)


@contextmanager
def job_context():
    """An app context and a session for one job run."""
    app = _app()
    with app.app_context(), app.extensions["db"].session() as session:
        yield JobContext(app, new_ctx(app, session))


def new_ctx(app: Flask, session) -> Ctx:
    """The use-case context with the app's routes: every provider's, each platform's gateway, and which
    providers a shop has given credentials for (read from its sealed credentials, names only)."""
    vault = app.extensions["vault"]
    return Ctx(session, app.extensions["tasks"], app.extensions["providers"], app.extensions["gateways"],
               lambda shop: [name for name, keys in vault.open(shop.credentials).get("payments", {}).items() if keys])  # fmt: skip
