"""The services tier: the refund rules against in-memory ports, in milliseconds.

An in-memory SQLite database built from the models, a Tasks port that only
records, and payment routes that only state their refund step: no web app, no
Redis, no HTTP. The rows are built directly, as the adapters' records would leave them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from integration.models import Base, Order, OrderLine, Payment, Return, ReturnItem, Shop, ShopRefund
from integration.services.context import Ctx
from integration.tasks import RecordingTasks

EARLIER = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Route:
    """A payment route as planning sees it."""

    step: int = 1

    def refund_step(self, currency: str) -> int:
        return self.step


@pytest.fixture
def ctx():
    """A fresh in-memory database per test (building it takes milliseconds), and the in-memory ports."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    Base.metadata.create_all(engine)
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    yield Ctx(session, RecordingTasks(), {"stripe": Route()})
    session.close()
    engine.dispose()


@pytest.fixture
def shop(ctx) -> Shop:
    shop = Shop(platform="shopify", domain="tier.myshopify.com", currency="EUR", api_key_hash="h" * 64,
                api_key_prefix="plt_tier", policy={})  # fmt: skip
    ctx.session.add(shop)
    ctx.session.flush()
    return shop


def make_order(ctx, shop, lines=((2, 8490, 3286), (1, 1990, 385)), paid=(("1001", "stripe", 18970),),
               currency="EUR", shipping=(590, 114)) -> Order:  # fmt: skip
    """An order whose lines are (quantity, unit price, line tax), taxes included, VAT 24 %, paid by `paid`."""
    order = Order(shop_id=shop.id, platform_order_id="5001", name="#5001", currency=currency, shop_currency=currency,
                  taxes_included=True, financial_status="paid", platform_updated_at=EARLIER, processed_at=EARLIER,
                  shipping_total=shipping[0], shipping_tax=shipping[1], shipping_tax_rate=Decimal("0.24"))  # fmt: skip
    for n, (quantity, price, tax) in enumerate(lines, 1):
        order.lines.append(OrderLine(platform_line_id=str(100 + n), title=f"line {n}", quantity=quantity,
                                     unit_price=price, tax_total=tax, tax_rate=Decimal("0.24")))  # fmt: skip
    for transaction, provider, amount in paid:
        order.payments.append(Payment(platform_transaction_id=transaction, provider=provider, gateway=provider,
                                      payment_id=f"pi_{transaction}", kind="sale", amount=amount, currency=currency,
                                      platform_managed=provider != "stripe"))  # fmt: skip
    ctx.session.add(order)
    ctx.session.flush()
    return order


def make_return(ctx, shop, order, items, status="received", requested=EARLIER, code=None) -> Return:
    """A return of `items` [(line index from 1, units)], already in `status`."""
    ret = Return(shop_id=shop.id, order=order, code=code or f"TIER-{len(order.lines)}{requested:%H%M%S%f}",
                 status=status, method="postal", source="merchant_api", requested_at=requested)  # fmt: skip
    for index, units in items:
        ret.items.append(ReturnItem(order_line=order.lines[index - 1], quantity=units, reason="other"))
    ctx.session.add(ret)
    ctx.session.flush()
    return ret


def admin_refund(ctx, order, lines, at, return_id=None, shipping=False, parents=("1001",)) -> ShopRefund:
    """A refund the merchant made in the shop's admin: units per line [(line index, units)]."""
    row = ShopRefund(order_id=order.id, platform_refund_id=f"r{at:%H%M%S%f}", amount=0, currency=order.currency,
                     lines=[{"platform_line_id": order.lines[i - 1].platform_line_id, "quantity": n} for i, n in lines],
                     parent_transaction_ids=list(parents), platform_return_id=return_id, created_at=at,
                     shipping_refunded=shipping)  # fmt: skip
    ctx.session.add(row)
    ctx.session.flush()
    ctx.session.expire(order, ["shop_refunds"])
    return row


def after(minutes: int) -> datetime:
    return EARLIER + timedelta(minutes=minutes)
