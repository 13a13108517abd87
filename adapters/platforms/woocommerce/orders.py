"""WooCommerce REST v3 bodies to platform-neutral records: orders (with their payment), refunds. No I/O.

- Amounts are strings in the order's currency, formatted to the store's price
  decimals; line `total`s are **before tax** and `total_tax` carries the VAT,
  whatever `prices_include_tax` says (that flag is how the merchant typed prices).
  So an order is taxes-excluded for the ledger, with each line's tax beside it.
- A line's unit price is its `subtotal` (before coupons) per unit, rounded up to
  a whole minor unit; the difference to `total` is the line's discount, so
  unit x quantity - discount + tax is exactly what the customer paid.
- VAT rates come from the order's own `tax_lines` (`rate_id` -> `rate_percent`),
  matched to each line's `taxes[].id`: never from a rate table.
- Timestamps: the `*_gmt` fields, which carry no offset and are UTC.
- The payment is in the order itself: `payment_method` names the gateway
  plugin, looked up in GATEWAYS (an explicit table of the plugins' ids, never a
  substring guess); `transaction_id` and the plugin's meta give the provider's
  reference.
- Refunds (GET /orders/{id}/refunds) carry negative quantities and totals; a
  refund line names the order line it refunds in its `_refunded_item_id` meta.

Messages name JSON paths, never values: bodies hold personal data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

from adapters import fields as f
from adapters.errors import PayloadError
from integration.money import allocate, exponent
from integration.records import OrderLineData, OrderSnapshot, PaymentData, ShopRefundData, ShopRefundLine

__all__ = ["GATEWAYS", "Gateway", "DRAFT_STATUSES", "PAID_STATUSES", "parse_order", "parse_refund", "payment_of",
           "order_id_of", "authorization_of"]  # fmt: skip


@dataclass(frozen=True)
class Gateway:
    """A gateway plugin's payment method id and where its provider reference is."""

    provider: str  # the payment route's name in adapters.payments.ROUTES, or the provider's own name
    reference_meta: tuple[str, ...] = ()  # meta keys holding the provider's payment id, best first
    transaction_prefixes: tuple[str, ...] = ("",)  # what a usable transaction_id starts with ("" = anything)
    required_meta: str | None = None  # a meta key the plugin always writes: without it, another plugin took the id
    uncaptured: tuple[str, str] | None = None  # (meta key, value) meaning only authorized: no money taken yet


# WooCommerce Stripe Gateway (woocommerce/woocommerce-gateway-stripe): transaction_id is the charge
# (ch_, or py_ for non-card methods), `_stripe_intent_id` the PaymentIntent; Stripe refunds either.
# Other Stripe plugins reuse some of these ids, on the merchant's own Stripe account all the same.
_STRIPE = Gateway("stripe", ("_stripe_intent_id",), ("pi_", "ch_", "py_"), uncaptured=("_stripe_charge_captured", "no"))
_STRIPE_METHODS = (
    "stripe", "stripe_sepa", "stripe_sepa_debit", "stripe_ideal", "stripe_bancontact", "stripe_giropay", "stripe_eps",
    "stripe_p24", "stripe_sofort", "stripe_alipay", "stripe_boleto", "stripe_oxxo", "stripe_multibanco", "stripe_klarna",
    "stripe_affirm", "stripe_afterpay_clearpay", "stripe_us_bank_account", "stripe_acss_debit", "stripe_bacs_debit",
    "stripe_au_becs_debit", "stripe_blik", "stripe_cashapp", "stripe_wechat_pay", "stripe_amazon_pay", "stripe_link",
)  # fmt: skip
# WooCommerce PayPal Payments: transaction_id is the capture (the authorization while only authorized).
_PAYPAL = Gateway("paypal", (), ("",), uncaptured=("_ppcp_paypal_captured", "false"))
_PAYPAL_METHODS = (
    "ppcp-gateway", "ppcp-credit-card-gateway", "ppcp-card-button-gateway", "ppcp-axo-gateway", "ppcp-applepay",
    "ppcp-googlepay", "ppcp-pay-upon-invoice-gateway", "ppcp-oxxo-gateway", "ppcp-bancontact", "ppcp-blik", "ppcp-eps",
    "ppcp-ideal", "ppcp-mybank", "ppcp-p24", "ppcp-trustly", "ppcp-multibanco", "ppcp-pwc",
)  # fmt: skip
_KLARNA = Gateway("klarna", ("_wc_klarna_order_id",))
_NEXI = Gateway("nexi", ("_dibs_payment_id",))

