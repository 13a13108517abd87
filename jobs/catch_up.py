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
    """Read the orders changed since the mark (every status, then the trash) and apply what is newer.

    The mark moves to the newest change seen (the store's clock, never ours), but never past an order
    the adapter could not read: that one is flagged and read again next time.
    """
    platform = jc.platform(shop)
    since = (shop.synced_until or shop.installed_at) - OVERLAP
    applied, newest, held = 0, None, None
    for trash in (False, True):
        count, seen_newest, failed = _listing(jc, shop, platform, since, trash)
        applied += count
        newest = max(filter(None, (newest, seen_newest)), default=None)
        held = min(filter(None, (held, failed)), default=None)
    mark = newest
    if held is not None:
        mark = min(mark or held, held - timedelta(seconds=1))
    if mark is not None and (shop.synced_until is None or mark > shop.synced_until):
        shop.synced_until = mark
    elif shop.synced_until is None:
        shop.synced_until = since + OVERLAP
    jc.session.commit()
    if applied:
        logger.info("caught up %d order change(s) no delivery brought", applied, extra={"shop_id": shop.id})
    return applied


def _listing(jc: JobContext, shop: Shop, platform, since, trash: bool):
    """One listing, paged by key (from the last change seen); a second full of changes is paged by number.
    (changes applied, the newest change seen, the oldest change of an order that could not be read)"""
    seen: set[tuple[str, object]] = set()
    applied, newest, failed = 0, None, None
    for _ in range(MAX_PAGES):
        batch = platform.modified_orders(since, PAGE, trash=trash)
        times = [item.updated_at if not _unreadable(item) else item.modified for item in batch]
        times = [t for t in times if t is not None]
        if times and len(batch) == PAGE and min(times) == max(times):
            batch += _whole_second(platform, min(times), trash)  # more than a page changed in one second
        for item in batch:
            if _unreadable(item):
                raise_alert(shop, f"order {item.platform_order_id}", f"order {item.platform_order_id} could not be "
                            f"read in the catch-up; it is read again each time: {item.problem}"[:500])  # fmt: skip
                failed = min(filter(None, (failed, item.modified)), default=None) or failed
                continue
            if (item.platform_order_id, item.updated_at) in seen:
                continue
            seen.add((item.platform_order_id, item.updated_at))
            applied += _apply(jc, shop, item)
            clear_alert(shop, f"order {item.platform_order_id}")
            newest = max(filter(None, (newest, item.updated_at)))
        jc.session.commit()
        if len(batch) < PAGE or not times:
            break
        # The next page starts a second before the last change seen: changes in that same second are read
        # again (and skipped as seen), none is lost to `modified_after` leaving its bound out.
        since = max(since + timedelta(seconds=1), max(times) - timedelta(seconds=1))
    else:
        logger.warning("catch-up stopped after %d pages; it goes on from there next time", MAX_PAGES,
                       extra={"shop_id": shop.id})  # fmt: skip
    return applied, newest, failed


def _whole_second(platform, second, trash: bool) -> list:
    """Every order changed in one second, page by page (keyset paging cannot tell them apart)."""
    found, page = [], 2
    while page <= MAX_PAGES:
        batch = platform.modified_orders(second - timedelta(seconds=1), PAGE, trash=trash,
                                         before=second + timedelta(seconds=1), page=page)  # fmt: skip
        found += batch
        if len(batch) < PAGE:
            break
        page += 1
    return found


def _unreadable(item) -> bool:
    return hasattr(item, "problem")


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
