"""The return (RMA) state machine, reason codes and who-did-it: pure, stdlib only."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from integration.errors import IllegalTransition

__all__ = [
    "ReturnStatus",
    "ReturnMethod",
    "ReturnSource",
    "Reason",
    "Actor",
    "TRANSITIONS",
    "Transition",
    "transition",
    "ShopReturnStatus",
    "SHOP_STATUS",
]


class ReturnStatus(str, Enum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    REFUNDED = "refunded"
    CLOSED = "closed"


S = ReturnStatus

# The only moves a return can make. `received -> refunded` may repeat in
# spirit (partial refunds) but the state moves once; `approved -> received`
# covers in-store returns that never travel.
TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    S.REQUESTED: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.IN_TRANSIT, S.RECEIVED, S.CANCELLED}),
    S.IN_TRANSIT: frozenset({S.RECEIVED}),
    S.RECEIVED: frozenset({S.REFUNDED, S.CLOSED}),
    S.REFUNDED: frozenset({S.CLOSED}),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.CLOSED: frozenset(),
}


class ReturnMethod(str, Enum):
    POSTAL = "postal"  # prepaid label
    DROP_OFF = "drop_off"  # return code at a drop-off point, no printer
    IN_STORE = "in_store"
    PICKUP = "pickup"  # carrier or 3PL collects
    CUSTOMER_SERVICE = "customer_service"


class ReturnSource(str, Enum):
    PORTAL = "portal"
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    MERCHANT_API = "merchant_api"
    CUSTOMER_SERVICE = "customer_service"
    WITHDRAWAL = "withdrawal"  # the customer's statement through the EU withdrawal function (integration/withdrawal.py)


class Reason(str, Enum):
    """Why a product came back: a short list merchants can act on."""

    SIZE_TOO_SMALL = "size_too_small"
    SIZE_TOO_LARGE = "size_too_large"
    NOT_AS_DESCRIBED = "not_as_described"
    DEFECTIVE = "defective"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    WRONG_ITEM = "wrong_item"
    CHANGED_MIND = "changed_mind"
    STYLE = "style"
    COLOR = "color"
    ARRIVED_LATE = "arrived_late"
    OTHER = "other"
    UNKNOWN = "unknown"


class Actor(str, Enum):
    CUSTOMER = "customer"
    MERCHANT = "merchant"
    PLATFORM = "platform"
    SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    """A state change to record in the return's audit trail."""

    from_status: ReturnStatus | None
    to_status: ReturnStatus
    actor: Actor
    data: dict = field(default_factory=dict)


def transition(current: ReturnStatus | str, target: ReturnStatus | str, actor: Actor, **data) -> Transition:
    """Check one move against TRANSITIONS and describe it; raise IllegalTransition if not allowed."""
    current, target = ReturnStatus(current), ReturnStatus(target)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current.value, target.value)
    return Transition(current, target, Actor(actor), dict(data))


class ShopReturnStatus(str, Enum):
    """Where the platform's own return stands, in words every platform adapter translates to its own.

    The values are the words stored in `returns.shop_status` (Shopify's ReturnStatus
    happens to use them too, which is why they are upper case).
    """

    REQUESTED = "REQUESTED"
    OPEN = "OPEN"
    DECLINED = "DECLINED"
    CANCELED = "CANCELED"
    CLOSED = "CLOSED"


# What the platform's return should show for each of our statuses.
SHOP_STATUS: dict[ReturnStatus, ShopReturnStatus] = {
    S.REQUESTED: ShopReturnStatus.REQUESTED, S.APPROVED: ShopReturnStatus.OPEN, S.IN_TRANSIT: ShopReturnStatus.OPEN,
    S.RECEIVED: ShopReturnStatus.OPEN, S.REFUNDED: ShopReturnStatus.OPEN, S.REJECTED: ShopReturnStatus.DECLINED,
    S.CANCELLED: ShopReturnStatus.CANCELED, S.CLOSED: ShopReturnStatus.CLOSED,
}  # fmt: skip
