"""What each Shopify webhook topic does to the model."""
from __future__ import annotations

import logging

from adapters.errors import PayloadError, ProviderRejected
from adapters.platforms.shopify import payloads
from integration.models import Order, Shop
from integration.returns import Actor, ReturnMethod, ReturnSource
from integration.services import orders, returns
from integration.services.orders import OrderNotKnown
from integration.services.shops import uninstall_shop
from jobs.context import JobContext

__all__ = ["HANDLERS", "fetch_payments"]

logger = logging.getLogger(__name__)

PAID = ("paid", "partially_paid", "partially_refunded", "refunded")


def fetch_payments(jc: JobContext, shop: Shop, order: Order) -> None:
    """Read the order's transactions from the Admin API: webhooks do not carry them."""
    gid = order.platform_gid or f"gid://shopify/Order/{order.platform_order_id}"
    orders.record_payments(jc.session, order, jc.shopify(shop).order_payments(gid))


def on_order(jc: JobContext, shop: Shop, payload: dict) -> None:
    order, _ = orders.upsert_order(jc.session, shop.id, payloads.parse_order(payload))
    jc.session.commit()
    if order.financial_status in PAID and order.payments_synced_at is None:
        try:
            fetch_payments(jc, shop, order)
        except ProviderRejected as e:
            # The snapshot is kept; the refund job fetches payments again when it needs them.
            logger.warning("could not read payments: %s", e, extra={"order_id": order.id})
            jc.session.rollback()
            return
        jc.session.commit()


def on_refund(jc: JobContext, shop: Shop, payload: dict) -> None:
    orders.record_shop_refund(jc.session, shop.id, payloads.parse_refund(payload))
    jc.session.commit()


def on_return_request(jc: JobContext, shop: Shop, payload: dict) -> None:
    data = payloads.parse_return_request(payload)
    if returns.return_by_platform_id(jc.ctx, shop, data.platform_return_id):
        return
    order = orders.order_by_platform_id(jc.session, shop.id, data.platform_order_id)
    if order is None:
        raise OrderNotKnown(f"order {data.platform_order_id} is not known yet")
    if not data.items:
        raise PayloadError("return request has no return_line_items")
    requests = [
        returns.ItemRequest(i.platform_line_id, i.quantity, i.reason, i.reason_note, i.platform_item_id)
        for i in data.items
    ]
    returns.open_return(
        jc.ctx, shop, order, requests, method=ReturnMethod.POSTAL.value, source=ReturnSource.SHOPIFY.value,
        actor=Actor.CUSTOMER, platform_return_id=data.platform_return_id, customer_note=data.customer_note,
        now=getattr(jc.event, "triggered_at", None),  # when Shopify saw the request, not when we got to it
    )  # fmt: skip


def _on_status(action: str):
    def handler(jc: JobContext, shop: Shop, payload: dict) -> None:
        change = payloads.parse_return_status(f"returns/{action}", payload)
        details = {k: v for k, v in (("reason", change.reason), ("note", change.note)) if v}
        if returns.apply_platform_status(jc.ctx, shop, change.platform_return_id, action, **details) is None:
            logger.info("return not opened through Palautus; ignored", extra={"platform_return_id": change.platform_return_id})

    handler.__name__ = f"on_return_{action}"
    return handler


def on_uninstalled(jc: JobContext, shop: Shop, payload: dict) -> None:
    uninstall_shop(jc.session, jc.app.extensions["vault"], shop)


HANDLERS = {
    "orders/create": on_order,
    "orders/updated": on_order,
    "orders/paid": on_order,
    "orders/cancelled": on_order,
    "refunds/create": on_refund,
    "returns/request": on_return_request,
    "returns/approve": _on_status("approve"),
    "returns/decline": _on_status("decline"),
    "returns/cancel": _on_status("cancel"),
    "returns/close": _on_status("close"),
    "app/uninstalled": on_uninstalled,
}
