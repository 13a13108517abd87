"""Refunds through Shopify's own gateway: the payment route for money Shopify's checkout took.

A payment Shopify processed (Shopify Payments, a payments app such as Paytrail,
Klarna or PayPal on Shopify, Stripe Card Payments, a gift card) goes back only
through Shopify: `refundCreate` with the refunded line items and one REFUND
transaction (`parentId` = the SALE or CAPTURE, `gateway` = the sale's own,
`amount` in the presentment currency), under `@idempotent(key:)` (required from
2026-04; a retry with the same key "will return the result of the original
operation instead of creating a new one"). Shopify then moves the money itself.

A Refund object existing does not mean money moved. For a payments app the
REFUND transaction starts PENDING or AWAITING_RESPONSE and the app settles it
later (refund sessions); only its final status counts:

    REFUND transactions              our status   why
    all SUCCESS                      succeeded    the money went back
    all FAILURE or ERROR             failed       the gateway's own final word (errorCode kept)
    any PENDING/AWAITING/UNKNOWN     submitted    on its way: polled (GATEWAY_REFUND), and an
                                                  order_transactions/create webhook asks again
    some SUCCESS, the rest failed    submitted, held for a person (the amount differs)

Recovery rules (the route port's): Shopify documents no retention period for
its idempotency keys, so the key lifetime is taken as zero: every attempt after
the first send first looks the refund up among the order's refunds by the key
our note carries (`[palautus:<key>]`), and only then sends again, under the same
key. A 5xx, a timeout after sending, an unreadable answer or Shopify's
IDEMPOTENCY_CONCURRENT_REQUEST leave the outcome open: looked up before anything
is sent again. A userError is Shopify's refusal: nothing was made.

`returnProcess` with `financialTransfer.issueRefund` (the 2026 way to refund a
Return) documents no idempotency key, so it is not used: a retry could pay twice.

Settlements: Shopify Payments payouts and their balance transactions (payouts.py).
Only money Shopify Payments took is in them; a payments app's (Paytrail, Klarna,
PayPal on Shopify) is settled by that provider, and a shop without Shopify Payments
has none (SettlementsUnsupported).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from adapters.errors import ProviderError, ProviderRejected
from adapters.platforms.shopify import payouts
from adapters.platforms.shopify.admin import PROVIDER, _malformed
from integration.money import Money, to_decimal, to_minor
from integration.records import ProviderRefund, RefundRequest, Settlement
from integration.refunds import RefundStatus, referenced_key

__all__ = ["GATEWAY", "ShopifyGateway", "ShopifyGatewayRefunds", "gateway_refund_key"]

logger = logging.getLogger(__name__)

NAME = "shopify"
# Namespace of the refundCreate keys of refunds through the gateway; fixed forever, or retries stop deduplicating.
KEY_NAMESPACE = uuid.UUID("0b6f2f4e-8d0c-4f4b-9f1e-3a7c2d5e6b81")
SUCCESS, STILL_GOING, FAILED = "SUCCESS", ("PENDING", "AWAITING_RESPONSE", "UNKNOWN"), ("FAILURE", "ERROR")
# Errors after which Shopify may have made the refund: looked up before sending again.
UNKNOWN_CODES = frozenset({"timeout", "connection_error", "bad_response", "INTERNAL_SERVER_ERROR",
                           "IDEMPOTENCY_CONCURRENT_REQUEST"})  # fmt: skip


class ShopifyGateway:
    """What planning knows of Shopify's gateway route without a shop: it refunds what Shopify processed, and one
    refundCreate refunds several payments (a transaction each: a card and a gift card)."""

    splits_payments = True

    @staticmethod
    def takes(provider: str, platform_managed: bool) -> bool:
        # A payment Shopify did not process (an external one, a manual gateway) is not Shopify's to refund:
        # a REFUND transaction on it would only be recorded, moving nothing.
        return platform_managed

    @staticmethod
    def refund_step(currency: str) -> int:
        return 1  # Shopify takes the presentment currency's own decimals


GATEWAY = ShopifyGateway()


def gateway_refund_key(idempotency_key: str) -> str:
    """The @idempotent key of a refund through the gateway: a UUID fixed by our refund's own key."""
    return str(uuid.uuid5(KEY_NAMESPACE, f"shopify-gateway-refund:{idempotency_key}"))


