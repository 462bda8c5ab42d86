"""A sandbox's webhook queue: signed bodies delivered to subscribed URLs in the background, as platforms do.

Real platforms never deliver inside the request that caused the event: WooCommerce queues its
deliveries (Action Scheduler: seconds to minutes late, retried), Shopify delivers at least once and
in no guaranteed order. ``WebhookSender`` reproduces that on loopback so the hub's receiver is tested
against what it will meet: a delivery answered late, twice, or after a newer one.

The sender only carries bytes: each sandbox builds its platform's body and headers (and signs them
with ``hmac`` itself, never with the hub's verifier, so a bug in one cannot hide in the other).

Knobs (``configure``): ``delay_s`` (a random delay in that range before each delivery),
``duplicates`` (the share of deliveries sent twice, same headers and body), ``reorder`` (deliveries
leave in random order within their delay instead of one after the other), ``attempts`` and
``retry_s`` (a delivery answered with anything but 2xx, or not answered, is sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Delivered", "WebhookSender"]


@dataclass
class Delivered:
    """One attempt at one delivery, as the sandbox saw it go out."""

    url: str
    headers: dict[str, str]
    body: bytes
    #: The receiver's HTTP status, or None when it could not be reached.
    status: int | None
    attempt: int
    #: Whether this send is the injected duplicate of an earlier one.
    duplicate: bool = False
    at: float = field(default_factory=time.monotonic)


class WebhookSender:
    """Delivers from background tasks on the event loop of the sandbox that calls ``send``."""

    def __init__(self, *, seed: int = 7, timeout_s: float = 5.0) -> None:
        self.delay_s: tuple[float, float] = (0.0, 0.0)
        self.duplicates = 0.0
        self.reorder = False
        self.attempts = 3
        self.retry_s = 0.5
        self.timeout_s = timeout_s
        #: Every attempt made, in the order they were made.
        self.sent: list[Delivered] = []
        self._random = random.Random(seed)
        self._queue: asyncio.Queue[tuple[str, bytes, dict[str, str], bool]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._pending = 0

    def configure(self, **knobs: Any) -> None:
        """Set any of ``delay_s`` (a number or a [min, max] pair), ``duplicates``, ``reorder``,
        ``attempts``, ``retry_s``; unknown names are refused so a typo is not silently ignored."""
        for name, value in knobs.items():
            if name == "delay_s":
                low, high = (value, value) if isinstance(value, (int, float)) else value
                self.delay_s = (float(low), float(high))
            elif name in ("duplicates", "retry_s"):
                setattr(self, name, float(value))
            elif name == "reorder":
                self.reorder = bool(value)
            elif name == "attempts":
                self.attempts = max(1, int(value))
            else:
                raise ValueError(f"unknown webhook knob {name!r}")

    def describe(self) -> dict[str, Any]:
        return {
            "delay_s": list(self.delay_s),
            "duplicates": self.duplicates,
            "reorder": self.reorder,
            "attempts": self.attempts,
            "retry_s": self.retry_s,
            "pending": self._pending,
            "sent": len(self.sent),
        }

    def send(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        """Queue one delivery (and, by chance, its duplicate); returns at once. Call it from the
        sandbox's own event loop (a route handler)."""
        copies = [False, True] if self._random.random() < self.duplicates else [False]
        for duplicate in copies:
            self._pending += 1
            if self.reorder:
                self._spawn(self._deliver(url, body, headers, duplicate, self._delay()))
            else:
                self._ordered_queue().put_nowait((url, body, headers, duplicate))

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued delivery was made (or given up); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._pending and time.monotonic() < deadline:  # noqa: ASYNC110 (counts tasks of several kinds)
            await asyncio.sleep(0.01)
        return self._pending == 0

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -------------------------------------------------------------------------------------------

    def _delay(self) -> float:
        low, high = self.delay_s
        return low if high <= low else self._random.uniform(low, high)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ordered_queue(self) -> asyncio.Queue[tuple[str, bytes, dict[str, str], bool]]:
        """One worker delivering in order: a delivery waits for the one before it."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._spawn(self._worker(self._queue))
        return self._queue

    async def _worker(self, queue: asyncio.Queue[tuple[str, bytes, dict[str, str], bool]]) -> None:
        while True:
            url, body, headers, duplicate = await queue.get()
            await self._deliver(url, body, headers, duplicate, self._delay())

    async def _deliver(self, url: str, body: bytes, headers: dict[str, str], duplicate: bool, delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            for attempt in range(1, self.attempts + 1):
                status = await self._post(url, body, headers)
                self.sent.append(Delivered(url, dict(headers), body, status, attempt, duplicate))
                if status is not None and 200 <= status < 300:
                    return
                if attempt < self.attempts:
                    await asyncio.sleep(self.retry_s)
        finally:
            self._pending -= 1

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int | None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            reply = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError:
            return None
        return reply.status_code
