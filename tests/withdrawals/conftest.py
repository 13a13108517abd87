"""A withdrawal's world: the Shopify test shop, its order #1106, statements submitted through the real use case.

Two collaborators are written by other engineers at the same time: `integration/services/messages.py`
(`withdrawal_received`, the acknowledgement) and `ReturnPolicy.for_withdrawal` (integration/policy.py). While
either is missing, a stand-in is patched in here, for these tests only; once they land, the real ones run.
"""
from __future__ import annotations

import types
from datetime import timedelta

import pytest
from sqlalchemy import select

from integration.models import Order, Shop, Withdrawal, utcnow
from tests.conftest import payload
from tests.jobs.helpers import ORDER

EMAIL = "aino.virtanen@example.com"  # the order's e-mail
NUMBER = "#1106"  # the order's name
ORDER_GID = "gid://shopify/Order/5196695273621"
WHOLE = 2 * 8490 + 1990 + 590  # two sweaters, socks and the shipping, VAT included (EUR minor units)


@pytest.fixture(autouse=True)
def acknowledgements(monkeypatch):
    """The withdrawal ids acknowledged (the real `messages.withdrawal_received` runs too)."""
    from integration.services import messages, withdrawals

    real, sent = messages.withdrawal_received, []

    def withdrawal_received(ctx, withdrawal):
        sent.append(withdrawal.id)
        real(ctx, withdrawal)

    monkeypatch.setattr(withdrawals, "messages", types.SimpleNamespace(withdrawal_received=withdrawal_received))
    return sent


@pytest.fixture
def order_arrives(post_webhook, work, shopify, db):
    """Order #1106 reaches Palautus, paid by `transactions` (Shopify's listing), neither shipped nor delivered
    unless said; returns the Order."""

    def _arrive(transactions, delivered_days_ago=None, shipped=False):
        shopify.transactions = list(transactions)
        assert post_webhook("orders/create", payload(ORDER), webhook_id="order-1").status_code == 200
        work()
        order = db.scalar(select(Order))
        order.fulfilled_at = utcnow() - timedelta(days=3) if shipped or delivered_days_ago is not None else None
        order.delivered_at = utcnow() - timedelta(days=delivered_days_ago) if delivered_days_ago is not None else None
        db.commit()
        return order

    return _arrive


@pytest.fixture
def submit(app, shop):
    """Submit a statement as the withdrawal function does (the portal's call); returns the Withdrawal's id."""
    from integration.services.withdrawals import submit_withdrawal
    from jobs.context import new_ctx

    def _submit(**fields):
        statement = {"customer_name": "Aino Virtanen", "email": EMAIL, "order_reference": NUMBER, **fields}
        with app.extensions["db"].session() as session:
            found = session.get(Shop, shop[0].id)
            return submit_withdrawal(new_ctx(app, session), found, **statement).id

    return _submit


def withdrawal(db, withdrawal_id: int) -> Withdrawal:
    db.expire_all()
    return db.get(Withdrawal, withdrawal_id)


def set_policy(db, shop, **policy) -> None:
    row = db.get(Shop, shop[0].id)
    row.policy = policy
    db.commit()
