"""Client-side rate limits: a token bucket, a cost bucket fed by the platform's own accounting, a
window read from rate-limit headers, and several of them at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from hub.transport.paths import dig

__all__ = ["AllLimiters", "CostBucket", "HeaderWindowLimiter", "Limiter", "TokenBucket"]


class Limiter(Protocol):
    """Decides how long to wait before a request, and learns from each response."""

    async def acquire(self, cost: float = 1.0) -> None: ...

    def observe(self, response: httpx.Response, data: Any) -> None: ...


class TokenBucket:
    """``rate`` requests per second on average, bursts of up to ``capacity``."""

    def __init__(self, rate: float, capacity: float | None = None, *, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, cost: float = 1.0) -> None:
        cost = min(cost, self.capacity)
        async with self._lock:
            self._refill()
            while self._tokens < cost:
                await asyncio.sleep((cost - self._tokens) / self.rate)
                self._refill()
            self._tokens -= cost

    def observe(self, response: httpx.Response, data: Any) -> None:
        return None


class CostBucket:
    """A client-side mirror of a leaky bucket measured in cost points (Shopify's GraphQL limit).

    Before a request we wait until the bucket, as last reported by the platform and restored at
    its rate since then, holds the request's expected cost, so the platform never has to answer
    THROTTLED. ``observe`` takes the platform's own ``currentlyAvailable`` after each response.
    """

    def __init__(
        self,
        capacity: float = 1000.0,
        restore_rate: float = 100.0,
        *,
        margin: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.margin = margin
        self._available = capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _current(self) -> float:
        elapsed = self._clock() - self._stamp
        return min(self.capacity, self._available + elapsed * self.restore_rate)

    async def acquire(self, cost: float = 1.0) -> None:
        cost = min(cost, self.capacity)
        async with self._lock:
            while True:
                free = self._current() - self.margin
                if free >= cost:
                    break
                await asyncio.sleep(max(0.005, (cost - free) / self.restore_rate))
            self._available = self._current() - cost
            self._stamp = self._clock()

    def refund(self, cost: float) -> None:
        """Give back a charge the platform never made (the request failed without a cost answer),
        so a retry does not wait for points that were never spent."""
        self._available = min(self.capacity, self._current() + cost)
        self._stamp = self._clock()

    def observe(self, response: httpx.Response, data: Any) -> None:
        status = dig(data, "extensions.cost.throttleStatus") if isinstance(data, Mapping) else None
        if not isinstance(status, Mapping):
            return
        try:
            self.capacity = float(status.get("maximumAvailable", self.capacity))
            self.restore_rate = float(status.get("restoreRate", self.restore_rate))
            self._available = float(status["currentlyAvailable"])
        except (KeyError, TypeError, ValueError):
            return
        self._stamp = self._clock()


class HeaderWindowLimiter:
    """A window limit announced in response headers (HubSpot's ``X-HubSpot-RateLimit-*``).

    When the remaining allowance of the window falls to ``reserve``, the next request waits for
    the window to roll over instead of spending the last requests and receiving a 429.
    """

    def __init__(
        self,
        *,
        remaining_header: str,
        interval_ms_header: str | None = None,
        default_interval: float = 10.0,
        reserve: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.remaining_header = remaining_header
        self.interval_ms_header = interval_ms_header
        self.interval = default_interval
        self.reserve = reserve
        self._remaining: int | None = None
        self._window_start = clock()
        self._clock = clock
        self._lock = asyncio.Lock()

    async def acquire(self, cost: float = 1.0) -> None:
        async with self._lock:
            if self._remaining is not None and self._remaining <= self.reserve:
                wait = self.interval - (self._clock() - self._window_start)
                if wait > 0:
                    await asyncio.sleep(wait)
                self._remaining = None
                self._window_start = self._clock()
            elif self._remaining is not None:
                self._remaining -= int(cost)

    def observe(self, response: httpx.Response, data: Any) -> None:
        remaining = response.headers.get(self.remaining_header)
        if remaining is None:
            return
        try:
            value = int(remaining)
        except ValueError:
            return
        if self.interval_ms_header and (ms := response.headers.get(self.interval_ms_header)):
            with contextlib.suppress(ValueError):
                self.interval = int(ms) / 1000.0
        if self._remaining is None or value >= self._remaining + 1:
            self._window_start = self._clock()  # the allowance went up: a new window began
        self._remaining = value


class AllLimiters:
    """Several limits at once: a request goes when every limiter lets it, and every limiter learns
    from every response (HubSpot's header window plus its tier as an even pace; a WMS's token
    bucket plus its ``X-RateLimit-Remaining``)."""

    def __init__(self, *limiters: Limiter) -> None:
        self.limiters = limiters

    async def acquire(self, cost: float = 1.0) -> None:
        for limiter in self.limiters:
            await limiter.acquire(cost)

    def observe(self, response: httpx.Response, data: Any) -> None:
        for limiter in self.limiters:
            limiter.observe(response, data)

    def refund(self, cost: float) -> None:
        for limiter in self.limiters:
            refund = getattr(limiter, "refund", None)
            if refund is not None:
                refund(cost)
