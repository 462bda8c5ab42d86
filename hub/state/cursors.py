"""Cursors: where each connector's incremental pull of an entity resumes, and its last full read.

Incremental pulls cannot see a platform that went back in time (a restored backup), so jobs read
everything again now and then: the time and count gap of that full read live beside the cursor.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from hub.state import schema as t
from hub.state.sql import Repository, aware, utcnow

__all__ = ["CursorRepository"]


class CursorRepository(Repository):
    """``store.cursors``: one row per connector and entity."""

    def get(self, connector: str, entity: str) -> str | None:
        c = t.cursors.c
        with self.engine.connect() as conn:
            return conn.execute(select(c.value).where(c.connector == connector, c.entity == entity)).scalar()

    def set(self, connector: str, entity: str, value: str | None) -> None:
        self._upsert(
            t.cursors,
            ["connector", "entity"],
            [{"connector": connector, "entity": entity, "value": value, "updated_at": utcnow()}],
            ["value", "updated_at"],
        )

    def full_read(self, connector: str, entity: str) -> tuple[datetime | None, int | None]:
        """(when the last complete pull of the stream started, the platform's count gap then);
        (None, None) before the first one."""
        c = t.cursors.c
        with self.engine.connect() as conn:
            query = select(c.full_at, c.full_gap).where(c.connector == connector, c.entity == entity)
            row = conn.execute(query).first()
        return (aware(row[0]), row[1]) if row else (None, None)

    def mark_full_read(self, connector: str, entity: str, started_at: datetime, gap: int | None) -> None:
        """Remember a complete pull that started at ``started_at`` and left the store as the platform
        was; ``gap`` is the platform's count minus the records the hub holds (None: no count)."""
        row = {"connector": connector, "entity": entity, "full_at": started_at, "full_gap": gap, "updated_at": utcnow()}
        self._upsert(t.cursors, ["connector", "entity"], [row], ["full_at", "full_gap", "updated_at"])