# payment_method -> Gateway: the plugins' own ids, as their source registers them (`$this->id`).
GATEWAYS: dict[str, Gateway] = {
    **{method: _STRIPE for method in _STRIPE_METHODS},
    **{method: _PAYPAL for method in _PAYPAL_METHODS},
    # Paytrail for WooCommerce: transaction_id is Paytrail's transactionId.
    "paytrail": Gateway("paytrail"),
    # Klarna Payments, and Klarna (now Kustom) Checkout: transaction_id is Klarna's order_id.
    "klarna_payments": _KLARNA, "kco": _KLARNA, "klarna_checkout_for_woocommerce": _KLARNA,
    # WooPayments runs on Stripe, but on WooCommerce's account: the merchant's own Stripe key cannot refund it.
    "woocommerce_payments": Gateway("woopayments"),
    # Nexi Checkout (Nets Easy) by Krokedil: transaction_id is the paymentId.
    "dibs_easy": _NEXI, "nets_easy_card": _NEXI, "nets_easy_sofort": _NEXI, "nets_easy_trustly": _NEXI,
    "nets_easy_swish": _NEXI, "nets_easy_ratepay_sepa": _NEXI,
    # Vipps MobilePay; other plugins register "vipps" too, so only with the plugin's own order id.
    "vipps": Gateway("vipps", ("_vipps_orderid",), required_meta="_vipps_orderid"),
    "svea_checkout": Gateway("svea", ("_svea_co_order_id",)),
}  # fmt: skip

# WooCommerce's own offline methods: the money came by bank transfer, cheque or cash, outside any provider.
OFFLINE_METHODS = frozenset({"bacs", "cheque", "cod"})
OFFLINE, UNKNOWN = "offline", "unknown"  # providers no payment route is named after

# Statuses in which the customer's money has been taken (on-hold: taken, or awaiting a bank transfer,
# so only with date_paid).
PAID_STATUSES = ("processing", "completed", "on-hold", "refunded")
DRAFT_STATUSES = ("checkout-draft", "auto-draft")
TRASH = "trash"
# What the catch-up lists: every status but drafts, and the trash (`status=any` leaves the trash out).
LISTED_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", TRASH)
_NUMBER = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,18})?")
_MAX_ID = 2**63 - 1


def loose_id(row) -> str | None:
    """An order's id from a body that may be malformed otherwise (for reports)."""
    value = row.get("id") if isinstance(row, dict) else None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def loose_modified(row) -> datetime | None:
    try:
        return _gmt(row, "date_modified_gmt", "") if isinstance(row, dict) else None
    except PayloadError:
        return None


def order_id_of(payload: object) -> str:
    """The order's id from any order body (order.deleted carries nothing else)."""
    return _id(f.object_(payload, ""), "id", "")


def parse_order(payload: object) -> OrderSnapshot:
    """An order body (webhook or GET /orders/{id}) as an OrderSnapshot, with its payment."""
    order = f.object_(payload, "")
    currency = f.field(order, "currency", "", f.currency).upper()
    order_id = _id(order, "id", "")
    rates = _rates(order, currency)
    status = f.field(order, "status", "", f.text)
    paid_at = _gmt(order, "date_paid_gmt", "")
    modified = _gmt(order, "date_modified_gmt", "") or _gmt(order, "date_created_gmt", "")
    if modified is None:
        raise PayloadError("date_modified_gmt: expected a timestamp")
    lines = [_line(row, path, currency, rates) for path, row in f.each(order, "line_items", "")]
    shipping = [_shipping(row, path, currency, rates) for path, row in f.each(order, "shipping_lines", "")]
    shipping_total = sum(amount + tax for amount, tax, _ in shipping)
    shipping_tax = sum(tax for _, tax, _ in shipping)
    number = f.field(order, "number", "", f.text, required=False) or order_id
    paid = paid_at is not None and status in PAID_STATUSES
    total = _money(order, "total", "", currency)
    lines = tuple(_fold_in(lines, order, currency, total, shipping_total))
    refund_ids = tuple(_id(r, "id", p) for p, r in f.each(order, "refunds", ""))
    return OrderSnapshot(
        platform_order_id=order_id,
        name=f"#{number}",
        currency=currency,
        shop_currency=currency,
        taxes_included=False,
        updated_at=modified,
        lines=lines,
        email=_email(order),
        financial_status=status,
        processed_at=paid_at or _gmt(order, "date_created_gmt", ""),
        cancelled_at=modified if status == "cancelled" else None,
        total=total,
        platform_gid=None,
        paid=paid,
        shipping_total=shipping_total,
        shipping_tax=shipping_tax,
        shipping_tax_rate=max((rate for _, _, rate in shipping), default=Decimal(0)),
        payments=(payment_of(order, order_id, currency, total),) if paid and _captured(order) else (),
        refund_ids=refund_ids,
        removed=status == TRASH,
        platform_customer_id=_customer_id(order),
        **_facts(order, status),
    )


