"""Fixtures of the credit-note tests: shops that issue notes (or not), and refunds walked to success through the
real use cases (open, approve, receive: the refund is planned; then the provider's success is booked), with a
Tasks port that records what was queued."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from integration.models import Order, OrderLine, Payment, Refund, Shop
from integration.refunds import RefundStatus
from integration.returns import Actor
from integration.services.context import Ctx
from integration.services.refunds import refund_succeeded, set_status
from integration.services.returns import ItemRequest, approve_return, open_return, receive_return
from integration.tasks import RecordingTasks

SELLER = {"legal_name": "Kenkä ja Sukka Oy", "address": "Esplanadi 1\n00130 Helsinki", "vat_id": "FI12345678",
          "email": "asiakaspalvelu@example.fi"}  # fmt: skip
SALE_2026 = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
SALE_2025 = datetime(2025, 12, 20, 9, 30, tzinfo=timezone.utc)  # Finland's standard rate was 25.5 %, food's 14 %


@dataclass(frozen=True)
class Line:
    """An order line: units bought, the unit price and the line's tax (taxes included), the sale's rate."""

    line_id: str
    title: str
    sku: str
    quantity: int
    unit_price: int
    tax_total: int
    rate: str


SHOE = Line("L1", "Nahkakenkä", "SHOE-42", 1, 12550, 2550, "0.255")  # 125.50 at 25.5 %: VAT 25.50
SOCKS = Line("L2", "Villasukat", "SOCKS-3", 2, 1990, 806, "0.255")  # 2 × 19.90 at 25.5 %: VAT 8.06
COFFEE = Line("L3", "Kahvipaketti", "COFFEE-500", 1, 1140, 140, "0.14")  # 11.40 at 14 %: VAT 1.40


@dataclass
class Refunded:
    """A refund walked to success: its id, and what was queued on the way."""

    refund_id: int
    return_id: int
    queued: list = field(default_factory=list)


@pytest.fixture
def issuing_shop(app, register):
    """A shop that has Palautus issue its credit notes (its profile as on its documents)."""
    shop, key = register()
    return _configure(app, shop.id, {"credit_notes": True}), key


@pytest.fixture
def second_shop(app, register):
    shop, key = register(domain="toinen-kauppa.myshopify.com")
    return _configure(app, shop.id, {"credit_notes": True, "credit_note_prefix": "HY-"}), key


@pytest.fixture
def erp_shop(app, register):
    """A shop whose ERP issues its own credit notes: Palautus issues none."""
    shop, key = register(domain="erp-kauppa.myshopify.com")
    return _configure(app, shop.id, {"credit_notes": False}), key


def _configure(app, shop_id: int, books: dict) -> int:
    with app.extensions["db"].session() as session:
        shop = session.get(Shop, shop_id)
        shop.books, shop.profile = books, dict(SELLER)
        session.commit()
    return shop_id


@pytest.fixture
def refunded(app):
    """`refunded(shop_id, lines, ...)`: an order of `lines` paid by card, all of it returned, received and refunded;
    the provider said the refund succeeded."""
    counter = iter(range(1001, 2000))

    def _refunded(shop_id: int, lines=(SHOE, SOCKS), sold_at=SALE_2026, policy=None, track="return",
                  shipping=(590, 150, "0.255"), reason="size_too_small") -> Refunded:  # fmt: skip
        with app.extensions["db"].session() as session:
            shop = session.get(Shop, shop_id)
            shop.policy = {"window_days": 400, **(policy or {})}
            order = _order(session, shop, f"{next(counter)}", lines, sold_at, shipping)
            tasks = RecordingTasks()
            ctx = Ctx(session, tasks, app.extensions["providers"], app.extensions["gateways"])
            requests = [ItemRequest(line.line_id, line.quantity, reason) for line in lines]
            ret = open_return(ctx, shop, order, requests, method="postal", source="portal", actor=Actor.CUSTOMER,
                              track=track)  # fmt: skip
            if ret.status == "requested":
                approve_return(ctx, shop, ret.id, Actor.MERCHANT)
            receive_return(ctx, shop, ret.id, Actor.MERCHANT)  # refund_on=received: the refund is planned now
            refund = session.scalar(select(Refund).where(Refund.return_id == ret.id))
            assert set_status(session, refund, RefundStatus.SUBMITTED)
            session.commit()
            refund_succeeded(ctx, refund, provider_refund_id=f"re_{refund.id}", provider_status="succeeded")
            return Refunded(refund.id, ret.id, list(tasks.calls))

    return _refunded


def _order(session, shop: Shop, number: str, lines, sold_at: datetime, shipping) -> Order:
    shipping_total, shipping_tax, shipping_rate = shipping
    total = sum(line.unit_price * line.quantity for line in lines) + shipping_total
    order = Order(shop_id=shop.id, platform_order_id=number, name=f"#{number}", email="asiakas@example.fi",
                  currency="EUR", shop_currency="EUR", taxes_included=True, financial_status="paid", total=total,
                  shipping_total=shipping_total, shipping_tax=shipping_tax, shipping_tax_rate=Decimal(shipping_rate),
                  platform_updated_at=sold_at, processed_at=sold_at, payments_synced_at=sold_at, tax_country="FI")  # fmt: skip
    order.lines = [OrderLine(platform_line_id=line.line_id, title=line.title, sku=line.sku, quantity=line.quantity,
                             unit_price=line.unit_price, tax_total=line.tax_total, tax_rate=Decimal(line.rate))
                   for line in lines]  # fmt: skip
    order.payments = [Payment(platform_transaction_id=f"t{number}", provider="stripe", gateway="stripe",
                              payment_id=f"pi_{number}", kind="sale", amount=total, currency="EUR")]  # fmt: skip
    session.add(order)
    session.flush()
    return order
