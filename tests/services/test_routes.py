"""The route table: which route pays each payment back, on each platform, with and without the provider's keys."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.platforms import PLATFORMS
from integration.services import ledger
from integration.services.routes import ShopRoutes
from tests.services.conftest import Route, make_order


@dataclass
class Paid:
    provider: str
    platform_managed: bool
    gateway: str = ""


def routes(platform: str, *direct: str, steps: dict | None = None) -> ShopRoutes:
    return ShopRoutes(platform, PLATFORMS[platform].gateway, {name: Route((steps or {}).get(name, 1)) for name in direct},
                      frozenset({"stripe", "klarna", "paypal"}))  # fmt: skip


@pytest.mark.parametrize("platform, payment, direct, expected", [
    # Shopify processed it (Shopify Payments, a payments app, Stripe Card Payments, a gift card): only Shopify.
    ("shopify", Paid("shopify_payments", True), (), "shopify"),
    ("shopify", Paid("klarna", True), ("klarna",), "shopify"),
    ("shopify", Paid("stripe", True), ("stripe",), "shopify"),
    ("shopify", Paid("gift_card", True), (), "shopify"),
    # A headless checkout took it at Stripe: Stripe directly, with the shop's key; Shopify cannot.
    ("shopify", Paid("stripe", False), ("stripe",), "stripe"),
    ("shopify", Paid("stripe", False), (), None),
    ("shopify", Paid("bank deposit", False), (), None),
    # WooCommerce: the plugin took it; directly with the provider's keys, else through WooCommerce's gateway.
    ("woocommerce", Paid("klarna", False), ("klarna",), "klarna"),
    ("woocommerce", Paid("klarna", False), (), "woocommerce"),
    ("woocommerce", Paid("paytrail", False), ("stripe",), "woocommerce"),
    ("woocommerce", Paid("stripe", False), ("stripe",), "stripe"),
    ("woocommerce", Paid("offline", False), ("stripe",), None),
])  # fmt: skip
def test_each_payment_goes_back_through_the_route_the_table_gives(platform, payment, direct, expected):
    assert routes(platform, *direct).route_of(payment) == expected


def test_why_no_route_names_the_gateway_and_what_is_missing():
    table = routes("shopify")
    assert "no stripe credentials" in table.why_not(Paid("stripe", False, "stripe"))
    assert "no payment route in Palautus" in table.why_not(Paid("bank deposit", False, "Bank Deposit"))


def test_a_route_s_own_step_rounds_and_the_platform_s_gateway_takes_any_minor_unit():
    table = routes("woocommerce", "stripe", steps={"stripe": 10})
    assert (table.refund_step("stripe", "KWD"), table.refund_step("woocommerce", "KWD"), table.refund_step(None, "EUR")) == (10, 1, 1)


def test_cards_and_wallets_are_refunded_before_a_gift_card_even_one_with_more_left(ctx, shop):
    order = make_order(ctx, shop, paid=(("1", "shopify_payments", 5000), ("2", "gift_card", 90000)))
    for payment in order.payments:
        payment.platform_managed = True
        payment.stored_value = payment.provider == "gift_card"
    assert ledger.choose_payment(ctx.session, order, routes("shopify")).platform_transaction_id == "1"


def test_a_route_that_refunds_several_payments_takes_cards_first_then_gift_cards_never_more_than_each_has(ctx, shop):
    from integration.policy import ReturnPolicy
    from tests.services.conftest import make_return

    order = make_order(ctx, shop, paid=(("1", "shopify_payments", 5000), ("2", "gift_card", 90000), ("3", "paypal", 3000)))
    for payment in order.payments:
        payment.platform_managed = True
        payment.stored_value = payment.provider == "gift_card"
    ret = make_return(ctx, shop, order, [(1, 1), (2, 1)])  # owed 84.90 + 19.90 = 104.80
    plan, payment = ledger.plan_for(ctx.session, ret, ReturnPolicy(), routes("shopify"))
    ids = {p.provider: p.id for p in order.payments}
    assert plan.amount == 10480 and not plan.capped and payment.provider == "shopify_payments"
    assert list(plan.parts) == [(ids["shopify_payments"], 5000), (ids["paypal"], 3000), (ids["gift_card"], 2480)]


def test_the_same_order_on_a_route_that_refunds_one_payment_only_is_capped_by_that_payment(ctx, shop):
    from integration.policy import ReturnPolicy
    from tests.services.conftest import make_return

    shop.platform = "woocommerce"
    order = make_order(ctx, shop, paid=(("1", "paytrail", 5000), ("2", "klarna", 9000)))
    ret = make_return(ctx, shop, order, [(1, 1), (2, 1)])
    plan, payment = ledger.plan_for(ctx.session, ret, ReturnPolicy(), routes("woocommerce"))
    assert (plan.capped, plan.amount, plan.parts, payment.provider) == (True, 9000, (), "klarna")
