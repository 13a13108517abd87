"""Refunds through WooCommerce's own gateway: the payment route for a payment Palautus cannot refund directly.

A WooCommerce payment is taken by a gateway plugin (Paytrail for WooCommerce,
Klarna, WooCommerce PayPal Payments, Stripe, ...). When Palautus has no direct
route for its provider, or the shop gave Palautus no credentials for it, the
refund goes back through WooCommerce: `POST /orders/{id}/refunds` with
`api_refund: true`, and WooCommerce has the plugin that took the payment refund
it. WooCommerce's own offline methods (bacs, cheque, cod) have no gateway to
refund through: `GATEWAY.takes` refuses them, and the merchant pays those back.

The request is the record path's (`platform.refund_body`): the amount as a
string, our note as `reason` (it carries `[palautus:<key>]`), `line_items` with
`refund_total` / `refund_tax` per line and shipping (Klarna Order Management builds
Klarna's refund `order_lines` from the refund's items), `api_restock` by the
record path's rule, and our key (and amount) as the refund's meta.

What WooCommerce does with it, as its source has it (`class-wc-rest-order-refunds-controller.php`
(v3) over `class-wc-rest-order-refunds-v2-controller.php`, `wc_create_refund` and
`wc_refund_payment` in `includes/wc-order-functions.php`, `WC_REST_CRUD_Controller`):

- `wc_create_refund` saves the refund (amount, reason, lines) first, then calls
  `wc_refund_payment` -> the plugin's `process_refund(order, amount, reason)`. On
  an error it deletes the refund and the REST API answers HTTP 500
  `woocommerce_rest_cannot_create_order_refund` with the plugin's message ("The
  payment gateway for this order does not support automatic refunds.", ...).
  That answer is the plugin's refusal: nothing moved, nothing kept. (WooCommerce
  answers an over-refund, "Invalid refund amount.", with the same code, also
  before anything moves.) On success it sets `refunded_payment` true and saves
  again; only then does the controller save the request's `meta_data`, so a
  refund seen while its gateway is still being called has our key only in its
  reason, and `refunded_payment` false.
- The 201 answer is rendered in the `edit` context, which leaves `refunded_payment`
  out (its schema puts it in `view` only): a 201 to `api_refund: true` is itself
  the gateway's yes. Listings and `GET .../refunds/{id}` (the `view` context) show it.
- A refund that no longer exists answers 404 `woocommerce_rest_shop_order_refund_invalid_id`
  ("Invalid ID.", from the CRUD controller's `get_item`, `post_type` shop_order_refund).
- Left open: `wc_create_refund`'s catch-all also deletes the refund and answers the
  same 500 code when something *after* the gateway's success throws (a restock, a
  hook). Palautus cannot tell that from a refusal; the gateway's own order note
  is where a person would see the money went. Any other 5xx (a PHP fatal, a proxy),
  a timeout or an unreadable answer leaves the outcome unknown: looked up by key.

Our states:

    the store's refund                                        our status    amount reported
    refunded_payment true (or a 201), amount ours             succeeded     ours
    refunded_payment true (or a 201), amount 0                submitted     ours   (pending at the gateway)
    refunded_payment false, amount ours or 0 (being called)   submitted     ours
    any other amount                                          submitted     the store's (the job holds it)
    gone: 404 woocommerce_rest_shop_order_refund_invalid_id   failed        ours   (from our order note)

Paytrail for WooCommerce (paytrail/paytrail-for-woocommerce, `src/Gateway.php`,
confirmed in its source): `process_refund` only registers a `woocommerce_order_refunded`
hook and answers true at once. In that hook (still inside the same request)
it calls Paytrail's refund API; if Paytrail accepts, it keeps the real amount and
reason in the refund's `_checkout_refund_amount` / `_checkout_refund_reason` meta,
sets the refund's amount to 0 and appends " Refund is still being processed. The
status and the amount (X) of the refund will update when the processing is
completed." to the reason (our key stays in it). Paytrail's callback later either
restores amount and reason (`refund_callback=success`: the money went back) or
deletes the refund with the note "Refund was cancelled by the payment provider."
(`refund_callback=cancel`; this path does not change the order's status). So a
201 of amount 0 is pending, polled by `get_refund`; the amount restored is
success; a 404 is failure. If Paytrail refuses at once (and its e-mail refund
fallback after a 422 fails too), the hook deletes the refund, adds a note and
sets the order to `failed`; WooCommerce's controller then renders a refund that
no longer exists and dies with a PHP fatal (500 without a WooCommerce code):
`refund` reads the order again after such an answer, and an order turned
`failed` with no refund of ours is taken as the refusal it is. A `failed` order
is never sent a refund (its payment failed, as far as the store is concerned).
An e-mail refund (Paytrail's 422 fallback) stays pending until the customer
claims it. While a refund is pending the store counts it as 0 refunded (so
`_check_left` cannot see it, nor can a merchant's refund in the admin); Palautus's
own ledger counts it, as it counts every submitted refund.

WooCommerce PayPal Payments (`modules/ppcp-wc-gateway/src/Processor/RefundProcessor.php`):
it refunds `captures[0]` of the PayPal order's first purchase unit only, and a
WooCommerce order has one `transaction_id`, so there is nothing to do unless an
order has several captures (it then refunds the first, up to its amount). On a
voidable authorization it voids the whole authorization whatever the amount;
Palautus never refunds an order only authorized (`_ppcp_paypal_captured` false
means no payment in `orders.py`). Its failures come back as WooCommerce's generic
"An error occurred while attempting to create the refund using the payment gateway API."

Recovery rules (the route port's): WooCommerce has no idempotency key, so the
key lifetime is zero: every attempt after the first send looks the refund up by
our key (meta, or the key in the reason at our amount or 0) before anything is
sent again, and `refund` itself looks before it posts. Before posting it checks
what the store has left to refund (`_check_left`) and the units left per line,
so money the store refunded elsewhere is refused, never paid twice.

Ids: `get_refund` is given only the id we returned, and the refund's URL needs the
order, so `provider_refund_id` is `"{order_id}/{refund_id}"` (both numbers). The
sync job keeps it as the shop's refund id, and the order service compares
`rsplit("/", 1)[-1]` with the platform's refund id, which is the refund's own.
A deleted refund takes its meta with it, so after creating (or finding) one the
route adds an internal order note naming the refund and our amount; a refund gone
from the store is failed at that amount (without the note, it is held for a person).
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from adapters.errors import (
    ProviderError, ProviderMalformed, ProviderRejected, ProviderUnavailable, SettlementsUnsupported,
)  # fmt: skip
from adapters.platforms.woocommerce import orders as wc
from adapters.platforms.woocommerce.platform import (
    NAME, _amount, _check_left, _numeric, _units_taken, keyed_refund, refund_body,
)  # fmt: skip
from integration.errors import InvalidInput
from integration.money import Money, exponent
from integration.records import ProviderRefund, RefundRequest
from integration.refunds import RefundStatus

__all__ = ["GATEWAY", "WooCommerceGateway", "WooCommerceGatewayRefunds", "DELETED_REASON", "cancelled_by_gateway"]

logger = logging.getLogger(__name__)

CANNOT_CREATE = "woocommerce_rest_cannot_create_order_refund"  # wc_create_refund's error: the gateway's refusal
REFUND_GONE = "woocommerce_rest_shop_order_refund_invalid_id"  # GET of a refund that no longer exists
AMOUNT_META = "palautus_refund_amount"  # our amount on the refund ("89.90 EUR"): a pending refund shows 0
ORDER_FAILED = "failed"  # the order status Paytrail for WooCommerce sets when Paytrail refuses a refund
# Errors after which the store may have made the refund: looked up by key before anything is sent again.
UNKNOWN_CODES = frozenset({"timeout", "connection_error", "malformed_response", "malformed", "bad_response"})
DELETED_REASON = ("the gateway did not refund it: the store deleted the refund (Paytrail for WooCommerce deletes "
                  "a refund its provider cancelled)")  # fmt: skip
# provider_status (at most 40 characters)
SUCCEEDED_STATUS = "refunded by the gateway"
PENDING_STATUS = "pending at the gateway"  # the store shows 0 until the gateway settles it
CALLING_STATUS = "saved, gateway not answered yet"  # refunded_payment still false
DELETED_STATUS = "deleted in the store"
# The notes Paytrail for WooCommerce adds as it sends a refund, and as its cancel callback deletes one.
GATEWAY_STARTED = "Refunding process started. Reason: "
GATEWAY_CANCELLED = "Refund was cancelled by the payment provider."
_REFERENCE = re.compile(r"\[palautus:[A-Za-z0-9_.:-]+\]")  # integration.refunds.note_reference's form
# Paytrail's pending refunds keep the amount asked here (the refund's own meta, when the store shows it).
PAYTRAIL_AMOUNT_META = "_checkout_refund_amount"


class WooCommerceGateway:
    """What planning knows of WooCommerce's gateway route without a store: every plugin's payment but offline ones.
    A WooCommerce order has one payment, so a refund never spans several."""

    splits_payments = False

    @staticmethod
    def takes(provider: str, platform_managed: bool) -> bool:
        # Bank transfer, cheque and cash on delivery came outside any gateway: no plugin can pay them back.
        return provider != wc.OFFLINE

    @staticmethod
    def refund_step(currency: str) -> int:
        return 1  # WooCommerce takes the order currency's own decimals


GATEWAY = WooCommerceGateway()


class WooCommerceGatewayRefunds:
    """The PaymentRoute port over one store's gateway plugins (`platform` is its WooCommercePlatform)."""

    name = NAME
    key_lifetime = timedelta(0)  # no idempotency key: look up by key before any second send
    # ...and after a lost answer, send again only this long after the first send: a request still queued in a
    # busy PHP (our timeout is not the store's) would otherwise run beside the second one. Far above any
    # PHP max_execution_time a store runs with.
    resend_after = timedelta(minutes=10)

    def __init__(self, platform):
        self.platform = platform
        self.client = platform.client

    def __repr__(self) -> str:
        return f"WooCommerceGatewayRefunds({self.platform!r})"

    @staticmethod
    def refund_step(currency: str) -> int:
        return GATEWAY.refund_step(currency)

    @staticmethod
    def outcome_unknown(error: Exception) -> bool:
        if not isinstance(error, ProviderError) or error.code == CANNOT_CREATE:
            return False
        return (error.status or 0) >= 500 or error.code in UNKNOWN_CODES

    # --- the port ----------------------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> ProviderRefund:
        """Have the order's gateway plugin refund it (`api_refund: true`), once per key; its state at once."""
        order_id = _numeric(request.payment.platform_order_id)
        existing = self.client.pages(f"/orders/{order_id}/refunds")
        order = self.platform._order(order_id)
        currency = _currency(order)
        if currency != request.amount.currency:
            raise ProviderRejected(f"the order is in {currency}, the refund in {request.amount.currency}", provider=NAME,
                                   code="currency_mismatch")  # fmt: skip
        mine = keyed_refund(existing, request.idempotency_key, request.amount, through_gateway=True)
        if mine is not None:  # made by an earlier attempt whose answer was lost: never sent twice
            logger.info("woocommerce gateway refund found under its key", extra={"order": order_id})
            return self._known(order_id, mine, request)
        method = str(order.get("payment_method") or "")
        if method in wc.OFFLINE_METHODS:
            raise ProviderRejected(f"the order was paid by {method}, outside any gateway: refund it in the store's admin",
                                   provider=NAME, code="offline_payment")  # fmt: skip
        if order.get("status") == ORDER_FAILED:
            raise ProviderRejected("the order is failed in the store (Paytrail for WooCommerce sets that when Paytrail "
                                   "refuses a refund): Palautus sends it no refund; refund it in the store's admin",
                                   provider=NAME, code="order_failed")  # fmt: skip
        _check_left(order, existing, request)
        if _units_taken(order, existing, request):
            raise ProviderRejected("the store has refunded some of these items already: nothing was sent",
                                   provider=NAME, code="refunded_in_store")  # fmt: skip
        body = refund_body(order, request, api_refund=True)
        body["meta_data"].append({"key": AMOUNT_META, "value": f"{_amount(request.amount.amount, currency)} {currency}"})
        try:
            created = self.client.post(f"/orders/{order_id}/refunds", body)
        except ProviderRejected as e:
            if e.code == CANNOT_CREATE:
                raise ProviderRejected(f"the store's gateway ({method or 'unknown'}) refused the refund: {e.message}",
                                       provider=NAME, status=e.status, code=e.code) from None  # fmt: skip
            if (e.status or 0) < 500:
                raise
            # Another WooCommerce code on a 5xx: WooCommerce may have saved the refund all the same.
            raise self._after_unknown(order_id, request, ProviderUnavailable(
                e.message, provider=NAME, status=e.status, code=e.code)) from None  # fmt: skip
        except ProviderUnavailable as e:
            raise self._after_unknown(order_id, request, e) from None
        if not isinstance(created, dict):
            raise ProviderMalformed("the store answered a refund that is not an object", provider=NAME,
                                    code="malformed_response")  # fmt: skip
        result = _state(order_id, created, request.amount, currency, answered_create=True)
        self._note(order_id, created, request)
        logger.info("woocommerce gateway refund created", extra={"provider_refund_id": result.provider_refund_id,
                                                                  "provider_status": result.provider_status})  # fmt: skip
        return result

    def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        """The refund's state now; one the store deleted has failed (at the amount our order note names)."""
        order_id, refund_id = _split_id(provider_refund_id)
        try:
            row = self.client.get(f"/orders/{order_id}/refunds/{refund_id}")
        except ProviderRejected as e:
            if e.status != 404 or e.code != REFUND_GONE:
                raise
            ours, cancelled = self._noted_amount(order_id, refund_id)
            if ours is None:
                raise ProviderRejected(f"the store deleted refund {refund_id} and Palautus cannot read its amount from "
                                       "the order's notes: check the order", provider=NAME, code="refund_gone") from None
            if not cancelled:
                # Deleted by hand (a merchant in wp-admin), not by the gateway: the provider may still pay it, so it
                # is never taken for a failure that a second refund could follow. A person looks.
                raise ProviderRejected(f"the store no longer has refund {refund_id}, and no note of its gateway says it "
                                       "was cancelled: check at the provider whether the money went back before "
                                       "refunding again", provider=NAME, code="refund_gone") from None  # fmt: skip
            return ProviderRefund(provider_refund_id, RefundStatus.FAILED, ours, DELETED_STATUS,
                                  failure_reason=DELETED_REASON)  # fmt: skip
        if not isinstance(row, dict):
            raise ProviderMalformed("the store answered a refund that is not an object", provider=NAME,
                                    code="malformed_response")  # fmt: skip
        order = self.client.get(f"/orders/{order_id}", {"_fields": "id,currency"})
        currency = _currency(order)
        return _state(order_id, row, _asked(row, currency), currency)

    def find_refund(self, request: RefundRequest) -> ProviderRefund | None:
        """The order's refund made under this request's key (by its meta, or the key in its reason at our
        amount or at 0), in its state now; None if the store has none."""
        order_id = _numeric(request.payment.platform_order_id)
        rows = self.client.pages(f"/orders/{order_id}/refunds")
        mine = keyed_refund(rows, request.idempotency_key, request.amount, through_gateway=True)
        return self._known(order_id, mine, request) if mine is not None else None

    def settlements(self, since, until) -> list[str]:
        """Never: WooCommerce has no settlement API. The gateway plugin's provider (Stripe, Klarna, Paytrail, ...)
        settles the store's money; its own route reads those payouts where Palautus has its credentials."""
        raise self._no_settlements()

    def settlement(self, settlement_id: str):
        """Never, as `settlements`."""
        raise self._no_settlements()

    @staticmethod
    def _no_settlements() -> SettlementsUnsupported:
        return SettlementsUnsupported("WooCommerce has no settlements: the store's payment provider settles its "
                                      "money; reconcile with that provider's own reports")  # fmt: skip

    # --- pieces -----------------------------------------------------------------------------------------------

    def _known(self, order_id: str, row: dict, request: RefundRequest) -> ProviderRefund:
        result = _state(order_id, row, request.amount, request.amount.currency)
        self._note(order_id, row, request)
        return result

    def _after_unknown(self, order_id: str, request: RefundRequest, error: ProviderUnavailable) -> ProviderError:
        """The answer to our refund is lost or broken. Paytrail for WooCommerce refusing at once deletes the refund,
        sets the order `failed` and leaves WooCommerce to die rendering it: an order now `failed` (it was not, or
        nothing was sent) with no refund of ours is that refusal. Anything else stays unknown: looked up by key."""
        try:
            order = self.platform._order(order_id)
            rows = self.client.pages(f"/orders/{order_id}/refunds")
        except ProviderError:
            return error
        if order.get("status") == ORDER_FAILED and keyed_refund(rows, request.idempotency_key, request.amount,
                                                                 through_gateway=True) is None:  # fmt: skip
            return ProviderRejected("the gateway refused the refund: the store deleted it and set the order to failed "
                                    "(Paytrail for WooCommerce does so when Paytrail refuses a refund); nothing was "
                                    "refunded", provider=NAME, code="gateway_refused")  # fmt: skip
        return error

    def _note(self, order_id: str, row: dict, request: RefundRequest) -> None:
        """The internal order note naming the refund and our amount, once (a deleted refund takes its meta with it)."""
        amount = request.amount
        note = (f"Palautus asked the store's gateway ({request.payment.gateway or 'unknown'}) for refund {row.get('id')}: "
                f"{_amount(amount.amount, amount.currency)} {amount.currency}. {request.note}")  # fmt: skip
        try:
            self.platform._note_once(order_id, note)
        except ProviderError as e:  # the refund stands without it; only a deleted one's amount is lost
            logger.warning("could not note the gateway refund on the order: %s", e, extra={"order": order_id})

    def _noted_amount(self, order_id: str, refund_id: str) -> tuple[Money | None, bool]:
        """Our amount for a refund the store no longer has, from the order note `_note` wrote (None without it),
        and whether the gateway itself cancelled it.

        Paytrail for WooCommerce notes "Refunding process started. Reason: <the refund's reason>" as it sends
        each refund, and "Refund was cancelled by the payment provider." as its cancel callback deletes one,
        naming no refund. So a deleted refund counts as the gateway's cancel only when the cancel notes account
        for every refund whose start note has no refund left in the store: ours (its reason carries our key)
        among them. A refund a merchant deleted by hand leaves one too few, and then nothing is concluded (the
        provider may still pay it): a person looks.
        """
        pattern = re.compile(rf"Palautus asked .{{0,80}}? for refund {refund_id}: ([0-9]+(?:\.[0-9]+)?) ([A-Z]{{3}})\.")
        rows = [row for row in self.client.pages(f"/orders/{order_id}/notes", {"type": "internal"}) if isinstance(row, dict)]
        ours, reference = None, None
        for row in rows:
            text = str(row.get("note") or "")
            match = pattern.search(text)
            if match:
                minor = _minor(match[1], match[2])
                ours = Money(minor, match[2]) if minor is not None else None
                reference = next(iter(_REFERENCE.findall(text)), None)
                break
        if ours is None or reference is None:
            return ours, False
        return ours, cancelled_by_gateway(self.client, order_id, rows, lambda reason: reference in reason)

