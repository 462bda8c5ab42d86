"""What a connector's transport did: the request figures benchmarks and ``/metrics`` report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Self

__all__ = ["TransportStats"]


@dataclass
class TransportStats:
    """What a connector's transport did: the figures benchmarks and ``/metrics`` report."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    #: The longest run of consecutive throttled answers (429 or GraphQL THROTTLED).
    throttled_in_a_row_max: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    _throttle_run: int = 0

    @classmethod
    def combined(cls, *parts: TransportStats) -> Self:
        """One figure for a client that talks through more than one transport (an API and a file
        host for bulk results): the counts added up, the longest throttled run the longest."""
        total = cls()
        for part in parts:
            total.requests += part.requests
            total.retries += part.retries
            total.throttled += part.throttled
            total.throttled_in_a_row_max = max(total.throttled_in_a_row_max, part.throttled_in_a_row_max)
            total.by_status.update(part.by_status)
            total.by_kind.update(part.by_kind)
        return total

    def record_throttle(self, throttled: bool) -> None:
        if throttled:
            self.throttled += 1
            self._throttle_run += 1
            self.throttled_in_a_row_max = max(self.throttled_in_a_row_max, self._throttle_run)
        else:
            self._throttle_run = 0
