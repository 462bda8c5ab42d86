"""When a request is tried again, and how long the transport waits before it does (tenacity).

429, 5xx, timeouts and connection errors are retried; a non-idempotent request (``POST``/``PATCH``
without ``idempotent=True``) is retried only when the connection failed before the request was
sent, so a write is never applied twice because of a retry.

What a retry may cost is bounded, so that a platform in trouble cannot hold a run: a
``Retry-After`` longer than ``max_retry_wait_s`` is not waited for (the request fails at once and
the change is decided again next run), and no wait starts that would end past ``max_retry_time``
seconds of retrying.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from hub.errors import RateLimited, RetriableError
from hub.redact import redact
from hub.transport.breaker import CircuitOpen
from hub.transport.settings import TransportSettings
from hub.transport.stats import TransportStats

__all__ = ["IDEMPOTENT_METHODS", "READ_METHODS", "NotSent", "RetryPolicy", "parse_retry_after"]

log = logging.getLogger("omnihub.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Requests that change nothing: during a push they are not writes the circuit breaker counts.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class NotSent(Exception):
    """The request never reached the server (connect error): safe to retry any method."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryPolicy:
    """One transport's retrying: which failures are tried again, the waits between, and the bounds."""

    def __init__(
        self,
        connector: str,
        settings: TransportSettings,
        stats: TransportStats,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.connector = connector
        self.settings = settings
        self.stats = stats
        self.sleep = sleep

    def retrying(self, safe_to_repeat: bool) -> AsyncRetrying:
        """The tenacity loop for one request; ``safe_to_repeat`` says whether a sent request may be resent."""

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, NotSent):
                return True
            if isinstance(exc, CircuitOpen) or self.waits_too_long(exc):
                return False
            return isinstance(exc, RetriableError) and (safe_to_repeat or isinstance(exc, RateLimited))

        return AsyncRetrying(
            retry=retry_if_exception(retryable),
            stop=stop_after_attempt(self.settings.max_attempts) | self._out_of_time,
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
            before_sleep=self._before_sleep,
        )

    def waits_too_long(self, exc: BaseException) -> bool:
        """A ``Retry-After`` longer than the transport waits for: the request is left for the next run."""
        return (
            isinstance(exc, RetriableError)
            and exc.retry_after is not None
            and exc.retry_after > self.settings.max_retry_wait_s
        )

    def left_for_next_run(self, exc: RetriableError) -> RetriableError:
        """The platform's refusal, saying that its wait is not taken and what becomes of the request."""
        detail = str(exc).removeprefix(f"[{exc.connector}] ") if exc.connector else str(exc)
        asked, most = _seconds(exc.retry_after or 0.0), _seconds(self.settings.max_retry_wait_s)
        return type(exc)(
            f"{detail}; asked to wait {asked} s, more than max_retry_wait_s ({most} s): left for the next run",
            retry_after=exc.retry_after,
            connector=exc.connector or self.connector,
            status=exc.status,
            platform_code=exc.platform_code,
            platform_message=exc.platform_message,
        )

    def _out_of_time(self, state: RetryCallState) -> bool:
        """Stop rather than start a wait that would end past ``max_retry_time`` of retrying. The time
        spent counts the waits themselves too, so that a fake sleep in the tests counts as waited."""
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + state.upcoming_sleep > self.settings.max_retry_time

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetriableError) and exc.retry_after is not None:
            return exc.retry_after  # at most max_retry_wait_s: a longer one is not retried
        base = min(self.settings.max_backoff, 0.25 * (2 ** (state.attempt_number - 1)))
        return base / 2 + random.uniform(0, base / 2)  # jitter spreads out retries of parallel workers

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info("%s: retry %d after %s", self.connector, state.attempt_number, redact(exc))


def _seconds(value: float) -> str:
    """Seconds as a person writes them: ``3600``, ``2.5``."""
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
