"""What every repository of the state store shares: the engine, chunking, and the two upserts.

SQLite and PostgreSQL run the same statements: upserts use each dialect's ``ON CONFLICT``. The
bulk upsert writes plain tuples straight through the driver, the hot path of a large pull.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["CHUNK", "IN_CHUNK", "MAX_PARAMETERS", "Repository", "aware", "chunks", "utcnow"]

CHUNK = 5000
#: Bound parameters per statement: under SQLite's oldest limit (999), far under PostgreSQL's.
MAX_PARAMETERS = 990
IN_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """A time read back from a column that lost its zone (SQLite), marked UTC again."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class _BulkStatement:
    """The text of a multi-row upsert: ``head`` + ``values(n)`` + ``tail`` writes ``n`` rows."""

    head: str
    tail: str
    columns: int
    constants: int
    numbered: bool

    def values(self, count: int) -> str:
        if not self.constants:
            mark = "?" if self.numbered else "%s"
            return ", ".join([f"({', '.join(mark for _ in range(self.columns))})"] * count)
        constant_marks = [f"?{i + 1}" for i in range(self.constants)]
        width, offset = self.columns, self.constants
        return ", ".join(
            "(" + ", ".join(constant_marks + [f"?{offset + r * width + c + 1}" for c in range(width)]) + ")"
            for r in range(count)
        )

    def text(self, count: int) -> str:
        return self.head + self.values(count) + self.tail


class Repository:
    """One group of tables of the state database, over the engine the ``Store`` opened."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: ``postgresql`` or ``sqlite``: the few queries written per database ask.
        self.dialect = engine.dialect.name
        self._upsert_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def _upsert(self, table: Any, keys: list[str], rows: list[dict[str, Any]], update_cols: list[str]) -> None:
        if not rows:
            return
        stmt = self._upsert_insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update_cols})
        with self.engine.begin() as conn:
            for chunk in chunks(rows, CHUNK):
                conn.execute(stmt, list(chunk))

    def _bind(self, column: Any, value: Any) -> Any:
        """``value`` as the driver wants it for ``column`` (SQLite stores datetimes as text)."""
        process = column.type.dialect_impl(self.engine.dialect).bind_processor(self.engine.dialect)
        return process(value) if process is not None else value

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
        if not converted:
            rows = self._converted(table, columns, rows)
        shared = {name: self._bind(table.c[name], value) for name, value in (constants or {}).items()}
        if self.dialect == "postgresql":
            statement_pg = self._unnest_statement(table, keys, columns, list(shared), update_cols, update_sql)
            with self.engine.begin() if conn is None else contextlib.nullcontext(conn) as connection:
                _execute_unnest(connection, statement_pg, list(shared.values()), rows, len(columns))
            return
        numbered = self.engine.dialect.paramstyle == "qmark"
        if shared and not numbered:  # no numbered parameters: each row carries the constants
            rows = [(*shared.values(), *row) for row in rows]
            columns, shared = [*shared, *columns], {}
        statement = self._bulk_statement(table, keys, columns, list(shared), update_cols, update_sql, numbered)
        with self.engine.begin() if conn is None else contextlib.nullcontext(conn) as connection:
            _execute_bulk(connection, statement, list(shared.values()), rows)

    def _converted(self, table: Any, columns: list[str], rows: Sequence[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
        """Rows with the values of typed columns (datetimes) as the driver wants them."""
        dialect = self.engine.dialect
        processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        if all(p is None for p in processors):
            return rows
        # Values of one write share few distinct values in converted columns (the timestamp):
        # convert each distinct value once.
        memo: dict[tuple[int, Any], Any] = {}

        def convert(index: int, value: Any) -> Any:
            key = (index, value)
            if key not in memo:
                memo[key] = processors[index](value)  # type: ignore[misc]
            return memo[key]

        active = [i for i, p in enumerate(processors) if p is not None]
        return [tuple(convert(i, v) if i in active else v for i, v in enumerate(row)) for row in rows]

    def _unnest_statement(
        self,
        table: Any,
        keys: list[str],
        columns: list[str],
        shared: list[str],
        update_cols: list[str],
        update_sql: dict[str, str] | None,
    ) -> str:
        """PostgreSQL's bulk upsert: one array per column, unnested into rows by the server. The
        statement's text is the same whatever the number of rows (psycopg parses it once, where a
        multi-row ``VALUES`` of thousands of placeholders is parsed again for every statement),
        and each array is adapted in one piece."""
        dialect = self.engine.dialect
        quote = dialect.identifier_preparer.quote

        def sql_type(name: str) -> str:
            return table.c[name].type.compile(dialect=dialect)

        assignments = {c: f"excluded.{quote(c)}" for c in update_cols} | (update_sql or {})
        constants = [f"%s::{sql_type(c)}" for c in shared]
        # %b: each array goes in binary, without escaping every element as text would
        arrays = ", ".join(f"%b::{sql_type(c)}[]" for c in columns)
        return (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in [*shared, *columns])}) "
            f"SELECT {', '.join([*constants, 'u.*'])} FROM unnest({arrays}) AS u "
            f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET "
            + ", ".join(f"{quote(c)} = {expression}" for c, expression in assignments.items())
        )

    def _bulk_statement(
        self,
        table: Any,
        keys: list[str],
        columns: list[str],
        shared: list[str],
        update_cols: list[str],
        update_sql: dict[str, str] | None,
        numbered: bool,
    ) -> _BulkStatement:
        quote = self.engine.dialect.identifier_preparer.quote
        assignments = {c: f"excluded.{quote(c)}" for c in update_cols} | (update_sql or {})
        head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in [*shared, *columns])}) VALUES "
        tail = f" ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET " + ", ".join(
            f"{quote(c)} = {expression}" for c, expression in assignments.items()
        )
        return _BulkStatement(head, tail, len(columns), len(shared), numbered)


#: Rows per unnested statement on PostgreSQL (its arrays have no parameter limit; this bounds memory).
UNNEST_ROWS = 20_000


def _execute_unnest(
    connection: Connection, statement: str, prefix: list[Any], rows: Sequence[tuple[Any, ...]], width: int
) -> None:
    """Run PostgreSQL's unnested upsert (``Repository._unnest_statement``), a slice of rows at a time."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(rows), UNNEST_ROWS):
            part = rows[start : start + UNNEST_ROWS]
            arrays = [list(column) for column in zip(*part, strict=True)] if part else [[] for _ in range(width)]
            cursor.execute(statement, prefix + arrays)
    finally:
        cursor.close()


def _execute_bulk(
    connection: Connection, statement: _BulkStatement, prefix: list[Any], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Run the upsert in statements of as many rows as the parameter limit allows."""
    per_statement = max(1, (MAX_PARAMETERS - len(prefix)) // statement.columns)
    full = statement.text(per_statement)
    flatten: Callable[[Any], Any] = itertools.chain.from_iterable
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        whole = len(rows) - len(rows) % per_statement
        for start in range(0, whole, per_statement):
            cursor.execute(full, prefix + list(flatten(rows[start : start + per_statement])))
        if whole < len(rows):
            rest = rows[whole:]
            cursor.execute(statement.text(len(rest)), prefix + list(flatten(rest)))
    finally:
        cursor.close()
