"""Two requests at the same moment: the second is refused, never a second refund or a lost change."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from integration.errors import Conflict
from integration.models import Refund, Return, Shop
from integration.policy import ReturnPolicy
from integration.services import refunds as book
from integration.services.context import Ctx
from integration.services.returns import approve_return
from integration.tasks import RecordingTasks
from jobs.context import new_ctx
from tests.conftest import auth
from tests.jobs.helpers import shopify_return


def test_two_refunds_written_at_once_cannot_both_exist(app, shop, post_webhook, work, shopify, db, client):
    ret = shopify_return(post_webhook, work, shopify, db)
    for action in ("approve", "in-transit"):
        client.post(f"/api/v1/returns/{ret.id}/{action}", json={}, headers=auth(shop[1]))
    database = app.extensions["db"]
    with database.session() as first, database.session() as second:
        policy = ReturnPolicy()
        a, b = first.get(Return, ret.id), second.get(Return, ret.id)
        routes = new_ctx(app, first).routes_for(first.get(Shop, a.shop_id))
        assert book.start_refund(first, a, policy, routes) is not None  # both saw no refund under way
        first.commit()
        with pytest.raises(Conflict):
            book.start_refund(second, b, policy, routes)
    db.expire_all()
    assert len(db.scalars(select(Refund)).all()) == 1


def test_a_return_changed_by_another_request_meanwhile_is_a_conflict_not_an_overwrite(
    app, shop, post_webhook, work, shopify, db, client
):
    ret = shopify_return(post_webhook, work, shopify, db)
    database = app.extensions["db"]
    with database.session() as stale:
        shop_row = stale.get(Shop, ret.shop_id)
        loaded = stale.get(Return, ret.id)  # loaded before the other request's change
        assert client.post(f"/api/v1/returns/{ret.id}/reject", json={}, headers=auth(shop[1])).status_code == 200
        with pytest.raises(Exception) as lost:
            approve_return(Ctx(stale, RecordingTasks()), shop_row, ret.id, "merchant")
        assert type(lost.value).__name__ == "StaleDataError"
        assert loaded is not None
    db.expire_all()
    assert db.get(Return, ret.id).status == "rejected"
