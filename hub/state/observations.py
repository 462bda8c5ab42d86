"""Observations: the last canonical record pulled per connector, entity and key, with its row hash;
and the quarantine, the records a pull refused.

The hottest tables: a pull writes and a re-sync reads hundreds of thousands of rows, so the reads
stream and the writes go through ``Repository._bulk_upsert``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import and_, any_, bindparam, delete, func, insert, or_, select, update

from hub.state import schema as t
from hub.state.partitions import Partition
from hub.state.sql import CHUNK, IN_CHUNK, Repository, chunks, utcnow

__all__ = ["FORGOTTEN_HASH", "ObservationRepository", "QuarantineRepository"]

#: The row hash of a stored record the hub has written to since it was read: the engine matches no
#: pulled row against it, so that row is read again whatever it looks like (``forget_hashes``).
FORGOTTEN_HASH = 0


class ObservationRepository(Repository):
    """``store.observations``: what each connector held when last read."""

    def hashes(self, connector: str, entity: str) -> dict[str, int]:
        """Key -> raw-row hash of every stored record: read through the driver directly, as this is
        the whole cost of an unchanged re-sync besides reading the feed."""
        o = t.observations.c
        query = select(o.key, o.hash).where(o.connector == connector, o.entity == entity)
        compiled = query.compile(self.engine)
        params = [compiled.params[name] for name in compiled.positiontup or []]
        with self.engine.connect() as conn:
            if compiled.positiontup is None:  # a named paramstyle
                cursor = conn.exec_driver_sql(str(compiled), compiled.params)
            else:
                cursor = conn.exec_driver_sql(str(compiled), tuple(params))
            return dict(cursor.fetchall())

    def iter_hashes(self, connector: str, entity: str) -> Iterator[tuple[str, int]]:
        """(key, raw-row hash) of every stored record, streamed: what a re-sync past the memory
        budget copies to its ledger on disk instead of holding as a dict (``hashes``)."""
        o = t.observations.c
        query = select(o.key, o.hash).where(o.connector == connector, o.entity == entity)
        with self.engine.connect().execution_options(stream_results=True, yield_per=CHUNK) as conn:
            yield from conn.execute(query).tuples()

    def write(self, connector: str, entity: str, rows: Iterable[tuple[str, str, int, str]], run_id: int | None) -> None:
        """Upsert (key, group, hash, canonical JSON) rows, and note which run last wrote the stream
        (``cursors.written_run_id``: how other jobs learn their groups changed)."""
        now = utcnow()
        payload = rows if isinstance(rows, list) else list(rows)
        if not payload:
            return
        self._bulk_upsert(
            t.observations,
            ["connector", "entity", "key"],
            ["key", "grp", "hash", "data"],
            payload,
            ["grp", "hash", "data", "run_id", "updated_at"],
            converted=True,
            constants={"connector": connector, "entity": entity, "run_id": run_id, "updated_at": now},
        )
        self._upsert(
            t.cursors,
            ["connector", "entity"],
            [{"connector": connector, "entity": entity, "written_run_id": run_id, "updated_at": now}],
            ["written_run_id", "updated_at"],
        )

    def forget_hashes(self, connector: str, entity: str, keys: Sequence[str]) -> None:
        """Forget the row hashes of records the hub has just written: their stored hash describes
        the row before the write, so a later edit that put that row back would pass as unchanged.
        The records stay (they are what the channel held when last read)."""
        o = t.observations.c
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # one statement, the keys as one array
                conn.execute(
                    update(t.observations)
                    .where(o.connector == connector, o.entity == entity, o.key == any_(bindparam("keys", list(keys))))
                    .values(hash=FORGOTTEN_HASH)
                )
                return
            for chunk in chunks(list(keys), IN_CHUNK):
                conn.execute(
                    update(t.observations)
                    .where(o.connector == connector, o.entity == entity, o.key.in_(chunk))
                    .values(hash=FORGOTTEN_HASH)
                )

    def delete(self, connector: str, entity: str, keys: Sequence[str]) -> None:
        o = t.observations.c
        with self.engine.begin() as conn:
            for chunk in chunks(list(keys), IN_CHUNK):
                conn.execute(
                    delete(t.observations).where(o.connector == connector, o.entity == entity, o.key.in_(chunk))
                )

    def fetch(self, connector: str, entity: str, groups: Iterable[str]) -> Iterator[tuple[str, str, str]]:
        """(key, group, canonical JSON) of every stored record of the given groups.

        On SQLite a stock group is the primary-key range ``SKU@`` .. ``SKU@\uffff`` (no index to
        maintain on the hottest table); elsewhere it is looked up by the indexed ``grp``.
        """
        o = t.observations.c
        groups = list(groups)
        base = (o.connector == connector, o.entity == entity)
        with self.engine.connect() as conn:
            if entity == "stock" and self.engine.dialect.name == "sqlite":  # byte order: the key range is exact
                for chunk in chunks(groups, 50):
                    ranges = [and_(o.key >= f"{g}@", o.key < f"{g}@\uffff") for g in chunk]
                    yield from conn.execute(select(o.key, o.grp, o.data).where(*base, or_(*ranges))).tuples()
            else:  # other groups are keys; PostgreSQL finds stock groups through ix_observations_grp
                column = o.grp if entity == "stock" else o.key
                for chunk in chunks(groups, IN_CHUNK):
                    yield from conn.execute(select(o.key, o.grp, o.data).where(*base, column.in_(chunk))).tuples()

    def iter_groups(
        self,
        connectors: Sequence[str],
        entity: str,
        groups: Iterable[str] | None,
        partition: Partition | None = None,
    ) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
        """(group, [(connector, key, canonical JSON)]) for the connectors' records, in group order,
        streamed: the reconciler holds one group at a time, whatever the catalogue's size. With
        ``partition`` and no ``groups``, only that partition's groups (a distributed run's share)."""
        o = t.observations.c
        query = select(o.grp, o.connector, o.key, o.data).where(o.entity == entity, o.connector.in_(list(connectors)))
        if groups is None and partition is not None and (only := partition.clause(o.grp, self.dialect)) is not None:
            query = query.where(only)
        if groups is None:
            queries = [query.order_by(o.grp)]
        else:  # the groups of an incremental run are few: one ordered query per chunk
            wanted = sorted(groups)
            queries = [query.where(o.grp.in_(chunk)).order_by(o.grp) for chunk in chunks(wanted, IN_CHUNK)]
        with self.engine.connect().execution_options(stream_results=True, yield_per=CHUNK) as conn:
            for q in queries:
                yield from _by_group(conn.execute(q))

    def iter_records(self, connector: str, entity: str) -> Iterator[tuple[str, str, str]]:
        """(key, group, canonical JSON) of every stored record of a connector's entity."""
        o = t.observations.c
        with self.engine.connect() as conn:
            yield from conn.execute(
                select(o.key, o.grp, o.data).where(o.connector == connector, o.entity == entity)
            ).tuples()

    def iter_keyed(
        self, connectors: Sequence[str], entity: str, partition: Partition | None = None
    ) -> Iterator[tuple[str, str, str]]:
        """(key, connector, canonical JSON) of the connectors' records in key order, streamed: the
        database merges the connectors, so a key's records come together and the reconciler holds a
        page of keys at a time, whatever the catalogue's size. With ``partition``, only its keys."""
        o = t.observations.c
        query = select(o.key, o.connector, o.data).where(o.entity == entity, o.connector.in_(list(connectors)))
        if partition is not None and (only := partition.clause(o.grp, self.dialect)) is not None:
            query = query.where(only)
        query = query.order_by(o.key, o.connector)
        with self.engine.connect().execution_options(stream_results=True, yield_per=CHUNK) as conn:
            yield from conn.execute(query).tuples()

    def count(self, connector: str, entity: str, partition: Partition | None = None) -> int:
        o = t.observations.c
        query = select(func.count()).select_from(t.observations).where(o.connector == connector, o.entity == entity)
        if partition is not None and (only := partition.clause(o.grp, self.dialect)) is not None:
            query = query.where(only)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def stock_locations(self, connector: str) -> frozenset[str]:
        """The locations a connector reported stock at in its last pull (what ``check`` compares
        with the jobs' location rules)."""
        o = t.observations.c
        if self.engine.dialect.name == "postgresql":
            location = func.split_part(o.key, "@", 2)
        else:  # SQLite: the text after the '@' (a location never holds one)
            location = func.substr(o.key, func.instr(o.key, "@") + 1)
        query = select(location).where(o.connector == connector, o.entity == "stock").distinct()
        with self.engine.connect() as conn:
            return frozenset(conn.execute(query).scalars())

    def groups_written_after(self, connector: str, entity: str, run_id: int) -> set[str]:
        """Groups whose observations a run newer than ``run_id`` wrote: what a job has not reconciled
        yet because another job (or a run that died) pulled them. Free when no such run exists."""
        c = t.cursors.c
        o = t.observations.c
        with self.engine.connect() as conn:
            written = conn.execute(
                select(c.written_run_id).where(c.connector == connector, c.entity == entity)
            ).scalar()
            if not written or written <= run_id:
                return set()
            query = select(o.grp).where(o.connector == connector, o.entity == entity, o.run_id > run_id).distinct()
            return set(conn.execute(query).scalars())

    def groups_written_by(self, connector: str, entity: str, run_id: int) -> set[str]:
        """Groups whose observations run ``run_id`` wrote: the changed groups of a pull that wrote
        its records page by page instead of keeping them."""
        o = t.observations.c
        query = select(o.grp).where(o.connector == connector, o.entity == entity, o.run_id == run_id).distinct()
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def keys_written_by(self, connector: str, entity: str, run_id: int, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` run ``run_id`` wrote (a duplicate whose first copy was stored before
        the pull found its second)."""
        o = t.observations.c
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in chunks(list(keys), IN_CHUNK):
                query = select(o.key).where(
                    o.connector == connector, o.entity == entity, o.run_id == run_id, o.key.in_(chunk)
                )
                found.update(conn.execute(query).scalars())
        return found


def _by_group(rows: Iterable[Any]) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """(group, [(connector, key, JSON)]) from (group, connector, key, JSON) rows in group order."""
    current: str | None = None
    bucket: list[tuple[str, str, str]] = []
    for grp, connector, key, data in rows:
        if grp != current:
            if bucket:
                yield current, bucket  # type: ignore[misc]
            current, bucket = grp, []
        bucket.append((connector, key, data))
    if bucket:
        yield current, bucket  # type: ignore[misc]


class QuarantineRepository(Repository):
    """``store.quarantine``: records a pull refused, with why, for ``omnihub quarantine``."""

    def add(self, run_id: int | None, rows: Sequence[tuple[str, str, str | None, str, str]]) -> None:
        """Keep refused records: (connector, entity, key, origin, reason)."""
        if not rows:
            return
        now = utcnow()
        values = [
            {"run_id": run_id, "connector": c, "entity": e, "key": k, "origin": o[:500], "reason": r, "created_at": now}
            for c, e, k, o, r in rows
        ]
        with self.engine.begin() as conn:
            conn.execute(insert(t.quarantine), values)

    def recent(self, run_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """The newest refused records first, of one run or of all."""
        q = select(t.quarantine).order_by(t.quarantine.c.id.desc()).limit(limit)
        if run_id is not None:
            q = q.where(t.quarantine.c.run_id == run_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
