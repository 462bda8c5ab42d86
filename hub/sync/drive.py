"""Driving one connector directly, outside the engine: benchmarks, scripts, a quick look at a feed.

The engine does far more per record (hashing, the store, reconciling); these two helpers are just
the pull-through-the-mapping and push-in-batches loops every such script would otherwise repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.model.base import Entity, Record, RecordInvalid
from hub.plugins.contract import Change, Connector, PushResult, RawRecord

__all__ = ["Pulled", "pull_canonical", "push_batched"]


@dataclass
class Pulled:
    """A whole pull made canonical: records by key with the raw row they came from."""

    records: dict[str, tuple[Record, RawRecord]] = field(default_factory=dict)
    #: Rows the connector rejected or the mapping refused.
    quarantined: int = 0
    #: The connector's cursor after the last page.
    cursor: str | None = None


async def pull_canonical(conn: Connector, entity: Entity, since: str | None = None) -> Pulled:
    """Pull ``entity`` and map every row through the connector's mapping, as the engine would."""
    mapping = conn.field_mapping[entity]
    out = Pulled(cursor=since)
    async for page in conn.pull(entity, since):
        out.quarantined += len(page.rejected)
        for raw in page.records:
            try:
                record = mapping.to_canonical(raw)
            except RecordInvalid:
                out.quarantined += 1
                continue
            out.records[record.key] = (record, raw)
        out.cursor = page.cursor or out.cursor
    return out


async def push_batched(conn: Connector, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
    """Push changes in the connector's own batch size; one result per change."""
    size = max(1, conn.batch_size(entity))
    results: list[PushResult] = []
    for start in range(0, len(changes), size):
        results += await conn.push(entity, changes[start : start + size])
    return results
