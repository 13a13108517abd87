"""Shopify Admin GraphQL API (2026-10): read an order's payments, record refunds, answer returns.

Recording a refund Palautus already made at the payment provider
-----------------------------------------------------------------
`record_refund` sends `refundCreate` with `refundLineItems` (restockType
NO_RESTOCK: returns restock separately) and **no `transactions`**, `notify: false`.

Why: a REFUND `OrderTransactionInput` names "the payment gateway to use for this
transaction". For Shopify Payments and payments apps (Paytrail, Klarna, PayPal)
Shopify then refunds through that gateway itself; for an app it opens a refund
session and calls the app (shopify.dev, payments apps, "Process a refund"). Such a
transaction is inert only for a gateway Shopify cannot reach, which a gateway
name does not tell reliably. Line items without transactions mark the items
refunded and move no money for any gateway: the one option that can never refund
a customer twice. Shopify's refunded total stays 0 for it, so the note says what
was refunded where (built deterministically, so a retry sends identical input).

Idempotency: `refundCreate(...) @idempotent(key:)`, optional in 2026-01, required
from 2026-04, never empty; a retry with the same key returns "the result of the
original operation instead of creating a new one" (shopify.dev changelog,
2025-12-12). The key is a UUID (Shopify's advice) derived from our refund's key.

Payments (`order_payments`): successful SALE and CAPTURE transactions, mapped by
gateway name (lower-cased, matched by substring, first match wins):

    gateway contains     provider           platform_managed  payment_id
    "stripe"             stripe             see below         PaymentIntent pi_... (external), else paymentId
    "shopify_payments"   shopify_payments   True              paymentId
    "paytrail"           paytrail           True              paymentId
    "klarna"             klarna             True              paymentId
    "paypal"             paypal             True              paymentId
    "gift_card"          gift_card          True              paymentId   (the money is held by Shopify)
    anything else        the gateway name   False             paymentId

Stripe on Shopify is a payments app ("Stripe Card Payments"): a card payment
taken by Shopify's checkout is Shopify's to refund, never Stripe's directly, or
Shopify would still show the money as refundable and a later admin refund would
pay the customer twice. A Stripe payment counts as *external* (a headless
checkout took the money at Stripe and created the order through the API), and
Palautus refunds it at Stripe and only records it in Shopify, when all hold:
- the order has no `checkoutToken`: Shopify's checkout did not create it;
- neither the transaction nor its parent carries a Shopify payment id
  (`paymentId`, which Shopify gives every payment its checkout processes; an
  API-created transaction has none, or repeats the provider's own id);
- a Stripe PaymentIntent (`pi_`) or charge (`ch_`) id is found: in
  `authorizationCode` (deprecated for `paymentId`, but the one field where an
  API-created transaction keeps the provider's id), `paymentId`, or the receipt.
Every other Stripe payment is `platform_managed`: Palautus refuses to refund it
itself, with a reason, until it can refund through Shopify's own gateway.

Errors: 429 and 5xx -> ProviderUnavailable (Retry-After kept); 401/402/403/404/423
and other 4xx -> ProviderRejected; a top-level GraphQL error coded `THROTTLED`
(retry_after from `extensions.cost.throttleStatus`), `INTERNAL_SERVER_ERROR` or
`IDEMPOTENCY_CONCURRENT_REQUEST` -> ProviderUnavailable; other top-level errors
and mutation userErrors -> ProviderRejected.
The access token is sent per request and never appears in errors, reprs or logs.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from adapters.errors import PayloadError, ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.http import new_session, retry_after, send
from adapters.platforms.shopify import graphql as gql
from adapters.platforms.shopify import orders
from integration.money import Money, to_minor
from integration.records import OrderSnapshot, PaymentData, ShopRefundData, ShopRefundLine

__all__ = ["ShopifyAdmin", "RefundRecord", "refund_idempotency_key", "decline_reason"]

logger = logging.getLogger(__name__)

PROVIDER = "shopify"
TOKEN_HEADER = "X-Shopify-Access-Token"
REQUEST_ID_HEADER = "X-Request-Id"
ENDPOINT = "{base}/admin/api/{version}/graphql.json"

# (substring of the lower-cased gateway, provider, platform_managed): the table above.
GATEWAYS = (
    ("stripe", "stripe", False),
    ("shopify_payments", "shopify_payments", True),
    ("paytrail", "paytrail", True),
    ("klarna", "klarna", True),
    ("paypal", "paypal", True),
    ("gift_card", "gift_card", True),
)
PAYMENT_KINDS = {"SALE": "sale", "CAPTURE": "capture"}
STORED_VALUE = frozenset({"gift_card"})  # providers that are a gift card or store credit: refunded last
HTTP_REJECTIONS = {401: "unauthorized", 402: "shop_frozen", 403: "forbidden", 404: "not_found", 423: "shop_locked"}
# Top-level error codes worth a retry; every other top-level error is permanent.
RETRYABLE_CODES = {"THROTTLED", "INTERNAL_SERVER_ERROR", "IDEMPOTENCY_CONCURRENT_REQUEST"}
DECLINE_REASONS = ("FINAL_SALE", "RETURN_PERIOD_ENDED", "OTHER")  # ReturnDeclineReason, 2026-10
DECLINE_NOTE_MAX = 500  # ReturnDeclineRequestInput.declineNote: "Maximum length: 500 characters."
STAFF_NOTE_MAX = 255  # orderCancel's staffNote: "Maximum length of 255 characters."
# OrderTransactionStatus values of a refund whose money may still go back.
PENDING_REFUND_STATUSES = ("PENDING", "AWAITING_RESPONSE", "UNKNOWN")
MAX_REFUNDS_READ = 250  # ORDER_REFUNDS lists refunds(first: 250): that many back may mean more
REFUNDS_PER_CALL = 10  # REFUNDS_BY_ID ids per call: about 750 of Shopify's 1,000 cost points
MAX_LINE_PAGES = 20  # 50 lines a page: an order of 1,000 lines is as far as we follow
# Namespace for the refundCreate idempotency keys; fixed forever, or retries stop deduplicating.
REFUND_KEY_NAMESPACE = uuid.UUID("5d0c5c8e-2f4a-4a43-9a4e-6a1f3c2b7d10")
_SHOP_DOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?$")


@dataclass(frozen=True)
class RefundRecord:
    """A refund Palautus made at the payment provider, to be recorded on the Shopify order."""

    order_gid: str
    idempotency_key: str
    note: str
    # (LineItem gid, quantity) or (LineItem gid, quantity, Location gid to restock at)
    lines: tuple[tuple, ...]
    amount: Money
    parent_transaction_gid: str | None = None
    gateway: str | None = None
    full_shipping: bool = False  # the order's shipping went back in full

    def __post_init__(self):
        if not self.idempotency_key or not self.idempotency_key.strip():
            raise ValueError("a refund record needs an idempotency key")
        if any(line[1] <= 0 for line in self.lines):
            raise ValueError("refund line quantities must be positive")


class ShopifyAdmin:
    """One shop's Admin GraphQL API."""

    def __init__(self, shop_domain, access_token, *, api_base="https://{shop}", api_version="2026-10",
                 timeout=10.0, session=None, renew=None):
        if not _SHOP_DOMAIN.match(shop_domain or ""):
            raise ValueError(f"not a shop domain: {shop_domain!r}")
        self.shop_domain = shop_domain
        self.api_version = api_version
        self.url = ENDPOINT.format(base=api_base.format(shop=shop_domain).rstrip("/"), version=api_version)
        self.timeout = timeout
        self._token = access_token
        self._renew = renew  # () -> a new access token, after a 401
        self._session = session or new_session()

    def __repr__(self) -> str:
        return f"ShopifyAdmin(shop={self.shop_domain!r}, api_version={self.api_version!r})"

    def order_payments(self, order_gid: str) -> list[PaymentData]:
        """The order's successful sales and captures, with the provider that holds the money."""
        data, request_id = self._call(gql.ORDER_TRANSACTIONS, {"id": order_gid})
        order = data["order"]
        if order is None:
            raise ProviderRejected("order not found", provider=PROVIDER, code="not_found", request_id=request_id)
        from_checkout = bool(order.get("checkoutToken"))
        refunded = _refunded_by_parent(order["transactions"])
        return [replace(payment, refunded=refunded.get(payment.platform_transaction_id, 0))
                for payment in (_payment(t, from_checkout) for t in order["transactions"]
                                if t["kind"] in PAYMENT_KINDS and t["status"] == "SUCCESS")]

    def order_refunds(self, order_gid: str) -> list[ShopRefundData]:
        """Every refund the order has, as Shopify has it now, as the records its refunds/create webhooks give."""
        data, request_id = self._call(gql.ORDER_REFUNDS, {"id": order_gid})
        order = data["order"]
        if order is None:
            raise ProviderRejected("order not found", provider=PROVIDER, code="not_found", request_id=request_id)
        ids = [refund["id"] for refund in order["refunds"] or []]
        if len(ids) >= MAX_REFUNDS_READ:
            raise _too_many(request_id)
        captures = _captures_of_authorizations(order["transactions"])
        found = []
        for start in range(0, len(ids), REFUNDS_PER_CALL):
            data, request_id = self._call(gql.REFUNDS_BY_ID, {"ids": ids[start:start + REFUNDS_PER_CALL]})
            for refund in data["nodes"]:
                if refund is None:  # refunds are never deleted: one listed but not answered is one we may not read
                    raise ProviderRejected("a refund of the order cannot be read", provider=PROVIDER,
                                           code="refund_not_readable", request_id=request_id)  # fmt: skip
                if refund["transactions"]["pageInfo"]["hasNextPage"]:
                    raise _too_many(request_id)
                # More lines than one read returns: recorded as cut short, for the job to judge (ours need none).
                found.append(_shop_refund(order, refund, captures, complete=not refund["refundLineItems"]["pageInfo"]["hasNextPage"]))
        return found

    def fetch_order(self, order_gid: str) -> OrderSnapshot:
        """The order as it is now, every page of its lines: for an order no webhook told us about."""
        variables = {"id": order_gid}
        pages = []
        while variables is not None and len(pages) < MAX_LINE_PAGES:
            data, request_id = self._call(orders.ORDER, variables)
            if data.get("order") is None:
                raise ProviderRejected("order not found", provider=PROVIDER, code="not_found", request_id=request_id)
            pages.append(data["order"])
            variables = orders.next_page_variables(variables, data["order"])
        try:
            return orders.parse_order_node(*pages)
        except PayloadError as e:
            raise _malformed(f"order answer not in the documented shape: {e}") from None

    def fulfillment_locations(self, order_gid: str) -> dict[str, str]:
        """Numeric line item id -> the Location gid it was fulfilled from."""
        data, _ = self._call(orders.FULFILLMENT_LOCATIONS, {"id": order_gid})
        return self._parsed(orders.parse_fulfillment_locations, data.get("order"))

    def return_restocked(self, return_gid: str) -> dict[str, int] | None:
        """Numeric line item id -> units the shop's own return processing already restocked; None if the
        return cannot be read (then nobody can say what was restocked)."""
        data, _ = self._call(orders.RETURN_RESTOCKED, {"id": return_gid})
        return self._parsed(orders.parse_return_restocked, data["return"]) if data.get("return") else None

    @staticmethod
    def _parsed(parse, node):
        try:
            return parse(node) if node is not None else {}
        except PayloadError as e:
            raise _malformed(f"answer not in the documented shape: {e}") from None

    def record_refund(self, refund: RefundRecord) -> str:
        """Record on the order a refund made elsewhere; Shopify moves no money. Returns the Refund gid."""
        variables = {"input": _refund_input(refund), "idempotencyKey": refund_idempotency_key(refund)}
        data, request_id = self._call(gql.REFUND_CREATE, variables)
        payload = data["refundCreate"]
        if payload["userErrors"]:
            raise _rejected(payload["userErrors"], request_id)
        if not payload.get("refund"):
            raise _malformed("refundCreate answered with neither a refund nor userErrors")
        return payload["refund"]["id"]

    def refund_through_gateway(self, refund_input: dict, key: str) -> dict:
        """refundCreate with transactions: Shopify moves the money through the sale's gateway. The Refund as
        GATEWAY_REFUND_CREATE selects it; a repeated key returns the first refund, nothing new."""
        data, request_id = self._call(gql.GATEWAY_REFUND_CREATE, {"input": refund_input, "idempotencyKey": key},
                                      partial="refundCreate")  # fmt: skip
        payload = data.get("refundCreate")
        if not isinstance(payload, dict):
            raise _malformed("refundCreate answered without its payload")
        if isinstance(payload.get("refund"), dict):  # made: its transactions say what became of the money
            if payload.get("userErrors"):
                logger.warning("shopify made the refund and answered userErrors beside it", extra={"request_id": request_id})
            return payload["refund"]
        if payload.get("userErrors"):
            raise _rejected(payload["userErrors"], request_id)
        raise _malformed("refundCreate answered with neither a refund nor userErrors")

    def gateway_refund(self, refund_gid: str) -> dict | None:
        """A Refund with its transactions as GATEWAY_REFUND selects it; None when Shopify has no such refund."""
        data, _ = self._call(gql.GATEWAY_REFUND, {"id": refund_gid})
        refund = data.get("refund")
        if refund is not None and not isinstance(refund, dict):
            raise _malformed("a refund answer that is not an object")
        return refund

    def order_authorizations(self, order_gid: str) -> list[PaymentData]:
        """The order's successful authorizations that no capture or void has closed: money held, not taken."""
        data, request_id = self._call(gql.ORDER_TRANSACTIONS, {"id": order_gid})
        if data["order"] is None:
            raise ProviderRejected("order not found", provider=PROVIDER, code="not_found", request_id=request_id)
        return _open_authorizations(data["order"])

    def cancel_order(self, order_gid: str, note: str) -> None:
        """Cancel the order refunding nothing, restocking it, telling nobody; one cancelled already counts as done."""
        if self._cancelled(order_gid):
            return
        variables = {"orderId": order_gid, "reason": "CUSTOMER", "restock": True, "notifyCustomer": False,
                     "refundMethod": {"originalPaymentMethodsRefund": False}, "staffNote": note[:STAFF_NOTE_MAX]}  # fmt: skip
        data, request_id = self._call(gql.ORDER_CANCEL, variables)
        errors = data["orderCancel"]["orderCancelUserErrors"]
        if errors and not self._cancelled(order_gid):
            raise _rejected(errors, request_id)

    def _cancelled(self, order_gid: str) -> bool:
        data, request_id = self._call(gql.ORDER_CANCELLED, {"id": order_gid})
        if data.get("order") is None:
            raise ProviderRejected("order not found", provider=PROVIDER, code="not_found", request_id=request_id)
        return bool(data["order"].get("cancelledAt"))

    def has_access(self) -> bool:
        """Whether Shopify still takes the app's token for the shop: False on 401/403/404 (uninstalled)."""
        try:
            data, _ = self._call(gql.SHOP_PING, {})
        except ProviderRejected as e:
            if e.status in (401, 403, 404):  # 402 (frozen) and 423 (locked) shops have not uninstalled the app
                return False
            raise
        return isinstance(data.get("shop"), dict)

    def ensure_webhooks(self, uri: str, topics: tuple[str, ...]) -> list[tuple[str, str]]:
        """Subscribe the app to each topic at `uri`, once: (topic, "created" or "present") for each."""
        data, request_id = self._call(gql.WEBHOOK_SUBSCRIPTIONS, {"uri": uri})
        try:
            present = {node["topic"] for node in data["webhookSubscriptions"]["nodes"] if node.get("uri") == uri}
        except (KeyError, TypeError):
            raise _malformed("a webhook subscription list not in the documented shape") from None
        states = []
        for topic in topics:
            if topic in present:
                states.append((topic, "present"))
                continue
            data, request_id = self._call(gql.WEBHOOK_SUBSCRIPTION_CREATE,
                                          {"topic": topic, "subscription": {"uri": uri, "format": "JSON"}})  # fmt: skip
            if data["webhookSubscriptionCreate"]["userErrors"]:
                raise _rejected(data["webhookSubscriptionCreate"]["userErrors"], request_id)
            states.append((topic, "created"))
        return states

    def approve_return(self, return_gid: str, *, notify_customer: bool = False) -> None:
        """Approve a requested return; a return already approved (open or closed) counts as done."""
        variables = {"input": {"id": return_gid, "notifyCustomer": notify_customer}}
        self._return_mutation(gql.RETURN_APPROVE_REQUEST, "returnApproveRequest", variables, {"OPEN", "CLOSED"})

    def decline_return(self, return_gid: str, reason: str | None, note: str | None = None,
                       *, notify_customer: bool = False) -> None:
        """Decline a requested return with a ReturnDeclineReason mapped from `reason`."""
        data = {"id": return_gid, "declineReason": decline_reason(reason), "notifyCustomer": notify_customer}
        if note:
            data["declineNote"] = note[:DECLINE_NOTE_MAX]
        self._return_mutation(gql.RETURN_DECLINE_REQUEST, "returnDeclineRequest", {"input": data}, {"DECLINED"})

    def close_return(self, return_gid: str) -> None:
        """Close a return; an already closed return counts as done."""
        self._return_mutation(gql.RETURN_CLOSE, "returnClose", {"id": return_gid}, {"CLOSED"})

    def add_tags(self, gid: str, tags: list[str]) -> None:
        """Add tags to a taggable resource (order, customer, ...); tagsAdd is idempotent by nature."""
        if not tags:
            return
        data, request_id = self._call(gql.TAGS_ADD, {"id": gid, "tags": list(tags)})
        if data["tagsAdd"]["userErrors"]:
            raise _rejected(data["tagsAdd"]["userErrors"], request_id)

    def cancel_return(self, return_gid: str) -> None:
        """Cancel a return nothing was done on yet; an already cancelled return counts as done."""
        self._return_mutation(gql.RETURN_CANCEL, "returnCancel", {"id": return_gid}, {"CANCELED"})

    def _return_mutation(self, document, field, variables, done_statuses) -> None:
        # ReturnErrorCode has no "already approved/declined/closed" code, only the
        # generic INVALID_STATE, so on any userError we look at the return itself.
        data, request_id = self._call(document, variables)
        errors = data[field]["userErrors"]
        if not errors:
            return
        return_gid = variables.get("id") or variables["input"]["id"]
        found = self._call(gql.RETURN_STATUS, {"id": return_gid})[0]["return"]
        if found and found["status"] in done_statuses:
            logger.info("shopify return already %s", found["status"], extra={"return_gid": return_gid})
            return
        raise _rejected(errors, request_id)

    def query(self, document: str, variables: dict) -> tuple[dict, str | None]:
        """Send one of this adapter's documents as it is: its `data` and Shopify's request id (errors as ever)."""
        return self._call(document, variables)

    def _post(self, document: str, variables: dict):
        return send(self._session, "POST", self.url, provider=PROVIDER, timeout=self.timeout,
                    json={"query": document, "variables": variables},
                    headers={TOKEN_HEADER: self._token, "Accept": "application/json"})  # fmt: skip

    def _call(self, document: str, variables: dict, *, partial: str | None = None) -> tuple[dict, str | None]:
        """POST one GraphQL document; returns its `data` and Shopify's request id.

        `partial`: the mutation field whose payload, when Shopify answers it alongside top-level errors (a
        field it selected could not be resolved), is still the answer: the mutation ran, so its result is
        read rather than taken for a refusal.
        """
        response = self._post(document, variables)
        if response.status_code == 401 and self._renew is not None:  # an expiring token ran out: once more, renewed
            token = self._renew()
            if token:
                self._token = token
                response = self._post(document, variables)
        request_id = response.headers.get(REQUEST_ID_HEADER)
        logger.debug("shopify graphql %s", response.status_code,
                     extra={"shop": self.shop_domain, "request_id": request_id})
        _raise_for_status(response, request_id)
        try:
            body = response.json()
        except ValueError:
            raise ProviderUnavailable("answer is not JSON", provider=PROVIDER, status=response.status_code,
                                      code="bad_response", request_id=request_id) from None
        if not isinstance(body, dict):
            raise _malformed("GraphQL answer is not a JSON object")
        if body.get("errors"):
            data = body.get("data")
            if partial and isinstance(data, dict) and isinstance(data.get(partial), dict):
                logger.warning("shopify answered %s with errors beside its result", partial,
                               extra={"shop": self.shop_domain, "request_id": request_id})  # fmt: skip
                return data, request_id
            raise _top_level_error(body, request_id)
        if not isinstance(body.get("data"), dict):
            raise _malformed("GraphQL answer has no data")
        return body["data"], request_id


