"""Money as integer minor units plus an ISO 4217 currency, and the one pro-rating rule.

Never floats: amounts arrive as decimal strings ("89.99") and leave as integers
of the currency's minor unit (8999 cents).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from integration.errors import InvalidInput

__all__ = ["Money", "exponent", "to_minor", "to_decimal", "prorate"]

# ISO 4217 minor-unit exponents that differ from 2. Everything else has 2.
_EXPONENTS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}


def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has."""
    code = _currency_code(currency)
    return _EXPONENTS.get(code, 2)


def _currency_code(currency: str) -> str:
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise InvalidInput(f"currency must be a three-letter ISO 4217 code, got {currency!r}")
    return currency.upper()


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Convert a decimal amount ("89.99") to integer minor units (8999), exactly."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"amount {amount!r} is not a decimal number") from None
    if not value.is_finite():
        raise InvalidInput(f"amount {amount!r} is not a finite number")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidInput(f"amount {amount} has more decimals than {currency.upper()} allows")
    return int(scaled)


def to_decimal(minor: int, currency: str) -> Decimal:
    """Convert integer minor units back to a Decimal in major units."""
    places = exponent(currency)
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def prorate(total: int, whole: int, part: int, before: int = 0) -> int:
    """The share of `total` that `part` of `whole` units carries, after `before` units went earlier.

    The rounding rule: the cumulative share of the first n units is
    floor(total * n / whole), and each refund takes the difference between its
    cumulative share and the previous one. Every single refund therefore rounds
    down, toward the merchant, so no partial refund ever pays out a fraction of
    a cent the customer did not pay, and yet all partial refunds of a line add
    up to exactly the line's total: the last unit carries the leftover cents.
    """
    if whole <= 0 or part < 0 or before < 0 or before + part > whole:
        raise InvalidInput(f"cannot take {part} units after {before} of {whole}")
    return total * (before + part) // whole - total * before // whole


def allocate(total: int, weights: list[int]) -> list[int]:
    """`total` split in whole minor units in proportion to `weights`, by the rule of `prorate` (each share
    rounds down on its cumulative weight, so the shares add up to `total` exactly); a negative weight counts
    as none, and when no weight counts the whole total goes on the first."""
    weights = [max(w, 0) for w in weights]
    whole = sum(weights)
    if not weights:
        return []
    if whole == 0:
        return [total] + [0] * (len(weights) - 1)
    shares, before = [], 0
    for weight in weights:
        shares.append(prorate(total, whole, weight, before))
        before += weight
    return shares


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of one currency."""

    amount: int
    currency: str

    def __post_init__(self):
        object.__setattr__(self, "currency", _currency_code(self.currency))
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise InvalidInput(f"money amount must be an integer of minor units, got {self.amount!r}")

    @classmethod
    def parse(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Money from a decimal amount in major units."""
        return cls(to_minor(amount, currency), currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidInput(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    @property
    def decimal(self) -> Decimal:
        """The amount in major units."""
        return to_decimal(self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.decimal} {self.currency}"
