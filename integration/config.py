"""Configuration: read once from the environment (and `.env`), with embedded defaults.

Tests pass a mapping to `create_app`; nothing else reads `os.environ`.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["load_config", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent


def _defaults(var_dir: Path) -> dict:
    return {
        "VAR_DIR": str(var_dir),
        # Embedded defaults: a SQLite file, and an embedded Redis when REDIS_URL is empty.
        "DATABASE_URL": f"sqlite:///{var_dir / 'palautus.db'}",
        "REDIS_URL": "",
        "QUEUE_NAME": "palautus",
        # Fernet keys (comma-separated, newest first) for credentials at rest;
        # empty means a key file under VAR_DIR, created on first use.
        "ENCRYPTION_KEY": "",
        "SHOPIFY_CLIENT_SECRET": "",
        "SHOPIFY_API_BASE": "https://{shop}",
        "SHOPIFY_API_VERSION": "2026-10",
        "STRIPE_API_BASE": "https://api.stripe.com",
        "HTTP_TIMEOUT": 10.0,
        # Seconds between rq retries of a refund or a sync after a transient failure.
        "RETRY_INTERVALS": "10,30,60,300,900,3600",
        # A refund or inbox event untouched this long is picked up by the sweeper.
        "STUCK_AFTER_SECONDS": 300,
        "LOG_LEVEL": "INFO",
        "MAX_WEBHOOK_BYTES": 2 * 1024 * 1024,
        "TESTING": False,
    }


_TYPES = {"HTTP_TIMEOUT": float, "STUCK_AFTER_SECONDS": int, "MAX_WEBHOOK_BYTES": int}


def load_config(overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Defaults, then environment variables, then `overrides` (what tests pass)."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    var_dir = Path(overrides.get("VAR_DIR") or environ.get("VAR_DIR") or ROOT / "var")
    config = _defaults(var_dir)
    for key in config:
        if key in environ and key not in ("TESTING",):
            config[key] = environ[key]
    config.update(overrides)
    for key, cast in _TYPES.items():
        config[key] = cast(config[key])
    config["RETRY_INTERVALS"] = [int(s) for s in str(config["RETRY_INTERVALS"]).split(",") if s.strip()]
    return config