def refund_idempotency_key(refund: RefundRecord) -> str:
    """The @idempotent key for recording this refund: a UUID fixed by our refund's own key."""
    return str(uuid.uuid5(REFUND_KEY_NAMESPACE, f"shopify-refund-record:{refund.idempotency_key}"))


def decline_reason(reason: str | None) -> str:
    """Map a free-text reason to a ReturnDeclineReason value; OTHER when nothing fits."""
    text = re.sub(r"[^a-z]+", "_", (reason or "").lower()).strip("_")
    if text.upper() in DECLINE_REASONS:
        return text.upper()
    if "final" in text:
        return "FINAL_SALE"
    if "period" in text or "window" in text or "expired" in text or "too_late" in text:
        return "RETURN_PERIOD_ENDED"
    return "OTHER"


def _refund_input(refund: RefundRecord) -> dict:
    # No "transactions", so Shopify moves no money: see the module docstring.
    where = refund.gateway or "the payment provider"
    line = f"Refunded {refund.amount} at {where} by Palautus; Shopify moved no money."
    lines = [_refund_line(*line) for line in refund.lines]
    data = {"orderId": refund.order_gid, "currency": refund.amount.currency, "notify": False,
            "note": f"{refund.note}\n{line}" if refund.note else line, "refundLineItems": lines}
    if refund.full_shipping:
        data["shipping"] = {"fullRefund": True}
    return data


