"""process_webhook: turn one stored delivery into changes on the model, through its platform adapter."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from adapters.errors import PayloadError, ProviderRejected, ProviderUnavailable
from integration.errors import PalautusError
from integration.models import Shop, WebhookEvent, utcnow
from integration.services.inbox import EventStatus, mark_event
from integration.services.orders import OrderNotKnown
from jobs.backoff import respect_retry_after
from jobs.context import JobContext, job_context
from jobs.shopify_events import HANDLERS as SHOPIFY

__all__ = ["process_webhook", "HANDLERS"]

logger = logging.getLogger(__name__)

# platform -> topic -> handler(jc, shop, payload)
HANDLERS = {"shopify": SHOPIFY}


# rq retries an event a few times within the hour; after that the sweeper keeps
# trying with a growing pause (a return request can come hours before its order),
# until MAX_ATTEMPTS, when the event is marked failed for an operator to look at.
MAX_ATTEMPTS = 30
MAX_PAUSE = timedelta(hours=2)


class RetryLater(Exception):
    """Raised so rq retries the event with backoff; the reason is stored on the event."""


def _pause(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2**attempts), MAX_PAUSE)


def process_webhook(event_id: int) -> None:
    """Apply one inbox event; repeats of a processed event do nothing."""
    with job_context() as jc:
        event = jc.session.get(WebhookEvent, event_id)
        if event is None or event.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
            return
        handler = HANDLERS.get(event.platform, {}).get(event.topic)
        if event.attempts >= MAX_ATTEMPTS:
            mark_event(jc.session, event, EventStatus.FAILED, f"gave up after {event.attempts} attempts: {event.error}")
            return
        event.attempts += 1
        if handler is None:
            logger.info("topic not handled; acknowledged", extra={"event_id": event.id, "topic": event.topic})
            mark_event(jc.session, event, EventStatus.IGNORED)
            return
        jc.session.commit()
        jc.event = event
        _run(jc, event, handler)


def _run(jc: JobContext, event: WebhookEvent, handler) -> None:
    extra = {"event_id": event.id, "topic": event.topic}
    try:
        handler(jc, jc.session.get(Shop, event.shop_id), json.loads(event.body))
    except (OrderNotKnown, ProviderUnavailable) as e:
        _fail(jc, event, str(e), retry=True)
        logger.warning("event will be retried: %s", e, extra=extra)
        if isinstance(e, ProviderUnavailable):
            respect_retry_after(e)
        raise RetryLater(str(e)) from e
    except (PayloadError, ProviderRejected, PalautusError) as e:
        _fail(jc, event, str(e), retry=False)
        logger.error("event failed: %s", e, extra=extra)
        return
    except Exception as e:  # a bug, or a database hiccup: keep it visible, and let rq retry it
        _fail(jc, event, f"unexpected {type(e).__name__}", retry=True)
        raise
    mark_event(jc.session, event, EventStatus.PROCESSED)
    logger.info("event processed", extra=extra)


def _fail(jc: JobContext, event: WebhookEvent, error: str, retry: bool) -> None:
    jc.session.rollback()
    event = jc.session.get(WebhookEvent, event.id)
    if retry:
        mark_event(jc.session, event, EventStatus.RETRYING, error[:2000], utcnow() + _pause(event.attempts))
    else:
        mark_event(jc.session, event, EventStatus.FAILED, error[:2000])
