"""Mismatches: every difference a run found, from first seen to resolved, and whether it was mailed.

A mismatch is one field of one key on one connector (``uq_mismatch``): found again it stays open
with its first sighting; gone, it is resolved as converged; fixed by a push, as pushed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update

from hub.state import schema as t
from hub.state.sql import IN_CHUNK, Repository, aware, chunks

__all__ = ["MismatchRepository"]

#: What the engine says of each mismatch it found; the store adds the job, the entity, the status
#: and the times.
_FINDING_COLUMNS = ("key", "grp", "field", "connector", "expected", "actual", "detail")
_MISMATCH_COLUMNS = ("job", "entity", *_FINDING_COLUMNS, "status", "first_seen", "last_seen")
_TIMES = ("first_seen", "last_seen", "resolved_at", "notified_at")


class MismatchRepository(Repository):
    """``store.mismatches``: open and resolved differences."""

    def touch_open(self, job: str, now: datetime) -> None:
        """Mark every open mismatch of a job as seen now (a run that compared nothing new)."""
        m = t.mismatches.c
        with self.engine.begin() as conn:
            conn.execute(update(t.mismatches).where(m.job == job, m.status == "open").values(last_seen=now))

    def open_groups(self, job: str) -> set[str]:
        m = t.mismatches.c
        with self.engine.connect() as conn:
            return set(conn.execute(select(m.grp).where(m.job == job, m.status == "open").distinct()).scalars())

    def open(self, job: str, groups: Iterable[str] | None) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Open mismatches of a job, by (key, field, connector); all of them when ``groups`` is None."""
        m = t.mismatches.c
        out = {}
        with self.engine.connect() as conn:
            queries = (
                [select(t.mismatches).where(m.job == job, m.status == "open")]
                if groups is None
                else [
                    select(t.mismatches).where(m.job == job, m.status == "open", m.grp.in_(chunk))
                    for chunk in chunks(list(groups), IN_CHUNK)
                ]
            )
            for query in queries:
                for row in conn.execute(query).mappings():
                    out[(row["key"], row["field"], row["connector"])] = dict(row)
        return out

    def save(
        self,
        job: str,
        entity: str,
        found: Sequence[dict[str, Any]],
        resolved: Sequence[int],
        now: datetime,
        resolution: str = "converged",
    ) -> None:
        """Upsert found mismatches (reopening resolved ones) and resolve the given ids."""
        m = t.mismatches.c
        quote = self.engine.dialect.identifier_preparer.quote
        stored = f"{quote(t.mismatches.name)}.{quote('status')}"

        def unless_reopened(column: str, new: str) -> str:
            """A mismatch that comes back after being resolved is new again (first seen now, not
            notified yet); an open one keeps what it had."""
            return f"CASE WHEN {stored} = 'resolved' THEN {new} ELSE {quote(t.mismatches.name)}.{quote(column)} END"

        with self.engine.begin() as conn:
            self._bulk_upsert(
                t.mismatches,
                ["entity", "key", "field", "connector"],
                list(_MISMATCH_COLUMNS),
                [(job, entity, *(f.get(c) for c in _FINDING_COLUMNS), "open", now, now) for f in found],
                ["job", "grp", "expected", "actual", "last_seen", "detail"],
                update_sql={
                    "status": "'open'",
                    "resolved_at": "NULL",
                    "resolution": "NULL",
                    "first_seen": unless_reopened("first_seen", f"excluded.{quote('first_seen')}"),
                    "notified_at": unless_reopened("notified_at", "NULL"),
                    "notified_status": unless_reopened("notified_status", "NULL"),
                },
                conn=conn,
            )
            for chunk in chunks(list(resolved), IN_CHUNK):
                conn.execute(
                    update(t.mismatches)
                    .where(m.id.in_(chunk), m.status == "open")
                    .values(status="resolved", resolved_at=now, resolution=resolution, last_seen=now)
                )

    def set_detail(
        self, entity: str, key: str, connector: str, detail: str | None, actual: dict[str, str] | None = None
    ) -> None:
        """Say why an open mismatch is still open (a push failure, a race), with what the platform
        now holds per field when the push told it."""
        m = t.mismatches.c
        with self.engine.begin() as conn:
            conn.execute(
                update(t.mismatches)
                .where(m.entity == entity, m.key == key, m.connector == connector, m.status == "open")
                .values(detail=detail)
            )
            for field, value in (actual or {}).items():
                conn.execute(
                    update(t.mismatches)
                    .where(
                        m.entity == entity, m.key == key, m.connector == connector, m.field == field, m.status == "open"
                    )
                    .values(actual=value)
                )

    def resolve_pushed(self, entity: str, keys_fields: Sequence[tuple[str, str, str]], now: datetime) -> int:
        """Resolve mismatches whose correction the platform confirmed: (key, field, connector).
        Returns how many open mismatches that closed. One batched statement: on PostgreSQL a
        statement per correction costs a round trip each."""
        if not keys_fields:
            return 0
        m = t.mismatches.c
        stmt = (
            update(t.mismatches)
            .where(
                m.entity == entity,
                m.key == bindparam("k"),
                m.field == bindparam("f"),
                m.connector == bindparam("c"),
                m.status == "open",
            )
            .values(status="resolved", resolved_at=now, resolution="pushed", detail=None, last_seen=now)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt, [{"k": k, "f": f, "c": c} for k, f, c in keys_fields]).rowcount

    def count_open(self, job: str) -> int:
        m = t.mismatches.c
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t.mismatches).where(m.job == job, m.status == "open")
                ).scalar_one()
            )

    def rows(
        self,
        *,
        include_resolved: bool = False,
        entity: str | None = None,
        job: str | None = None,
        connector: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Open mismatches (and resolved ones if asked) in (entity, key, field, connector) order.

        The filters and the limit are applied by the database, not after reading: ``omnihub
        mismatches --entity stock --limit 20`` on a store with thousands of rows reads twenty.
        """
        m = t.mismatches.c
        query = select(t.mismatches).order_by(m.entity, m.key, m.field, m.connector)
        if not include_resolved:
            query = query.where(m.status == "open")
        for column, value in ((m.entity, entity), (m.job, job), (m.connector, connector)):
            if value is not None:
                query = query.where(column == value)
        if limit is not None:
            query = query.limit(limit)
        return self._read(query)

    def for_alerts(self) -> list[dict[str, Any]]:
        """Open mismatches, and resolved ones last mailed as open (their resolution is news)."""
        m = t.mismatches.c
        query = select(t.mismatches).where(
            or_(m.status == "open", and_(m.status == "resolved", m.notified_status == "open"))
        )
        return self._read(query)

    def _read(self, query: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            for name in _TIMES:
                row[name] = aware(row[name])
        return rows

    def mark_notified(self, covers: Sequence[tuple[int, str]], now: datetime) -> None:
        """Remember the status each mismatch had in the digest just sent."""
        with self.engine.begin() as conn:
            for mismatch_id, status in covers:
                conn.execute(
                    update(t.mismatches)
                    .where(t.mismatches.c.id == mismatch_id)
                    .values(notified_at=now, notified_status=status)
                )