# WooCommerce Multilingual (WPML) keeps the order's language in this meta field (WCML_Orders::KEY_LANGUAGE); its
# key has no leading underscore, so the REST API shows it. WooCommerce itself keeps no language on an order.
LANGUAGE_META = "wpml_language"


def _facts(order: dict, status: str) -> dict:
    """When the order was fulfilled: WooCommerce's `date_completed_gmt` of a completed order (completed is the
    merchant's "shipped", or done); delivery it never records (no carrier events): unknown. The customer's
    language only where a multilingual plugin keeps it. No line is marked as a gift card: WooCommerce has no
    such flag, and the gift card plugins (WooCommerce Gift Cards, PW WooCommerce Gift Cards) mark theirs in
    their own product types and item meta, not read here."""
    try:  # a fact that cannot be read is unknown: it never fails the order
        completed = _gmt(order, "date_completed_gmt", "") if status == "completed" else None
    except PayloadError:
        completed = None
    where = f.country(order.get("shipping"), order.get("billing"), key="country")  # WooCommerce's address objects
    return {"fulfilled_at": completed, "delivered_at": None, "locale": _locale(_meta(order).get(LANGUAGE_META)),
            "tax_country": where}  # fmt: skip


def _locale(value) -> str | None:
    return value if isinstance(value, str) and 2 <= len(value) <= 16 and value.replace("-", "").replace("_", "").isalnum() else None


def _customer_id(order: dict) -> str | None:
    """The store's customer id of the order (0 is a guest), or None; a malformed one is not worth failing the
    order for (it is used only to recognise an erased customer)."""
    try:
        value = _id(order, "customer_id", "", required=False)
    except PayloadError:
        return None
    return value if value not in (None, "0") else None


def _fold_in(lines: list[OrderLineData], order: dict, currency: str, total: int, shipping: int) -> list[OrderLineData]:
    """The lines as what the customer paid for them, so no return can pay back more than the order took.

    A negative fee line (a gift card or a store credit some plugins book that way)
    lowered the order's total without touching the lines: its net goes on the
    lines as discount and its VAT off their VAT, in proportion. Rounding of
    each line against the order's total (a store with more decimals than the
    currency, or tax rounded at subtotal) may leave the lines above the total
    by a few minor units: that goes on as discount too. A positive fee (a
    surcharge, gift wrap) is the merchant's and stays out of the lines.
    """
    fees = [(_signed(row, "total", path, currency), _signed(row, "total_tax", path, currency))
            for path, row in f.each(order, "fee_lines", "")]  # fmt: skip
    # A negative fee is a discount on the whole order: each line takes its share of the fee's whole amount
    # (never more than it cost), and that share lowers the line's net and VAT at the line's own rate.
    off = -sum(net + tax for net, tax in fees if net < 0)
    kept = sum(net + tax for net, tax in fees if net > 0)
    gross = [line.unit_price * line.quantity - line.discount_total + line.tax_total for line in lines]
    folded = []
    for line, line_gross, share in zip(lines, gross, _spread(off, gross)):
        tax_off = (Decimal(share) * line.tax_total / line_gross).to_integral_value(ROUND_HALF_UP) if line_gross else 0
        folded.append(replace(line, discount_total=line.discount_total + share - int(tax_off),
                              tax_total=line.tax_total - int(tax_off)))  # fmt: skip
    lines = folded
    paid = sum(line.unit_price * line.quantity - line.discount_total + line.tax_total for line in lines)
    over = paid + shipping + kept - total
    if over > 0:
        weights = [line.unit_price * line.quantity - line.discount_total for line in lines]
        lines = [replace(line, discount_total=line.discount_total + e) for line, e in zip(lines, _spread(over, weights))]
    return lines


