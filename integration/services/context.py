"""What every use case works with: a session, the background-work port, and after-commit work."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from integration.tasks import Tasks

__all__ = ["Ctx"]


@dataclass
class Ctx:
    session: Session
    tasks: Tasks
    # The payment routes Palautus can refund through, by provider name, each with
    # `refund_step(currency)`; a Payment with another provider is not Palautus's to refund.
    providers: Mapping = field(default_factory=dict)
    _after_commit: list = field(default_factory=list)

    def later(self, fn, *args) -> None:
        """Run `fn(*args)` once the current transaction has committed."""
        self._after_commit.append((fn, args))

    def commit(self) -> None:
        """Commit, then hand the queued work on: nothing is enqueued for rows that did not persist."""
        self.session.commit()
        pending, self._after_commit = self._after_commit, []
        for fn, args in pending:
            fn(*args)
