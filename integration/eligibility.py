"""The checks a return request must pass, each a small named function: pure, stdlib only.

Each check is `(request, policy) -> str | None`; a string is a human-readable reason. Three lists:
CHECKS refuse the request (the decision is "all pass"); AUTO_APPROVAL_CHECKS only stop the policy from
approving it by itself (it waits for the merchant, it is never refused for them); NOTICES tell the merchant
and the customer something without refusing anything. The settings they read are integration/policy.py's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from integration.money import Money

__all__ = [
    "Track", "EXCEPTIONS", "ProductFacts", "RequestedItem", "ReturnRequest", "Decision", "CHECKS",
    "AUTO_APPROVAL_CHECKS", "NOTICES", "decide",
]  # fmt: skip


class Track(str, Enum):
    """Which rules a return is judged by (Return.track)."""

    RETURN = "return"  # the shop's voluntary returns, under its own policy
    WITHDRAWAL = "withdrawal"  # the statutory right of withdrawal: what ReturnPolicy.for_withdrawal leaves


# The law's own exceptions to the right of withdrawal (Directive 2011/83/EU art. 16), as the reasons name them.
EXCEPTIONS = {
    "custom_made": "made to the customer's specifications",  # art. 16(c)
    "perishable": "liable to deteriorate or expire rapidly",  # art. 16(d)
    "sealed_hygiene": "sealed for health protection or hygiene reasons",  # art. 16(e)
    "sealed_media": "sealed audio, video or software",  # art. 16(i)
}
# Sealed goods lose the right only once unsealed after delivery, which no request shows: they are noted
# (NOTICES), and the merchant, seeing them unsealed at receipt, records a deduction up to their value.
SEALED = ("sealed_hygiene", "sealed_media")


@dataclass(frozen=True)
class ProductFacts:
    """What the shop's catalogue says of a product (the Product row): its type and tags."""

    product_type: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestedItem:
    sku: str | None
    title: str
    quantity: int
    returnable_quantity: int  # bought, minus refunded and already in other returns
    reasons: tuple[str, ...] = ()  # the customer's reasons (Reason values) for these units
    gift_card: bool = False
    product: ProductFacts | None = None  # None: the product is not known, so no tag or type rule blocks it


@dataclass(frozen=True)
class ReturnRequest:
    method: str
    requested_at: datetime
    order_processed_at: datetime | None
    order_cancelled: bool
    financial_status: str | None
    order_removed: bool = False  # the shop put the order in its trash
    items: tuple[RequestedItem, ...] = field(default=())
    order_fulfilled_at: datetime | None = None  # when the last item left the shop
    order_delivered_at: datetime | None = None  # when the last item reached the customer
    order_total: int | None = None  # what the order cost, minor units of order_currency
    order_currency: str | None = None
    customer_returns: tuple[datetime, ...] = ()  # when the customer's earlier returns were asked for


def _window_start(request: ReturnRequest) -> tuple[datetime | None, str | None]:
    """Delivery where known, else dispatch, else the order date (the window's default start, not named)."""
    if request.order_delivered_at is not None:
        return request.order_delivered_at, "delivery"
    if request.order_fulfilled_at is not None:
        return request.order_fulfilled_at, "dispatch"
    return request.order_processed_at, None


def within_return_window(request: ReturnRequest, policy) -> str | None:
    if policy.track == Track.WITHDRAWAL.value:
        return None  # the legal period (14 days from delivery of the last item) is integration/withdrawal.py's check
    start, counted_from = _window_start(request)
    if start is None:
        return None
    deadline = start + timedelta(days=policy.window_days)
    if request.requested_at <= deadline:
        return None
    reason = f"the {policy.window_days}-day return window ended on {deadline.date().isoformat()}"
    return f"{reason} (counted from {counted_from} on {start.date().isoformat()})" if counted_from else reason


def order_is_paid(request: ReturnRequest, policy) -> str | None:
    if request.order_cancelled:
        return "the order was cancelled"
    if request.order_removed:
        return "the order was deleted in the shop"
    # Not paid, in the platforms' words: Shopify's financial statuses, WooCommerce's order statuses
    # (on-hold: a bank transfer not yet in, or a card only authorized).
    if request.financial_status in ("pending", "authorized", "voided", "expired", "failed", "on-hold"):
        return f"the order is not paid (it is {request.financial_status})"
    return None


def _blocked(request: ReturnRequest, why) -> str | None:
    """One reason naming each item `why` has something against, and what."""
    found = [f"{item.title} ({because})" for item in request.items if (because := why(item))]
    return f"not returnable: {', '.join(found)}" if found else None


def _matching(values, wanted) -> str | None:
    """The first of `values` that is one of `wanted`, compared without case (shops type tags both ways)."""
    folded = {w.strip().casefold() for w in wanted}
    return next((v for v in values if v and v.strip().casefold() in folded), None)


def skus_are_returnable(request: ReturnRequest, policy) -> str | None:
    skus = policy.non_returnable_skus
    return _blocked(request, lambda i: f"SKU {i.sku} is excluded" if i.sku and i.sku in skus else None)


def tags_are_returnable(request: ReturnRequest, policy) -> str | None:
    def why(item):
        tag = _matching(item.product.tags, policy.non_returnable_tags) if item.product else None
        return f"tagged {tag}" if tag else None

    return _blocked(request, why)