def _spread(amount: int, weights: list[int]) -> list[int]:
    """`amount` over the lines in proportion to `weights`, never more in all than the weights add up to."""
    whole = sum(max(w, 0) for w in weights)
    if amount <= 0 or whole <= 0:
        return [0] * len(weights)
    return allocate(min(amount, whole), weights)


def minor(value, currency: str) -> int:
    """A shown amount ("89.90", "-5.00") as whole minor units, rounded half up, without its sign; 0 if unreadable."""
    try:
        return abs(int(Decimal(str(value)).scaleb(exponent(currency)).to_integral_value(ROUND_HALF_UP)))
    except (ArithmeticError, ValueError):
        return 0


def payment_of(order: dict, order_id: str, currency: str, total: int) -> PaymentData:
    """The order's one payment: the gateway plugin, its provider and the provider's reference."""
    method = f.field(order, "payment_method", "", f.note, required=False) or ""
    gateway = _gateway(order)
    transaction = f.field(order, "transaction_id", "", f.note, required=False)
    refunded = sum(_signed(r, "total", p, currency) for p, r in f.each(order, "refunds", ""))
    return PaymentData(
        platform_transaction_id=order_id,  # WooCommerce has no transaction object: the order is the payment
        provider=gateway.provider if gateway else (OFFLINE if method in OFFLINE_METHODS else UNKNOWN),
        gateway=method or "unknown",
        payment_id=_reference(order, gateway, transaction) if gateway else transaction,
        amount=total,
        currency=currency,
        kind="sale",
        platform_managed=False,
        refunded=abs(refunded),
    )


def authorization_of(order: dict, order_id: str, currency: str, total: int) -> PaymentData | None:
    """The order's payment while its gateway plugin has only authorized it (nothing taken yet), of kind
    "authorization"; None when the money was taken, or the plugin is not one whose authorizations we can tell."""
    if _captured(order):
        return None
    return replace(payment_of(order, order_id, currency, total), kind="authorization", refunded=0)


def _gateway(order: dict) -> Gateway | None:
    """The gateway plugin the order's payment_method names, if it is one we know (and it is that plugin)."""
    method = f.field(order, "payment_method", "", f.note, required=False) or ""
    # WooPayments names each method woocommerce_payments_<type>: all of them are WooPayments.
    gateway = GATEWAYS.get("woocommerce_payments" if method.startswith("woocommerce_payments_") else method)
    if gateway is not None and gateway.required_meta and not _meta(order).get(gateway.required_meta):
        return None  # the id, but not the plugin we know
    return gateway


def _captured(order: dict) -> bool:
    """False while the gateway only authorized the payment: nothing was taken, so nothing can be refunded."""
    gateway = _gateway(order)
    if gateway is None or gateway.uncaptured is None:
        return True
    key, value = gateway.uncaptured
    return str(_meta(order).get(key, "")).lower() != value


def _reference(order: dict, gateway: Gateway, transaction: str | None) -> str | None:
    meta = _meta(order)
    for key in gateway.reference_meta:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if transaction and any(transaction.startswith(prefix) for prefix in gateway.transaction_prefixes):
        return transaction
    return None


def parse_refund(payload: object, order_id: str, currency: str, order: dict | None = None,
                 key_meta: str | None = None) -> ShopRefundData:  # fmt: skip
    """A refund (GET /orders/{id}/refunds) as ShopRefundData: units per order line, the amount, shipping.

    With the refund's `order`, each row explains at most what its order row could: units x what the
    customer paid per unit, or the shipping or fee line's whole amount. The admin lets a merchant type
    any amount on any row; money no row explains may have paid for any item, so the refund then
    counts as one whose items are not all known (and refunds of the order wait for a person).
    `key_meta` names the meta field Palautus marks its own recorded refunds with.
    """
    refund = f.object_(payload, "")
    rows = f.each(refund, "line_items", "")
    amount = _money(refund, "amount", "", currency)
    created = _gmt(refund, "date_created_gmt", "")
    if created is None:
        raise PayloadError("date_created_gmt: expected a timestamp")
    lines = tuple(line for line in (_refund_line(row, path) for path, row in rows) if line is not None)
    ships = f.each(refund, "shipping_lines", "")
    fees = f.each(refund, "fee_lines", "")
    shipping = any(_signed(row, "total", path, currency) for path, row in ships)
    caps = _caps(order, currency) if order is not None else None
    backed = tolerance = 0
    for part, found in (("line_items", rows), ("shipping_lines", ships), ("fee_lines", fees)):
        for path, row in found:
            gross = abs(_signed(row, "total", path, currency)) + abs(_signed(row, "total_tax", path, currency, required=False))
            units = abs(_signed_int(row, "quantity", path)) if part == "line_items" else None
            if units == 0:
                continue  # money on a line without units explains nothing
            tolerance += _rounding(row.get("total"), currency) + _rounding(row.get("total_tax"), currency)
            if caps is not None:
                cap = caps.get(str(_meta(row).get("_refunded_item_id")))
                gross = min(gross, (cap * units if units else cap) + 1) if cap is not None else 0
            backed += gross
    tolerance += _rounding(refund.get("amount"), currency)
    recorded = _meta(refund).get(key_meta) if key_meta else None
    return ShopRefundData(
        platform_refund_id=_id(refund, "id", ""),
        platform_order_id=order_id,
        amount=amount,
        currency=currency,
        created_at=created,
        lines=lines,
        note=f.field(refund, "reason", "", f.note, required=False),
        parent_transaction_ids=(order_id,),
        refunded_by_parent=((order_id, amount),),
        platform_return_id=None,
        shipping_refunded=shipping,
        pending=pending_amount(refund, currency) if amount == 0 else 0,
        complete=amount <= backed + tolerance,
        recorded_key=recorded if isinstance(recorded, str) and recorded else None,
    )


