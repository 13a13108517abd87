"""The platform port on WooCommerce: Palautus's neutral requests as REST v3 calls to one store.

WooCommerce has no returns of its own (returns come through Palautus's API),
no order transactions (the payment is in the order) and no order tags (a meta
field stands in). A refund Palautus made at the provider is recorded with
`api_refund: false`, so WooCommerce moves no money, and carries its key in a
meta field, so a retry finds it instead of recording it twice.

A payment Palautus has no direct route for goes back through WooCommerce's own
gateway instead (`payment_route()`, adapters/platforms/woocommerce/gateway.py):
the same refund body with `api_refund: true` (`refund_body`, shared by both paths).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from adapters.errors import PayloadError, ProviderMalformed, ProviderRejected, ProviderUnavailable
from adapters.platforms.woocommerce import orders as wc
from adapters.platforms.woocommerce import products
from adapters.platforms.woocommerce.client import PER_PAGE, WooClient
from integration.errors import InvalidInput, MissingCredentials
from integration.money import Money, allocate, to_decimal
from integration.refunds import note_reference
from integration.records import (
    OrderSnapshot, PaymentData, ProductData, RefundRequest, RefundToRecord, ReturnToOpen, ShopRefundData,
)

__all__ = ["WooCommercePlatform", "connect", "normalize_domain", "NAME", "CREDENTIALS", "TOPICS", "REFUND_KEY_META"]

logger = logging.getLogger(__name__)

NAME = "woocommerce"
# consumer_key/consumer_secret: a REST API key with read/write access; webhook_secret: Palautus generates it.
CREDENTIALS = ("consumer_key", "consumer_secret", "webhook_secret")
# The store's webhooks Palautus makes (ensure_webhooks); products for the return policy's type and tag rules.
TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored", "product.created", "product.updated")
REFUND_KEY_META = "palautus_refund_key"
# Seconds between looks for a refund whose answer was lost (about a minute: PHP's usual time limits).
LOST_ANSWER_WAITS = (2, 4, 8, 16, 30)
STATUS_META = "palautus_status"
CANCELLED = "cancelled"  # the order status WooCommerce cancels with (restocking the order's items)
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def public_store(url: str, config: dict) -> None:
    """InvalidInput unless the store's address is a public one: never an IP address, a loopback, private,
    link-local or reserved one (an address Palautus can reach but the internet cannot: a way into its own
    network), nor a port a store does not use. In production the name is resolved, and every address it
    resolves to must be public. (Pinning the address checked for the call itself is not done: a name that
    changes what it points at between the check and the call is left to the network's egress rules.)"""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    production = config.get("ENV") == "production"
    if literal is not None and (production or not literal.is_loopback):
        raise InvalidInput("the store's address must be a name, not an IP address")
    if host in ("localhost",) or host.endswith((".localhost", ".local", ".internal", ".lan", ".home.arpa")):
        if production:
            raise InvalidInput("the store's address is not a public one")
    if parts.port not in (None, 80, 443, 8080) and production:
        raise InvalidInput("the store's address must use port 443 (or 80 or 8080)")
    if not production or literal is not None:
        return
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)}
    except OSError:
        raise InvalidInput(f"the store's address {host} cannot be resolved") from None
    if not found or not all(ipaddress.ip_address(address.split("%")[0]).is_global for address in found):
        raise InvalidInput("the store's address is not a public one")


