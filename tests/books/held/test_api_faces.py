"""The books' API faces (integration/api/books.py): what a merchant sends is checked before anything is worked out
from it, so a bad request is answered as one, never with a 500."""
from __future__ import annotations

import pytest

from integration.models import Shop
from tests.conftest import auth


@pytest.mark.parametrize("first, last", [("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02")])
def test_a_settlement_read_for_far_dates_is_refused_not_a_500(client, shop, db, first, last):
    """POST /settlements/read with `from`/`to` at the ends of the calendar, for a shop in Europe/Helsinki: a period
    there would run past 9999-12-31, or start before UTC's year 1. The days are held to 2000-2999, as the books'
    own periods are, before any period is built, so the merchant gets an answer below 500."""
    shop_row, key = shop
    row = db.get(Shop, shop_row.id)
    row.books = {"timezone": "Europe/Helsinki"}
    db.commit()
    answer = client.post("/api/v1/settlements/read", json={"route": "shopify", "from": first, "to": last},
                         headers=auth(key))  # fmt: skip
    assert answer.status_code < 500, answer.get_data(as_text=True)[:300]