# Paytrail for WooCommerce shows a refund Paytrail still works on at 0, keeping the amount asked in its
# `_checkout_refund_amount` meta and in the reason it appends (src/Gateway.php): " Refund is still being
# processed. The status and the amount (X) of the refund will update when the processing is completed."
PAYTRAIL_PENDING_META = "_checkout_refund_amount"
_PAYTRAIL_PENDING_REASON = re.compile(r"Refund is still being processed\. The status and the amount \(([^)]{1,40})\)")
_DECIMAL_IN = re.compile(r"[0-9]+(?:[.,][0-9]{1,4})?")


def pending_amount(refund: dict, currency: str) -> int:
    """Money a refund shown at 0 is still on its way back with (Paytrail for WooCommerce's pending refunds), in
    minor units; 0 when the store shows no such refund. Counted as taken: a refund pending at the gateway can
    still pay, so nothing may be planned on its money."""
    value = _meta(refund).get(PAYTRAIL_PENDING_META)
    if value in (None, ""):
        match = _PAYTRAIL_PENDING_REASON.search(str(refund.get("reason") or ""))
        number = _DECIMAL_IN.search(match[1]) if match else None
        value = number[0].replace(",", ".") if number else None
    try:
        return max(minor(str(value), currency), 0) if value not in (None, "") else 0
    except (PayloadError, ValueError, ArithmeticError):
        return 0


