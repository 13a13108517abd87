"""Honour a provider's Retry-After before handing a job back to rq's retry schedule."""
from __future__ import annotations

import logging
import time

from adapters.errors import ProviderError

__all__ = ["respect_retry_after", "MAX_WAIT_SECONDS"]

logger = logging.getLogger(__name__)

# rq's retry intervals are fixed when a job is enqueued, so a job told to wait
# (429 with Retry-After, Shopify's THROTTLED cost bucket) waits here first: its
# next attempt then never comes sooner than the provider asked. Longer waits are
# capped so one throttled shop cannot hold a worker for minutes; the retry
# intervals that follow are longer than this cap anyway.
MAX_WAIT_SECONDS = 30


_sleep = time.sleep  # replaced in tests


def respect_retry_after(error: ProviderError) -> float:
    """Sleep for the provider's Retry-After (capped); returns the seconds waited."""
    seconds = min(float(error.retry_after or 0), MAX_WAIT_SECONDS)
    if seconds > 0:
        logger.info("waiting as the provider asked", extra={"provider": error.provider, "seconds": seconds})
        _sleep(seconds)
    return seconds
