"""A return method as a shop offers it: its carrier, drop-off code, instructions and cost. Pure, stdlib only.

Stored in the policy's `methods` list either as the method's name (nothing more to say) or as an object:
{"method": "drop_off", "carrier": "Posti", "drop_off_code": "12345", "instructions": {"fi": ..., "en": ...},
"fee": {"EUR": 590}}.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from integration.errors import InvalidInput
from integration.money import Money
from integration.returns import ReturnMethod

__all__ = ["LANGUAGES", "MethodOffer", "fees_by_currency", "strings", "MAX_TEXT", "MAX_CARRIER", "DROP_OFF_CODE"]

# The languages of the customer's pages (integration/i18n.py says so too; it is Flask's side, not imported here).
LANGUAGES = ("fi", "sv", "en")
MAX_TEXT = 2000  # characters of one language's instructions
MAX_CARRIER = 100
# What a carrier's counter or parcel locker takes: letters, digits and dashes (Posti and Matkahuolto codes).
DROP_OFF_CODE = re.compile(r"[A-Za-z0-9-]{1,32}")
_KEYS = ("method", "carrier", "drop_off_code", "instructions", "fee")


def fees_by_currency(fees, name: str) -> dict[str, int]:
    """{currency: minor units} checked: ISO 4217 codes (upper-cased), whole amounts, none negative."""
    if not isinstance(fees, dict):
        raise InvalidInput(f"{name} must map currency codes to amounts in minor units")
    checked = {}
    for currency, amount in fees.items():
        money = Money(amount, currency)  # InvalidInput for a bad code or a non-integer amount
        if money.amount < 0:
            raise InvalidInput(f"{name}.{money.currency} cannot be negative")
        checked[money.currency] = money.amount
    return dict(sorted(checked.items()))


def strings(value, name: str, max_length: int = 255) -> tuple[str, ...]:
    """A list of strings as a tuple; InvalidInput naming the setting for anything else."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidInput(f"{name} must be a list of strings")
    for item in value:
        if not isinstance(item, str) or "\x00" in item or len(item) > max_length:
            raise InvalidInput(f"{name} must hold strings of at most {max_length} characters, without NUL")
    return tuple(value)


def _text(value, name: str, max_length: int) -> str:
    if not isinstance(value, str) or "\x00" in value or len(value) > max_length:
        raise InvalidInput(f"{name} must be a string of at most {max_length} characters, without NUL")
    return value


@dataclass(frozen=True)
class MethodOffer:
    """One way back the shop offers, with what the customer needs to use it."""

    method: str  # a ReturnMethod value
    carrier: str | None = None  # who carries the parcel: "Posti", "Matkahuolto"
    drop_off_code: str | None = None  # drop_off only: the shop's fixed code the customer gives at the drop-off point
    instructions: dict = field(default_factory=dict)  # {language: text}: what the customer does, in fi/sv/en
    fee: dict | None = None  # {currency: minor units}: replaces return_shipping_fees for this method; None: they apply

    def __post_init__(self):
        try:
            ReturnMethod(self.method)
        except ValueError:
            names = ", ".join(m.value for m in ReturnMethod)
            raise InvalidInput(f"methods: {self.method!r} is not one of {names}") from None
        where = f"methods.{self.method}"
        if self.carrier is not None:
            _text(self.carrier, f"{where}.carrier", MAX_CARRIER)
        self._check_code(where)
        object.__setattr__(self, "instructions", self._checked_instructions(where))
        if self.fee is not None:
            object.__setattr__(self, "fee", fees_by_currency(self.fee, f"{where}.fee"))

    def _check_code(self, where: str) -> None:
        if self.drop_off_code is None:
            return
        if self.method != ReturnMethod.DROP_OFF.value:
            raise InvalidInput(f"{where}.drop_off_code: only a drop_off method has a drop-off code")
        if not isinstance(self.drop_off_code, str) or not DROP_OFF_CODE.fullmatch(self.drop_off_code):
            raise InvalidInput(f"{where}.drop_off_code must be 1-32 letters, digits or dashes")

    def _checked_instructions(self, where: str) -> dict:
        if not isinstance(self.instructions, dict):
            raise InvalidInput(f"{where}.instructions must map languages ({', '.join(LANGUAGES)}) to text")
        unknown = sorted(set(self.instructions) - set(LANGUAGES), key=str)
        if unknown:
            raise InvalidInput(f"{where}.instructions: {unknown[0]!r} is not one of {', '.join(LANGUAGES)}")
        return {lang: _text(self.instructions[lang], f"{where}.instructions.{lang}", MAX_TEXT)
                for lang in LANGUAGES if lang in self.instructions}  # fmt: skip

    @property
    def plain(self) -> bool:
        """Nothing said beyond the method's name."""
        return self == MethodOffer(self.method)

    @classmethod
    def parse(cls, entry) -> MethodOffer:
        """A method from its stored form: its name, or an object with its settings."""
        if isinstance(entry, MethodOffer):
            return entry
        if isinstance(entry, str):
            return cls(entry)
        if not isinstance(entry, dict) or "method" not in entry:
            raise InvalidInput("methods: each method is a name or an object with a method")
        unknown = sorted(set(entry) - set(_KEYS), key=str)
        if unknown:
            raise InvalidInput(f"methods.{entry['method']}: unknown settings: {', '.join(map(str, unknown))}")
        return cls(**entry)

    def to_json(self) -> str | dict:
        """The stored form: the bare name when there are no settings, else only the settings given."""
        if self.plain:
            return self.method
        data = {"method": self.method, "carrier": self.carrier, "drop_off_code": self.drop_off_code,
                "instructions": dict(self.instructions) or None, "fee": self.fee}  # fmt: skip
        return {key: value for key, value in data.items() if value is not None}