def cancelled_by_gateway(client, order_id: str, notes: list[dict], is_it) -> bool:
    """Whether the gateway's cancel notes account for every refund of the order whose start note has no refund
    left in the store, the one `is_it(start reason)` picks among them (see `_noted_amount`)."""
    reasons = [str(row.get("reason") or "") for row in client.pages(f"/orders/{order_id}/refunds") if isinstance(row, dict)]
    started = [str(row.get("note") or "")[len(GATEWAY_STARTED):] for row in notes
               if str(row.get("note") or "").startswith(GATEWAY_STARTED)]  # fmt: skip
    gone = [reason for reason in started if reason and not any(now.startswith(reason) for now in reasons)]
    cancels = sum(GATEWAY_CANCELLED in str(row.get("note") or "") for row in notes)
    return any(is_it(reason) for reason in gone) and cancels >= len(gone)


def _state(order_id: str, row: dict, ours: Money | None, currency: str, answered_create: bool = False) -> ProviderRefund:
    """A store refund in our vocabulary (the table in the module docstring)."""
    refund_id = row.get("id")
    shown = _minor(row.get("amount"), currency)
    if not isinstance(refund_id, int) or isinstance(refund_id, bool) or shown is None:
        raise ProviderMalformed("the store answered a refund not in the documented shape", provider=NAME,
                                code="malformed_response")  # fmt: skip
    paid = row.get("refunded_payment", True if answered_create else None)  # a 201 omits it, and is the gateway's yes
    provider_refund_id = f"{order_id}/{refund_id}"
    if ours is None and paid is True and shown:  # our amount unreadable: the job compares the store's with its own
        ours = Money(shown, currency)
    if ours is not None and shown == ours.amount and paid is True:
        return ProviderRefund(provider_refund_id, RefundStatus.SUCCEEDED, ours, SUCCEEDED_STATUS)
    if ours is not None and ours.amount and shown in (0, ours.amount):
        return ProviderRefund(provider_refund_id, RefundStatus.SUBMITTED, ours, PENDING_STATUS if paid is True else CALLING_STATUS)
    # Another amount: reported as the store has it, and the refund job holds it for a person.
    return ProviderRefund(provider_refund_id, RefundStatus.SUBMITTED, Money(shown, currency),
                          (f"store shows {_amount(shown, currency)} {currency}" + ("" if paid is True else ", unpaid"))[:40])  # fmt: skip


