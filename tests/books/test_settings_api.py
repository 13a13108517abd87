"""The bookkeeping settings through the API: defaults, a change, and bad input that changes nothing."""
from __future__ import annotations

from datetime import datetime

from integration.models import Shop
from tests.conftest import auth


def settings(client, key):
    answer = client.get("/api/v1/books/settings", headers=auth(key))
    assert answer.status_code == 200
    return answer.get_json()


def test_the_defaults_are_the_finnish_chart_in_utc_without_credit_notes(client, shop):
    _, key = shop
    got = settings(client, key)
    assert (got["credit_notes"], got["chart"], got["timezone"], got["credit_note_prefix"]) == (False, "fi", "UTC", "")
    assert got["accounts"]  # the effective map: the chart's defaults


def test_credit_notes_wait_for_the_seller_s_name_address_and_vat_id(client, shop, db):
    shop_row, key = shop
    refused = client.put("/api/v1/books/settings", json={"credit_notes": True}, headers=auth(key))
    assert refused.status_code == 409 and "legal_name, address, vat_id" in refused.get_json()["message"]
    assert settings(client, key)["credit_notes"] is False
    db.get(Shop, shop_row.id).profile = {"legal_name": "Kenkä ja Sukka Oy", "address": "Esplanadi 1, Helsinki",
                                         "vat_id": "FI12345678"}  # fmt: skip
    db.commit()
    assert client.put("/api/v1/books/settings", json={"credit_notes": True}, headers=auth(key)).status_code == 200


def test_turning_credit_notes_on_records_since_when_and_a_bad_change_changes_nothing(client, shop, db):
    shop_row, key = shop
    db.get(Shop, shop_row.id).profile = {"legal_name": "Kenkä ja Sukka Oy", "address": "Esplanadi 1, Helsinki",
                                         "vat_id": "FI12345678"}  # fmt: skip
    db.commit()
    changed = client.put("/api/v1/books/settings", json={"credit_notes": True, "timezone": "Europe/Helsinki",
                                                         "chart": "bas", "credit_note_prefix": "HY-"}, headers=auth(key))  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["chart"], changed.get_json()["timezone"]) == ("bas", "Europe/Helsinki")
    books = db.get(Shop, shop_row.id).books
    since = datetime.fromisoformat(books["credit_notes_since"])
    for bad, word in (({"timezone": "Mars/Olympus"}, "timezone"), ({"chart": "us-gaap"}, "chart"),
                      ({"credit_notes_since": "2020-01-01T00:00:00+00:00"}, "credit_notes_since"),
                      ({"credit_note_prefix": "a b"}, "credit_note_prefix"), ({"accounts": {"nonsense": 1}}, "nonsense")):  # fmt: skip
        answer = client.put("/api/v1/books/settings", json=bad, headers=auth(key))
        assert answer.status_code == 400 and word in str(answer.get_json()), (bad, answer.get_json())
    db.expire_all()
    assert db.get(Shop, shop_row.id).books == books
    # Saved again with notes still on: the moment they were turned on stays.
    client.put("/api/v1/books/settings", json={"credit_notes": True}, headers=auth(key))
    db.expire_all()
    assert datetime.fromisoformat(db.get(Shop, shop_row.id).books["credit_notes_since"]) == since
