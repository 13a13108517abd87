"""WooCommerce never retries: while Palautus is unreachable the store's deliveries are lost and its webhooks
get disabled. The catch-up job reads the orders modified meanwhile and turns the webhooks back on."""
from __future__ import annotations

from sqlalchemy import select

from adapters.platforms.woocommerce.platform import TOPICS
from integration.models import Order, Shop
from jobs.catch_up import catch_up


def test_an_order_whose_delivery_never_came_is_caught_up_and_the_disabled_webhooks_repaired(app, hooked, store, stripe, db):
    shop_id = hooked[0].id
    store.unreachable = True
    orders = [store.create_order([("BEANIE-RED", 1)], stripe=stripe) for _ in range(8)]  # 8 lost deliveries
    hook = next(w for w in store.webhooks.values() if w["topic"] == "order.created")
    assert hook["status"] == "disabled" and db.scalar(select(Order)) is None
    store.unreachable = False

    with app.app_context():
        assert catch_up() == {shop_id: 8}
    assert sorted(int(o.platform_order_id) for o in db.scalars(select(Order))) == sorted(o["id"] for o in orders)
    assert all(o.payments and o.payments[0].provider == "stripe" for o in db.scalars(select(Order)))
    assert hook["status"] == "active" and len(store.webhooks) == len(TOPICS)  # turned back on, none duplicated
    shop = db.get(Shop, shop_id)
    assert "order.created disabled" in shop.alerts["webhooks"]["message"] and "repaired" in shop.alerts["webhooks"]["message"]
    assert shop.synced_until is not None

    with app.app_context():
        assert catch_up() == {shop_id: 0}  # nothing new: nothing applied twice
    store.create_order([("SOCKS-WOOL-3", 1)], stripe=stripe)  # delivered again now
    assert store.answers[-1] == 200


def test_a_store_that_refuses_palautus_is_flagged_and_the_others_go_on(app, hooked, store, db, http):
    store.consumer_secret = "cs_rotated_by_the_merchant"
    with app.app_context():
        assert catch_up() == {hooked[0].id: 0}
    assert "refused Palautus" in db.get(Shop, hooked[0].id).alerts["store"]["message"]
