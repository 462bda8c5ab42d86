"""Locks in the state database, so that processes sharing it do not trip over each other.

Several omnihub processes may share one database: the daemon, an ``omnihub sync`` run by hand,
two containers started at the same moment. Two things must then happen one at a time: migrations
(here) and runs of one job (``hub.state.job_locks``, which shares this module's helpers).

**Migrations** (``migration_transaction``). Two processes starting on an empty database would
both find no ``alembic_version`` table and both create it: one fails. On PostgreSQL the upgrade
runs under a transaction-level advisory lock, taken before Alembic reads the version, so the
second process reads the schema the first one committed and has nothing left to do. On SQLite
the whole upgrade is one ``BEGIN IMMEDIATE`` transaction: SQLite's DDL is transactional, but its
Python driver would otherwise commit each ``CREATE TABLE`` on its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from hub.errors import OmnihubError

__all__ = [
    "HOST",
    "LockTimeout",
    "MigrationError",
    "advisory_key",
    "error_reason",
    "migration_transaction",
    "process_alive",
]

#: How long a process waits for another one's migration before giving up.
MIGRATION_WAIT_S = 300.0
#: This host, as a lock holder records itself.
HOST = socket.gethostname()


class MigrationError(OmnihubError):
    """The database could not be migrated; nothing of the migration was kept."""


class LockTimeout(MigrationError):
    """Another process held the database for longer than this one may wait to migrate it."""


def process_alive(pid: int) -> bool:
    """Whether a process of this host has this pid (someone else's process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def error_reason(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc)


def advisory_key(conn: Connection, *parts: str) -> int:
    """A signed 64-bit advisory lock key, stable across processes, for ``parts`` in the current
    schema (advisory locks are per database; each schema is a hub of its own)."""
    schema = conn.execute(select(func.current_schema())).scalar() or ""
    digest = hashlib.blake2b("\0".join(("omnihub", schema, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# ---------------------------------------------------------------------- migrations


@contextlib.contextmanager
def migration_transaction(engine: Engine, *, wait_s: float | None = None) -> Iterator[Connection]:
    """A connection in a transaction that no other process's migration runs beside; committed when
    the block ends, rolled back if it raises. Raises ``LockTimeout`` after ``wait_s`` (default
    ``MIGRATION_WAIT_S``)."""
    wait_s = MIGRATION_WAIT_S if wait_s is None else wait_s
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(select(func.set_config("lock_timeout", str(int(wait_s * 1000)), True)))
            try:
                conn.execute(select(func.pg_advisory_xact_lock(advisory_key(conn, "migrate"))))
            except OperationalError:
                raise LockTimeout(
                    f"another process has been migrating the database for over {wait_s:.0f}s; try again once it is done"
                ) from None
            yield conn
        return
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        level = driver.isolation_level  # type: ignore[union-attr]
        driver.isolation_level = None  # type: ignore[union-attr]  # no implicit commits: our BEGIN only
        # Off before the transaction (SQLite ignores it inside one): a table rebuilt in batch mode is
        # dropped while other tables still refer to it. The references are checked before commit.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            _begin_immediate(conn, wait_s)
            yield conn
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise MigrationError(
                    f"the migration left {len(broken)} row(s) of {broken[0][0]} referring to missing rows; nothing"
                    " of it was kept"
                )
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            driver.isolation_level = level  # type: ignore[union-attr]


def _begin_immediate(conn: Connection, wait_s: float) -> None:
    """Take SQLite's write lock now, waiting up to ``wait_s`` (each try waits the busy timeout)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            conn.rollback()
            if "locked" not in str(exc.orig) and "busy" not in str(exc.orig):
                raise
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"another process has been writing to the database (or migrating it) for over {wait_s:.0f}s;"
                    " try again once it is done"
                ) from None