def normalize_domain(url: str) -> str:
    """The store's base URL in one canonical form (scheme, host, port, path); InvalidInput if it is not one.

    A store is known by the URL its REST API lives under: `https://shop.example`,
    or a WordPress in a folder, `https://example.com/shop`. Plain http:// is for a
    development store; production refuses it when the store is registered.
    """
    text = (url or "").strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput(f"{url!r} is not a store URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not _HOST.match(host) or parts.username or parts.password:
        raise InvalidInput(f"{url!r} is not a store URL such as https://shop.example.com")
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = re.sub(r"/+$", "", parts.path)
    if path.endswith("/wp-json") or "/wp-json/" in path + "/":
        path = path[: path.index("/wp-json")]
    return f"{scheme}://{netloc}{path}"[:255]


def connect(domain: str, credentials: dict, config: dict, session=None) -> WooCommercePlatform:
    """The port for one store, with its REST key; MissingCredentials without one."""
    key, secret = credentials.get("consumer_key"), credentials.get("consumer_secret")
    if not key or not secret:
        raise MissingCredentials(f"the store {domain} has no WooCommerce REST key in Palautus", platform=NAME)
    client = WooClient(domain, key, secret, timeout=config["HTTP_TIMEOUT"], session=session)
    return WooCommercePlatform(client)


@dataclass(frozen=True)
class WebhookState:
    """One of the store's webhooks as Palautus wants it, and what was done about it."""

    topic: str
    webhook_id: int
    status: str  # active, paused, disabled
    action: str  # created, reactivated, kept


class WooCommercePlatform:
    """What the jobs ask of a WooCommerce store."""

    name = NAME

    def __init__(self, client: WooClient):
        self.client = client

    def __repr__(self) -> str:
        return f"WooCommercePlatform({self.client!r})"

    # --- orders -----------------------------------------------------------------------------------------

    def _order(self, platform_order_id: str) -> dict:
        order = self.client.get(f"/orders/{_numeric(platform_order_id)}")
        if not isinstance(order, dict):
            raise ProviderMalformed("the store answered an order that is not an object", provider=NAME, code="malformed_response")
        return order

    def fetch_order(self, platform_order_id: str) -> OrderSnapshot:
        """The order as the store has it now (one no webhook told us about, a catch-up, or one just trashed)."""
        return _parsed(wc.parse_order, self._order(platform_order_id))

    def order_payments(self, platform_order_id: str) -> list[PaymentData]:
        """The order's payment, from the order itself; none while it is unpaid or only authorized."""
        snapshot = self.fetch_order(platform_order_id)
        return list(snapshot.payments or ())

    def order_refunds(self, platform_order_id: str) -> list[ShopRefundData]:
        """Every refund the order has in the store, with the order lines each one gave back."""
        order_id = _numeric(platform_order_id)
        order = self.client.get(f"/orders/{order_id}", {"_fields": "id,currency,line_items,shipping_lines,fee_lines"})
        currency = str(order.get("currency") or "").upper() if isinstance(order, dict) else ""
        rows = self.client.pages(f"/orders/{order_id}/refunds")
        return [_parsed(wc.parse_refund, row, order_id, currency, order, REFUND_KEY_META) for row in rows]

    def modified_orders(self, after, limit: int = PER_PAGE, *, trash: bool = False, before=None, page: int = 1) -> list:
        """One page of the orders modified after `after` (UTC, exclusive; before `before` if given), oldest
        change first: every status (plugins' own ones too), or with `trash` the trashed ones. The catch-up
        asks again from the last change it saw (keyset paging: an order changing meanwhile shifts nothing),
        and pages by number only within one second. Each is an OrderSnapshot, or an UnreadableOrder."""
        query = {"modified_after": _gmt(after), "dates_are_gmt": "true", "orderby": "modified", "order": "asc",
                 "per_page": limit, "page": page, "status": wc.TRASH if trash else "any"}  # fmt: skip
        if before is not None:
            query["modified_before"] = _gmt(before)
        rows = self.client.get("/orders", query)
        if not isinstance(rows, list):
            raise ProviderUnavailable("the order listing is not a list", provider=NAME, code="malformed_response")
        found = []
        for row in rows:
            if isinstance(row, dict) and row.get("status") in wc.DRAFT_STATUSES:
                continue
            try:
                found.append(wc.parse_order(row))
            except PayloadError as e:
                found.append(UnreadableOrder(wc.loose_id(row), wc.loose_modified(row), str(e)))
        return found

    # --- recording our refund ------------------------------------------------------------------------------

    def record_refund(self, refund: RefundToRecord) -> str:
        """Record on the order a refund made at the provider (`api_refund: false`), at most once per key.

        WooCommerce itself checks only the amount, so units already refunded on a
        line are refused here, before anything is written in the store.
        """
        order_id = _numeric(refund.platform_order_id)
        existing = self.client.pages(f"/orders/{order_id}/refunds")
        mine = _with_key(existing, refund)
        order = self._order(order_id)
        note = refund.note
        if mine is None:
            _check_left(order, existing, refund)
            body = self._refund_body(order, refund)
            if _units_taken(order, existing, refund):
                # The merchant refunded some of these units by hand meanwhile: the money moved at the provider
                # all the same, so it is recorded by its amount alone, restocking nothing, and the note says why.
                logger.warning("units already refunded in the store: recorded by amount only", extra={"order": order_id})
                note += " Recorded by amount only: the store had refunded some of these items by hand."
                body.update(line_items=[], api_restock=False, reason=note[:400])
            try:
                created = self.client.post(f"/orders/{order_id}/refunds", body)
            except ProviderRejected as e:
                if e.status is None or e.status < 500:
                    raise
                # WooCommerce answers a refund it failed to save, and one it refused, alike: retried, the
                # lookup by key tells which it was, and _check_left stops a real over-refund.
                created = {"id": self._saved_meanwhile(order_id, refund, ProviderUnavailable(
                    str(e.message), provider=NAME, status=e.status, code=e.code))}  # fmt: skip
            except ProviderUnavailable as e:
                created = {"id": self._saved_meanwhile(order_id, refund, e)}
            mine = str(created.get("id")) if isinstance(created, dict) else None
            if not mine or not mine.isdigit():
                raise ProviderUnavailable("the store answered a refund without an id", provider=NAME, code="malformed")
        self._note_once(order_id, note)
        return mine


    def _saved_meanwhile(self, order_id: str, refund: RefundToRecord, error: ProviderUnavailable) -> str:
        """The answer to our refund was lost: a slow store may still be saving it (PHP runs on after our
        timeout). Look for it by its key for a while; only if it never shows is the error raised, for a
        retry that will look again first."""
        for wait in LOST_ANSWER_WAITS:
            time.sleep(wait)
            try:
                found = _with_key(self.client.pages(f"/orders/{order_id}/refunds"), refund)
            except ProviderUnavailable:
                continue
            if found:
                return found
        raise error

    def _note_once(self, order_id: str, note: str) -> None:
        """The order note naming the return and the provider's refund; not again if a retry finds it there."""
        for row in self.client.pages(f"/orders/{order_id}/notes", {"type": "internal"}):
            if isinstance(row, dict) and row.get("note") == note:
                return
        self.client.post(f"/orders/{order_id}/notes", {"note": note, "customer_note": False})

    def _refund_body(self, order: dict, refund: RefundToRecord) -> dict:
        return refund_body(order, refund, api_refund=False)

    def refund_cancelled(self, platform_order_id: str, platform_refund_id: str, reason: str | None) -> bool:
        """Whether a refund the store no longer lists, shown at 0 while its gateway worked on it, was cancelled by
        the gateway (Paytrail for WooCommerce's cancel note), not deleted by hand: only then did it never pay."""
        from adapters.platforms.woocommerce.gateway import cancelled_by_gateway

        order_id = _numeric(platform_order_id)
        notes = [row for row in self.client.pages(f"/orders/{order_id}/notes", {"type": "internal"}) if isinstance(row, dict)]
        return bool(reason) and cancelled_by_gateway(self.client, order_id, notes, lambda start: str(reason).startswith(start))

    def order_authorizations(self, platform_order_id: str) -> list[PaymentData]:
        """The order's payment while its gateway plugin has only authorized it; [] once it was taken (or unknown)."""
        order = self._order(platform_order_id)
        snapshot = _parsed(wc.parse_order, order)
        found = wc.authorization_of(order, snapshot.platform_order_id, snapshot.currency, snapshot.total)
        return [found] if found is not None else []

    def cancel_order(self, platform_order_id: str, note: str) -> None:
        """Set the order cancelled (`PUT /orders/{id}`, status "cancelled"): WooCommerce puts its stock back and the
        gateway plugins release what they only authorized; nothing is refunded. Cancelled already: done."""
        order_id = _numeric(platform_order_id)
        if self._order(order_id).get("status") != CANCELLED:
            answer = self.client.put(f"/orders/{order_id}", {"status": CANCELLED})
            if not isinstance(answer, dict) or answer.get("status") != CANCELLED:  # a plugin kept it from cancelling
                raise ProviderRejected("the store did not cancel the order", provider=NAME, code="not_cancelled")
        self._note_once(order_id, note)

    def payment_route(self):
        """Refunds through WooCommerce's own gateway (`api_refund: true`): the gateway plugin that took the payment
        refunds it, for the payments Palautus has no direct route (or no credentials) for."""
        from adapters.platforms.woocommerce.gateway import WooCommerceGatewayRefunds

        return WooCommerceGatewayRefunds(self)

    # --- what WooCommerce has no word for -------------------------------------------------------------------

    # --- products and returns opened in Palautus ------------------------------------------------------------

    def read_products(self, platform_product_ids: list[str]) -> list[ProductData]:
        """The products of these ids as the store has them now (GET /products?include=), a page at a time."""
        ids = [str(int(i)) for i in dict.fromkeys(platform_product_ids) if str(i).isdigit()]
        found = []
        for start in range(0, len(ids), PER_PAGE):
            query = {"include": ",".join(ids[start:start + PER_PAGE]), "per_page": PER_PAGE, "_fields": products.FIELDS}
            rows = self.client.get("/products", query)
            if not isinstance(rows, list):
                raise ProviderMalformed("the product listing is not a list", provider=NAME, code="malformed_response")
            found += [p for p in (_parsed(products.parse_product, row) for row in rows) if p is not None]
        return found

    def open_return(self, request: ReturnToOpen) -> None:
        """WooCommerce keeps no returns: the order gets a note for the merchant (not the customer) naming the
        return code and its items, once however often asked."""
        items = "; ".join(f"{line.quantity} x {line.title or 'line ' + line.platform_line_id} "
                          f"({line.reason.replace('_', ' ')})" for line in request.lines)  # fmt: skip
        self._note_once(_numeric(request.platform_order_id),
                        f"Palautus return {request.code} was opened in the return portal: {items}.")  # fmt: skip
        return None

    def tag_order(self, platform_order_id: str, tags: list[str]) -> None:
        """WooCommerce orders have no tags: the order's `palautus_status` meta field says the same."""
        self.client.put(f"/orders/{_numeric(platform_order_id)}", {"meta_data": [{"key": STATUS_META, "value": ",".join(tags)}]})

    def return_steps(self, have: str | None, want: str) -> list[str]:
        """WooCommerce has no returns of its own: there is never a step to take."""
        return []

    def set_return_status(self, platform_return_id: str, status: str, reason: str | None = None,
                          note: str | None = None) -> None:  # fmt: skip
        """WooCommerce has no returns of its own, so no WooCommerce return ever has a platform id to move."""
        raise ProviderRejected("WooCommerce has no returns of its own", provider=NAME, code="no_returns")

    # --- webhooks ---------------------------------------------------------------------------------------------

    def check_access(self) -> None:
        """One cheap read with the REST key: ProviderRejected if the store refuses it (a wrong key, read-only)."""
        self.client.get("/webhooks", {"per_page": 1})

    def ensure_webhooks(self, delivery_url: str, secret: str) -> list[WebhookState]:
        """The store's webhooks for TOPICS to `delivery_url`: missing ones created, paused or disabled ones
        turned back on (with our secret), none duplicated."""
        existing = [w for w in self.client.pages("/webhooks") if isinstance(w, dict) and w.get("delivery_url") == delivery_url]
        states = []
        for topic in TOPICS:
            found = sorted((w for w in existing if w.get("topic") == topic), key=lambda w: (w.get("status") != "active", w["id"]))
            if not found:
                made = self.client.post("/webhooks", {"name": f"Palautus {topic}", "topic": topic, "delivery_url": delivery_url,
                                                      "secret": secret, "status": "active"})  # fmt: skip
                states.append(WebhookState(topic, int(made["id"]), str(made.get("status")), "created"))
                continue
            hook = found[0]
            if hook.get("status") != "active":
                hook = self.client.put(f"/webhooks/{int(hook['id'])}", {"status": "active", "secret": secret})
                states.append(WebhookState(topic, int(hook["id"]), str(hook.get("status")), "reactivated"))
            else:
                states.append(WebhookState(topic, int(hook["id"]), "active", "kept"))
        return states

    def webhook_health(self, delivery_url: str) -> list[WebhookState]:
        """Our webhooks as the store has them, without changing anything (a missing topic shows as missing)."""
        existing = [w for w in self.client.pages("/webhooks") if isinstance(w, dict) and w.get("delivery_url") == delivery_url]
        states = []
        for topic in TOPICS:
            found = [w for w in existing if w.get("topic") == topic]
            best = min(found, key=lambda w: (w.get("status") != "active", w["id"])) if found else None
            states.append(WebhookState(topic, int(best["id"]) if best else 0, str(best.get("status")) if best else "missing", "seen"))
        return states


def _parsed(parse, *args):
    """An answer in a shape the adapter cannot read is an outage to retry, never a refusal or an empty answer."""
    try:
        return parse(*args)
    except PayloadError as e:
        raise ProviderMalformed(f"the store's answer is not in the documented shape: {e}", provider=NAME,
                                code="malformed_response") from None  # fmt: skip


def _with_key(refunds: list, refund: RefundToRecord) -> str | None:
    """Our refund recorded earlier: by its meta field, or (the meta is saved after the refund, so a retry
    soon after a lost answer may not see it) by the key in its reason, if it also moved no money and is
    of our amount: a merchant's own refund quoting our note is never taken for ours."""
    row = keyed_refund(refunds, refund.idempotency_key, refund.amount, through_gateway=False)
    return str(row["id"]) if row is not None else None


def keyed_refund(refunds: list, key: str, amount: Money, *, through_gateway: bool) -> dict | None:
    """The store's refund made under our `key`: by its meta field, else by the key in its reason with our amount.

    A refund recorded by us moved no money (`refunded_payment` false); one made through the
    gateway did (true), and may show 0 while its gateway settles it (Paytrail for WooCommerce),
    so through the gateway a reason with our key counts at our amount or at 0, whatever
    `refunded_payment` says (false while the gateway is still being called).
    """
    reference, ours = note_reference(key), _amount(amount.amount, amount.currency)
    for row in refunds:
        if not isinstance(row, dict) or not str(row.get("id", "")).isdigit():
            continue
        meta = {m.get("key"): m.get("value") for m in row.get("meta_data") or [] if isinstance(m, dict)}
        if meta.get(REFUND_KEY_META) == key:
            return row
        if reference not in str(row.get("reason") or ""):
            continue
        if through_gateway and (_same_amount(row.get("amount"), ours) or _same_amount(row.get("amount"), "0")):
            return row
        if not through_gateway and row.get("refunded_payment") is False and _same_amount(row.get("amount"), ours):
            return row
    return None


def _same_amount(shown, ours: str) -> bool:
    try:
        return Decimal(str(shown)) == Decimal(ours)
    except ArithmeticError:
        return False


def _check_left(order: dict, refunds: list, refund: RefundToRecord | RefundRequest) -> None:
    """ProviderRejected when the store has less left to refund than our refund moves: someone refunded the
    same money in the store meanwhile, and a person must look (the customer may have been paid twice)."""
    currency = refund.amount.currency
    # A refund the store shows at 0 while its gateway still works on it (Paytrail) counts at what it may pay.
    taken = sum(_taken(row, currency) for row in refunds if isinstance(row, dict))
    left = wc.minor(order.get("total"), currency) - taken
    if refund.amount.amount > left:
        raise ProviderRejected(f"the store has {to_decimal(max(left, 0), currency)} {currency} left to refund, less than "
                               f"this refund moved: it may have been refunded in the store as well", provider=NAME,
                               code="refunded_in_store")  # fmt: skip


def _taken(row: dict, currency: str) -> int:
    """What a store refund takes from the order: its amount, or, shown at 0 while its gateway still works on it
    (Paytrail keeps the amount asked in its meta after it settled, too), what it may still pay."""
    shown = wc.minor(row.get("amount"), currency)
    return shown if shown else wc.pending_amount(row, currency)


def _units_taken(order: dict, refunds: list, refund: RefundToRecord | RefundRequest) -> bool:
    """Whether a line has fewer units left in the store than the refund records (WooCommerce checks only money)."""
    sold = {str(row.get("id")): row.get("quantity") for row in order.get("line_items") or [] if isinstance(row, dict)}
    done: dict[str, int] = {}
    for row in refunds:
        for item in (row.get("line_items") or []) if isinstance(row, dict) else []:
            meta = {m.get("key"): m.get("value") for m in item.get("meta_data") or [] if isinstance(m, dict)}
            line, units = str(meta.get("_refunded_item_id")), item.get("quantity")
            if isinstance(units, int):
                done[line] = done.get(line, 0) + abs(units)
    return any(line.quantity > (sold.get(line.line_id) or 0) - done.get(line.line_id, 0)
               for line in _shape(refund).lines)  # fmt: skip


@dataclass(frozen=True)
class UnreadableOrder:
    """An order in a listing the adapter cannot read: flagged, and read again until it can be."""

    platform_order_id: str | None
    modified: object  # datetime | None
    problem: str


def _gmt(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def order_id_of(order: dict) -> str | None:
    value = order.get("id")
    return str(value) if isinstance(value, int) else None


def _numeric(platform_order_id: str) -> str:
    if not str(platform_order_id).isdigit():
        raise ProviderRejected("a WooCommerce order id is a number", provider=NAME, code="bad_id")
    return str(int(platform_order_id))


def _amount(minor: int, currency: str) -> str:
    """An amount as WooCommerce takes it: a string ("5.00"), never a JSON number."""
    return str(to_decimal(minor, currency))


@dataclass(frozen=True)
class _Line:
    line_id: str  # the order line's id in the store
    quantity: int
    amount: int  # planned back for these units, tax included (before fees)
    tax: int  # the VAT in `amount`
    restock: bool


@dataclass(frozen=True)
class _Shape:
    """What one refund body says, whichever path asks: a refund recorded (RefundToRecord) or one paid through
    the gateway (RefundRequest)."""

    amount: Money
    note: str
    key: str
    lines: tuple[_Line, ...]
    shipping: int  # the order's shipping, tax included, given back in full
    shipping_tax: int
    tax: int  # the VAT in `amount`


def _shape(refund: RefundToRecord | RefundRequest) -> _Shape:
    if isinstance(refund, RefundRequest):
        lines = tuple(_Line(line.reference, line.quantity, line.amount, line.tax, line.restock) for line in refund.lines)
    else:
        lines = tuple(_Line(line.platform_line_id, line.quantity, line.amount, line.tax, line.restock) for line in refund.lines)
    return _Shape(refund.amount, refund.note, refund.idempotency_key, lines, refund.shipping, refund.shipping_tax, refund.tax)


def refund_body(order: dict, refund: RefundToRecord | RefundRequest, *, api_refund: bool) -> dict:
    """POST /orders/{id}/refunds: the amount, the reason (our note, with our key), each line's and the
    shipping's share with its VAT per tax rate (gateway plugins such as Klarna's build their provider's
    refund lines from these), restocking, and our key as meta. `api_refund` false records a refund made
    elsewhere; true has WooCommerce call the order's gateway plugin to pay it back."""
    shape = _shape(refund)
    currency = shape.amount.currency
    lines = {str(row.get("id")): row for row in order.get("line_items") or [] if isinstance(row, dict)}
    items = []
    shares = _shares(shape)
    for line, (amount, tax) in zip(shape.lines, shares):
        row = lines.get(line.line_id)
        if row is None or not line.line_id.isdigit():
            raise ProviderRejected(f"order line {line.line_id} is not on the order", provider=NAME, code="unknown_line")
        items.append({"id": int(line.line_id), "quantity": line.quantity,
                      "refund_total": _amount(amount - tax, currency), "refund_tax": _taxes(row, tax, currency)})  # fmt: skip
    if shape.shipping:
        amount, tax = shares[len(shape.lines)]
        ships = [row for row in order.get("shipping_lines") or [] if isinstance(row, dict) and isinstance(row.get("id"), int)]
        gross = [wc.minor(row.get("total"), currency) + wc.minor(row.get("total_tax"), currency) for row in ships]
        vat = [wc.minor(row.get("total_tax"), currency) for row in ships]
        # The whole shipping, each shipping line its own share, with the VAT of its own rates.
        for row, part, part_tax in zip(ships, allocate(amount, gross), allocate(tax, vat)):
            items.append({"id": row["id"], "refund_total": _amount(part - part_tax, currency),
                          "refund_tax": _taxes(row, part_tax, currency)})  # fmt: skip
    restock = bool(shape.lines) and all(line.restock for line in shape.lines)
    if any(line.restock for line in shape.lines) and not restock:
        logger.warning("woocommerce restocks all of a refund's lines or none: none restocked",
                       extra={"order": order_id_of(order)})  # fmt: skip
    return {
        "amount": _amount(shape.amount.amount, currency), "reason": shape.note[:400], "api_refund": api_refund,
        "api_restock": restock, "line_items": items, "meta_data": [{"key": REFUND_KEY_META, "value": shape.key}],
    }  # fmt: skip


def _shares(refund: _Shape | RefundToRecord | RefundRequest) -> list[tuple[int, int]]:
    """(amount, tax) per refunded line, then shipping: as planned, scaled down to what the refund moves when
    fees were kept or the payment had less left, so the lines always add up to the refund's amount and VAT."""
    shape = refund if isinstance(refund, _Shape) else _shape(refund)
    planned = [(line.amount, line.tax) for line in shape.lines] + ([(shape.shipping, shape.shipping_tax)] if shape.shipping else [])
    gross, vat = sum(a for a, _ in planned), sum(t for _, t in planned)
    if gross == shape.amount.amount and (not shape.tax or vat == shape.tax):
        return planned
    amounts = allocate(shape.amount.amount, [a for a, _ in planned])
    taxes = allocate(shape.tax if shape.tax else vat * shape.amount.amount // max(gross, 1), [t for _, t in planned])
    return [(a, min(t, a)) for a, t in zip(amounts, taxes)]


def _taxes(row: dict, tax: int, currency: str) -> list[dict]:
    """`tax` split over the line's own tax rates (their ids), in proportion to what each charged."""
    rates = [(t.get("id"), abs(Decimal(str(t.get("total") or "0")))) for t in row.get("taxes") or [] if isinstance(t, dict)]
    rates = [(rate_id, total) for rate_id, total in rates if isinstance(rate_id, int) and total > 0]
    if not rates or not tax:
        return []
    parts = allocate(tax, [int(total * 10**6) for _, total in rates])
    return [{"id": rate_id, "refund_total": _amount(part, currency)} for (rate_id, _), part in zip(rates, parts)]
