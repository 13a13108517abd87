"""catch_up: read what a platform that never retries failed to deliver, and keep its webhooks switched on.

WooCommerce sends each delivery once and disables a webhook after a handful of
failures, so an outage of Palautus would otherwise lose changes for good. Every
CATCH_UP_SECONDS, for each installed shop on such a platform, this job lists the
orders modified since the last look (from the shop's own timestamps, with an
overlap), applies them as the webhooks would have, and checks the shop's
webhooks: a missing or disabled one is flagged on the shop and turned back on.
One shop's failure never stops the others.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.platforms import PLATFORMS, platform_adapter
from integration.errors import MissingCredentials
from integration.models import Shop
from integration.services.delivery import NoPublicUrl, check_webhooks, delivery_url
from integration.services.orders import order_by_platform_id
from integration.services.shops import clear_alert, raise_alert
from jobs.context import JobContext, job_context
from jobs.events import on_order

__all__ = ["catch_up", "catch_up_shop", "OVERLAP"]

logger = logging.getLogger(__name__)

# Re-read this much before the last change seen: deliveries and clocks are not exact to the second.
OVERLAP = timedelta(minutes=5)
PAGE = 100  # orders per listing page (the REST API's maximum)
MAX_PAGES = 200  # pages per run: 20,000 changes, and the next run goes on from the mark


def catch_up() -> dict:
    """Catch up every installed shop whose platform needs it; how many order changes each run applied.

    One shop's failure, whatever it is, is logged and flagged on that shop, and the others go on.
    """
    platforms = [name for name, adapter in PLATFORMS.items() if adapter.catches_up]
    applied = {}
    with job_context() as jc:
        query = select(Shop.id).where(Shop.platform.in_(platforms), Shop.uninstalled_at.is_(None)).order_by(Shop.id)
        shop_ids = list(jc.session.scalars(query))
    for shop_id in shop_ids:
        try:
            applied[shop_id] = catch_up_shop(shop_id)
        except Exception:  # a bug or a database failure for this shop must not starve the others
            logger.exception("catch-up failed", extra={"shop_id": shop_id})
            applied[shop_id] = 0
    return applied


def catch_up_shop(shop_id: int) -> int:
    """Apply the shop's orders modified since the last look and check its webhooks; the changes applied."""
    with job_context() as jc:
        shop = jc.session.get(Shop, shop_id)
        if shop is None or shop.uninstalled_at is not None:
            return 0
        try:
            applied = _orders(jc, shop)
            _webhooks(jc, shop)
        except (ProviderRejected, MissingCredentials) as e:
            jc.session.rollback()
            raise_alert(shop, "store", f"the store refused Palautus: {e}")
            jc.session.commit()
            logger.warning("catch-up refused: %s", e, extra={"shop_id": shop_id})
            return 0
        except ProviderUnavailable as e:
            jc.session.rollback()
            logger.warning("catch-up could not reach the store: %s", e, extra={"shop_id": shop_id})
            return 0
        clear_alert(shop, "store")
        jc.session.commit()
        return applied


def _orders(jc: JobContext, shop: Shop) -> int:
    """Page through the orders changed since the mark, asking each time from the last change seen (keyset
    paging: an order changing meanwhile moves to the end and is read again, and no other is skipped)."""
    platform = jc.platform(shop)
    since = (shop.synced_until or shop.installed_at) - OVERLAP
    seen: set[tuple[str, object]] = set()
    applied = 0
    for _ in range(MAX_PAGES):
        batch = platform.modified_orders(since, PAGE)
        for snapshot in batch:
            if isinstance(snapshot, Exception):  # an order the adapter cannot read: flagged, the rest go on
                raise_alert(shop, "orders", f"an order could not be read in the catch-up: {snapshot}"[:500])
                continue
            if (snapshot.platform_order_id, snapshot.updated_at) in seen:
                continue
            seen.add((snapshot.platform_order_id, snapshot.updated_at))
            applied += _apply(jc, shop, snapshot)
            if shop.synced_until is None or snapshot.updated_at > shop.synced_until:
                shop.synced_until = snapshot.updated_at  # the store's own clock, never ours
        jc.session.commit()
        times = [s.updated_at for s in batch if not isinstance(s, Exception)]
        if len(batch) < PAGE or not times:
            break
        # The next page starts a second before the last change seen: changes in that same second are read
        # again (and skipped as seen), none is lost to `modified_after` leaving its bound out.
        since = max(since + timedelta(seconds=1), max(times) - timedelta(seconds=1))
    else:
        logger.warning("catch-up stopped after %d pages; it goes on from there next time", MAX_PAGES,
                       extra={"shop_id": shop.id})  # fmt: skip
    if shop.synced_until is None:
        shop.synced_until = since + OVERLAP
    jc.session.commit()
    if applied:
        logger.info("caught up %d order change(s) no delivery brought", applied, extra={"shop_id": shop.id})
    return applied


def _apply(jc: JobContext, shop: Shop, snapshot) -> int:
    """Apply one order's snapshot if it is newer than ours; 1 if it was. A conflict with a webhook job
    writing the same order at that moment is left to that job (it has the same change or a newer one)."""
    known = _updated_at(jc, shop, snapshot.platform_order_id)
    if known is not None and known >= snapshot.updated_at:
        return 0
    try:
        on_order(jc, shop, snapshot)
    except IntegrityError:
        jc.session.rollback()
        return 0
    return 1


def _updated_at(jc: JobContext, shop: Shop, platform_order_id: str):
    order = order_by_platform_id(jc.session, shop.id, platform_order_id)
    return order.platform_updated_at if order is not None else None


def _webhooks(jc: JobContext, shop: Shop) -> None:
    secret = jc.credentials(shop).get("webhook_secret")
    try:
        url = delivery_url(jc.app.config, shop, platform_adapter(shop.platform).delivery_path)
        check_webhooks(jc.platform(shop), url, shop, secret)
    except NoPublicUrl as e:
        raise_alert(shop, "webhooks", f"the store's webhooks cannot be checked: {e}")
    jc.session.commit()
