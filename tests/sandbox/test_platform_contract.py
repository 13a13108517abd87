"""One contract, every platform: the port's promises checked against the sandbox Shopify shop and the sandbox
WooCommerce store on a real socket, with Palautus's own adapters as the clients."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.errors import ProviderRejected
from adapters.platforms import PLATFORMS
from integration.money import Money
from integration.records import RefundLineToRecord, RefundToRecord

ITEMS = [("MERINO-M-GREY", 1), ("SOCKS-WOOL-3", 2)]


@dataclass
class Contracted:
    platform: object  # the port, connected to the sandbox
    order_id: str
    lines: dict  # sku -> platform line id
    stripe: object
    merchant_refund: object  # (line id, units, amount "x.xx") -> None: the merchant refunds in the admin
    tags: object  # () -> what the platform shows of tag_order


@pytest.fixture(params=sorted(PLATFORMS))
def contracted(request, world) -> Contracted:
    sandbox, config = world.sandbox, world.config
    if request.param == "shopify":
        rest = world.shop.create_order(ITEMS, stripe=sandbox.stripe, stripe_key=world.stripe_key)
        lines = {line["sku"]: str(line["id"]) for line in rest["line_items"]}

        def merchant_refund(line_id, units, amount):
            from sandbox.shopify import refund_node

            world.shop.refund_nodes.append(refund_node(555, {line_id: units}, {}, "2026-12-01T09:00:00Z", note="by hand"))

        return Contracted(world.platform, str(rest["id"]), lines, sandbox.stripe, merchant_refund,
                          lambda: world.shop.tags.get(rest["admin_graphql_api_id"], []))  # fmt: skip
    opened = sandbox.open_store("contract", world.url, world.stripe_key)
    store = sandbox.stores["contract"]
    order = store.create_order(ITEMS, stripe=sandbox.stripe, stripe_key=world.stripe_key)
    platform = PLATFORMS["woocommerce"].connect(opened["url"], opened, config)
    lines = {line["sku"]: str(line["id"]) for line in order["line_items"]}

    def merchant_refund(line_id, units, amount):
        store.admin_refund(order["id"], amount, {int(line_id): units}, reason="by hand")

    def tags():
        meta = {m["key"]: m["value"] for m in store.orders[order["id"]]["meta_data"]}
        return meta.get("palautus_status", "").split(",") if meta.get("palautus_status") else []

    return Contracted(platform, str(order["id"]), lines, sandbox.stripe, merchant_refund, tags)


def to_record(c: Contracted, key: str, sku: str = "MERINO-M-GREY", units: int = 1) -> RefundToRecord:
    return RefundToRecord(
        platform_order_id=c.order_id, idempotency_key=key, amount=Money(8990 * units, "EUR"), tax=1827 * units,
        note=f"Palautus return TEST-0001: 89.90 EUR refunded through stripe (re_1). [palautus:{key}]",
        lines=(RefundLineToRecord(c.lines[sku], units, restock=False, amount=8990 * units, tax=1827 * units),),
        gateway="stripe",
    )  # fmt: skip


def test_an_order_reads_back_with_money_that_adds_up_to_its_total(contracted):
    snapshot = contracted.platform.fetch_order(contracted.order_id)
    assert snapshot.platform_order_id == contracted.order_id and snapshot.paid and snapshot.currency == "EUR"
    assert sorted((line.sku, line.quantity) for line in snapshot.lines) == sorted(ITEMS)
    paid = sum(line.unit_price * line.quantity - line.discount_total + (0 if snapshot.taxes_included else line.tax_total)
               for line in snapshot.lines)  # fmt: skip
    assert paid + snapshot.shipping_total == snapshot.total == 8990 + 2 * 1990 + 590
    assert {str(line.tax_rate) for line in snapshot.lines} == {"0.255"}


def test_the_payment_is_the_one_the_provider_holds(contracted):
    [payment] = contracted.platform.order_payments(contracted.order_id)
    charged = contracted.stripe.payments.get(payment.payment_id) or next(
        p for p in contracted.stripe.payments.values() if p["charge"] == payment.payment_id)
    assert (payment.provider, payment.amount, payment.currency, payment.platform_managed) == ("stripe", 13560, "EUR", False)
    assert charged["amount"] == 13560


def test_a_refund_is_recorded_once_per_key_and_read_back_with_its_units(contracted):
    first = contracted.platform.record_refund(to_record(contracted, "key-1"))
    assert contracted.platform.record_refund(to_record(contracted, "key-1")) == first
    [refund] = contracted.platform.order_refunds(contracted.order_id)
    assert refund.platform_refund_id == first
    assert [(line.platform_line_id, line.quantity) for line in refund.lines] == [(contracted.lines["MERINO-M-GREY"], 1)]
    assert contracted.stripe.money_moved == 0  # recording moves no money


def test_more_units_than_are_left_are_refused(contracted):
    contracted.platform.record_refund(to_record(contracted, "key-1"))
    with pytest.raises(ProviderRejected):
        contracted.platform.record_refund(to_record(contracted, "key-2"))
    assert len(contracted.platform.order_refunds(contracted.order_id)) == 1


def test_a_refund_the_merchant_made_is_read_with_its_units(contracted):
    contracted.merchant_refund(contracted.lines["SOCKS-WOOL-3"], 1, "19.90")
    [refund] = contracted.platform.order_refunds(contracted.order_id)
    assert [(line.platform_line_id, line.quantity) for line in refund.lines] == [(contracted.lines["SOCKS-WOOL-3"], 1)]
    assert refund.note == "by hand"


def test_an_order_the_platform_does_not_have_is_refused(contracted):
    with pytest.raises(ProviderRejected):
        contracted.platform.fetch_order("987654321")


def test_a_tag_shows_on_the_order(contracted):
    contracted.platform.tag_order(contracted.order_id, ["palautus-refunded"])
    assert contracted.tags() == ["palautus-refunded"]