def _refund_line(line_gid: str, quantity: int, location_gid: str | None = None) -> dict:
    """RETURN restocks the units at the location they were fulfilled from; anything else restocks nothing."""
    if location_gid:
        return {"lineItemId": line_gid, "quantity": quantity, "restockType": "RETURN", "locationId": location_gid}
    return {"lineItemId": line_gid, "quantity": quantity, "restockType": "NO_RESTOCK"}


def _payment(transaction: dict, from_checkout: bool) -> PaymentData:
    gateway = transaction.get("gateway") or ""
    provider, managed = _provider(gateway)
    money = transaction["amountSet"]["presentmentMoney"]
    payment_id = transaction.get("paymentId") or (transaction.get("parentTransaction") or {}).get("paymentId")
    if provider == "stripe":
        stripe_id = _stripe_payment_id(transaction)
        shopify_ids = {t.get("paymentId") for t in (transaction, transaction.get("parentTransaction") or {})} - {None, "", stripe_id}
        managed = from_checkout or bool(shopify_ids) or stripe_id is None
        payment_id = payment_id if managed else stripe_id
    return PaymentData(
        platform_transaction_id=_numeric_id(transaction["id"]),
        provider=provider,
        gateway=gateway,
        payment_id=payment_id,
        amount=to_minor(money["amount"], money["currencyCode"]),
        currency=money["currencyCode"],
        kind=PAYMENT_KINDS[transaction["kind"]],
        platform_managed=managed,
        stored_value=provider in STORED_VALUE,
    )


