"""Links: a canonical key's ids on one platform (variant, inventory item, WooCommerce product ...).

Like a connector binder: pulls write the ids a platform gave each record, and pushes read them to
address the platform's own objects without looking them up again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select

from hub.state import schema as t
from hub.state.sql import IN_CHUNK, Repository, chunks, utcnow

__all__ = ["LinkRepository"]


class LinkRepository(Repository):
    """``store.links``: canonical key <-> platform ids, per connector and entity."""

    def write(self, connector: str, entity: str, rows: Iterable[tuple[str, dict[str, str]]]) -> None:
        """Upsert (key, ids) pairs; a key without ids is not written."""
        now = utcnow()
        payload = [
            {
                "connector": connector,
                "entity": entity,
                "key": key,
                "ids": json.dumps(ids, sort_keys=True),
                "updated_at": now,
            }
            for key, ids in rows
            if ids
        ]
        self._upsert(t.links, ["connector", "entity", "key"], payload, ["ids", "updated_at"])

    def load(self, connector: str, entity: str, keys: Iterable[str]) -> dict[str, dict[str, str]]:
        """Key -> platform ids of the given keys that have any."""
        lk = t.links.c
        out: dict[str, dict[str, str]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(keys), IN_CHUNK):
                for key, ids in conn.execute(
                    select(lk.key, lk.ids).where(lk.connector == connector, lk.entity == entity, lk.key.in_(chunk))
                ):
                    out[key] = json.loads(ids)
        return out
