"""Shops: registration, lookup by domain or API key, credentials, uninstall."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.errors import Conflict, InvalidInput
from integration.models import Shop, utcnow
from integration.policy import ReturnPolicy
from integration.secrets import Vault, hash_api_key, new_api_key

__all__ = [
    "normalize_domain",
    "register_shop",
    "rotate_api_key",
    "shop_by_domain",
    "shop_by_api_key",
    "uninstall_shop",
]

PLATFORMS = ("shopify",)
_SHOPIFY_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def normalize_domain(platform: str, domain: str) -> str:
    """The canonical form of a shop's domain; InvalidInput if it cannot be one."""
    value = (domain or "").strip().lower()
    value = re.sub(r"^https?://", "", value).rstrip("/")
    if platform == "shopify" and not _SHOPIFY_DOMAIN.match(value):
        raise InvalidInput(f"{domain!r} is not a myshopify.com domain")
    return value


def register_shop(
    session: Session,
    vault: Vault,
    *,
    platform: str,
    domain: str,
    credentials: dict,
    name: str | None = None,
    currency: str | None = None,
    policy: dict | None = None,
) -> tuple[Shop, str]:
    """Create a shop with its credentials; returns it and its API key, shown only this once."""
    if platform not in PLATFORMS:
        raise InvalidInput(f"platform must be one of {', '.join(PLATFORMS)}")
    domain = normalize_domain(platform, domain)
    if shop_by_domain(session, platform, domain, include_uninstalled=True):
        raise Conflict(f"{platform} shop {domain} is already registered")
    shop = Shop(
        platform=platform,
        domain=domain,
        name=name,
        currency=currency,
        credentials=vault.seal(credentials),
        policy=ReturnPolicy.from_dict(policy).to_dict(),
    )
    key = _set_api_key(shop)
    session.add(shop)
    session.commit()
    return shop, key


def _set_api_key(shop: Shop) -> str:
    key = new_api_key()
    shop.api_key_hash = hash_api_key(key)
    shop.api_key_prefix = key[:10]
    return key


def rotate_api_key(session: Session, shop: Shop) -> str:
    """Replace the shop's API key; the old one stops working at once."""
    key = _set_api_key(shop)
    session.commit()
    return key


def shop_by_domain(session: Session, platform: str, domain: str, include_uninstalled=False) -> Shop | None:
    """The shop registered under this platform and domain, if any."""
    shop = session.scalar(select(Shop).where(Shop.platform == platform, Shop.domain == domain.lower()))
    if shop and shop.uninstalled_at and not include_uninstalled:
        return None
    return shop


def shop_by_api_key(session: Session, key: str) -> Shop | None:
    """The installed shop this API key belongs to, if any."""
    shop = session.scalar(select(Shop).where(Shop.api_key_hash == hash_api_key(key)))
    return shop if shop and not shop.uninstalled_at else None


def uninstall_shop(session: Session, vault: Vault, shop: Shop) -> None:
    """The merchant removed the app: its token is dead, so forget it; keep the books."""
    if shop.uninstalled_at:
        return
    credentials = vault.open(shop.credentials)
    credentials.pop("access_token", None)
    shop.credentials = vault.seal(credentials)
    shop.uninstalled_at = utcnow()
    session.commit()
