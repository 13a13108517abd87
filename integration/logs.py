"""Logging: one record per line, with the ids passed in `extra` and the correlation id; never bodies or secrets.

LOG_FORMAT "text" (development) writes `time level logger: message key=value ...`; "json" (the default in
production) writes one JSON object per line (python-json-logger), for a log pipeline to index.

The correlation id ties a request to every job it causes: a request takes its caller's `X-Request-Id` (when it is
a plain token) or a new one, answers with it, and every job enqueued while it is handled carries it in the rq
job's meta; a job binds it again (jobs/context.py), so the refund a delivery led to logs the delivery's id, down
to each provider request id the adapters log (adapters/http.py).
"""
from __future__ import annotations

import logging
import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["configure_logging", "correlation_id", "correlated", "new_correlation_id", "accept_correlation_id"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_CORRELATION: ContextVar[str | None] = ContextVar("palautus_correlation_id", default=None)
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def correlation_id() -> str | None:
    return _CORRELATION.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def accept_correlation_id(given: str | None) -> str:
    """A caller's id when it is a plain token of at most 64 characters (it is logged), else a new one."""
    return given if given and _TOKEN.fullmatch(given) else new_correlation_id()


@contextmanager
def correlated(value: str | None):
    token = _CORRELATION.set(value)
    try:
        yield value
    finally:
        _CORRELATION.reset(token)


def bind(value: str | None):
    """Set the correlation id until `unbind(token)` (for hooks that cannot hold a `with`)."""
    return _CORRELATION.set(value)


def unbind(token) -> None:
    _CORRELATION.reset(token)


def _with_correlation(make):
    """A log record factory that stamps each record with the bound correlation id (so every handler sees it,
    pytest's caplog included)."""

    def factory(*args, **kwargs):
        record = make(*args, **kwargs)
        value = _CORRELATION.get()
        if value is not None:
            record.correlation_id = value
        return record

    factory._palautus = True
    return factory


class _ExtraFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        return line + "".join(f" {k}={v}" for k, v in extra.items())


def _json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})  # fmt: skip


def configure_logging(level: str, form: str = "text") -> None:
    """Log to stderr once per process, at `level`, as `form` ("text" or "json")."""
    root = logging.getLogger()
    if any(getattr(h, "_palautus", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._palautus = True
    if not getattr(logging.getLogRecordFactory(), "_palautus", False):
        logging.setLogRecordFactory(_with_correlation(logging.getLogRecordFactory()))
    handler.setFormatter(_json_formatter() if form == "json" else
                         _ExtraFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))  # fmt: skip
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin set-up chatter is not news
