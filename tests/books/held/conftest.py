"""Fixtures of the ledger, reconciliation, credit-note and journal tests here: rows built straight in the database
(orders, payments, our refunds, shop refunds, payouts), so each case is set up with exactly the data it needs. The
credit-note fixtures are reused as they are."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from integration.models import Order, OrderLine, Payment, Refund, Return, ReturnItem, ShopRefund
from integration.records import Settlement, SettlementMovement
from integration.services.books import Period, ledger
from integration.services.settlements import store_settlement
from tests.credit_notes.conftest import issuing_shop, refunded  # noqa: F401 - fixtures

UTC = timezone.utc


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def order(db, shop_id: int, number: str = "1001", lines=((2, 5000, 968, "0.24"),), payments=(("stripe", "pi_1", 10000, False),),
          shipping=(0, 0, "0"), sold=at("2026-01-02"), currency="EUR") -> Order:  # fmt: skip
    """An order (taxes included, Finland): lines (quantity, unit price, line tax, rate), payments (provider,
    payment id, amount, stored value)."""
    total = sum(q * p for q, p, _, _ in lines) + shipping[0]
    row = Order(shop_id=shop_id, platform_order_id=number, name=f"#{number}", currency=currency, shop_currency="EUR",
                taxes_included=True, financial_status="paid", total=total, shipping_total=shipping[0],
                shipping_tax=shipping[1], shipping_tax_rate=Decimal(shipping[2]), platform_updated_at=sold,
                processed_at=sold, tax_country="FI")  # fmt: skip
    row.lines = [OrderLine(platform_line_id=f"L{i}", title=f"Item {i}", quantity=q, unit_price=p, tax_total=t,
                           tax_rate=Decimal(r)) for i, (q, p, t, r) in enumerate(lines, 1)]  # fmt: skip
    row.payments = [Payment(platform_transaction_id=f"t{number}-{i}", provider=prov, gateway=prov, payment_id=pid,
                            kind="sale", amount=amount, currency=currency, platform_managed=prov != "stripe",
                            stored_value=stored) for i, (prov, pid, amount, stored) in enumerate(payments, 1)]  # fmt: skip
    db.add(row)
    db.flush()
    return row


def our_refund(db, o: Order, amount: int, *, status="succeeded", completed=at("2026-01-10"), route="stripe",
               provider="stripe", provider_refund_id="re_1", lines=None, vat=None, shipping=0, fees=None,
               parts=(), code="R1", payment=None) -> Refund:  # fmt: skip
    """Our refund of the order's first line (or `lines` as Refund.lines has them)."""
    line = o.lines[0]
    ret = Return(shop_id=o.shop_id, order_id=o.id, code=code, status="refunded", method="postal", source="portal")
    ret.items = [ReturnItem(order_line_id=line.id, quantity=1, reason="size_too_small")]
    db.add(ret)
    db.flush()
    tax = prorate_tax(line)
    refund = Refund(return_id=ret.id, sequence=1, idempotency_key=f"palautus-{o.shop_id}-{code}-1", amount=amount,
                    currency=o.currency, tax=sum((vat or {"0.24": tax}).values()), vat=vat or {"0.24": tax},
                    fees=fees or {}, shipping=shipping,
                    lines=lines if lines is not None else [{"order_line_id": line.id, "return_item_id": ret.items[0].id,
                                                            "quantity": 1, "amount": line.unit_price, "tax": tax,
                                                            "tax_rate": str(line.tax_rate)}],
                    provider=provider, route=route, parts=list(parts), status=status,
                    provider_refund_id=provider_refund_id, completed_at=completed,
                    payment_id=(payment or o.payments[0]).id)  # fmt: skip
    db.add(refund)
    db.flush()
    return refund


def prorate_tax(line) -> int:
    return line.tax_total // line.quantity


def shop_refund(db, o: Order, platform_refund_id: str, amount: int, created=at("2026-01-12"), lines=(), refund_id=None,
                by_parent=None) -> ShopRefund:  # fmt: skip
    row = ShopRefund(order_id=o.id, platform_refund_id=platform_refund_id, amount=amount, currency=o.currency,
                     lines=[{"platform_line_id": pl, "quantity": q} for pl, q in lines],
                     parent_transaction_ids=list(by_parent or {}), refunded_by_parent=dict(by_parent or {}),
                     created_at=created, refund_id=refund_id)  # fmt: skip
    db.add(row)
    db.flush()
    return row


def payout(db, shop, route: str, settlement_id: str, *movements: SettlementMovement, net: int | None = None):
    total = sum(m.amount - m.fee for m in movements if m.kind != "payout")
    row = store_settlement(db, shop, route, Settlement(route, settlement_id, "EUR", total if net is None else net,
                                                       "paid", None, tuple(movements)))  # fmt: skip
    db.commit()
    return row


def rows(db, shop, first: str, last: str, zone=None):
    period = Period(datetime.fromisoformat(first).date(), datetime.fromisoformat(last).date(), *([zone] if zone else []))
    return ledger(db, shop, period)


@pytest.fixture
def shop_row(shop, db):
    from integration.models import Shop

    return db.get(Shop, shop[0].id)
