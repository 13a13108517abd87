"""PALAUTUS_ENV: development keeps its conveniences; production refuses them at start-up.

Every test passes `environ`, so the real environment is never read.
"""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from integration.config import ConfigError, is_production, load_config, require_https
from integration.secrets import vault_from_config

KEY = Fernet.generate_key().decode()
OLD_KEY = Fernet.generate_key().decode()
NOT_A_KEY = "not-a-fernet-key-but-a-secret-all-the-same"
PRODUCTION = {
    "PALAUTUS_ENV": "production",
    "DATABASE_URL": "postgresql+psycopg://palautus:pw@db.example.com/palautus",
    "REDIS_URL": "redis://redis.example.com:6379/0",
    "ENCRYPTION_KEY": KEY,
    "SECRET_KEY": "s" * 48,
    "SMTP_HOST": "smtp.example.com",
    "MAIL_FROM": "returns@example.com",
}


def production(tmp_path, **changes) -> dict:
    """A complete production environment, with `changes` applied (None removes a variable)."""
    environ = {**PRODUCTION, "VAR_DIR": str(tmp_path), **changes}
    return {k: v for k, v in environ.items() if v is not None}


def refusal(environ: dict, overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(overrides, environ=environ)
    return str(raised.value)


# The mode


def test_the_mode_is_development_when_palautus_env_is_unset_or_empty(tmp_path):
    assert load_config(environ={"VAR_DIR": str(tmp_path)})["ENV"] == "development"
    assert load_config(environ={"PALAUTUS_ENV": "", "VAR_DIR": str(tmp_path)})["ENV"] == "development"
    assert not is_production(load_config(environ={"VAR_DIR": str(tmp_path)}))


def test_a_complete_production_environment_is_accepted(tmp_path):
    config = load_config(environ=production(tmp_path))
    assert config["ENV"] == "production"
    assert is_production(config)


def test_an_unknown_mode_is_refused_with_the_allowed_values():
    message = refusal({"PALAUTUS_ENV": "staging"})
    assert "PALAUTUS_ENV" in message and "development" in message and "production" in message
    assert "staging" in message


def test_the_mode_can_be_given_in_overrides_as_env(tmp_path):
    assert is_production(load_config({"ENV": "production"}, environ=production(tmp_path, PALAUTUS_ENV=None)))


def test_the_generic_env_variable_does_not_set_the_mode(tmp_path):
    assert load_config(environ={"ENV": "production", "VAR_DIR": str(tmp_path)})["ENV"] == "development"


def test_testing_is_settable_only_through_overrides(tmp_path):
    assert load_config(environ={"TESTING": "1", "VAR_DIR": str(tmp_path)})["TESTING"] is False
    assert load_config({"TESTING": True}, environ={"VAR_DIR": str(tmp_path)})["TESTING"] is True


# The encryption key


def test_production_refuses_a_missing_encryption_key_and_says_how_to_make_one(tmp_path):
    message = refusal(production(tmp_path, ENCRYPTION_KEY=None))
    assert "ENCRYPTION_KEY must be set" in message and "Fernet.generate_key()" in message
    assert not (tmp_path / "encryption.key").exists()


def test_production_refuses_an_empty_encryption_key(tmp_path):
    assert "ENCRYPTION_KEY must be set" in refusal(production(tmp_path, ENCRYPTION_KEY=" , "))


def test_development_still_generates_a_key_file_when_the_key_is_unset(tmp_path):
    vault = vault_from_config(load_config(environ={"VAR_DIR": str(tmp_path)}))
    assert (tmp_path / "encryption.key").exists()
    assert vault.open(vault.seal({"a": 1})) == {"a": 1}


def test_the_vault_refuses_to_generate_a_key_file_in_production(tmp_path):
    config = {"ENV": "production", "ENCRYPTION_KEY": "", "VAR_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY must be set"):
        vault_from_config(config)
    assert not (tmp_path / "encryption.key").exists()


@pytest.mark.parametrize("mode", ["development", "production"])
def test_an_invalid_fernet_key_is_refused_in_both_modes_without_showing_it(tmp_path, mode):
    message = refusal(production(tmp_path, PALAUTUS_ENV=mode, ENCRYPTION_KEY=f"{KEY},{NOT_A_KEY}"))
    assert "key 2 of 2 is not a valid Fernet key" in message
    assert NOT_A_KEY not in message and KEY not in message


def test_rotated_fernet_keys_are_accepted_with_spaces_around_the_commas(tmp_path):
    config = load_config(environ=production(tmp_path, ENCRYPTION_KEY=f"{KEY} , {OLD_KEY}"))
    vault = vault_from_config(config)
    assert vault.open(Fernet(OLD_KEY.encode()).encrypt(b'{"a": 1}')) == {"a": 1}


# Sandboxes


def test_sandbox_is_off_by_default_and_development_accepts_it(tmp_path):
    assert load_config(environ={"VAR_DIR": str(tmp_path)})["SANDBOX"] is False
    assert load_config(environ={"SANDBOX": "1", "VAR_DIR": str(tmp_path)})["SANDBOX"] is True


def test_production_refuses_a_sandbox(tmp_path):
    assert "SANDBOX is for development only" in refusal(production(tmp_path, SANDBOX="1"))


def test_production_accepts_a_sandbox_set_off(tmp_path):
    assert load_config(environ=production(tmp_path, SANDBOX="0"))["SANDBOX"] is False


def test_a_sandbox_value_that_is_not_a_flag_is_refused(tmp_path):
    assert "SANDBOX" in refusal({"SANDBOX": "maybe", "VAR_DIR": str(tmp_path)})


# Outbound URLs


@pytest.mark.parametrize("key", ["SHOPIFY_API_BASE", "STRIPE_API_BASE"])
def test_production_refuses_a_plain_http_outbound_url(tmp_path, key):
    message = refusal(production(tmp_path, **{key: "http://user:hunter2@127.0.0.1:8080"}))
    assert f"{key} must be an https:// URL in production" in message
    assert "hunter2" not in message


def test_development_accepts_a_local_http_test_server(tmp_path):
    environ = {"SHOPIFY_API_BASE": "http://127.0.0.1:8080", "STRIPE_API_BASE": "http://127.0.0.1:8081",
               "VAR_DIR": str(tmp_path)}  # fmt: skip
    config = load_config(environ=environ)
    assert config["STRIPE_API_BASE"] == "http://127.0.0.1:8081"


def test_require_https_names_what_it_refuses_and_only_in_production():
    require_https("http://shop.example.com", "the WooCommerce store URL", {"ENV": "development"})
    require_https("https://shop.example.com", "the WooCommerce store URL", {"ENV": "production"})
    with pytest.raises(ConfigError, match="the WooCommerce store URL must be an https:// URL in production"):
        require_https("http://shop.example.com", "the WooCommerce store URL", {"ENV": "production"})


# The embedded defaults


def test_production_refuses_the_default_database(tmp_path):
    assert "DATABASE_URL must be set in production" in refusal(production(tmp_path, DATABASE_URL=None))


def test_production_refuses_sqlite_even_when_set_explicitly(tmp_path):
    message = refusal(production(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}"))
    assert "DATABASE_URL must not be SQLite in production" in message


def test_production_refuses_sqlite_given_in_overrides(tmp_path):
    message = refusal(production(tmp_path), {"DATABASE_URL": "sqlite+pysqlite:///:memory:"})
    assert "must not be SQLite" in message


def test_production_refuses_the_embedded_redis(tmp_path):
    assert "REDIS_URL must be set in production" in refusal(production(tmp_path, REDIS_URL=None))
    assert "REDIS_URL must be set in production" in refusal(production(tmp_path, REDIS_URL=""))


def test_development_keeps_the_embedded_defaults(tmp_path):
    config = load_config(environ={"VAR_DIR": str(tmp_path)})
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'palautus.db'}"
    assert config["REDIS_URL"] == ""
    assert config["ENCRYPTION_KEY"] == ""


def test_production_names_every_problem_at_once(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(environ={"PALAUTUS_ENV": "production", "SANDBOX": "yes", "VAR_DIR": str(tmp_path)})
    names = " ".join(raised.value.problems)
    for key in ("ENCRYPTION_KEY", "SANDBOX", "DATABASE_URL", "REDIS_URL"):
        assert key in names


def test_a_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
