"""Command-line tools: `flask --app wsgi shops register|webhooks|stripe-webhook|set-credentials|rotate-key`,
`events list|retry`,
`db upgrade`; `books export|settlement` are in integration/cli_books.py.

Credentials come from `--credential FIELD=VALUE` (repeatable) or, better, from
environment variables, which keeps them out of shell history: a platform field
`access_token` is read from SHOP_ACCESS_TOKEN, a provider's field `stripe.secret_key`
from SHOP_STRIPE_SECRET_KEY. Which fields exist comes from the adapter registries.
"""
from __future__ import annotations

import os
import secrets

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from adapters.payments import ROUTES, stripe
from adapters.platforms import PLATFORMS
from adapters.errors import ProviderError
from adapters.platforms import platform_adapter
from integration.config import ConfigError, require_https
from integration.errors import InvalidInput, MissingCredentials, PalautusError
from integration.services.delivery import NoPublicUrl, delivery_url, set_up_webhooks
from integration.models import Shop
from integration.services import recovery
from integration.services.inbox import EventStatus, find_events
from integration.services.shops import (
    locked_credentials, register_shop, replace_credentials, rotate_api_key, shop_by_domain,
)

__all__ = ["register_cli", "credential_fields"]

shops = AppGroup("shops", help="Register shops and manage their API keys and credentials.")
events = AppGroup("events", help="The webhook inbox: find failed deliveries and run them again.")
db = AppGroup("db", help="Database schema.")

_platform = click.option("--platform", default=next(iter(PLATFORMS)), show_default=True,
                         type=click.Choice(sorted(PLATFORMS)))  # fmt: skip
_credential = click.option(
    "--credential", "given", multiple=True, metavar="FIELD=VALUE",
    help="a credential, e.g. access_token=... or stripe.secret_key=... (prefer SHOP_<FIELD> environment variables)",
)  # fmt: skip


def credential_fields(platform: str) -> dict[str, str]:
    """Every credential field a shop on `platform` can have, with the environment variable it is read from."""
    fields = {name: f"SHOP_{name.upper()}" for name in PLATFORMS[platform].credentials}
    for provider, entry in ROUTES.items():
        fields.update({f"{provider}.{name}": f"SHOP_{provider.upper()}_{name.upper()}" for name in entry.credentials})
    return fields


def _credentials(platform: str, given: tuple[str, ...], environ=os.environ) -> dict:
    """The credentials named on the command line or in the environment, nested as they are stored."""
    fields, values = credential_fields(platform), {}
    for field, variable in fields.items():
        if environ.get(variable):
            values[field] = environ[variable]
    for pair in given:
        field, sep, value = pair.partition("=")
        if not sep or field not in fields:
            raise click.BadParameter(f"expected FIELD=VALUE with FIELD one of {', '.join(fields)}", param_hint="--credential")
        values[field] = value
    nested: dict = {}
    for field, value in values.items():
        provider, dot, name = field.partition(".")
        if dot:
            nested.setdefault("payments", {}).setdefault(provider, {})[name] = value
        else:
            nested[field] = value
    return nested


def _find(session, platform: str, domain: str):
    try:
        shop = shop_by_domain(session, platform, PLATFORMS[platform].normalize_domain(domain))
    except InvalidInput as e:
        raise click.ClickException(e.message) from None
    if shop is None:
        raise click.ClickException(f"no installed {platform} shop {domain}")
    return shop


