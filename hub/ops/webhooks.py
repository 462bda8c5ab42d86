"""Receiving webhook deliveries under ``omnihub run``: recognizing a delivery already seen.

Platforms deliver the same event more than once (a retry after a slow answer, a queue that runs
twice), so the receiver keeps the dedupe keys (``WebhookDelivery.dedupe_key``) it has acted on for
a while. In memory and bounded: a duplicate that slips past after a restart or past the window
only costs one more targeted re-read, since a delivery is a hint to re-read, never a value.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from hub.plugins.webhooks import WebhookDelivery

__all__ = ["DeliveryDedupe"]


class DeliveryDedupe:
    """The dedupe keys seen in the last ``ttl_seconds``, at most ``max_keys`` of them (oldest dropped)."""

    def __init__(
        self, ttl_seconds: float = 3600.0, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_keys
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def seen_before(self, delivery: WebhookDelivery) -> bool:
        """Whether ``delivery`` was already seen within the window; records it if not."""
        now = self._clock()
        self._expire(now)
        key = delivery.dedupe_key
        if key in self._seen:
            return True
        self._seen[key] = now
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self._ttl:
                return
            del self._seen[key]
