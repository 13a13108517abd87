"""The fault switches every payment provider's sandbox offers the refund fault matrix (tests/jobs/test_refund_matrix.py).

Each sandbox maps the matrix's generic fault names (unavailable, rate_limited,
lost_request, lost_answer, unknown_outcome, saved_failure, refused) to its own
in `FAULTS`, keeps them in `faults` (the next refund requests meet them, in
order) and `read_faults` (HTTP statuses the next reads answer instead), and
guards both with its `_lock`.
"""
from __future__ import annotations

__all__ = ["FaultSwitches"]


class FaultSwitches:
    FAULTS: dict[str, str] = {}

    def fail_next(self, *kinds: str) -> None:
        """The next refund requests meet these generic faults, in order."""
        with self._lock:
            self.faults += [self.FAULTS[kind] for kind in kinds]

    def fail_reads(self, *statuses: int) -> None:
        """The next reads are refused with these HTTP statuses (a provider without reads keeps them for the shape)."""
        with self._lock:
            self.read_faults += list(statuses)