@shops.command("register")
@_platform
@click.option("--domain", required=True, help="the shop's domain (for Shopify, its myshopify.com domain)")
@_credential
@click.option("--name", help="display name")
@click.option("--currency", help="the shop's currency, e.g. EUR")
def register(platform, domain, given, name, currency):
    """Register a shop and print its API key (shown only this once).

    For a platform whose webhooks Palautus creates (WooCommerce), the store's
    webhooks are created too; running it again for a registered store repairs
    them (missing ones created, disabled ones turned on), never duplicates them.
    """
    app, adapter = current_app, PLATFORMS[platform]
    try:
        canonical = adapter.normalize_domain(domain)
        if adapter.catches_up:
            require_https(canonical, "the store URL", app.config)
    except (InvalidInput, ConfigError) as e:
        raise click.ClickException(getattr(e, "message", None) or str(e)) from None
    with app.extensions["db"].session() as session:
        existing = shop_by_domain(session, platform, canonical)
        if existing is not None and adapter.catches_up:
            click.echo(f"{platform} store {canonical} is already registered (id {existing.id}); checking its webhooks.")
            _webhooks(session, existing)
            return
        credentials = _credentials(platform, given)
        for field in adapter.generated:
            credentials.setdefault(field, secrets.token_urlsafe(32))
        if adapter.catches_up:  # the key must work before the store is registered with it
            try:
                adapter.connect(canonical, credentials, app.config).check_access()
            except (ProviderError, MissingCredentials) as e:
                raise click.ClickException(f"the store refused or could not be reached: {e}") from None
        try:
            shop, key = register_shop(
                session, app.extensions["vault"], platform=platform, domain=canonical, credentials=credentials,
                name=name, currency=currency and currency.upper(),
            )  # fmt: skip
        except PalautusError as e:
            raise click.ClickException(e.message) from None
        click.echo(f"Registered {shop.platform} shop {shop.domain} (id {shop.id}).")
        click.echo(f"API key (store it now; it is not shown again): {key}")
        if adapter.catches_up:
            _webhooks(session, shop)


@shops.command("webhooks")
@_platform
@click.option("--domain", required=True)
def webhooks(platform, domain):
    """Create the store's missing webhooks and turn disabled ones back on (platforms Palautus sets them up for)."""
    if not PLATFORMS[platform].catches_up:
        raise click.ClickException(f"{platform} webhooks are set up by the app's install, not by Palautus")
    with current_app.extensions["db"].session() as session:
        _webhooks(session, _find(session, platform, domain))


def _webhooks(session, shop) -> None:
    app = current_app
    credentials = app.extensions["vault"].open(shop.credentials)
    try:
        adapter = platform_adapter(shop.platform)
        url = delivery_url(app.config, shop, adapter.delivery_path)
        platform = adapter.connect(shop.domain, credentials, app.config)
        states = set_up_webhooks(platform, url, shop, credentials["webhook_secret"])
    except NoPublicUrl as e:
        raise click.ClickException(f"{e}; then run: flask --app wsgi shops webhooks --platform {shop.platform} "
                                   f"--domain {shop.domain}") from None  # fmt: skip
    except (ProviderError, MissingCredentials) as e:
        raise click.ClickException(f"the store refused or could not be reached: {e}") from None
    session.commit()
    click.echo(f"Webhooks deliver to {url}:")
    for state in states:
        click.echo(f"  {state.topic:16} webhook {state.webhook_id:<8} {state.status:9} {state.action}")


@shops.command("stripe-webhook")
@_platform
@click.option("--domain", required=True)
def stripe_webhook(platform, domain):
    """Create the shop's Stripe webhook endpoint for refunds that change later, and keep its signing secret.

    Made with the shop's Stripe key, at the shop's own address, with Palautus's pinned API
    version (the endpoint's version decides which events arrive). Run again to replace the
    secret: the one it replaces is still accepted while Stripe signs with both.
    """
    app = current_app
    with app.extensions["db"].session() as session:
        shop = _find(session, platform, domain)
        credentials = app.extensions["vault"].open(shop.credentials).get("payments", {}).get(stripe.PROVIDER, {})
        try:
            url = delivery_url(app.config, shop, f"payments/{stripe.PROVIDER}/{{key}}")
            provider = stripe.connect(credentials, app.config)
            endpoint_id, secret = provider.create_webhook_endpoint(url)
        except NoPublicUrl as e:
            raise click.ClickException(str(e)) from None
        except (ProviderError, MissingCredentials) as e:
            raise click.ClickException(f"Stripe refused or could not be reached: {e}") from None
        fields = {"webhook_secret": secret, "webhook_endpoint": endpoint_id}
        if credentials.get("webhook_secret"):
            fields["previous_webhook_secret"] = credentials["webhook_secret"]
        replace_credentials(session, app.extensions["vault"], shop, {"payments": {stripe.PROVIDER: fields}})
        click.echo(f"Stripe webhook endpoint {endpoint_id} delivers refund changes to {url}; its secret is kept "
                   f"with the shop's credentials.")  # fmt: skip


