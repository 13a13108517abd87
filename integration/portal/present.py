"""What the return screens show, built from the use cases' answers: line states, refund options, timelines."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from babel.dates import format_date
from flask_babel import format_decimal, get_locale, gettext as _

from integration.models import Order, OrderLine, Return, Shop
from integration.errors import Conflict
from integration.policy import Decision, RefundOn, ReturnPolicy
from integration.portal.words import STATUS_WORDS, method_label
from integration.return_methods import MethodOffer
from integration.services.context import Ctx
from integration.services.returns import ItemRequest, preview_return, returnable

__all__ = ["LineState", "Option", "line_states", "options", "method_names", "offer", "instructions",
           "refund_timing", "explain", "timeline"]  # fmt: skip


@dataclass(frozen=True)
class LineState:
    """An order line as the item screen shows it: how many can go back, and if none, why not."""

    line: OrderLine
    left: int
    why_not: tuple[str, ...] = ()

    @property
    def returnable(self) -> bool:
        return self.left > 0 and not self.why_not


@dataclass(frozen=True)
class Option:
    """A return method as the customer may choose it, with its refund preview (None: the policy refuses it)."""

    method: str
    label: str
    instructions: str | None
    plan: object | None  # a RefundPlan
    reasons: tuple[str, ...] = field(default=())
    rows: tuple = ()  # (title, units, amount) of the goods
    fees: tuple = ()  # (what and why, amount) deducted
    vat: tuple = ()  # (rate in words, amount) contained in the refund

    @property
    def cost(self) -> int:
        """What returning this way costs the customer: the return shipping the refund keeps."""
        return self.plan.fees.get("return_shipping", 0) if self.plan else 0


def _preview(ctx: Ctx, shop: Shop, order: Order, requests: list[ItemRequest], method: str, email: str | None):
    """The policy's decision and the refund plan (as the refund itself will be planned) for these items."""
    try:
        return preview_return(ctx, shop, order, requests, method, customer_email=email)
    except Conflict:  # the policy cannot price the order (no fee set in its currency): the shop must fix it
        unpriced = _("The shop has not set its return costs in this order's currency. Please contact the shop.")
        return Decision(False, (unpriced,), False), None


def line_states(ctx: Ctx, shop: Shop, order: Order, policy: ReturnPolicy) -> list[LineState]:
    """Each line of the order with the units it has left and the policy's reasons against returning it."""
    left, method = returnable(ctx, order), next(iter(method_names(policy)), None)
    states = []
    for line in order.lines:
        units = max(left.get(line.id, 0), 0)
        if units == 0:
            states.append(LineState(line, 0, (_("Already returned or refunded."),)))
            continue
        if method is None:
            states.append(LineState(line, units, (_("The shop does not take returns through this page."),)))
            continue
        decision, _plan = _preview(ctx, shop, order, [ItemRequest(line.platform_line_id, units)], method, order.email)
        states.append(LineState(line, units, tuple(explain(r) for r in decision.reasons)))
    return states


def options(ctx: Ctx, shop: Shop, order: Order, policy: ReturnPolicy, requests: list[ItemRequest]) -> list[Option]:
    """Every method the shop offers, each with the refund the chosen items would get by it."""
    found = []
    for method in method_names(policy):
        decision, plan = _preview(ctx, shop, order, requests, method, order.email)
        reasons = tuple(explain(r) for r in decision.reasons)
        if not decision.eligible or plan is None:
            found.append(Option(method, method_label(method), instructions(policy, method), None, reasons))
            continue
        found.append(Option(method, method_label(method), instructions(policy, method), plan, reasons,
                            _rows(plan, order), _fees(plan, policy), _vat(plan)))  # fmt: skip
    return found


def method_names(policy: ReturnPolicy) -> list[str]:
    """The methods the shop offers, by name, in its order."""
    return list(policy.methods)


def offer(policy: ReturnPolicy, method: str) -> MethodOffer | None:
    """What the shop says about one of its methods (carrier, drop-off code, instructions, fee)."""
    return policy.method(method)


