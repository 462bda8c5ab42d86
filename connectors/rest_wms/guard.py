"""The truncation guard: a complete pull that came back far too short is refused, not believed.

The WMS is the source of truth for stock, and a complete pull means "what is not here is gone".
An empty answer (a WMS restarting, a proxy's empty 200) or a listing cut short (a paging bug)
would then zero stock on every channel. The guard compares what arrived with what was expected
and raises a ``FatalError`` naming the setting that allowed it, so the job fails loudly and
nothing is pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.sdk import FatalError

__all__ = ["PullGuard"]


@dataclass(frozen=True)
class PullGuard:
    """Checks one complete pull of one entity."""

    connector: str
    entity: str
    #: Fewest rows the pull must keep (after unmapped warehouses are skipped).
    min_records: int
    #: Largest share of ``expected`` rows the pull may lack.
    max_drop_fraction: float
    #: Rows expected: the total the WMS announced, else the previous complete pull's count.
    expected: int | None = None
    #: Where ``expected`` came from, for the message.
    expected_from: str = ""

    def check(self, *, kept: int, received: int) -> None:
        """Raise when ``kept`` (rows yielded) or ``received`` (rows the WMS sent) is too few."""
        if kept < self.min_records:
            raise FatalError(
                f"complete {self.entity} pull yielded {kept} rows ({received} received), fewer than "
                f"`min_records` ({self.min_records}); refusing to treat it as the whole {self.entity}, which "
                f"would zero it on every channel. If the WMS really holds this few rows, lower `min_records` "
                f"in this connector's settings; if rows were skipped, check `locations`",
                connector=self.connector,
            )
        if not self.expected or self.max_drop_fraction >= 1:
            return
        floor = self.expected * (1 - self.max_drop_fraction)
        if received < floor:
            raise FatalError(
                f"complete {self.entity} pull received {received} rows but {self.expected} were expected "
                f"({self.expected_from}); more than `max_drop_fraction` ({self.max_drop_fraction:g}) is "
                f"missing, so the answer looks truncated and is refused. Raise `max_drop_fraction` in this "
                f"connector's settings if the WMS really shrank this much",
                connector=self.connector,
            )
