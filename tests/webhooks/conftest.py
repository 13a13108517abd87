"""Helpers for the webhook tests: what the inbox holds and what the queue holds, read fresh."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from integration.models import WebhookEvent

ORDER = "orders__create.eur_presentment.json"
RETURN_REQUEST = "returns__request.two_items.json"
ORDER_ID = "5196695273621"


def fresh(session):
    """The session, ready to read what other sessions committed since.

    A new transaction (SQLite WAL keeps a snapshot per transaction) and nothing
    cached: with expire_on_commit=False, rows loaded earlier would otherwise be
    returned as they were.
    """
    session.rollback()
    session.expire_all()
    return session


@pytest.fixture
def inbox(db):
    """Every stored delivery, read fresh."""

    def _rows() -> list[WebhookEvent]:
        return fresh(db).scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()

    return _rows


@pytest.fixture
def queued(app):
    """The ids of the jobs waiting on the app's queue."""
    return lambda: app.extensions["tasks"].queue().job_ids


def assert_error(response, status: int, code: str | None = None) -> dict:
    """A failure answer: the status, a JSON body with "error" and "message", and no traceback."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = json.loads(response.get_data())
    assert isinstance(body.get("error"), str) and body["error"]
    assert isinstance(body.get("message"), str) and body["message"]
    if code:
        assert body["error"] == code
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    return body
