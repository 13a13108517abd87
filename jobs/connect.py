"""connect_shop: after a store was connected from the browser, check its key and create its webhooks.

The store's key delivery is answered at once (the store waits for it, and keeps
the key only on an exact 200), so what takes calls to the store happens here:
the key is tried, then the store's webhooks are created (or repaired) with the
shop's own secret and delivery address, as `shops register` does.

A refusal (the key revoked meanwhile, PUBLIC_URL unset) is flagged on the shop for
the operator and the merchant (`GET /api/v1/shop` alerts, the done page) and not
retried; a store that could not be reached is flagged and retried by rq. The
catch-up job checks the same webhooks every CATCH_UP_SECONDS, and clears the flags
once all is well.
"""
from __future__ import annotations

import logging

from adapters.errors import ProviderRejected, ProviderUnavailable
from adapters.platforms import platform_adapter
from integration.errors import MissingCredentials
from integration.models import Shop
from integration.services.delivery import NoPublicUrl, delivery_url, set_up_webhooks
from integration.services.shops import clear_alert, raise_alert
from jobs.context import job_context

__all__ = ["connect_shop"]

logger = logging.getLogger(__name__)


def connect_shop(shop_id: int) -> list[tuple[str, str]]:
    """Check the shop's key and set up its webhooks; (topic, what was done) for each, or [] when it could not.

    Safe to run twice: webhooks are created only where missing, never duplicated.
    """
    with job_context() as jc:
        shop = jc.session.get(Shop, shop_id)
        if shop is None or shop.uninstalled_at is not None:
            return []
        adapter = platform_adapter(shop.platform)
        credentials = jc.credentials(shop)
        try:
            platform = jc.platform(shop)
            platform.check_access()
            url = delivery_url(jc.app.config, shop, adapter.delivery_path)
            states = set_up_webhooks(platform, url, shop, credentials.get("webhook_secret") or "")
        except (ProviderRejected, MissingCredentials) as e:
            _flag(jc, shop, "store", f"the store refused Palautus's key while its webhooks were being set up: {e}; "
                                     f"connect the store again")  # fmt: skip
            return []
        except NoPublicUrl as e:
            _flag(jc, shop, "webhooks", f"the store's webhooks were not created: {e}; then run: flask --app wsgi "
                                        f"shops webhooks --platform {shop.platform} --domain {shop.domain}")  # fmt: skip
            return []
        except ProviderUnavailable as e:
            _flag(jc, shop, "webhooks", f"the store could not be reached to create its webhooks ({e}); trying again")
            raise  # rq retries it on RETRY_INTERVALS
        clear_alert(shop, "store")
        jc.session.commit()
        logger.info("store connected: webhooks set up", extra={"shop_id": shop_id,
                                                               "webhooks": [s.action for s in states]})  # fmt: skip
        return [(state.topic, state.action) for state in states]


def _flag(jc, shop: Shop, kind: str, message: str) -> None:
    jc.session.rollback()
    raise_alert(shop, kind, message[:500])
    jc.session.commit()
    logger.warning("setting up a connected store failed: %s", message[:500], extra={"shop_id": shop.id})
