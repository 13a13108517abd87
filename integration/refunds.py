"""Refund planning: what a return is worth, computed purely so the portal can preview it.

`plan_refund` has no I/O. `jobs/refunds.py: push_refund` performs the plan.
"""
from __future__ import annotations

from dataclasses import dataclass
import re
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

from integration.money import prorate
from integration.returns import Reason

__all__ = [
    "RefundStatus", "REFUND_TRANSITIONS", "IN_FLIGHT", "LIVE", "refund_sources", "ShippingToRefund", "LineToRefund", "PlannedLine", "Fees", "RefundPlan", "plan_refund", "note_reference",
    "referenced_key", "SELLER_FAULT",
]  # fmt: skip

# How a refund recorded in the shop names the Palautus refund it came from, so the
# shop's echo of it (a refunds/create webhook) is known as ours, not as a second refund.
_REFERENCE = re.compile(r"\[palautus:([A-Za-z0-9_.:-]+)\]")


def note_reference(idempotency_key: str) -> str:
    return f"[palautus:{idempotency_key}]"


def referenced_key(note: str | None) -> str | None:
    """The Palautus refund key a shop refund's note names, if it names one."""
    match = _REFERENCE.search(note or "")
    return match[1] if match else None


class RefundStatus(str, Enum):
    PENDING = "pending"  # written, not yet sent to the provider
    SUBMITTED = "submitted"  # sent; the provider accepted it or we await its answer
    SUCCEEDED = "succeeded"
    FAILED = "failed"


R = RefundStatus

# The only moves a refund can make. Once submitted, the provider may hold it: from
# then on only the provider's own final word (succeeded, or failed/canceled) ends it.
# A submitted refund may be "submitted" again: a retry re-sends the same request.
REFUND_TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    R.PENDING: frozenset({R.SUBMITTED, R.FAILED}),
    R.SUBMITTED: frozenset({R.SUBMITTED, R.SUCCEEDED, R.FAILED}),
    R.SUCCEEDED: frozenset(),
    R.FAILED: frozenset(),
}
IN_FLIGHT = (R.PENDING, R.SUBMITTED)
LIVE = (R.PENDING, R.SUBMITTED, R.SUCCEEDED)  # counted against what is left to refund


def refund_sources(target: RefundStatus) -> tuple[str, ...]:
    """The statuses a refund may be in to move to `target`: what a compare-and-set update checks."""
    return tuple(s.value for s, targets in REFUND_TRANSITIONS.items() if RefundStatus(target) in targets)



@dataclass(frozen=True)
class LineToRefund:
    """Units of one order line to refund, with what the customer paid for the whole line."""

    order_line_id: int
    quantity: int
    line_quantity: int
    already_refunded: int
    unit_price: int
    discount_total: int
    tax_total: int
    tax_rate: Decimal
    taxes_included: bool
    return_item_id: int | None = None
    seller_fault: bool = False  # the item came back for the shop's fault (SELLER_FAULT): no fees on its account
    deduction: int = 0  # diminished value recorded at receipt for these units, tax included

    @property
    def line_paid(self) -> int:
        """What the customer paid for the whole line, tax included."""
        gross = self.unit_price * self.line_quantity - self.discount_total
        return gross if self.taxes_included else gross + self.tax_total


@dataclass(frozen=True)
class PlannedLine:
    order_line_id: int
    return_item_id: int | None
    quantity: int
    amount: int  # tax included
    tax: int
    tax_rate: Decimal


# Reasons that are the shop's fault, not the customer's choice: a return for one of them pays no fees.
SELLER_FAULT = frozenset({Reason.DEFECTIVE.value, Reason.DAMAGED_IN_TRANSIT.value, Reason.WRONG_ITEM.value,
                          Reason.NOT_AS_DESCRIBED.value})  # fmt: skip


@dataclass(frozen=True)
class Fees:
    """Deductions the shop's policy names; `plan_refund` waives them for the shop's faults."""

    restocking_percent: Decimal = Decimal(0)
    return_shipping: int = 0


@dataclass(frozen=True)
class ShippingToRefund:
    """The order's shipping, given back in full: what the customer paid for it, tax included, and its VAT."""

    amount: int
    tax: int
    tax_rate: Decimal


