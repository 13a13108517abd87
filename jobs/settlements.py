"""Reading the providers' settlements: one payout by its id, or every payout of a period, stored to reconcile.

A read replaces what an earlier read of the same payout stored (a payout gains movements until it is paid), so a
job run twice stores the same thing twice over, never twice as much. A provider that cannot be reached is
retried by rq; a route with no settlement reports, or a shop without the keys for it, is told to the merchant
(the shop's "settlements" alert) and not retried. `read_recent_settlements` runs daily from jobs/cron.py.

A route whose settlements arrive later (`SettlementsByCallback`: Paytrail POSTs a settlement's payment report to
an address of ours) is asked instead of read: `request_settlement` with the shop's callback address for it
(PUBLIC_URL/webhooks/payments/<route>/<shop webhook key>/settlements/<id>), and the report is kept by the event job
when it comes (jobs/events.py). Without PUBLIC_URL nothing can be sent there: the merchant is told, as for any
refusal.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters.errors import ProviderRejected, ProviderUnavailable, SettlementsUnsupported
from integration.errors import MissingCredentials
from integration.models import Refund, Return, Shop, utcnow
from integration.services.delivery import NoPublicUrl, delivery_url
from integration.services.settlements import store_settlement
from integration.services.shops import clear_alert, raise_alert
from jobs.context import job_context

__all__ = ["read_settlement", "read_settlements", "read_recent_settlements", "RECENT_DAYS"]

logger = logging.getLogger(__name__)

RECENT_DAYS = 7  # the daily read looks this far back: a payout's movements settle within days
# A provider's word for a payout whose movements it has not finished listing (Stripe's reconciliation_status).
NOT_ITEMISED_YET = "reconciliation_in_progress"
# What stops a read for good, until someone acts: told to the merchant, never retried.
REFUSED = (SettlementsUnsupported, MissingCredentials, ProviderRejected, NoPublicUrl)


def read_settlement(shop_id: int, route: str, settlement_id: str) -> int | None:
    """Read one settlement and keep it; its row id, or None where it could not be read (the shop is told why) or
    was asked for from a route that sends it later (kept when it comes)."""
    with job_context() as jc:
        shop = jc.session.get(Shop, shop_id)
        if shop is None:
            return None
        try:
            payout = jc.route(shop, route)
            reports_to = _reports_to(jc, shop, route, payout)
            if reports_to is not None:
                payout.request_settlement(settlement_id, reports_to(settlement_id))
                _asked(jc, shop, route, [settlement_id])
                return None  # kept when it comes
            settlement = payout.settlement(settlement_id)
        except REFUSED as e:
            _tell(jc, shop, route, e)
            return None
        row = keep(jc.session, shop, route, settlement)
        clear_alert(shop, "settlements")
        jc.session.commit()
        logger.info("settlement read", extra={"shop_id": shop_id, "route": route, "settlement_id": settlement_id,
                                               "movements": len(settlement.movements)})  # fmt: skip
        return row.id


def read_settlements(shop_id: int, route: str, since: str, until: str) -> list[str]:
    """Read every settlement the route paid out in [since, until) (ISO 8601 times); the ids read (or, from a route
    that sends them later, asked for)."""
    with job_context() as jc:
        shop = jc.session.get(Shop, shop_id)
        if shop is None:
            return []
        try:
            payout = jc.route(shop, route)
            reports_to = _reports_to(jc, shop, route, payout)  # before any call: no address, nothing to ask
            ids = payout.settlements(datetime.fromisoformat(since), datetime.fromisoformat(until))
            if reports_to is not None:
                for settlement_id in ids:
                    payout.request_settlement(settlement_id, reports_to(settlement_id))
                return _asked(jc, shop, route, ids)
            read = [settlement_id for settlement_id in ids if _read_one(jc, shop, route, payout, settlement_id)]
        except REFUSED as e:
            _tell(jc, shop, route, e)
            return []
        clear_alert(shop, "settlements")
        jc.session.commit()
        return read


def _reports_to(jc, shop: Shop, route: str, payout):
    """For a route whose settlements arrive later, settlement id -> the shop's callback address for it; None for
    a route that is read. NoPublicUrl without PUBLIC_URL: the provider could not reach Palautus."""
    if getattr(payout, "request_settlement", None) is None:
        return None
    try:
        base = delivery_url(jc.app.config, shop, f"payments/{route}/{{key}}/settlements")
    except NoPublicUrl:
        raise NoPublicUrl(f"{route} sends a settlement only to Palautus's public address, and PUBLIC_URL (that "
                          "https:// address) is not set: an operator sets it, then read the settlements again") from None
    return lambda settlement_id: f"{base}/{quote(str(settlement_id), safe='')}"


def _asked(jc, shop: Shop, route: str, ids: list[str]) -> list[str]:
    """The provider took every ask: nothing to tell the merchant any more; the ids asked for."""
    clear_alert(shop, "settlements")
    jc.session.commit()
    logger.info("settlements asked for", extra={"shop_id": shop.id, "route": route, "settlements": len(ids)})
    return list(ids)


def _read_one(jc, shop: Shop, route: str, payout, settlement_id: str) -> bool:
    """Keep one payout of a period as soon as it is read (a failure later keeps the ones before). One the provider
    has not finished itemising is left for the next read (the daily one looks RECENT_DAYS back), not retried now."""
    try:
        settlement = payout.settlement(settlement_id)
    except ProviderUnavailable as e:
        if e.code != NOT_ITEMISED_YET:
            raise
        logger.info("payout not itemised yet", extra={"shop_id": shop.id, "route": route, "settlement_id": settlement_id})
        return False
    keep(jc.session, shop, route, settlement)
    jc.session.commit()
    return True


def keep(session, shop: Shop, route: str, settlement):
    """Store the settlement and commit. Two reads of one new payout at once (the daily read and the merchant's)
    both insert it: the second finds it stored by the first and replaces what that one stored, once more."""
    try:
        row = store_settlement(session, shop, route, settlement)
        session.commit()
    except IntegrityError:
        session.rollback()
        row = store_settlement(session, shop, route, settlement)
        session.commit()
    return row


def read_recent_settlements() -> int:
    """For every installed shop, the last RECENT_DAYS of settlements on each route its refunds went through
    (queued as one job per shop and route); how many jobs were queued."""
    with job_context() as jc:
        until = utcnow()
        since = until - timedelta(days=RECENT_DAYS)
        # Refunds of the last two periods: a refund made just before `since` is paid out within it.
        pairs = jc.session.execute(
            select(Return.shop_id, Refund.route).join(Refund.ret).join(Shop, Shop.id == Return.shop_id)
            .where(Shop.uninstalled_at.is_(None), Refund.route.is_not(None),
                   Refund.completed_at >= since - timedelta(days=RECENT_DAYS))
            .distinct()).all()  # fmt: skip
        tasks = jc.app.extensions["tasks"]
        for shop_id, route in pairs:
            tasks.read_settlements(shop_id, route, since.isoformat(), until.isoformat())
        return len(pairs)


def _tell(jc, shop: Shop, route: str, error: Exception) -> None:
    jc.session.rollback()
    raise_alert(shop, "settlements", f"the {route} settlements could not be read: {error}"[:500])
    jc.session.commit()
    logger.warning("settlements not read", extra={"shop_id": shop.id, "route": route, "error": str(error)[:300]})