@shops.command("set-credentials")
@_platform
@click.option("--domain", required=True)
@_credential
def set_credentials(platform, domain, given):
    """Replace some of a shop's platform or payment credentials (after a key rotation, say); the rest stay."""
    app = current_app
    with app.extensions["db"].session() as session:
        shop = _find(session, platform, domain)
        try:
            changed = replace_credentials(session, app.extensions["vault"], shop, _credentials(platform, given))
        except PalautusError as e:
            raise click.ClickException(e.message) from None
        click.echo(f"Replaced for {shop.domain}: {', '.join(changed)}. Held refunds are tried again by the sweeper.")


@shops.command("rotate-key")
@_platform
@click.option("--domain", required=True)
def rotate_key(platform, domain):
    """Replace a shop's API key and print the new one."""
    with current_app.extensions["db"].session() as session:
        shop = _find(session, platform, domain)
        click.echo(f"New API key for {shop.domain}: {rotate_api_key(session, shop)}")


@events.command("list")
@click.option("--status", type=click.Choice([s.value for s in EventStatus]), default=EventStatus.FAILED.value,
              show_default=True)  # fmt: skip
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def list_events(status, limit):
    """Inbox events in one status, newest first, with why they failed."""
    with current_app.extensions["db"].session() as session:
        found = find_events(session, EventStatus(status), limit=limit)
        domains = {shop.id: shop.domain for shop in session.scalars(select(Shop))}
        for event in found:
            click.echo(f"{event.id}\t{domains.get(event.shop_id)}\t{event.topic}\t{event.received_at:%Y-%m-%d %H:%M}"
                       f"\tattempts={event.attempts}\t{event.error or ''}")  # fmt: skip
        click.echo(f"{len(found)} {status} event(s)", err=True)


@events.command("retry")
@click.argument("event_ids", nargs=-1, type=int)
@click.option("--since", type=click.DateTime(), help="every failed event received at or after this time (UTC)")
@click.option("--until", type=click.DateTime(), help="... and before this time (UTC)")
@click.option("--error", "error_text", help="... whose error contains this text")
def retry_events(event_ids, since, until, error_text):
    """Run failed events again (after fixing their cause), by id or all in a time range: the sweeper picks them
    up within a minute."""
    if not event_ids and since is None and until is None:
        raise click.UsageError("name the events, or a time range with --since/--until")
    with current_app.extensions["db"].session() as session:
        try:
            chosen = recovery.retry_failed_events(session, event_ids, since, until, error_text)
        except PalautusError as e:
            raise click.ClickException(e.message) from None
    for event_id in chosen:
        click.echo(f"event {event_id} will be run again")
    click.echo(f"{len(chosen)} event(s) will be run again", err=True)


@events.command("ignore")
@click.argument("event_id", type=int)
@click.option("--reason", required=True, help="why it is not to be applied (kept on the event)")
def ignore_event(event_id, reason):
    """Mark a failed or retrying event ignored, with the reason: it is not run again."""
    with current_app.extensions["db"].session() as session:
        try:
            recovery.ignore_event(session, event_id, reason)
        except PalautusError as e:
            raise click.ClickException(e.message) from None
    click.echo(f"event {event_id} ignored")


refunds_group = AppGroup("refunds", help="Refunds on their way: find the stuck ones and push them.")


@refunds_group.command("stuck")
@click.option("--older-than", "minutes", type=click.IntRange(0), default=60, show_default=True,
              help="minutes since the refund was started")  # fmt: skip
def stuck_refunds(minutes):
    """Refunds still pending or submitted after this long, oldest first, with their last error."""
    with current_app.extensions["db"].session() as session:
        found = recovery.stuck_refunds(session, minutes)
        for refund, domain in found:
            click.echo(f"{refund.id}\t{domain}\t{refund.status}\t{refund.route or refund.provider}\t{refund.amount} "
                       f"{refund.currency}\tstarted {refund.created_at:%Y-%m-%d %H:%M}\t{refund.last_error or ''}")  # fmt: skip
        click.echo(f"{len(found)} refund(s) on their way for more than {minutes} minute(s)", err=True)


