"""The state store: the database the hub remembers in between runs, and its repositories.

``Store`` opens the database (SQLite by default, PostgreSQL in production), applies pending
migrations and hands out one repository per thing remembered: ``store.observations``,
``store.quarantine``, ``store.links``, ``store.cursors``, ``store.outbox``, ``store.mismatches``,
``store.runs`` and ``store.notifications``. SQLAlchemy Core rather than the ORM: the hot paths write
and read hundreds of thousands of small rows per run, and plain tuples keep them cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import OmnihubError
from hub.state.cursors import CursorRepository
from hub.state.hints import HintRepository
from hub.state.links import LinkRepository
from hub.state.locks import MigrationError, migration_transaction
from hub.state.mismatches import MismatchRepository
from hub.state.notifications import NotificationRepository
from hub.state.observations import FORGOTTEN_HASH, ObservationRepository, QuarantineRepository
from hub.state.orders import OrderRepository
from hub.state.outbox import OutboxRepository
from hub.state.partitions import register_sqlite
from hub.state.runs import RunRepository
from hub.state.sql import utcnow

__all__ = ["FORGOTTEN_HASH", "Store", "StoreError", "utcnow"]


class StoreError(OmnihubError):
    """The database cannot be opened or migrated."""


class Store:
    """One database. ``open`` applies pending migrations first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.observations = ObservationRepository(engine)
        self.quarantine = QuarantineRepository(engine)
        self.links = LinkRepository(engine)
        self.cursors = CursorRepository(engine)
        self.outbox = OutboxRepository(engine)
        self.mismatches = MismatchRepository(engine)
        self.runs = RunRepository(engine)
        self.notifications = NotificationRepository(engine)
        self.orders = OrderRepository(engine)
        self.hints = HintRepository(engine)

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
    register_sqlite(dbapi_connection)  # what PostgreSQL computes for a partition's rows


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"
