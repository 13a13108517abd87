"""The policy page: the shop's return policy in plain words, and the statutory right of withdrawal beside it."""
from __future__ import annotations

from dataclasses import dataclass

from integration.eligibility import EXCEPTIONS
from integration.policy import ReturnPolicy, ShippingRefund
from integration.portal import bp
from integration.portal.common import current_shop, money, page
from integration.portal.present import instructions, refund_timing
from integration.portal.words import method_label

__all__ = ["policy"]


@dataclass(frozen=True)
class MethodTerms:
    label: str
    instructions: str | None
    costs: tuple[str, ...]  # each currency's fee, as written; (): free


def _costs(table: dict) -> tuple[str, ...]:
    return tuple(money(amount, currency) for currency, amount in sorted(table.items()) if amount)


def _methods(rules: ReturnPolicy) -> list[MethodTerms]:
    terms = []
    for name in rules.methods:
        offer = rules.method(name)
        table = offer.fee if offer is not None and offer.fee is not None else rules.return_shipping_fees
        terms.append(MethodTerms(method_label(name), instructions(rules, name), _costs(table)))
    return terms


@bp.get("/s/<slug>/policy")
def policy():
    """What the shop takes back, when, at what cost, how the money comes back; and the right of withdrawal."""
    rules = ReturnPolicy.from_dict(current_shop().policy)
    excluded = bool(rules.non_returnable_skus or rules.non_returnable_tags or rules.non_returnable_product_types)
    law_exceptions = [kind for kind in EXCEPTIONS if rules.withdrawal_exceptions.get(kind)]
    return page("policy.html", rules=rules, methods=_methods(rules), excluded=excluded,
                refund_timing=refund_timing(rules), shipping_back=rules.refund_shipping == ShippingRefund.WHOLE_ORDER.value,
                return_costs=_costs(rules.return_shipping_fees), law_exceptions=law_exceptions,
                profile=current_shop().profile or {})  # fmt: skip