@refunds_group.command("push")
@click.argument("refund_ids", nargs=-1, type=int, required=True)
def push_refunds(refund_ids):
    """Queue these refunds' job now instead of after their pause. The job is safe to run any number of times: a
    refund already with its provider is looked up, never sent twice."""
    with current_app.extensions["db"].session() as session:
        try:
            pushed = recovery.push_refunds(session, current_app.extensions["tasks"], refund_ids)
        except PalautusError as e:
            raise click.ClickException(e.message) from None
    for refund_id in pushed:
        click.echo(f"refund {refund_id} queued")


jobs_group = AppGroup("jobs", help="The job queue's failed jobs.")


@jobs_group.command("requeue")
@click.option("--function", "function_name", help="only jobs of this function (e.g. jobs.refunds.push_refund)")
@click.option("--error", "error_text", help="only jobs whose error contains this text")
@click.option("--dry-run", is_flag=True, help="list them, requeue nothing")
def requeue_jobs(function_name, error_text, dry_run):
    """Put failed jobs back on the queue (after fixing their cause), by function and error."""
    found = current_app.extensions["tasks"].requeue_failed(function_name, error_text, dry_run=dry_run)
    for job_id, name, error in found:
        click.echo(f"{job_id}\t{name}\t{error}")
    click.echo(f"{len(found)} failed job(s) {'found' if dry_run else 'requeued'}", err=True)


@db.command("upgrade")
def db_upgrade():
    """Apply all migrations to DATABASE_URL."""
    from integration.migrate import upgrade  # Alembic is needed only here

    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


secrets_group = AppGroup("secrets", help="Secrets at rest: re-encrypt them with the newest ENCRYPTION_KEY.")


@secrets_group.command("rotate")
def rotate_secrets():
    """Re-encrypt every shop's credentials with the first (newest) key in ENCRYPTION_KEY.

    Put the new key first and keep the old one after it (ENCRYPTION_KEY=new,old), run this, then drop the old key.
    """
    app = current_app
    vault = app.extensions["vault"]
    with app.extensions["db"].session() as session:
        shops_done = 0
        for shop in session.scalars(select(Shop).order_by(Shop.id)).all():
            locked_credentials(session, vault, shop)  # a token a worker renews meanwhile is kept, then re-encrypted
            shop.credentials = vault.rotate(shop.credentials)
            session.commit()
            shops_done += 1
    click.echo(f"Re-encrypted the credentials of {shops_done} shop(s) with the newest key; the older keys can go.")


@click.command("dashboard-link")
@click.argument("domain")
@click.option("--platform", type=click.Choice(sorted(PLATFORMS)), help="needed only when two platforms have the domain")
@click.option("--email", help="whom the link is for (kept with it, for the record; nothing is sent)")
def dashboard_link(domain, platform, email):
    """Print a one-time link that signs in to the shop's dashboard (valid 15 minutes, works once)."""
    from integration.dashboard.auth import create_login, login_url

    with current_app.extensions["db"].session() as session:
        found = [_find(session, name, domain) for name in ([platform] if platform else sorted(PLATFORMS))
                 if platform or _installed(session, name, domain)]  # fmt: skip
        if len(found) != 1:
            raise click.ClickException(f"no installed shop {domain}" if not found else "give --platform: "
                                       f"{', '.join(shop.platform for shop in found)} each have {domain}")  # fmt: skip
        token, expires = create_login(session, found[0], email)
    public = str(current_app.config.get("PUBLIC_URL") or "")
    if not public:
        click.echo("PUBLIC_URL is not set: put Palautus's address in front of this path.", err=True)
    click.echo(login_url(token, public))
    click.echo(f"valid until {expires:%Y-%m-%d %H:%M} UTC, once", err=True)


def _installed(session, platform: str, domain: str) -> bool:
    try:
        return shop_by_domain(session, platform, PLATFORMS[platform].normalize_domain(domain)) is not None
    except InvalidInput:
        return False


def register_cli(app) -> None:
    app.cli.add_command(dashboard_link)
    app.cli.add_command(shops)
    app.cli.add_command(events)
    app.cli.add_command(db)
    app.cli.add_command(secrets_group)
    app.cli.add_command(refunds_group)
    app.cli.add_command(jobs_group)
    from integration.cli_books import books_group

    app.cli.add_command(books_group)
