"""Fixtures of the customer side's privacy tests: those of the customer e-mail tests (a real SMTP server, a shop, its
orders and returns, use cases with a recording Tasks port), and a search of the whole database."""
from __future__ import annotations

import json

from integration.models import Base
from tests.messages.conftest import config, ctx, shop_row, smtp  # noqa: F401 - fixtures used here

__all__ = ["found"]


def found(db, *texts) -> list[tuple[str, str, str]]:
    """Where in the database any of `texts` appears (case-insensitive): every text, JSON and binary column."""
    db.expire_all()
    wanted, hits = [t.lower() for t in texts], []
    for table in Base.metadata.sorted_tables:
        for row in db.execute(table.select()).mappings():
            for column, value in row.items():
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                elif isinstance(value, (dict, list)):
                    value = json.dumps(value, ensure_ascii=False)
                if isinstance(value, str):
                    hits += [(table.name, column, value) for t in wanted if t in value.lower()]
    return hits