def instructions(policy: ReturnPolicy, method: str) -> str | None:
    """The shop's own instructions for `method` in the page's language (else in English, else in any)."""
    found = offer(policy, method)
    if found is None:
        return None
    texts = found.instructions or {}
    language = str(get_locale() or "")[:2]
    text = texts.get(language) or texts.get("en") or next(iter(texts.values()), None)
    if found.drop_off_code:
        code = _("Your drop-off code: %(code)s.", code=found.drop_off_code)
        text = f"{text} {code}" if text else code
    return text


def refund_timing(policy: ReturnPolicy) -> str:
    """When the refund starts, as the policy sets it."""
    return {
        RefundOn.APPROVED.value: _("You get the refund as soon as the shop accepts your return."),
        RefundOn.RECEIVED.value: _("You get the refund when the shop has received the items."),
    }.get(policy.refund_on, _("You get the refund after the shop has checked the items."))


def _rows(plan, order: Order) -> tuple:
    titles = {line.id: line.title for line in order.lines}
    return tuple((titles.get(p.order_line_id, ""), p.quantity, p.amount) for p in plan.lines)


def _fees(plan, policy: ReturnPolicy) -> tuple:
    percent = format_decimal(Decimal(policy.restocking_fee_percent), "#,##0.##")
    words = {"restocking": _("Restocking fee: %(percent)s %% of the items' price", percent=percent),
             "return_shipping": _("Return shipping")}  # fmt: skip
    return tuple((words.get(name, name), amount) for name, amount in plan.fees.items())


def _vat(plan) -> tuple:
    return tuple((_("Of which VAT %(rate)s %%", rate=format_decimal(Decimal(rate) * 100, "#,##0.##")), amount)
                 for rate, amount in sorted(plan.vat.items()))  # fmt: skip


# The policy's reasons are English sentences with data in them (integration/eligibility.py): each known shape is
# said again in the page's language; an unknown one is shown as the policy wrote it rather than hidden.
_BLOCKS = [
    ("a gift card", lambda: _("Gift cards cannot be returned.")),
    ("final sale", lambda: _("Final sale items cannot be returned.")),
    ("no right of withdrawal", lambda: _("The law makes an exception for this product.")),
]
_REASONS = [
    (re.compile(r"the (\d+)-day return window ended on (\d{4}-\d\d-\d\d)"),
     lambda m: _("The %(days)s-day return period ended on %(date)s.", days=m[1], date=_date(m[2]))),
    (re.compile(r"the order was cancelled"), lambda m: _("The order was cancelled.")),
    (re.compile(r"the order was deleted in the shop"), lambda m: _("The shop has removed the order.")),
    (re.compile(r"the order is not paid"), lambda m: _("The order has not been paid yet.")),
    (re.compile(r"not returnable: (.*)"), lambda m: _blocked(m[1])),
    (re.compile(r"more units than can still be returned"), lambda m: _("Already returned or refunded.")),
    (re.compile(r"a return may hold at most (\d+) units"), lambda m: _("A return can hold at most %(n)s items.", n=m[1])),
    (re.compile(r"the shop does not offer (\S+) returns"), lambda m: _("The shop does not offer this way of returning.")),
]  # fmt: skip


def _date(iso: str) -> str:
    return format_date(date.fromisoformat(iso), "long", locale=get_locale())


def _blocked(what: str) -> str:
    return next((say() for words, say in _BLOCKS if words in what), _("The shop does not take this product back."))


def explain(reason: str) -> str:
    """A policy reason in the customer's language."""
    for pattern, say in _REASONS:
        match = pattern.match(reason)
        if match:
            return say(match)
    return reason


def timeline(ret: Return) -> list[tuple[object, str]]:
    """(when, what happened) for each step of the return, in words."""
    steps = []
    for event in ret.events:
        status = event.to_status or ("requested" if event.kind == "requested" else None)
        if status in STATUS_WORDS:
            steps.append((event.created_at, str(STATUS_WORDS[status])))
    return steps
