"""What the customer reads for our codes: reasons, methods, statuses, refund states; and the statutory labels."""
from __future__ import annotations

from flask_babel import get_locale, lazy_gettext as _l

from integration.returns import Reason, ReturnMethod, ReturnStatus

__all__ = ["REASONS", "METHODS", "STATUS_WORDS", "REFUND_WORDS", "withdraw_label", "confirm_label",
           "reason_label", "method_label"]  # fmt: skip

# The reasons a customer may pick, in the order shown ("unknown" is for returns the platform opened).
REASONS = {
    Reason.SIZE_TOO_SMALL.value: _l("Too small"),
    Reason.SIZE_TOO_LARGE.value: _l("Too large"),
    Reason.NOT_AS_DESCRIBED.value: _l("Not as described"),
    Reason.DEFECTIVE.value: _l("Faulty or broken"),
    Reason.DAMAGED_IN_TRANSIT.value: _l("Damaged on delivery"),
    Reason.WRONG_ITEM.value: _l("Wrong item sent"),
    Reason.ARRIVED_LATE.value: _l("Arrived too late"),
    Reason.STYLE.value: _l("Did not like the style"),
    Reason.COLOR.value: _l("Did not like the colour"),
    Reason.CHANGED_MIND.value: _l("Changed my mind"),
    Reason.OTHER.value: _l("Other reason"),
}

METHODS = {
    ReturnMethod.DROP_OFF.value: _l("Drop off at a service point with a return code"),
    ReturnMethod.POSTAL.value: _l("Send by post with a prepaid label"),
    ReturnMethod.IN_STORE.value: _l("Bring it to the shop"),
    ReturnMethod.PICKUP.value: _l("Collected from your address"),
    ReturnMethod.CUSTOMER_SERVICE.value: _l("Arrange it with customer service"),
}

STATUS_WORDS = {
    ReturnStatus.REQUESTED.value: _l("We received your return request."),
    ReturnStatus.APPROVED.value: _l("Your return was accepted. You can send the items back."),
    ReturnStatus.REJECTED.value: _l("The shop declined your return."),
    ReturnStatus.CANCELLED.value: _l("The return was cancelled."),
    ReturnStatus.IN_TRANSIT.value: _l("Your items are on their way back to the shop."),
    ReturnStatus.RECEIVED.value: _l("The shop received your items."),
    ReturnStatus.REFUNDED.value: _l("Your money was refunded."),
    ReturnStatus.CLOSED.value: _l("Your return is complete."),
}

REFUND_WORDS = {
    "pending": _l("Being paid back"),
    "submitted": _l("Being paid back"),
    "succeeded": _l("Paid back"),
    "failed": _l("Delayed: the shop is looking into it"),
}

# The statutory labels of the withdrawal function (Art. 11a CRD, each language version's own words; see
# /work/legal_withdrawal.md 1.2). Fixed here, not in the translation catalogues: a translator's better
# phrasing would no longer be the wording the law names.
_WITHDRAW = {"en": "Withdraw from contract here", "fi": "Peruuta sopimus tästä", "sv": "Ångra avtalet här"}
_CONFIRM = {"en": "Confirm withdrawal", "fi": "Vahvista peruuttaminen", "sv": "Bekräfta frånträde"}


def _language() -> str:
    locale = get_locale()
    return locale.language if locale is not None and locale.language in _WITHDRAW else "en"


def withdraw_label() -> str:
    """The withdrawal function's label in the page's language."""
    return _WITHDRAW[_language()]


def confirm_label() -> str:
    """The confirmation button's label in the page's language, and nothing else on the button."""
    return _CONFIRM[_language()]


def reason_label(code: str) -> str:
    return str(REASONS.get(code, REASONS[Reason.OTHER.value]))


def method_label(code: str) -> str:
    return str(METHODS.get(code, code))
