"""How a job gets the app, a database session and the adapters: one helper, nothing at import."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context

from adapters.errors import ProviderRejected
from adapters.payments import PaymentRoute, route_for
from adapters.platforms import Platform, platform_adapter
from integration.errors import MissingCredentials
from integration.logs import correlated, correlation_id
from integration.models import Shop
from integration.services.context import Ctx

__all__ = ["JobContext", "job_context", "worker_app", "fresh_tokens", "new_ctx"]

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
        """The shop's platform, with its credentials (renewed first where they are about to expire, and again
        should the platform answer 401); MissingCredentials when it has none."""
        adapter = platform_adapter(shop.platform)
        credentials = self.credentials(shop)
        if adapter.tokens is None:
            return adapter.connect(shop.domain, credentials, self.app.config)
        if adapter.tokens.due(credentials, self.app.config):
            credentials = fresh_tokens(self.app, shop.id)
        seen = credentials.get("access_token")

        def renew() -> str | None:  # a new token after a 401, or None when there is none to be had
            token = fresh_tokens(self.app, shop.id, force_unless_changed=seen).get("access_token")
            return token if token != seen else None

        return adapter.connect(shop.domain, credentials, self.app.config, renew=renew)

    def route(self, shop: Shop, name: str) -> PaymentRoute:
        """A refund route by name: the shop platform's own gateway (the platform's name), or a provider's route
        with the shop's credentials for it; MissingCredentials when the shop has none."""
        if name == shop.platform:
            return self.platform(shop).payment_route()
        credentials = self.credentials(shop).get("payments", {}).get(name)
        if not credentials or name not in self.ctx.providers:
            raise MissingCredentials(f"the shop has no {name} credentials in Palautus", provider=name)
        return route_for(name, credentials, self.app.config)


def fresh_tokens(app: Flask, shop_id: int, force_unless_changed: str | None = None) -> dict:
    """The shop's credentials with its platform tokens renewed if they are due, stored sealed; one refresh at a time.

    Under the shop's row lock, in a session of its own: a second worker waits, then finds the tokens renewed and
    uses them (a refresh token rotates: used twice, the second use would fail). `force_unless_changed` is the
    access token the platform just refused: renewed unless another worker has renewed it meanwhile. A refusal to
    renew (the merchant must reinstall) is raised, and the shop flagged for the operator.
    """
    from integration.db import lock_row
    from integration.services.shops import clear_alert, raise_alert

    vault, config = app.extensions["vault"], app.config
    with app.extensions["db"].session() as session:
        lock_row(session, Shop, shop_id)
        shop = session.get(Shop, shop_id)
        credentials = vault.open(shop.credentials)
        tokens = platform_adapter(shop.platform).tokens
        force = force_unless_changed is not None and credentials.get("access_token") == force_unless_changed
        if tokens is None or not tokens.due(credentials, config, force):
            session.commit()
            return credentials
        try:
            changes = tokens.fresh(shop.domain, credentials, config, force)
        except ProviderRejected as e:
            raise_alert(shop, "tokens", f"the platform refused to renew the shop's access ({e.code}): reinstall the app")
            session.commit()
            raise
        if changes:
            credentials.update(changes)
            shop.credentials = vault.seal(credentials)
            clear_alert(shop, "tokens")
        session.commit()
        return credentials


@contextmanager
def job_context():
    """An app context and a session for one job run."""
    app = _app()
    with correlated(_job_correlation()), app.app_context(), app.extensions["db"].session() as session:
        yield JobContext(app, new_ctx(app, session))


def _job_correlation() -> str | None:
    """The correlation id of the request or job that enqueued this job (its meta), else the job's own id; outside
    a job (a test, the CLI), whatever is bound already."""
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return correlation_id()
    return (job.meta or {}).get("correlation_id") or f"job-{job.id}"


def new_ctx(app: Flask, session) -> Ctx:
    """The use-case context with the app's routes: every provider's, each platform's gateway, and which
    providers a shop has given credentials for (read from its sealed credentials, names only)."""
    vault = app.extensions["vault"]
    return Ctx(session, app.extensions["tasks"], app.extensions["providers"], app.extensions["gateways"],
               lambda shop: [name for name, keys in vault.open(shop.credentials).get("payments", {}).items() if keys])  # fmt: skip