def _caps(order: dict, currency: str) -> dict[str, int]:
    """What each of the order's rows can explain: per unit for a product line, in whole for shipping and fees."""
    caps = {}
    for path, row in f.each(order, "line_items", ""):
        quantity = row.get("quantity")
        if isinstance(quantity, int) and quantity > 0:
            paid = _signed(row, "total", path, currency) + _signed(row, "total_tax", path, currency, required=False)
            caps[str(row.get("id"))] = -(-max(paid, 0) // quantity)
    for part in ("shipping_lines", "fee_lines"):
        for path, row in f.each(order, part, ""):
            caps[str(row.get("id"))] = abs(_signed(row, "total", path, currency)) + abs(
                _signed(row, "total_tax", path, currency, required=False))
    return caps


def _rounding(value, currency: str) -> int:
    """How far a shown amount may be from the stored one, in minor units: half its last shown digit (a store
    showing 0 decimals rounds to whole euros), at least one."""
    text = value if isinstance(value, str) else ""
    shown = len(text.split(".", 1)[1]) if "." in text else 0
    return max(1, -(-(10 ** max(exponent(currency) - shown, 0)) // 2)) if text else 0


def _refund_line(row: dict, path: str) -> ShopRefundLine | None:
    item = _meta(row).get("_refunded_item_id")
    units = abs(_signed_int(row, "quantity", path))
    if item is None or not units:
        return None  # an amount-only row: no units to count
    if not isinstance(item, (str, int)) or not str(item).isdigit():
        raise PayloadError(f"{path}.meta_data._refunded_item_id: expected an order line id")
    return ShopRefundLine(platform_line_id=str(item), quantity=units)


# --- pieces -----------------------------------------------------------------------------------------


def _rates(order: dict, currency: str) -> dict[str, Decimal]:
    """Tax rate id -> rate as a fraction, from the order's own tax lines."""
    rates = {}
    for path, row in f.each(order, "tax_lines", ""):
        rate_id = _id(row, "rate_id", path)
        percent = f.field(row, "rate_percent", path, f.decimal, required=False)
        rates[rate_id] = (percent or Decimal(0)) / 100
    return rates


def _line_rate(row: dict, path: str, currency: str, rates: dict[str, Decimal]) -> Decimal:
    """The VAT rate of a line: the rates of the taxes actually charged on it, added (a compound stack is rare)."""
    taxed = [_id(t, "id", p) for p, t in f.each(row, "taxes", path) if _signed(t, "total", p, currency, required=False)]
    missing = [rate_id for rate_id in taxed if rate_id not in rates]
    if missing:
        raise PayloadError(f"{path}.taxes: a tax rate the order's tax_lines do not list")
    return sum((rates[rate_id] for rate_id in taxed), Decimal(0))


def _line(row: dict, path: str, currency: str, rates: dict[str, Decimal]) -> OrderLineData:
    quantity = f.field(row, "quantity", path, f.quantity)
    subtotal = _money(row, "subtotal", path, currency)
    total = _money(row, "total", path, currency)
    unit = int((Decimal(subtotal) / quantity).to_integral_value(ROUND_CEILING))
    variation = _id(row, "variation_id", path, required=False)
    return OrderLineData(
        platform_line_id=_id(row, "id", path),
        title=f.field(row, "name", path, f.text),
        quantity=quantity,
        unit_price=unit,
        discount_total=unit * quantity - total,
        tax_total=_money(row, "total_tax", path, currency),
        tax_rate=_line_rate(row, path, currency, rates),
        sku=f.field(row, "sku", path, f.note, required=False),
        product_id=_id(row, "product_id", path, required=False),
        variant_id=variation if variation != "0" else None,
    )


def _shipping(row: dict, path: str, currency: str, rates: dict[str, Decimal]) -> tuple[int, int, Decimal]:
    return _money(row, "total", path, currency), _money(row, "total_tax", path, currency), _line_rate(row, path, currency, rates)


def _email(order: dict) -> str | None:
    billing = f.field(order, "billing", "", f.object_, required=False) or {}
    return f.field(billing, "email", "billing", f.note, required=False)


def _meta(obj: dict) -> dict:
    """meta_data as {key: value}; the first of a repeated key wins."""
    found = {}
    for path, row in f.each(obj, "meta_data", ""):
        key = row.get("key")
        if isinstance(key, str) and key not in found:
            found[key] = row.get("value")
    return found


def _gmt(obj: dict, key: str, path: str) -> datetime | None:
    """A WooCommerce *_gmt timestamp ("2026-03-02T12:05:11", UTC without an offset)."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        f.fail(f.at(path, key), "a timestamp", value)
    return parsed.replace(tzinfo=timezone.utc) if parsed.utcoffset() is None else parsed.astimezone(timezone.utc)


def _decimal(obj: dict, key: str, path: str, *, required: bool = True) -> Decimal | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            f.fail(f.at(path, key), "a decimal amount", value)
        return None
    text = value if isinstance(value, str) else (repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None)
    if text is None or not _NUMBER.fullmatch(text):
        f.fail(f.at(path, key), "a decimal amount", value)
    try:
        return Decimal(text)
    except InvalidOperation:
        f.fail(f.at(path, key), "a decimal amount", value)


def _signed(obj: dict, key: str, path: str, currency: str, *, required: bool = True) -> int:
    """A signed amount in minor units, rounded half up (taxes[] keep more decimals than the currency)."""
    value = _decimal(obj, key, path, required=required)
    if value is None:
        return 0
    return int(value.scaleb(exponent(currency)).to_integral_value(ROUND_HALF_UP))


def _money(obj: dict, key: str, path: str, currency: str) -> int:
    amount = _signed(obj, key, path, currency)
    if amount < 0:
        f.fail(f.at(path, key), "a non-negative amount", obj.get(key))
    return amount


def _signed_int(obj: dict, key: str, path: str) -> int:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= f.MAX_QUANTITY:
        return value
    f.fail(f.at(path, key), "an integer", value)


def _id(obj: dict, key: str, path: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ID:
        return str(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= 19 and int(value) <= _MAX_ID:
        return str(int(value))
    f.fail(f.at(path, key), "a numeric id", value)
