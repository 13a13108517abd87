"""What every use case works with: a session, the background-work port, and after-commit work."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from integration.services.routes import ShopRoutes
from integration.tasks import Tasks

__all__ = ["Ctx"]


@dataclass
class Ctx:
    session: Session
    tasks: Tasks
    # The payment routes Palautus can refund through, by provider name, each with
    # `refund_step(currency)`; a Payment with another provider is not Palautus's to refund.
    providers: Mapping = field(default_factory=dict)
    # Each platform's own gateway route (GatewayTraits), by platform name, where it has one.
    platforms: Mapping = field(default_factory=dict)
    # The providers a shop has given Palautus credentials for (names only); None: every provider (tests).
    direct_for: Callable | None = None
    _after_commit: list = field(default_factory=list)

    def routes_for(self, shop) -> ShopRoutes:
        """The routes this shop's refunds may take (integration.services.routes)."""
        names = set(self.direct_for(shop)) if self.direct_for is not None else set(self.providers)
        return ShopRoutes(shop.platform, self.platforms.get(shop.platform),
                          {name: self.providers[name] for name in sorted(names) if name in self.providers},
                          frozenset(self.providers))  # fmt: skip

    def later(self, fn, *args) -> None:
        """Run `fn(*args)` once the current transaction has committed."""
        self._after_commit.append((fn, args))

    def commit(self) -> None:
        """Commit, then hand the queued work on: nothing is enqueued for rows that did not persist."""
        self.session.commit()
        pending, self._after_commit = self._after_commit, []
        for fn, args in pending:
            fn(*args)
