"""What a connector's transport did: the request figures benchmarks and ``/metrics`` report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

__all__ = ["TransportStats", "watching"]

#: The figures a watcher hears of as they grow: a retry started, a throttled answer came.
_WATCHED = frozenset({"retries", "throttled"})
_watchers: list[Callable[[str], None]] = []


@contextmanager
def watching(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback("retries")`` or ``callback("throttled")`` each time any transport retries or
    is throttled, while the block runs: ``omnihub sync`` shows them in its progress as they happen,
    not only in the report at the end. Callbacks run in the thread that made the request."""
    _watchers.append(callback)
    try:
        yield
    finally:
        _watchers.remove(callback)


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

    def __setattr__(self, name: str, value: Any) -> None:
        """Tell the watchers (``watching``) when ``retries`` or ``throttled`` grows; setting them the
        first time (construction) is not news."""
        before = self.__dict__.get(name) if name in _WATCHED else None
        super().__setattr__(name, value)
        if before is not None and _watchers and value > before:
            for watcher in list(_watchers):
                watcher(name)

    @classmethod
    def combined(cls, *parts: TransportStats) -> Self:
        """One figure for a client that talks through more than one transport (an API and a file
        host for bulk results): the counts added up, the longest throttled run the longest.
        Built at once, so that adding up what already happened is not heard as new retries."""
        total = cls(
            requests=sum(part.requests for part in parts),
            retries=sum(part.retries for part in parts),
            throttled=sum(part.throttled for part in parts),
            throttled_in_a_row_max=max((part.throttled_in_a_row_max for part in parts), default=0),
        )
        for part in parts:
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