def product_types_are_returnable(request: ReturnRequest, policy) -> str | None:
    def why(item):
        kind = _matching([item.product.product_type], policy.non_returnable_product_types) if item.product else None
        return f"product type {kind}" if kind else None

    return _blocked(request, why)


def gift_cards_are_returnable(request: ReturnRequest, policy) -> str | None:
    return _blocked(request, lambda i: "a gift card" if i.gift_card and policy.non_returnable_gift_cards else None)


def not_final_sale(request: ReturnRequest, policy) -> str | None:
    tags = policy.final_sale_tags
    return _blocked(request, lambda i: "final sale" if i.product and _matching(i.product.tags, tags) else None)


def _exception(item: RequestedItem, policy, kinds) -> str | None:
    """The first of the law's exception `kinds` the item's tags put it in, if any."""
    tags = item.product.tags if item.product else ()
    return next((k for k in kinds if _matching(tags, policy.withdrawal_exceptions.get(k, ()))), None)


def not_a_statutory_exception(request: ReturnRequest, policy) -> str | None:
    if policy.track != Track.WITHDRAWAL.value:
        return None
    from_the_outset = [kind for kind in EXCEPTIONS if kind not in SEALED]

    def why(item):
        kind = _exception(item, policy, from_the_outset)
        return f"no right of withdrawal: {EXCEPTIONS[kind]}" if kind else None

    return _blocked(request, why)


def not_already_returned(request: ReturnRequest, policy) -> str | None:
    over = [i.title for i in request.items if i.quantity > i.returnable_quantity]
    return f"more units than can still be returned: {', '.join(over)}" if over else None


def within_unit_limit(request: ReturnRequest, policy) -> str | None:
    units = sum(i.quantity for i in request.items)
    limit = policy.max_units_per_return
    if not limit or units <= limit:
        return None
    return f"a return may hold at most {limit} unit{'s' if limit > 1 else ''}; this one holds {units}"


def method_is_offered(request: ReturnRequest, policy) -> str | None:
    if policy.track == Track.WITHDRAWAL.value:
        return None  # the right does not hang on how the goods travel back
    if policy.method(request.method) is None:
        return f"the shop does not offer {request.method} returns"
    return None


CHECKS = [
    within_return_window, order_is_paid, skus_are_returnable, tags_are_returnable, product_types_are_returnable,
    gift_cards_are_returnable, not_final_sale, not_a_statutory_exception, not_already_returned, within_unit_limit,
    method_is_offered,
]  # fmt: skip


def reasons_are_auto_approved(request: ReturnRequest, policy) -> str | None:
    if not policy.auto_approve_reasons:
        return None
    others = sorted({r for item in request.items for r in item.reasons} - set(policy.auto_approve_reasons))
    return f"returns for {', '.join(others)} are approved by the merchant" if others else None


def order_value_is_auto_approved(request: ReturnRequest, policy) -> str | None:
    limits = policy.auto_approve_max_order_values
    if not limits:
        return None
    currency = (request.order_currency or "").upper()
    if currency not in limits:
        return f"no automatic approval limit is set in {currency or 'the order currency'}"
    limit = Money(limits[currency], currency)
    if request.order_total is None:
        return f"the order's value is not known (automatic approval up to {limit})"
    if request.order_total > limit.amount:
        value = Money(request.order_total, currency)
        return f"the order's value, {value}, is over the {limit} automatic approval limit"
    return None


def customer_within_return_limit(request: ReturnRequest, policy) -> str | None:
    if policy.abuse_limit_returns is None:
        return None
    since = request.requested_at - timedelta(days=policy.abuse_limit_days)
    recent = sum(1 for at in request.customer_returns if since <= at <= request.requested_at)
    if recent >= policy.abuse_limit_returns:
        return f"the customer made {recent} returns in the last {policy.abuse_limit_days} days"
    return None


AUTO_APPROVAL_CHECKS = [reasons_are_auto_approved, order_value_is_auto_approved, customer_within_return_limit]


def sealed_items(request: ReturnRequest, policy) -> str | None:
    if policy.track != Track.WITHDRAWAL.value:
        return None
    found = [f"{i.title} ({EXCEPTIONS[kind]})" for i in request.items if (kind := _exception(i, policy, SEALED))]
    return f"no right of withdrawal if unsealed after delivery: {', '.join(found)}" if found else None


NOTICES = [sealed_items]


@dataclass(frozen=True)
class Decision:
    eligible: bool
    reasons: tuple[str, ...]
    auto_approve: bool
    notes: tuple[str, ...] = ()  # why it waits for the merchant, and what to look at on receipt

    def to_dict(self) -> dict:
        data = {"eligible": self.eligible, "reasons": list(self.reasons), "auto_approve": self.auto_approve}
        return {**data, "notes": list(self.notes)} if self.notes else data


def decide(request: ReturnRequest, policy) -> Decision:
    """Run every check; eligible when none gives a reason, approved by itself when no auto-approval check holds it."""
    reasons = tuple(reason for check in CHECKS if (reason := check(request, policy)))
    holds = ()
    if policy.auto_approve and not reasons:
        holds = tuple(f"needs the merchant: {r}" for check in AUTO_APPROVAL_CHECKS if (r := check(request, policy)))
    notes = holds + tuple(note for notice in NOTICES if (note := notice(request, policy)))
    return Decision(not reasons, reasons, policy.auto_approve and not reasons and not holds, notes)
