"""The payment-provider port: issue a refund, look one up. One module per provider."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from integration.money import Money
from integration.refunds import RefundStatus

__all__ = ["ProviderRefund", "PaymentProvider", "PROVIDERS", "provider_for"]


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as the provider reports it, in our vocabulary."""

    provider_refund_id: str
    status: RefundStatus  # SUBMITTED while the provider still works on it
    amount: Money
    provider_status: str  # the provider's own word, for operators
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    name: str

    def refund(
        self, payment_id: str, amount: Money, idempotency_key: str, metadata: dict[str, str]
    ) -> ProviderRefund:
        """Refund part or all of a payment; the same key never refunds twice."""

    def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        """The refund's current state at the provider."""

    def find_refund(self, payment_id: str, idempotency_key: str) -> ProviderRefund | None:
        """A refund made earlier for this payment under this key, if the provider has one."""


def _stripe(credentials: dict, config: dict, session=None) -> PaymentProvider:
    from adapters.payments.stripe import StripeProvider

    return StripeProvider(
        secret_key=credentials["secret_key"],
        api_base=config["STRIPE_API_BASE"],
        timeout=config["HTTP_TIMEOUT"],
        session=session,
    )


PROVIDERS = {"stripe": _stripe}


def provider_for(name: str, credentials: dict, config: dict, session=None) -> PaymentProvider:
    """Build the adapter for a provider name; KeyError if Palautus has none."""
    return PROVIDERS[name](credentials, config, session)
