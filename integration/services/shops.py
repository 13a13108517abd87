"""Shops: registration, lookup by domain or API key, credentials, uninstall."""
from __future__ import annotations

import re
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integration.db import lock_row
from integration.errors import Conflict, InvalidInput
from integration.models import Refund, Return, Shop, utcnow
from integration.policy import ReturnPolicy
from integration.refunds import IN_FLIGHT
from integration.secrets import Vault, hash_api_key, new_api_key

_IN_FLIGHT = tuple(s.value for s in IN_FLIGHT)

__all__ = [
    "register_shop",
    "replace_credentials",
    "rotate_api_key",
    "shop_by_domain",
    "shop_by_api_key",
    "shop_by_webhook_key",
    "raise_alert",
    "clear_alert",
    "uninstall_shop",
    "discard_provider_keys",
    "shop_by_portal_slug",
    "change_policy",
    "change_profile",
]

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
    """Create a shop with its credentials; returns it and its API key, shown only this once.

    `domain` is already in its platform's canonical form (the platform adapter's `normalize_domain`).
    """
    if shop_by_domain(session, platform, domain, include_uninstalled=True):
        raise Conflict(f"{platform} shop {domain} is already registered")
    shop = Shop(
        platform=platform,
        domain=domain,
        name=name,
        currency=currency,
        credentials=vault.seal(credentials),
        policy=ReturnPolicy.from_dict(policy).to_dict(),
        webhook_key=secrets.token_urlsafe(24),
        portal_slug=_free_slug(session, domain),
    )
    key = _set_api_key(shop)
    session.add(shop)
    session.commit()
    return shop, key


def _free_slug(session: Session, domain: str) -> str:
    """The shop's portal address from its domain ("kauppa-example-fi"), numbered if another shop has it already."""
    host = re.sub(r"^https?://", "", domain.lower()).removesuffix(".myshopify.com")  # a store URL, or a shop domain
    base = re.sub(r"[^a-z0-9]+", "-", host).strip("-")[:48] or "shop"
    taken = set(session.scalars(select(Shop.portal_slug).where(Shop.portal_slug.like(f"{base}%"))))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def shop_by_portal_slug(session: Session, slug: str) -> Shop | None:
    """The installed shop whose customers' pages live under /s/<slug>."""
    return session.scalar(select(Shop).where(Shop.portal_slug == slug, Shop.uninstalled_at.is_(None)))


def _set_api_key(shop: Shop) -> str:
    key = new_api_key()
    shop.api_key_hash = hash_api_key(key)
    shop.api_key_prefix = key[:10]
    return key


def locked_credentials(session: Session, vault: Vault, shop: Shop, keys_change: bool = False) -> dict:
    """The shop's credentials as stored now, its row held until the transaction ends.

    Every read-modify-write of a shop's credentials goes through this: a token renewed by a worker, a provider key
    set by an operator and an uninstall meanwhile each keep what the others wrote (a renewed refresh token lost
    would lock the shop out: Shopify's old one stops working once the new one is used).
    """
    lock_row(session, Shop, shop.id, keys_change=keys_change)  # keys_change: the API key hash changes too
    session.refresh(shop, attribute_names=["credentials"])
    return vault.open(shop.credentials)


def replace_credentials(session: Session, vault: Vault, shop: Shop, changes: dict, drop: tuple[str, ...] = ()) -> list[str]:
    """Replace some of a shop's credentials (a rotated key, a new token), keeping the rest; the names changed.

    `changes` holds platform fields at the top ({"access_token": ...}) and a
    provider's under "payments" ({"payments": {"stripe": {"secret_key": ...}}}); `drop` names top-level fields
    to forget in the same step.
    """
    if not changes:
        raise InvalidInput("no credentials given")
    credentials = locked_credentials(session, vault, shop)
    for name in drop:
        credentials.pop(name, None)
    changed = []
    for key, value in changes.items():
        if key == "payments":
            for provider, fields in value.items():
                credentials.setdefault("payments", {}).setdefault(provider, {}).update(fields)
                changed += [f"{provider}.{name}" for name in fields]
        else:
            credentials[key] = value
            changed.append(key)
    shop.credentials = vault.seal(credentials)
    # Refunds held for want of working credentials need not wait out their pause.
    held = select(Refund.id).join(Return).where(Return.shop_id == shop.id, Refund.status.in_(_IN_FLIGHT))
    session.execute(update(Refund).where(Refund.id.in_(held)).values(next_attempt_at=None)
                    .execution_options(synchronize_session=False))  # fmt: skip
    session.commit()
    return sorted(changed)


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


def shop_by_webhook_key(session: Session, key: str) -> Shop | None:
    """The shop whose webhook URL carries `key` (uninstalled ones too: what they send is still stored)."""
    if not key or len(key) > 64:
        return None
    return session.scalar(select(Shop).where(Shop.webhook_key == key))


