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
    register(webhook_secret="whsec_custom_app_secret_value")
    dump = "\n".join(str(row) for table in ("shops",) for row in db.execute(text(f"SELECT * FROM {table}")))
    for secret in (ACCESS_TOKEN, STRIPE_KEY, "whsec_custom_app_secret_value"):
        assert secret not in dump