def _too_many(request_id) -> ProviderRejected:
    return ProviderRejected("the order has more refunds, or a refund more lines, than Palautus reads", provider=PROVIDER,
                            code="too_many_refunds", request_id=request_id)  # fmt: skip


def _open_authorizations(order: dict) -> list[PaymentData]:
    """Successful AUTHORIZATIONs with no successful CAPTURE or VOID under them, as payments of kind "authorization"."""
    closed = {_numeric_id(t["parentTransaction"]["id"]) for t in order["transactions"]
              if t["kind"] in ("CAPTURE", "VOID") and t["status"] == "SUCCESS" and t.get("parentTransaction")}  # fmt: skip
    held = [t for t in order["transactions"] if t["kind"] == "AUTHORIZATION" and t["status"] == "SUCCESS"
            and _numeric_id(t["id"]) not in closed]  # fmt: skip
    from_checkout = bool(order.get("checkoutToken"))
    return [replace(_payment({**t, "kind": "SALE"}, from_checkout), kind="authorization") for t in held]


def _captures_of_authorizations(transactions: list) -> dict[str, str]:
    """Authorization id -> its (first) successful capture: a refund Shopify parents to an authorization came from it."""
    captures: dict[str, str] = {}
    for t in transactions:
        parent = (t.get("parentTransaction") or {}).get("id")
        if t["kind"] == "CAPTURE" and t.get("status") == "SUCCESS" and parent:
            captures.setdefault(_numeric_id(parent), _numeric_id(t["id"]))
    return captures


