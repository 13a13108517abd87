"""Logging: one line per record, with the ids passed in `extra`; never bodies or secrets."""
from __future__ import annotations

import logging

__all__ = ["configure_logging"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _ExtraFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        return line + "".join(f" {k}={v}" for k, v in extra.items())


def configure_logging(level: str) -> None:
    """Log to stderr once per process, at `level`."""
    root = logging.getLogger()
    if any(getattr(h, "_palautus", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._palautus = True
    handler.setFormatter(_ExtraFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin set-up chatter is not news