def raise_alert(shop: Shop, kind: str, message: str) -> bool:
    """Flag something about the shop for an operator (not committed); False when it was flagged already."""
    if (shop.alerts or {}).get(kind, {}).get("message") == message:
        return False
    shop.alerts = {**(shop.alerts or {}), kind: {"message": message, "at": utcnow().isoformat()}}
    return True


def clear_alert(shop: Shop, kind: str) -> None:
    if kind in (shop.alerts or {}):
        shop.alerts = {k: v for k, v in shop.alerts.items() if k != kind}


def shop_by_api_key(session: Session, key: str) -> Shop | None:
    """The installed shop this API key belongs to, if any."""
    shop = session.scalar(select(Shop).where(Shop.api_key_hash == hash_api_key(key)))
    return shop if shop and not shop.uninstalled_at else None


# The platform's own tokens and keys: discarded at uninstall (the platform revokes them anyway).
PLATFORM_SECRETS = ("access_token", "refresh_token", "access_token_expires_at", "refresh_token_expires_at", "scope",
                    "consumer_key", "consumer_secret", "token_migration")  # fmt: skip


def uninstall_shop(session: Session, vault: Vault, shop: Shop, refused_token: str | None = None) -> bool:
    """The merchant removed the app: its platform tokens are dead, so forget them; keep the books.

    The payment providers' keys stay while a refund may still be with a provider (it is followed to its final
    status with them); `discard_provider_keys` drops them once none is (the sweeper asks). The customers' data
    exports go now: nobody can fetch them any more (the shop's API key stops working).
    """
    from integration.services.privacy import forget_exports  # privacy raises this module's alerts

    if shop.uninstalled_at:
        return True
    credentials = locked_credentials(session, vault, shop)
    if refused_token is not None and credentials.get("access_token") != refused_token:
        # The token the platform refused is not the one stored now: a reinstall (or a renewal) came meanwhile.
        session.rollback()
        return False
    for name in PLATFORM_SECRETS:
        credentials.pop(name, None)
    shop.credentials = vault.seal(credentials)
    shop.uninstalled_at = utcnow()
    forget_exports(session, shop)
    session.commit()
    return True



def discard_provider_keys(session: Session, vault: Vault) -> int:
    """Uninstalled shops with no refund still on its way: their payment providers' keys are dropped. How many."""
    busy = select(Return.shop_id).join(Refund).where(Refund.status.in_(_IN_FLIGHT))
    shops = session.scalars(select(Shop).where(Shop.uninstalled_at.is_not(None), Shop.id.not_in(busy))).all()
    session.commit()
    done = 0
    for shop in shops:
        credentials = locked_credentials(session, vault, shop)
        session.refresh(shop, attribute_names=["uninstalled_at"])
        still_busy = session.scalar(busy.where(Return.shop_id == shop.id).limit(1)) is not None
        if credentials.get("payments") and shop.uninstalled_at is not None and not still_busy:  # as it was found
            credentials.pop("payments")
            shop.credentials = vault.seal(credentials)
            done += 1
        session.commit()
    return done


def change_policy(session: Session, shop: Shop, changes: dict) -> ReturnPolicy:
    """Change some of the shop's return policy settings (the others keep their value); InvalidInput refuses it all."""
    policy = ReturnPolicy.from_dict({**(shop.policy or {}), **changes})
    shop.policy = policy.to_dict()
    session.commit()
    return policy


PROFILE_FIELDS = {"legal_name": 255, "email": 320, "address": 1000, "vat_id": 32, "default_language": 8}  # max lengths
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")  # one @ and a dotted domain: the mail server has the last word


def change_profile(session: Session, shop: Shop, changes: dict, languages: tuple[str, ...]) -> dict:
    """Change how the shop presents itself (PROFILE_FIELDS; other keys stay as they are); InvalidInput refuses it all."""
    cleaned = {}
    for name, value in changes.items():
        if name not in PROFILE_FIELDS:
            raise InvalidInput(f"unknown profile field: {name}")
        value = str(value or "").strip()
        if len(value) > PROFILE_FIELDS[name]:
            raise InvalidInput(f"{name} is longer than {PROFILE_FIELDS[name]} characters")
        cleaned[name] = value or None
    if cleaned.get("email") and not EMAIL.fullmatch(cleaned["email"]):
        raise InvalidInput("email is not an e-mail address")
    if cleaned.get("default_language") and cleaned["default_language"] not in languages:
        raise InvalidInput(f"default_language must be one of {', '.join(languages)}")
    shop.profile = {**(shop.profile or {}), **cleaned}
    session.commit()
    return shop.profile