def _shop_refund(order: dict, refund: dict, captures: dict[str, str], complete: bool = True) -> ShopRefundData:
    """A Refund of REFUNDS_BY_ID as the same record a refunds/create webhook gives."""
    refunds = [t for t in refund["transactions"]["nodes"] if t["kind"] == "REFUND"]
    paid = [t for t in refunds if t["status"] == "SUCCESS"]
    pending = [t for t in refunds if t["status"] in PENDING_REFUND_STATUSES]
    amounts = [(_paid_from(t, captures),
                to_minor(t["amountSet"]["presentmentMoney"]["amount"], t["amountSet"]["presentmentMoney"]["currencyCode"]))
               for t in paid]  # fmt: skip
    by_parent: dict[str, int] = {}
    for parent, amount in amounts:
        if parent:
            by_parent[parent] = by_parent.get(parent, 0) + amount
    lines = tuple(ShopRefundLine(_numeric_id(row["lineItem"]["id"]), row["quantity"])
                  for row in refund["refundLineItems"]["nodes"])  # fmt: skip
    return ShopRefundData(
        platform_refund_id=_numeric_id(refund["id"]), platform_order_id=_numeric_id(order["id"]),
        amount=sum(amount for _, amount in amounts), currency=order["presentmentCurrencyCode"],
        created_at=datetime.fromisoformat(refund["createdAt"].replace("Z", "+00:00")), lines=lines, note=refund["note"],
        parent_transaction_ids=tuple(by_parent), refunded_by_parent=tuple(by_parent.items()),
        platform_return_id=_numeric_id(refund["return"]["id"]) if refund.get("return") else None,
        shipping_refunded=bool(refund["refundShippingLines"]["nodes"]), complete=complete,
        pending=sum(to_minor(t["amountSet"]["presentmentMoney"]["amount"], t["amountSet"]["presentmentMoney"]["currencyCode"])
                    for t in pending),
    )  # fmt: skip


