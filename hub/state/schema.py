"""The state store's tables (SQLAlchemy Core). Alembic migrations in ``hub/state/migrations`` create them.

- ``observations``: the last canonical record seen per connector, entity and key, with the hash of
  the raw platform row it came from (an unchanged row is recognized without normalizing it again).
- ``links``: canonical key <-> platform ids (variant, inventory item, WooCommerce product ...).
- ``mismatches``: every difference found, with first and last seen, resolution and notification.
- ``outbox``: every change, journaled before it is sent, with its outcome.
- ``cursors``: incremental cursors per connector and entity, and when each was last read in full;
  ``job_state``: the fingerprint of each
  job's rules (a changed rule re-reconciles everything once).
- ``runs``, ``quarantine``, ``notifications``: what happened, what was refused, what was mailed.
- ``job_locks``: which process runs each job now (see ``hub.state.job_locks``).
- ``orders``: the last state of each order pulled from a channel (the reservation ledger is the
  open ones); ``sync_hints``: groups a job must decide at its next run whatever its pulls bring
  (the SKUs of a webhook delivery, the SKUs whose reservations changed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Table as _Table
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored as UTC and read back as UTC-aware.

    SQLite has no time zones: a ``14:00+02:00`` written as is would come back as ``14:00`` UTC.
    Converting on the way in and marking on the way out makes every backend agree."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

runs = _Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("dry_run", Integer, nullable=False, default=0),
    Column("status", String(20), nullable=False),  # running | ok | failed
    #: host:pid of the process running it: only a run whose process is gone counts as interrupted.
    Column("owner", String(300)),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("duration_s", Float),
    Column("report", Text),  # JobReport as JSON
    Column("error", Text),
    Index("ix_runs_job_started", "job", "started_at"),
)

observations = _Table(
    "observations",
    metadata,
    Column("connector", String(200), primary_key=True),
    Column("entity", String(40), primary_key=True),
    Column("key", String(512), primary_key=True),
    #: The SKU for stock keys (SKU@location), else the key: what the reconciler groups by. Looked up
    #: through the primary key (a stock group is the key range ``SKU@...``), so it needs no index.
    Column("grp", String(512), nullable=False),
    Column("hash", BigInteger, nullable=False),
    Column("data", Text, nullable=False),  # canonical record as JSON
    Column("run_id", Integer),
    Column("updated_at", UtcDateTime(), nullable=False),
    # One B-tree instead of two on SQLite: the hottest table is written row by row at volume, and
    # every extra index costs about a microsecond per row.
    sqlite_with_rowid=False,
)
#: PostgreSQL finds a stock group through this index: a key range ``SKU@..`` is only exact under a
#: byte-order collation, which SQLite always has and PostgreSQL databases often do not.
Index("ix_observations_grp", observations.c.connector, observations.c.entity, observations.c.grp).ddl_if(
    dialect="postgresql"
)

links = _Table(
    "links",
    metadata,
    Column("connector", String(200), primary_key=True),
    Column("entity", String(40), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("ids", Text, nullable=False),  # platform ids as JSON
    Column("updated_at", UtcDateTime(), nullable=False),
    sqlite_with_rowid=False,
)

mismatches = _Table(
    "mismatches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("key", String(512), nullable=False),
    Column("grp", String(512), nullable=False),
    Column("field", String(100), nullable=False),
    Column("connector", String(200), nullable=False),
    Column("expected", Text),
    Column("actual", Text),
    Column("status", String(20), nullable=False),  # open | resolved
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime()),
    Column("resolution", String(40)),  # pushed | converged
    Column("detail", Text),  # the last push failure or race, in words
    Column("notified_at", UtcDateTime()),
    Column("notified_status", String(20)),
    UniqueConstraint("entity", "key", "field", "connector", name="uq_mismatch"),
    Index("ix_mismatches_job_status", "job", "status"),
)

outbox = _Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("job", String(200), nullable=False),
    Column("connector", String(200), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("key", String(512), nullable=False),
    #: Unique per decision and run: sent to platforms that deduplicate (Shopify @idempotent).
    Column("idempotency_key", String(64), nullable=False, unique=True),
    #: The same for the same change decided again in a later run (to remember permanent refusals).
    Column("decision", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    # pending | done | failed (refused for good) | retry (transient) | stale (raced a sale) | superseded
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error_code", String(200)),
    Column("error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_outbox_status", "status"),
    Index("ix_outbox_decision", "decision"),
)

cursors = _Table(
    "cursors",
    metadata,
    Column("connector", String(200), primary_key=True),
    Column("entity", String(40), primary_key=True),
    Column("value", String(200)),
    #: The newest run that wrote observations of this stream: a job whose last reconciled run is
    #: older knows that another job (or a crashed run) changed records it has not reconciled.
    Column("written_run_id", Integer),
    Column("updated_at", UtcDateTime(), nullable=False),
    #: When the last complete pull (``since=None``) of this stream started: incremental pulls cannot
    #: see a platform that went back in time (a restored backup), so jobs read everything again
    #: once this is older than their ``full_every``.
    Column("full_at", UtcDateTime()),
    #: The platform's own count minus the records the hub held after that complete pull (records
    #: the hub cannot read, such as a customer without an e-mail): an incremental pull whose count
    #: gap differs saw records appear or vanish behind its cursor.
    Column("full_gap", Integer),
)

job_state = _Table(
    "job_state",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    #: The newest run whose observations this job has reconciled: later writes make groups dirty.
    Column("last_run_id", Integer),
    Column("updated_at", UtcDateTime(), nullable=False),
)

quarantine = _Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer),
    Column("connector", String(200), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("key", String(512)),
    Column("origin", String(500)),
    Column("reason", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

notifications = _Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
    Column("status", String(20), nullable=False),  # pending | sent
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("message", Text, nullable=False),  # the whole RFC 5322 message
    #: The mismatch ids and statuses this digest reports, marked notified once it is sent.
    Column("covers", Text, nullable=False),
)

job_locks = _Table(
    "job_locks",
    metadata,
    Column("job", String(200), primary_key=True),
    #: The process running the job: what a second run reports, and how SQLite tells a dead owner.
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    #: Unique per acquisition: a takeover or a release only touches the row it read.
    Column("token", String(32), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    #: Refreshed while the run lasts (SQLite): an owner on another host that stops refreshing is gone.
    Column("heartbeat_at", UtcDateTime(), nullable=False),
)

orders = _Table(
    "orders",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("order_id", String(200), primary_key=True),
    Column("status", String(20), nullable=False),
    #: The canonical location the order leaves from (shipped or picked up); NULL when not known.
    Column("location", String(200)),
    Column("pickup", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    #: The platform's change time of the version stored: an older version read later is ignored.
    Column("updated_at", UtcDateTime(), nullable=False),
    #: JSON list of [sku, quantity] pairs.
    Column("lines", Text, nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
    Index("ix_orders_status", "status"),
)

sync_hints = _Table(
    "sync_hints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("grp", String(512), nullable=False),
    #: Why: ``webhook:<connector>`` or ``orders:<channel>``.
    Column("reason", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_sync_hints_job", "job"),
)
