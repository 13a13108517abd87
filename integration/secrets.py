"""Secrets at rest: shop API keys (stored hashed) and credentials (stored encrypted)."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from integration.config import ConfigError, encryption_keys, is_production

__all__ = ["new_api_key", "hash_api_key", "Vault", "vault_from_config", "secret_key_from_config"]

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "plt_"


def new_api_key() -> str:
    """A fresh shop API key: 256 random bits, shown once, never stored in clear."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 of the key. The key is random, so a slow hash would add nothing."""
    return hashlib.sha256(key.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode(), b.encode())


class Vault:
    """Encrypts credential dicts with Fernet; the first key encrypts, every key decrypts (rotation)."""

    def __init__(self, keys: list[str]):
        self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])

    def rotate(self, token: bytes | None) -> bytes | None:
        """The same data sealed again with the newest key (so the older keys can be retired)."""
        return self._fernet.rotate(token) if token else token

    def seal(self, data: dict) -> bytes:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())

    def open(self, token: bytes | None) -> dict:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise RuntimeError("stored credentials cannot be decrypted with ENCRYPTION_KEY") from None


def _key_file(var_dir: str, name: str = "encryption.key", make=Fernet.generate_key, setting="ENCRYPTION_KEY") -> str:
    path = Path(var_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            return path.read_text().strip()
        with os.fdopen(fd, "wb") as f:
            f.write(make())
        logger.warning(f"{setting} is not set: created a development key file", extra={"path": str(path)})
    return path.read_text().strip()


def secret_key_from_config(config: dict) -> str:
    """SECRET_KEY, or a key file under VAR_DIR in development (production refuses to start without one)."""
    if config.get("SECRET_KEY"):
        return str(config["SECRET_KEY"])
    if is_production(config):
        raise ConfigError("SECRET_KEY must be set in production")
    return _key_file(config["VAR_DIR"], "secret.key", lambda: secrets.token_urlsafe(48).encode(), "SECRET_KEY")


def vault_from_config(config: dict) -> Vault:
    """The Vault for ENCRYPTION_KEY, or for a key file under VAR_DIR in development."""
    keys = encryption_keys(config)
    if not keys and is_production(config):
        # load_config already refuses this; kept here so no path can write a key file in production.
        raise ConfigError("ENCRYPTION_KEY must be set in production (a generated key file is for development only)")
    return Vault(keys or [_key_file(config["VAR_DIR"])])