def _paid_from(transaction: dict, captures: dict[str, str]) -> str | None:
    """The payment a REFUND transaction took money from: its parent, or the capture of an authorization parent."""
    parent = (transaction.get("parentTransaction") or {}).get("id")
    if not parent:
        return None
    parent = _numeric_id(parent)
    return captures.get(parent, parent)


def _refunded_by_parent(transactions: list) -> dict[str, int]:
    """Money refunded per payment: the successful REFUND transactions, by the sale or capture they refund."""
    captures, refunded = _captures_of_authorizations(transactions), {}
    for t in transactions:
        parent = _paid_from(t, captures)
        if t["kind"] == "REFUND" and t["status"] == "SUCCESS" and parent:
            money = t["amountSet"]["presentmentMoney"]
            refunded[parent] = refunded.get(parent, 0) + to_minor(money["amount"], money["currencyCode"])
    return refunded


def _provider(gateway: str) -> tuple[str, bool]:
    name = gateway.strip().lower()
    for needle, provider, managed in GATEWAYS:
        if needle in name or needle.replace("_", " ") in name:
            return provider, managed
    return name, False


def _stripe_payment_id(transaction: dict) -> str | None:
    """The PaymentIntent (or, for old integrations, the Charge) behind a Stripe transaction."""
    parent = transaction.get("parentTransaction") or {}
    ids = [transaction.get("authorizationCode"), parent.get("authorizationCode"), transaction.get("paymentId"),
           parent.get("paymentId")]
    receipt = _receipt(transaction.get("receiptJson"))
    intent = receipt.get("payment_intent")
    ids += [intent.get("id") if isinstance(intent, dict) else intent, receipt.get("id")]
    ids = [i for i in ids if isinstance(i, str)]
    return next((i for i in ids if i.startswith("pi_")), None) or next((i for i in ids if i[:3] == "ch_"), None)


