"""Fixtures of the insight tests: the dashboard's signed-in browser and the API's key-holding client, reused from
their own folders, and the generated shop (tests/insight/world.py) written as the test shop's rows."""
from __future__ import annotations

import pytest

from tests.api.conftest import api, document, key  # noqa: F401 - the API client with the shop's key, the document
from tests.dashboard.conftest import browser, signed_in  # noqa: F401 - the dashboard's client, signed in
from tests.insight import world


@pytest.fixture
def generated(app, shop):
    """The generated world, written as the test shop's orders and returns: the world (its counts)."""
    counts = world.generate()
    with app.extensions["db"].session() as session:
        world.write(session, shop[0].id, counts)
    return counts
