"""A circuit breaker for one connector's pushes in one run.

Under a persistent outage every write call of a push costs the transport's full retries, and a
connector that turns a failed call into per-item failures (WooCommerce's batches) lets the engine
go on to the next call: one run once sent 1,216 requests into a 503. The breaker counts the write
calls the transport gave up on (after its own retries), in a row; once ``threshold`` of them have
failed, the connector's remaining writes in this run are not sent. Whatever was not sent is
decided again by the next run from its fresh pull.

The engine makes a breaker current while a connector pushes (``with breaker.watching()``); the
transport finds it with ``current()`` and reports each write call to it, so every connector gets
the breaker without knowing of it. Reads (a WooCommerce stock re-read) neither count nor reset:
they do not tell whether writes land, and they stay allowed so that a writer can still confirm
what landed before the breaker opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from hub.errors import ConnectorError, RetriableError
from hub.redact import redact

__all__ = ["Breaker", "CircuitOpen", "current"]

_CURRENT: ContextVar[Breaker | None] = ContextVar("omnihub_push_breaker", default=None)


class CircuitOpen(RetriableError):
    """A write the hub did not send: its connector's breaker is open for this run."""


@dataclass(eq=False)
class Breaker:
    """Consecutive failed write calls of ``connector`` in one run; open at ``threshold``."""

    connector: str
    threshold: int
    failures: int = 0
    last_error: str | None = None
    #: The errors already counted: one that the transport counted and a connector then raised out
    #: of its push reaches the engine too, and must not count twice.
    _counted: list[BaseException] = field(default_factory=list, repr=False)

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold

    def failed(self, error: ConnectorError) -> None:
        """Count a call the transport gave up on (or a push that raised a retriable error)."""
        if isinstance(error, CircuitOpen) or any(error is seen for seen in self._counted):
            return
        self._counted.append(error)
        self.failures += 1
        prefix = f"[{error.connector}] " if error.connector else ""
        self.last_error = redact(str(error).removeprefix(prefix))

    def succeeded(self) -> None:
        """A write call the platform answered: the failures are no longer in a row. Once open, the
        breaker stays open for the run (a call already in flight may still land)."""
        if not self.is_open:
            self.failures = 0
            self._counted.clear()

    def reason(self) -> str:
        """Why the rest is not sent, for each change left out and for the job's errors."""
        batches = "batch" if self.failures == 1 else "batches"
        return (
            f"not sent: {self.connector} failed {self.failures} {batches} in a row ({self.last_error}); "
            "decided again next run"
        )

    def refuse(self) -> None:
        """Raise ``CircuitOpen`` when the breaker is open: the write must not be sent."""
        if self.is_open:
            raise CircuitOpen(self.reason(), connector=self.connector)

    @contextlib.contextmanager
    def watching(self) -> Iterator[Breaker]:
        """Make this the breaker the transport reports to, for the requests made inside the block
        (tasks started inside it, such as ``asyncio.gather``'s, inherit it)."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)


def current() -> Breaker | None:
    """The breaker of the push in progress, if any."""
    return _CURRENT.get()
