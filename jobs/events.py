"""process_webhook: turn one stored delivery into changes on the model, through its platform adapter."""
from __future__ import annotations

import json
import logging

from adapters.errors import PayloadError, ProviderRejected, ProviderUnavailable
from integration.errors import PalautusError
from integration.models import Shop, WebhookEvent
from integration.services.inbox import EventStatus, mark_event
from integration.services.orders import OrderNotKnown
from jobs.context import JobContext, job_context
from jobs.shopify_events import HANDLERS as SHOPIFY

__all__ = ["process_webhook", "HANDLERS"]

logger = logging.getLogger(__name__)

# platform -> topic -> handler(jc, shop, payload)
HANDLERS = {"shopify": SHOPIFY}


class RetryLater(Exception):
    """Raised so rq retries the event with backoff; the reason is stored on the event."""


def process_webhook(event_id: int) -> None:
    """Apply one inbox event; repeats of a processed event do nothing."""
    with job_context() as jc:
        event = jc.session.get(WebhookEvent, event_id)
        if event is None or event.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
            return
        handler = HANDLERS.get(event.platform, {}).get(event.topic)
        event.attempts += 1
        if handler is None:
            logger.info("topic not handled; acknowledged", extra={"event_id": event.id, "topic": event.topic})
            mark_event(jc.session, event, EventStatus.IGNORED)
            return
        jc.session.commit()
        _run(jc, event, handler)


def _run(jc: JobContext, event: WebhookEvent, handler) -> None:
    extra = {"event_id": event.id, "topic": event.topic}
    try:
        handler(jc, jc.session.get(Shop, event.shop_id), json.loads(event.body))
    except (OrderNotKnown, ProviderUnavailable) as e:
        _fail(jc, event, str(e))
        logger.warning("event will be retried: %s", e, extra=extra)
        raise RetryLater(str(e)) from e
    except (PayloadError, ProviderRejected, PalautusError) as e:
        _fail(jc, event, str(e))
        logger.error("event failed: %s", e, extra=extra)
        return
    mark_event(jc.session, event, EventStatus.PROCESSED)
    logger.info("event processed", extra=extra)


def _fail(jc: JobContext, event: WebhookEvent, error: str) -> None:
    jc.session.rollback()
    mark_event(jc.session, jc.session.get(WebhookEvent, event.id), EventStatus.FAILED, error[:2000])