def _asked(row: dict, currency: str) -> Money | None:
    """What we asked the refund for: our meta, else Paytrail's own record of it; None if the store shows neither."""
    meta = {m.get("key"): m.get("value") for m in row.get("meta_data") or [] if isinstance(m, dict)}
    value = meta.get(AMOUNT_META)
    if isinstance(value, str) and value.count(" ") == 1:
        amount, written_in = value.split(" ")
        minor = _minor(amount, written_in) if written_in == currency else None
        if minor is not None:
            return Money(minor, currency)
    minor = _minor(meta.get(PAYTRAIL_AMOUNT_META), currency)
    return Money(minor, currency) if minor else None


def _currency(order) -> str:
    currency = str(order.get("currency") or "").upper() if isinstance(order, dict) else ""
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ProviderMalformed("the store answered an order without its currency", provider=NAME,
                                code="malformed_response")  # fmt: skip
    return currency


def _minor(value, currency: str) -> int | None:
    """A shown amount ("89.90", "-0.00") as minor units without its sign; None when it is no amount or finer
    than the currency's minor unit."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        scaled = abs(Decimal(str(value))).scaleb(exponent(currency))
    except (InvalidOperation, ValueError, InvalidInput):
        return None
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def _split_id(provider_refund_id: str) -> tuple[str, str]:
    order_id, _, refund_id = str(provider_refund_id).partition("/")
    if not order_id.isdigit() or not refund_id.isdigit():
        raise ProviderRejected("a WooCommerce gateway refund id is {order}/{refund}", provider=NAME, code="bad_id")
    return str(int(order_id)), str(int(refund_id))
