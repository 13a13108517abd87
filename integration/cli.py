"""Command-line tools: `flask --app wsgi shops register ...`, `flask --app wsgi db upgrade`."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from integration.errors import PalautusError
from integration.services.shops import normalize_domain, register_shop, rotate_api_key, shop_by_domain

__all__ = ["register_cli"]

shops = AppGroup("shops", help="Register shops and manage their API keys.")
db = AppGroup("db", help="Database schema.")


@shops.command("register")
@click.option("--platform", default="shopify", show_default=True, type=click.Choice(["shopify"]))
@click.option("--domain", required=True, help="the shop's myshopify.com domain")
@click.option("--access-token", envvar="SHOP_ACCESS_TOKEN", help="Admin API access token (or SHOP_ACCESS_TOKEN)")
@click.option("--webhook-secret", envvar="SHOP_WEBHOOK_SECRET", help="the shop's own app secret, for a custom app")
@click.option("--stripe-secret-key", envvar="SHOP_STRIPE_SECRET_KEY", help="Stripe secret key (or SHOP_STRIPE_SECRET_KEY)")
@click.option("--name", help="display name")
@click.option("--currency", help="the shop's currency, e.g. EUR")
def register(platform, domain, access_token, webhook_secret, stripe_secret_key, name, currency):
    """Register a shop and print its API key (shown only this once)."""
    credentials = {"access_token": access_token} if access_token else {}
    if webhook_secret:
        credentials["webhook_secret"] = webhook_secret
    if stripe_secret_key:
        credentials["payments"] = {"stripe": {"secret_key": stripe_secret_key}}
    app = current_app
    with app.extensions["db"].session() as session:
        try:
            shop, key = register_shop(
                session, app.extensions["vault"], platform=platform, domain=domain,
                credentials=credentials, name=name, currency=currency and currency.upper(),
            )  # fmt: skip
        except PalautusError as e:
            raise click.ClickException(e.message) from None
        click.echo(f"Registered {shop.platform} shop {shop.domain} (id {shop.id}).")
        click.echo(f"API key (store it now; it is not shown again): {key}")


@shops.command("rotate-key")
@click.option("--platform", default="shopify", show_default=True, type=click.Choice(["shopify"]))
@click.option("--domain", required=True)
def rotate_key(platform, domain):
    """Replace a shop's API key and print the new one."""
    with current_app.extensions["db"].session() as session:
        try:
            shop = shop_by_domain(session, platform, normalize_domain(platform, domain))
        except PalautusError as e:
            raise click.ClickException(e.message) from None
        if shop is None:
            raise click.ClickException(f"no installed {platform} shop {domain}")
        click.echo(f"New API key for {shop.domain}: {rotate_api_key(session, shop)}")


@db.command("upgrade")
def db_upgrade():
    """Apply all migrations to DATABASE_URL."""
    from integration.migrate import upgrade  # Alembic is needed only here

    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


def register_cli(app) -> None:
    app.cli.add_command(shops)
    app.cli.add_command(db)
