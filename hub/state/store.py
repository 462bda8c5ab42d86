"""The state store: what the hub remembers between runs (SQLAlchemy Core, Alembic migrations).

SQLite by default, PostgreSQL in production; the same statements run on both (upserts use each
dialect's ``ON CONFLICT``). Core rather than the ORM: the hot paths write and read hundreds of
thousands of small rows per run, and plain tuples keep them cheap.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import OmnihubError
from hub.state import schema as t
from hub.state.locks import MigrationError, migration_transaction, process_alive

__all__ = ["Store", "StoreError", "utcnow"]

CHUNK = 5000
#: Bound parameters per statement: under SQLite's oldest limit (999), far under PostgreSQL's.
MAX_PARAMETERS = 990
IN_CHUNK = 500
#: The row hash of a stored record the hub has written to since it was read: the engine matches no
#: pulled row against it, so that row is read again whatever it looks like (``forget_hashes``).
FORGOTTEN_HASH = 0


#: This process, as recorded on the runs it starts.
_OWNER = f"{socket.gethostname()}:{os.getpid()}"
#: A running run of another host older than this is taken as dead.
STALE_AFTER = timedelta(hours=6)


class StoreError(OmnihubError):
    """The database cannot be opened or migrated."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Store:
    """One database. ``open`` applies pending migrations first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._upsert_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = create_engine(url, future=True, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot use database {_safe_url(url)}: {exc}") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        elif engine.dialect.name != "postgresql":
            raise StoreError(f"database {_safe_url(url)}: only SQLite and PostgreSQL are supported")
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Apply pending migrations, one process at a time (``hub.state.locks.migration_transaction``):
        processes starting together on an empty database all start, the first one migrating.

        A database already at the newest revision is only read: the migration lock is a write
        lock on SQLite, and ``omnihub runs`` must not wait for the daemon's writes to open it."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        where = f"cannot open database {_safe_url(str(self.engine.url))}"
        try:
            with self.engine.connect() as conn:
                current = _current_heads(conn)
            if current == set(ScriptDirectory.from_config(cfg).get_heads()):
                return
            with migration_transaction(self.engine) as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except MigrationError as exc:
            raise StoreError(f"{where}: {exc}") from None
        except CommandError as exc:  # a revision this omnihub does not know: a newer one migrated it
            raise StoreError(f"{where}: {exc}; it was migrated by a newer omnihub, so run that version") from None
        except SQLAlchemyError as exc:
            raise StoreError(f"{where}: {getattr(exc, 'orig', None) or exc}") from None

    def close(self) -> None:
        self.engine.dispose()

    def _upsert(self, table: Any, keys: list[str], rows: list[dict[str, Any]], update_cols: list[str]) -> None:
        if not rows:
            return
        stmt = self._upsert_insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update_cols})
        with self.engine.begin() as conn:
            for chunk in _chunks(rows, CHUNK):
                conn.execute(stmt, list(chunk))

    def _bulk_upsert(
        self,
        table: Any,
        keys: list[str],
        columns: list[str],
        rows: Sequence[tuple[Any, ...]],
        update_cols: list[str],
        *,
        converted: bool = False,
        update_sql: dict[str, str] | None = None,
        conn: Connection | None = None,
        constants: dict[str, Any] | None = None,
    ) -> None:
        """Upsert plain tuples straight through the driver: the hot path for hundreds of thousands
        of observations, where building a dict and compiling parameters per row would cost more
        than the write itself. Rows go in multi-row ``VALUES`` statements (a quarter cheaper than
        one ``executemany`` step per row on SQLite, and far cheaper on PostgreSQL). Column types
        still convert values (datetimes), unless the caller already did (``converted``).

        ``constants`` are columns with one value for every row of the write (the connector, the
        run, the time): on SQLite each is bound once per statement and every row refers to it by
        number (``?1``), so a row carries only its own values (a third cheaper per observation);
        elsewhere they are copied into each row. ``update_sql`` sets columns on conflict by SQL
        expressions instead of the new values (``excluded.<column>`` is the new row,
        ``<table>.<column>`` the stored one). Written in its own transaction, or in the caller's
        ``conn``."""
        if not rows:
            return
        dialect = self.engine.dialect
        processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        if not converted and any(p is not None for p in processors):
            # Values of one write share few distinct values in converted columns (the timestamp):
            # convert each distinct value once.
            memo: dict[tuple[int, Any], Any] = {}

            def convert(index: int, value: Any) -> Any:
                key = (index, value)
                if key not in memo:
                    memo[key] = processors[index](value)  # type: ignore[misc]
                return memo[key]

            active = [i for i, p in enumerate(processors) if p is not None]
            rows = [tuple(convert(i, v) if i in active else v for i, v in enumerate(row)) for row in rows]
        shared = {name: self._bind(table.c[name], value) for name, value in (constants or {}).items()}
        numbered = dialect.paramstyle == "qmark"
        if shared and not numbered:  # no numbered parameters: each row carries the constants
            rows = [(*shared.values(), *row) for row in rows]
            columns, shared = [*shared, *columns], {}
        prefix = list(shared.values())
        width = len(columns)
        per_statement = max(1, (MAX_PARAMETERS - len(prefix)) // width)
        mark = "?" if numbered else "%s"
        quote = dialect.identifier_preparer.quote
        assignments = {c: f"excluded.{quote(c)}" for c in update_cols} | (update_sql or {})
        head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in [*shared, *columns])}) VALUES "
        tail = f" ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET " + ", ".join(
            f"{quote(c)} = {expression}" for c, expression in assignments.items()
        )

        def values(count: int) -> str:
            if not shared:
                return ", ".join([f"({', '.join(mark for _ in columns)})"] * count)
            constant_marks = [f"?{i + 1}" for i in range(len(prefix))]
            return ", ".join(
                "(" + ", ".join(constant_marks + [f"?{len(prefix) + r * width + c + 1}" for c in range(width)]) + ")"
                for r in range(count)
            )

        full = head + values(per_statement) + tail
        flatten = itertools.chain.from_iterable
        with self.engine.begin() if conn is None else contextlib.nullcontext(conn) as connection:
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                whole = len(rows) - len(rows) % per_statement
                for start in range(0, whole, per_statement):
                    cursor.execute(full, prefix + list(flatten(rows[start : start + per_statement])))
                if whole < len(rows):
                    rest = rows[whole:]
                    cursor.execute(head + values(len(rest)) + tail, prefix + list(flatten(rest)))
            finally:
                cursor.close()

    # ------------------------------------------------------------------ runs

    def start_run(self, job: str, entity: str, mode: str, dry_run: bool) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(t.runs).values(
                    job=job,
                    entity=entity,
                    mode=mode,
                    dry_run=int(dry_run),
                    status="running",
                    started_at=utcnow(),
                    owner=_OWNER,
                )
            )
            return int(result.inserted_primary_key[0])

    def finish_run(
        self, run_id: int, status: str, duration_s: float, report: dict[str, Any], error: str | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    status=status, finished_at=utcnow(), duration_s=duration_s, report=json.dumps(report), error=error
                )
            )

    def interrupt_stale_runs(self) -> list[int]:
        """Runs left ``running`` by a process that died are marked failed, with why; their ids.

        A run whose process is still alive (the daemon, while someone runs ``omnihub sync`` by hand)
        is left alone. A run started on another host cannot be checked from here: it is taken as
        dead only once it is older than ``STALE_AFTER``.
        """
        r = t.runs.c
        host = _OWNER.rsplit(":", 1)[0]
        now = utcnow()
        with self.engine.connect() as conn:
            running = conn.execute(select(r.id, r.owner, r.started_at).where(r.status == "running")).all()
        dead = []
        for run_id, owner, started_at in running:
            owner_host, _, pid = (owner or ":").rpartition(":")
            if owner_host == host and pid.isdigit():
                if not process_alive(int(pid)):
                    dead.append(run_id)
            elif started_at is None or now - started_at > STALE_AFTER:
                dead.append(run_id)
        if dead:
            with self.engine.begin() as conn:
                conn.execute(
                    update(t.runs)
                    .where(r.id.in_(dead))
                    .values(status="failed", error="interrupted (the process stopped during the run)")
                )
        return dead

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)).mappings().all()
        out = []
        for row in rows:
            item = dict(row)
            item["started_at"] = _aware(item["started_at"])
            item["finished_at"] = _aware(item["finished_at"])
            item["report"] = json.loads(item["report"]) if item["report"] else None
            out.append(item)
        return out

    # ------------------------------------------------------------------ observations and links

    def load_hashes(self, connector: str, entity: str) -> dict[str, int]:
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
        budget copies to its ledger on disk instead of holding as a dict (``load_hashes``)."""
        o = t.observations.c
        query = select(o.key, o.hash).where(o.connector == connector, o.entity == entity)
        with self.engine.connect().execution_options(stream_results=True, yield_per=CHUNK) as conn:
            yield from conn.execute(query).tuples()

    def write_observations(
        self, connector: str, entity: str, rows: Iterable[tuple[str, str, int, str]], run_id: int | None
    ) -> None:
        """Upsert (key, group, hash, canonical JSON) rows, and note which run last wrote the stream."""
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

    def _bind(self, column: Any, value: Any) -> Any:
        """``value`` as the driver wants it for ``column`` (SQLite stores datetimes as text)."""
        process = column.type.dialect_impl(self.engine.dialect).bind_processor(self.engine.dialect)
        return process(value) if process is not None else value

    def write_links(self, connector: str, entity: str, rows: Iterable[tuple[str, dict[str, str]]]) -> None:
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

    def forget_hashes(self, connector: str, entity: str, keys: Sequence[str]) -> None:
        """Forget the row hashes of records the hub has just written: their stored hash describes
        the row before the write, so a later edit that put that row back would pass as unchanged.
        The records stay (they are what the channel held when last read)."""
        o = t.observations.c
        with self.engine.begin() as conn:
            for chunk in _chunks(list(keys), IN_CHUNK):
                conn.execute(
                    update(t.observations)
                    .where(o.connector == connector, o.entity == entity, o.key.in_(chunk))
                    .values(hash=FORGOTTEN_HASH)
                )

    def delete_observations(self, connector: str, entity: str, keys: Sequence[str]) -> None:
        o = t.observations.c
        with self.engine.begin() as conn:
            for chunk in _chunks(list(keys), IN_CHUNK):
                conn.execute(
                    delete(t.observations).where(o.connector == connector, o.entity == entity, o.key.in_(chunk))
                )

    def fetch_records(self, connector: str, entity: str, groups: Iterable[str]) -> Iterator[tuple[str, str, str]]:
        """(key, group, canonical JSON) of every stored record of the given groups.

        On SQLite a stock group is the primary-key range ``SKU@`` .. ``SKU@\uffff`` (no index to
        maintain on the hottest table); elsewhere it is looked up by the indexed ``grp``.
        """
        o = t.observations.c
        groups = list(groups)
        base = (o.connector == connector, o.entity == entity)
        with self.engine.connect() as conn:
            if entity == "stock" and self.engine.dialect.name == "sqlite":  # byte order: the key range is exact
                for chunk in _chunks(groups, 50):
                    ranges = [and_(o.key >= f"{g}@", o.key < f"{g}@\uffff") for g in chunk]
                    yield from conn.execute(select(o.key, o.grp, o.data).where(*base, or_(*ranges))).tuples()
            else:  # other groups are keys; PostgreSQL finds stock groups through ix_observations_grp
                column = o.grp if entity == "stock" else o.key
                for chunk in _chunks(groups, IN_CHUNK):
                    yield from conn.execute(select(o.key, o.grp, o.data).where(*base, column.in_(chunk))).tuples()

    def iter_groups(
        self, connectors: Sequence[str], entity: str, groups: Iterable[str] | None
    ) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
        """(group, [(connector, key, canonical JSON)]) for the connectors' records, in group order,
        streamed: the reconciler holds one group at a time, whatever the catalogue's size."""
        o = t.observations.c
        query = select(o.grp, o.connector, o.key, o.data).where(o.entity == entity, o.connector.in_(list(connectors)))
        if groups is None:
            queries = [query.order_by(o.grp)]
        else:  # the groups of an incremental run are few: one ordered query per chunk
            wanted = sorted(groups)
            queries = [query.where(o.grp.in_(chunk)).order_by(o.grp) for chunk in _chunks(wanted, IN_CHUNK)]
        with self.engine.connect().execution_options(stream_results=True, yield_per=CHUNK) as conn:
            for q in queries:
                current: str | None = None
                bucket: list[tuple[str, str, str]] = []
                for grp, connector, key, data in conn.execute(q):
                    if grp != current:
                        if bucket:
                            yield current, bucket  # type: ignore[misc]
                        current, bucket = grp, []
                    bucket.append((connector, key, data))
                if bucket:
                    yield current, bucket  # type: ignore[misc]

    def iter_records(self, connector: str, entity: str) -> Iterator[tuple[str, str, str]]:
        """(key, group, canonical JSON) of every stored record of a connector's entity."""
        o = t.observations.c
        with self.engine.connect() as conn:
            yield from conn.execute(
                select(o.key, o.grp, o.data).where(o.connector == connector, o.entity == entity)
            ).tuples()

    def iter_keyed(self, connectors: Sequence[str], entity: str) -> Iterator[tuple[str, str, str]]:
        """(key, connector, canonical JSON) of the connectors' records in key order, streamed: the
        database merges the connectors, so a key's records come together and the reconciler holds a
        page of keys at a time, whatever the catalogue's size."""
        o = t.observations.c
        query = (
            select(o.key, o.connector, o.data)
            .where(o.entity == entity, o.connector.in_(list(connectors)))
            .order_by(o.key, o.connector)
        )
        with self.engine.connect().execution_options(stream_results=True, yield_per=CHUNK) as conn:
            yield from conn.execute(query).tuples()

    def load_links(self, connector: str, entity: str, keys: Iterable[str]) -> dict[str, dict[str, str]]:
        lk = t.links.c
        out: dict[str, dict[str, str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(keys), IN_CHUNK):
                for key, ids in conn.execute(
                    select(lk.key, lk.ids).where(lk.connector == connector, lk.entity == entity, lk.key.in_(chunk))
                ):
                    out[key] = json.loads(ids)
        return out

    def count_observations(self, connector: str, entity: str) -> int:
        o = t.observations.c
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t.observations).where(o.connector == connector, o.entity == entity)
                ).scalar_one()
            )

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

    # ------------------------------------------------------------------ cursors and job state

    def get_cursor(self, connector: str, entity: str) -> str | None:
        c = t.cursors.c
        with self.engine.connect() as conn:
            return conn.execute(select(c.value).where(c.connector == connector, c.entity == entity)).scalar()

    def set_cursor(self, connector: str, entity: str, value: str | None) -> None:
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
        return (_aware(row[0]), row[1]) if row else (None, None)

    def mark_full_read(self, connector: str, entity: str, started_at: datetime, gap: int | None) -> None:
        """Remember a complete pull that started at ``started_at`` and left the store as the platform
        was; ``gap`` is the platform's count minus the records the hub holds (None: no count)."""
        row = {"connector": connector, "entity": entity, "full_at": started_at, "full_gap": gap, "updated_at": utcnow()}
        self._upsert(t.cursors, ["connector", "entity"], [row], ["full_at", "full_gap", "updated_at"])

    def get_job_state(self, job: str) -> tuple[str | None, int]:
        """(rules fingerprint, newest run id reconciled) of a job; (None, 0) before its first run."""
        j = t.job_state.c
        with self.engine.connect() as conn:
            row = conn.execute(select(j.fingerprint, j.last_run_id).where(j.job == job)).first()
        return (row[0], row[1] or 0) if row else (None, 0)

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
            for chunk in _chunks(list(keys), IN_CHUNK):
                query = select(o.key).where(
                    o.connector == connector, o.entity == entity, o.run_id == run_id, o.key.in_(chunk)
                )
                found.update(conn.execute(query).scalars())
        return found

    def set_job_state(self, job: str, fingerprint: str, last_run_id: int) -> None:
        row = {"job": job, "fingerprint": fingerprint, "last_run_id": last_run_id, "updated_at": utcnow()}
        self._upsert(t.job_state, ["job"], [row], ["fingerprint", "last_run_id", "updated_at"])

    # ------------------------------------------------------------------ quarantine

    def quarantine(self, run_id: int | None, rows: Sequence[tuple[str, str, str | None, str, str]]) -> None:
        """Keep refused records: (connector, entity, key, origin, reason)."""
        if not rows:
            return
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.quarantine),
                [
                    {
                        "run_id": run_id,
                        "connector": c,
                        "entity": e,
                        "key": k,
                        "origin": o[:500],
                        "reason": r,
                        "created_at": now,
                    }
                    for c, e, k, o, r in rows
                ],
            )

    def list_quarantine(self, run_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
        q = select(t.quarantine).order_by(t.quarantine.c.id.desc()).limit(limit)
        if run_id is not None:
            q = q.where(t.quarantine.c.run_id == run_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # ------------------------------------------------------------------ mismatches

    def touch_open_mismatches(self, job: str, now: datetime) -> None:
        m = t.mismatches.c
        with self.engine.begin() as conn:
            conn.execute(update(t.mismatches).where(m.job == job, m.status == "open").values(last_seen=now))

    def open_mismatch_groups(self, job: str) -> set[str]:
        m = t.mismatches.c
        with self.engine.connect() as conn:
            return set(conn.execute(select(m.grp).where(m.job == job, m.status == "open").distinct()).scalars())

    def open_mismatches(self, job: str, groups: Iterable[str] | None) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Open mismatches of a job, by (key, field, connector); all of them when ``groups`` is None."""
        m = t.mismatches.c
        out = {}
        with self.engine.connect() as conn:
            queries = (
                [select(t.mismatches).where(m.job == job, m.status == "open")]
                if groups is None
                else [
                    select(t.mismatches).where(m.job == job, m.status == "open", m.grp.in_(chunk))
                    for chunk in _chunks(list(groups), IN_CHUNK)
                ]
            )
            for query in queries:
                for row in conn.execute(query).mappings():
                    out[(row["key"], row["field"], row["connector"])] = dict(row)
        return out

    def save_mismatches(
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
            for chunk in _chunks(list(resolved), IN_CHUNK):
                conn.execute(
                    update(t.mismatches)
                    .where(m.id.in_(chunk), m.status == "open")
                    .values(status="resolved", resolved_at=now, resolution=resolution, last_seen=now)
                )

    def set_mismatch_detail(
        self, entity: str, key: str, connector: str, detail: str | None, actual: dict[str, str] | None = None
    ) -> None:
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
        Returns how many open mismatches that closed."""
        m = t.mismatches.c
        closed = 0
        with self.engine.begin() as conn:
            for key, field, connector in keys_fields:
                closed += conn.execute(
                    update(t.mismatches)
                    .where(
                        m.entity == entity, m.key == key, m.field == field, m.connector == connector, m.status == "open"
                    )
                    .values(status="resolved", resolved_at=now, resolution="pushed", detail=None, last_seen=now)
                ).rowcount
        return closed

    def count_open(self, job: str) -> int:
        m = t.mismatches.c
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t.mismatches).where(m.job == job, m.status == "open")
                ).scalar_one()
            )

    def list_mismatches(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        m = t.mismatches.c
        query = select(t.mismatches).order_by(m.entity, m.key, m.field, m.connector)
        if not include_resolved:
            query = query.where(m.status == "open")
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            for name in ("first_seen", "last_seen", "resolved_at", "notified_at"):
                row[name] = _aware(row[name])
        return rows

    def mismatches_for_alerts(self) -> list[dict[str, Any]]:
        """Open mismatches, and resolved ones last mailed as open (their resolution is news)."""
        m = t.mismatches.c
        query = select(t.mismatches).where(
            or_(m.status == "open", and_(m.status == "resolved", m.notified_status == "open"))
        )
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            for name in ("first_seen", "last_seen", "resolved_at", "notified_at"):
                row[name] = _aware(row[name])
        return rows

    def mark_notified(self, covers: Sequence[tuple[int, str]], now: datetime) -> None:
        with self.engine.begin() as conn:
            for mismatch_id, status in covers:
                conn.execute(
                    update(t.mismatches)
                    .where(t.mismatches.c.id == mismatch_id)
                    .values(notified_at=now, notified_status=status)
                )

    # ------------------------------------------------------------------ outbox

    def supersede_pending(self, run_ids: Sequence[int]) -> int:
        """Changes journaled by runs that died before confirming them are decided again from a fresh
        pull (the platform tells what was applied); the journal keeps them, marked superseded."""
        if not run_ids:
            return 0
        o = t.outbox.c
        with self.engine.begin() as conn:
            return conn.execute(
                update(t.outbox)
                .where(o.status.in_(("pending", "sent")), o.run_id.in_(list(run_ids)))
                .values(
                    status="superseded",
                    updated_at=utcnow(),
                    error="interrupted before the platform confirmed it; decided again from the next pull",
                )
            ).rowcount

    def supersede_retries(self, job: str, run_id: int) -> int:
        """Changes of this job's earlier runs that did not land (left to retry) are decided again
        by run ``run_id`` from its fresh pull; the journal keeps them, closed as superseded, so no
        row stays pending for good."""
        o = t.outbox.c
        with self.engine.begin() as conn:
            return conn.execute(
                update(t.outbox)
                .where(o.job == job, o.status.in_(("retry", "pending", "sent")), o.run_id < run_id)
                .values(status="superseded", updated_at=utcnow(), error=f"decided again by run {run_id}")
            ).rowcount

    def refused_decisions(self, decisions: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """Decisions a platform already refused for good: decision -> (code, message)."""
        o = t.outbox.c
        out = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(decisions), IN_CHUNK):
                for decision, code, error in conn.execute(
                    select(o.decision, o.error_code, o.error).where(o.decision.in_(chunk), o.status == "failed")
                ):
                    out[decision] = (code, error)
        return out

    def journal(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Write changes as ``pending`` before they are sent; returns their ids in order."""
        now = utcnow()
        ids = []
        with self.engine.begin() as conn:
            for row in rows:
                result = conn.execute(
                    insert(t.outbox).values(status="pending", attempts=0, created_at=now, updated_at=now, **row)
                )
                ids.append(int(result.inserted_primary_key[0]))
        return ids

    def settle(self, outcomes: Sequence[tuple[int, str, str | None, str | None]]) -> None:
        """Record (outbox id, status, error code, error message) once the platform answered."""
        now = utcnow()
        o = t.outbox.c
        with self.engine.begin() as conn:
            for outbox_id, status, code, error in outcomes:
                conn.execute(
                    update(t.outbox)
                    .where(o.id == outbox_id)
                    .values(status=status, error_code=code, error=error, attempts=o.attempts + 1, updated_at=now)
                )

    def outbox_counts(self) -> dict[str, int]:
        o = t.outbox.c
        with self.engine.connect() as conn:
            return dict(conn.execute(select(o.status, func.count()).group_by(o.status)).tuples().all())

    def outbox_rows(self, connector: str | None = None) -> list[dict[str, Any]]:
        query = select(t.outbox).order_by(t.outbox.c.id)
        if connector:
            query = query.where(t.outbox.c.connector == connector)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # ------------------------------------------------------------------ notifications

    def queue_notification(self, message: str, covers: Sequence[tuple[int, str]]) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(t.notifications).values(
                    created_at=utcnow(), status="pending", attempts=0, message=message, covers=json.dumps(covers)
                )
            )
            return int(result.inserted_primary_key[0])

    def pending_notifications(self) -> list[dict[str, Any]]:
        n = t.notifications.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.notifications).where(n.status == "pending").order_by(n.id)).mappings()
            return [{**dict(r), "covers": [tuple(c) for c in json.loads(r["covers"])]} for r in rows]

    def settle_notification(self, notification_id: int, sent: bool, error: str | None) -> None:
        n = t.notifications.c
        values: dict[str, Any] = {"attempts": n.attempts + 1, "last_error": error}
        if sent:
            values.update(status="sent", sent_at=utcnow())
        with self.engine.begin() as conn:
            conn.execute(update(t.notifications).where(n.id == notification_id).values(**values))


#: What the engine says of each mismatch it found; the store adds the job, the entity, the status
#: and the times.
_FINDING_COLUMNS = ("key", "grp", "field", "connector", "expected", "actual", "detail")
_MISMATCH_COLUMNS = ("job", "entity", *_FINDING_COLUMNS, "status", "first_seen", "last_seen")


def _current_heads(conn: Any) -> set[str]:
    """The revisions a database is at, read from Alembic's own table without configuring a
    migration context (which logs its setup: once per process is enough, for the upgrade)."""
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"
