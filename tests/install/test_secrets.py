"""Secrets at rest: every credential sealed with Fernet; a rotation re-encrypts every row with the newest key."""
from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import select, text

from integration.app import create_app
from integration.models import Shop
from tests.conftest import ACCESS_TOKEN, ENCRYPTION_KEY, STRIPE_KEY


def test_a_key_rotation_re_encrypts_every_shop_so_the_old_key_can_be_retired(config, register, db):
    register()
    register(domain="second-shop.myshopify.com")
    new_key = Fernet.generate_key().decode()
    rotated = create_app({**config, "ENCRYPTION_KEY": f"{new_key},{ENCRYPTION_KEY}"})
    with rotated.app_context():
        result = rotated.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0 and "2 shop(s)" in result.output
    only_new = create_app({**config, "ENCRYPTION_KEY": new_key}).extensions["vault"]
    db.expire_all()
    for shop in db.scalars(select(Shop)):
        assert only_new.open(shop.credentials)["access_token"] == ACCESS_TOKEN


def test_no_secret_is_in_the_database_in_clear(register, db):
    from integration.models import Base

    _, api_key = register(webhook_secret="whsec_custom_app_secret_value", refresh_token="shprt_refresh_token_value")
    register(domain="second-shop.myshopify.com", consumer_secret="cs_consumer_secret_value")
    # Every table, as a dump would hold it.
    dump = "\n".join(str(row) for table in Base.metadata.sorted_tables
                     for row in db.execute(text(f"SELECT * FROM {table.name}")))  # fmt: skip
    assert "palautus-test.myshopify.com" in dump  # the dump is real
    for secret in (ACCESS_TOKEN, STRIPE_KEY, "whsec_custom_app_secret_value", "shprt_refresh_token_value",
                   "cs_consumer_secret_value", api_key):  # fmt: skip
        assert secret not in dump


def test_credentials_written_by_two_hands_at_once_keep_both_changes(app, register, db):
    """A worker renews the shop's token while an operator sets a provider key from a Shop it read earlier: the
    operator's write reads the stored credentials under the row's lock, so the renewed token is not undone."""
    from integration.services.shops import replace_credentials

    register()
    vault = app.extensions["vault"]
    stale = db.scalar(select(Shop))
    assert vault.open(stale.credentials)["access_token"] == ACCESS_TOKEN  # read before the renewal
    with app.extensions["db"].session() as worker:
        shop = worker.scalar(select(Shop))
        renewed = {**vault.open(shop.credentials), "access_token": "shpat_renewed", "refresh_token": "shprt_next"}
        shop.credentials = vault.seal(renewed)
        worker.commit()
    replace_credentials(db, vault, stale, {"payments": {"paypal": {"client_id": "id", "secret": "s"}}})
    db.expire_all()
    kept = vault.open(db.scalar(select(Shop)).credentials)
    assert kept["access_token"] == "shpat_renewed" and kept["refresh_token"] == "shprt_next"
    assert kept["payments"]["paypal"] == {"client_id": "id", "secret": "s"} and kept["payments"]["stripe"]
