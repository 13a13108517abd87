"""The core's errors: a small hierarchy that carries data; the web edge maps them to HTTP once."""
from __future__ import annotations

__all__ = ["PalautusError", "NotFound", "InvalidInput", "IllegalTransition", "Conflict", "MissingCredentials"]


class PalautusError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"

    def __init__(self, message: str, **data):
        super().__init__(message)
        self.message = message
        self.data = data


class NotFound(PalautusError):
    """The thing asked for does not exist, or belongs to another shop."""

    code = "not_found"


class InvalidInput(PalautusError):
    """Input that can never succeed as given."""

    code = "invalid_input"


class Conflict(PalautusError):
    """The request clashes with the current state (a refund already under way, say)."""

    code = "conflict"


class IllegalTransition(Conflict):
    """A return was asked to move to a state it cannot reach from where it is."""

    code = "illegal_transition"

    def __init__(self, current: str, target: str):
        super().__init__(
            f"a return that is {current} cannot become {target}", current=current, target=target
        )


class MissingCredentials(PalautusError):
    """The shop has no credentials in Palautus for the platform or provider a job must call."""

    code = "missing_credentials"