def _receipt(value) -> dict:
    # receiptJson is gateway-specific and "not a stable contract": tolerate anything.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _numeric_id(gid: str) -> str:
    return gid.rsplit("/", 1)[-1].split("?", 1)[0]


def _malformed(message: str) -> ProviderUnavailable:
    # Shopify answered but not in its documented shape: worth another try, and
    # every call that changes something carries an idempotency guarantee.
    return ProviderMalformed(message, provider=PROVIDER, code="bad_response")


def _raise_for_status(response, request_id) -> None:
    status = response.status_code
    if status == 429:
        raise ProviderUnavailable("rate limited", provider=PROVIDER, status=status, code="throttled",
                                  request_id=request_id, retry_after=retry_after(response))
    if status >= 500:
        raise ProviderUnavailable("server error", provider=PROVIDER, status=status, request_id=request_id)
    if 300 <= status < 500:
        code = HTTP_REJECTIONS.get(status, "http_error")
        raise ProviderRejected(f"request refused ({code})", provider=PROVIDER, status=status, code=code,
                               request_id=request_id)


def _top_level_error(body: dict, request_id) -> Exception:
    errors = body["errors"] if isinstance(body["errors"], list) else [{"message": str(body["errors"])}]
    codes = [(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)]
    message = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
    code = next((c for c in codes if c), None)
    retryable = next((c for c in codes if c in RETRYABLE_CODES), None)
    if retryable:
        wait = _throttle_wait(body) if retryable == "THROTTLED" else None
        return ProviderUnavailable(message, provider=PROVIDER, code=retryable, request_id=request_id,
                                   retry_after=wait)
    return ProviderRejected(message, provider=PROVIDER, code=code, request_id=request_id)


def _throttle_wait(body: dict) -> float | None:
    """Seconds until the cost bucket holds the requested cost again."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return None
    if rate <= 0:
        return None
    return round(missing / rate, 2) if missing > 0 else 1.0


def _rejected(user_errors: list, request_id) -> ProviderRejected:
    messages = []
    for error in user_errors:
        field = ".".join(str(part) for part in error.get("field") or [])
        messages.append(f"{field}: {error.get('message')}" if field else str(error.get("message")))
    code = next((e.get("code") for e in user_errors if e.get("code")), None)
    return ProviderRejected("; ".join(messages), provider=PROVIDER, code=code or "user_error",
                            request_id=request_id)
