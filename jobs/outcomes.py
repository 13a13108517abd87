"""The one place a job turns an outside system's failure into a retry or a recorded refusal."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable

from adapters.errors import ProviderRejected, ProviderUnavailable
from integration.errors import MissingCredentials
from jobs.backoff import respect_retry_after

__all__ = ["calling_out", "REFUSALS"]

logger = logging.getLogger(__name__)

# Failures that will happen again the same way until someone changes something.
REFUSALS = (ProviderRejected, MissingCredentials)


@contextmanager
def calling_out(session, what: str, *, on_refusal: Callable[[Exception], None],
                on_retry: Callable[[ProviderUnavailable], None] | None = None, **ids):  # fmt: skip
    """Run the body; a transient failure rolls back, is noted, waits out Retry-After and re-raises for rq;
    a refusal rolls back and is handed to `on_refusal`, which records it where people look."""
    try:
        yield
    except ProviderUnavailable as e:
        session.rollback()
        if on_retry is not None:
            on_retry(e)
        logger.warning("%s will be retried: %s", what, e, extra=ids)
        respect_retry_after(e)
        raise
    except REFUSALS as e:
        session.rollback()
        on_refusal(e)
        logger.error("%s refused: %s", what, e, extra=ids)