class ShopifyGatewayRefunds:
    """The PaymentRoute port over one shop's Shopify gateway (`platform` is its ShopifyPlatform)."""

    name = NAME
    key_lifetime = timedelta(0)  # no documented retention: look up by note before any second send

    def __init__(self, platform):
        self.platform = platform

    def __repr__(self) -> str:
        return f"ShopifyGatewayRefunds({self.platform!r})"

    @staticmethod
    def refund_step(currency: str) -> int:
        return GATEWAY.refund_step(currency)

    @staticmethod
    def outcome_unknown(error: Exception) -> bool:
        if not isinstance(error, ProviderError):
            return False
        return (error.status or 0) >= 500 or error.code in UNKNOWN_CODES

    def refund(self, request: RefundRequest) -> ProviderRefund:
        """Refund through the sale's gateway, once per key; the refund as Shopify reports it at once."""
        node = self.platform.admin.refund_through_gateway(self._input(request), gateway_refund_key(request.idempotency_key))
        result = _parse(node)
        logger.info("shopify gateway refund created", extra={"provider_refund_id": result.provider_refund_id,
                                                              "provider_status": result.provider_status})  # fmt: skip
        return result

    def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        """The refund's state now; a refund Shopify no longer shows is a read we could not make (never a failure)."""
        node = self.platform.admin.gateway_refund(_gid("Refund", provider_refund_id))
        if node is None:
            raise ProviderRejected("the refund is not found in the shop", provider=PROVIDER, code="not_found")
        return _parse(node)

    def find_refund(self, request: RefundRequest) -> ProviderRefund | None:
        """The order's refund whose note carries this request's key, with its transactions' state; None if none."""
        for shop_refund in self.platform.order_refunds(request.payment.platform_order_id):
            if referenced_key(shop_refund.note) == request.idempotency_key:
                return self.get_refund(shop_refund.platform_refund_id)
        return None

    def settlements(self, since: datetime, until: datetime) -> list[str]:
        """The gids of the shop's Shopify Payments payouts issued in [since, until), oldest first."""
        return payouts.payout_ids(self.platform.admin, since, until)

    def settlement(self, settlement_id: str) -> Settlement:
        """One Shopify Payments payout with its balance transactions; a refund row names the Refund's number, as
        `refund()` stores it, and our key from the refund's note."""
        return payouts.read_settlement(self.platform.admin, settlement_id)

    def _input(self, request: RefundRequest) -> dict:
        """RefundInput: the lines (restocked where asked and not restocked yet), shipping, one REFUND transaction."""
        order_gid = _gid("Order", request.payment.platform_order_id)
        payment, amount = request.payment, request.amount
        wanted = [line.reference for line in request.lines if line.restock]
        restock_at = self.platform.restock_locations(payment.platform_order_id, request.platform_return_id, wanted)
        lines = []
        for line in request.lines:
            if line.quantity - line.listed <= 0:  # Shopify lists them as refunded already (a refund of ours that failed)
                continue
            row = {"lineItemId": _gid("LineItem", line.reference), "quantity": line.quantity - line.listed,
                   "restockType": "NO_RESTOCK"}  # fmt: skip
            if line.reference in restock_at:
                row.update(restockType="RETURN", locationId=restock_at[line.reference])
            lines.append(row)
        # One REFUND transaction per payment it is paid from (a card, then a gift card), each with its own parent.
        parts = request.parts or ((payment, amount),)
        data = {
            "orderId": order_gid, "currency": amount.currency, "notify": False, "note": request.note,
            "refundLineItems": lines,
            "transactions": [{"orderId": order_gid, "parentId": _gid("OrderTransaction", part.platform_transaction_id),
                              "kind": "REFUND", "gateway": part.gateway, "amount": str(to_decimal(money.amount, money.currency))}
                             for part, money in parts],
        }  # fmt: skip
        if request.shipping and not request.shipping_listed:
            data["shipping"] = {"fullRefund": True}
        return data


def _parse(node: dict) -> ProviderRefund:
    """A Refund and its REFUND transactions in our vocabulary (the table in the module docstring)."""
    try:
        refund_id = str(node["id"]).rsplit("/", 1)[-1]
        page = node["transactions"]
        transactions = [t for t in page["nodes"] if t["kind"] == "REFUND"]
        if page["pageInfo"]["hasNextPage"]:
            raise _malformed("a refund with more transactions than Palautus reads")
        moved = [(t["status"], t.get("gateway"), t.get("errorCode"),
                  to_minor(t["amountSet"]["presentmentMoney"]["amount"], t["amountSet"]["presentmentMoney"]["currencyCode"]),
                  t["amountSet"]["presentmentMoney"]["currencyCode"]) for t in transactions]  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _malformed("a refund answer not in the documented shape") from None
    if not moved:
        # Refunds through the gateway always carry their REFUND transaction: one without is no answer yet.
        raise _malformed("a refund without its refund transaction")
    currencies = {currency for *_, currency in moved}
    if len(currencies) != 1:
        raise _malformed("a refund in more than one currency")
    statuses = [status for status, *_ in moved]
    provider_status = "/".join(dict.fromkeys(statuses))
    going = [amount for status, _, _, amount, _ in moved if status not in FAILED]
    money = Money(sum(going), currencies.pop())
    if all(status == SUCCESS for status in statuses):
        return ProviderRefund(refund_id, RefundStatus.SUCCEEDED, money, provider_status)
    if all(status in FAILED for status in statuses):
        reasons = sorted({f"{gateway or 'the gateway'} answered {code or status}" for status, gateway, code, _, _ in moved})
        return ProviderRefund(refund_id, RefundStatus.FAILED, Money(sum(a for *_, a, _ in moved), money.currency),
                              provider_status, failure_reason="; ".join(reasons))  # fmt: skip
    if not any(status in STILL_GOING for status in statuses) and SUCCESS not in statuses:
        logger.warning("unknown shopify refund transaction status", extra={"provider_refund_id": refund_id})
    # Still on its way (or part paid, part failed: the amount then differs from ours and a person looks).
    return ProviderRefund(refund_id, RefundStatus.SUBMITTED, money, provider_status)


def _gid(kind: str, platform_id: str) -> str:
    return platform_id if platform_id.startswith("gid://") else f"gid://shopify/{kind}/{platform_id}"
