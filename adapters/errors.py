"""Errors the adapters raise: no `requests` exception ever crosses this line."""
from __future__ import annotations

__all__ = [
    "AdapterError",
    "SignatureError",
    "PayloadError",
    "ProviderError",
    "ProviderUnavailable",
    "ProviderMalformed",
    "ProviderRejected",
    "GrantRevoked",
    "SettlementsUnsupported",
]


class AdapterError(Exception):
    """Base of every adapter error."""


class SignatureError(AdapterError):
    """A webhook's signature is missing or does not match its body."""


class PayloadError(AdapterError):
    """A webhook body or API answer is not in the shape the platform documents; says what is wrong."""


class ProviderError(AdapterError):
    """An outside API failed. Carries what an operator needs, never a body or a secret."""

    should_retry = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, status={self.status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return f"{self.provider}: " + ", ".join(parts)


class ProviderUnavailable(ProviderError):
    """Worth trying again later: 429, 5xx, a timeout, a dropped connection."""

    should_retry = True


class ProviderMalformed(ProviderUnavailable):
    """An answer not in the shape the provider documents: tried again, but it may never mend by itself, so a
    refund that depends on it waits only as long as for any other answer it cannot read."""


class ProviderRejected(ProviderError):
    """Will fail the same way every time: a validation error, a declined refund, bad credentials."""


class GrantRevoked(ProviderRejected):
    """The platform refused to issue or renew the app's access token: the merchant's grant is gone (an uninstall,
    a revoked or rotated-away refresh token). Only a new install brings it back."""


class SettlementsUnsupported(AdapterError):
    """The route has no settlement reports Palautus can read (its money is settled by someone else's)."""