@dataclass(frozen=True)
class RefundPlan:
    currency: str
    lines: tuple[PlannedLine, ...]
    subtotal: int  # lines, tax included, before fees
    fees: dict[str, int]  # deductions by name: restocking, return_shipping, diminished_value (see _fees)
    amount: int  # what goes back to the customer
    tax: int  # VAT contained in the amount that goes back
    vat: dict[str, int]  # the same per rate ("0.24" -> minor units)
    owed: int = 0  # what the customer is owed: the subtotal less fees
    capped: bool = False  # the payment had less left to refund than the customer is owed
    shipping: int = 0  # of the subtotal, the order's shipping given back (tax included)
    # Where the amount comes from when one route refunds several of the order's payments in one request
    # (Shopify: a card and a gift card): (payment row id, amount) each; empty for one payment.
    parts: tuple[tuple[int, int], ...] = ()
    # The shipping's VAT and rate as the sale had them (before any fee shrank the refund): what the books credit.
    shipping_tax: int = 0
    shipping_rate: Decimal = Decimal(0)


def _plan_line(line: LineToRefund) -> PlannedLine:
    args = (line.line_quantity, line.quantity, line.already_refunded)
    return PlannedLine(
        order_line_id=line.order_line_id,
        return_item_id=line.return_item_id,
        quantity=line.quantity,
        amount=prorate(line.line_paid, *args),
        tax=prorate(line.tax_total, *args),
        tax_rate=line.tax_rate,
    )


def _fees(lines: list[LineToRefund], planned: list[tuple[LineToRefund, PlannedLine]], fees: Fees) -> dict[str, int]:
    """The deductions, named: restocking, return shipping, diminished value."""
    # The rule for a return that is partly the shop's fault (SELLER_FAULT): the restocking fee is a share of the
    # other items' value only (after their diminished value), and the return shipping fee is waived for the whole
    # return as soon as one item is the shop's fault, since that parcel has to come back anyway. A return with no
    # fault pays both in full; one that is all fault pays neither. Diminished value is each item's deduction,
    # never more than the item is refunded. A percentage fee rounds half up to the minor unit; the rest is exact.
    cut = [(line, p.amount, min(max(line.deduction, 0), p.amount)) for line, p in planned]
    base = sum(amount - diminished for line, amount, diminished in cut if not line.seller_fault)
    restocking = int((Decimal(base) * fees.restocking_percent / 100).quantize(Decimal(1), ROUND_HALF_UP))
    shipping = 0 if any(line.seller_fault for line in lines) else fees.return_shipping
    named = {"restocking": restocking, "return_shipping": shipping, "diminished_value": sum(d for _, _, d in cut)}
    return {name: value for name, value in named.items() if value}


def _vat(taxed: list[tuple[int, Decimal]]) -> dict[str, int]:
    vat: dict[str, int] = {}
    for tax, rate in taxed:
        if tax:
            key = str(rate.normalize())
            vat[key] = vat.get(key, 0) + tax
    return vat


def plan_refund(lines: list[LineToRefund], currency: str, fees: Fees, refundable: int, step: int = 1,
                shipping: ShippingToRefund | None = None) -> RefundPlan:  # fmt: skip
    """Price the lines (and the order's shipping, when it goes back), deduct fees, never exceed the payment.

    `step` is the smallest amount the payment's route can refund (Stripe takes
    three-decimal currencies in whole tens of their minor unit): the amount is
    rounded down to it, toward the merchant as everywhere, and a shortfall of less
    than one step does not count as capped.
    """
    pairs = [(line, _plan_line(line)) for line in lines if line.quantity > 0]
    planned = tuple(p for _, p in pairs)
    goods = sum(line.amount for line in planned)
    deductions = _fees(lines, pairs, fees)  # a restocking fee is a share of the goods, never of the shipping
    subtotal = goods + (shipping.amount if shipping else 0)
    owed = max(subtotal - sum(deductions.values()), 0)
    amount = min(owed, max(refundable, 0))
    amount -= amount % max(step, 1)
    taxed = [(line.tax, line.tax_rate) for line in planned] + ([(shipping.tax, shipping.tax_rate)] if shipping else [])
    vat = _vat(taxed)
    if amount < subtotal:
        # Less goes back than the goods are worth (fees kept, or a payment with less left):
        # the VAT in the refund shrinks in the same proportion, rounded down (toward the
        # merchant, as everywhere). A kept fee thus carries its share of VAT, as a sale would.
        vat = {rate: tax * amount // subtotal for rate, tax in vat.items()}
    return RefundPlan(
        currency=currency, lines=planned, subtotal=subtotal, fees=deductions, amount=amount,
        tax=sum(vat.values()), vat=vat, owed=owed, capped=owed - amount >= max(step, 1),
        shipping=shipping.amount if shipping else 0, shipping_tax=shipping.tax if shipping else 0,
        shipping_rate=shipping.tax_rate if shipping else Decimal(0),
    )  # fmt: skip
