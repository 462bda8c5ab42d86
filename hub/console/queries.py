"""The console's reads of the store that the repositories do not offer: filtered mismatches, one key's
history, connector health, the reservation ledger. Reads only, each bounded by a limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from hub.config.loader import LoadedConfig
from hub.state import schema as t
from hub.state.sql import aware
from hub.state.store import Store

__all__ = ["ConnectorHealth", "Filters", "connector_health", "key_history", "mismatches"]

#: Rows one page shows at most; the page says when there are more.
PAGE_ROWS = 500
_TIMES = ("first_seen", "last_seen", "resolved_at", "notified_at")


@dataclass(frozen=True)
class Filters:
    """The mismatch page's filters, as typed in its form (empty: any)."""

    entity: str = ""
    job: str = ""
    connector: str = ""
    text: str = ""


def mismatches(store: Store, filters: Filters, limit: int = PAGE_ROWS) -> list[dict[str, Any]]:
    """Open mismatches matching ``filters``, in (entity, key, field, connector) order, at most
    ``limit`` + 1 rows (the extra one tells the page there are more). Free text matches the key,
    the field and both values."""
    m = t.mismatches.c
    query = select(t.mismatches).where(m.status == "open").order_by(m.entity, m.key, m.field, m.connector)
    for column, value in ((m.entity, filters.entity), (m.job, filters.job), (m.connector, filters.connector)):
        if value:
            query = query.where(column == value)
    if filters.text:
        like = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(*(c.ilike(like, escape="\\") for c in (m.key, m.field, m.expected, m.actual, m.detail)))
        )
    return _read(store, query.limit(limit + 1))


def key_history(
    store: Store, entity: str, key: str, runs: int = 30
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every mismatch row of one key, resolved ones included (newest sighting first), and the runs
    of the jobs that compared it since it was first seen (newest first)."""
    m = t.mismatches.c
    rows = _read(
        store,
        select(t.mismatches)
        .where(m.entity == entity, m.key == key)
        .order_by(m.last_seen.desc(), m.field, m.connector)
        .limit(PAGE_ROWS),
    )
    if not rows:
        return rows, []
    jobs = sorted({r["job"] for r in rows})
    since = min(r["first_seen"] for r in rows)
    r = t.runs.c
    with store.engine.connect() as conn:
        found = conn.execute(
            select(r.id, r.job, r.status, r.started_at, r.duration_s, r.error)
            .where(r.job.in_(jobs), r.started_at >= since)
            .order_by(r.id.desc())
            .limit(runs)
        ).mappings()
        history = [{**row, "started_at": aware(row["started_at"])} for row in found]
    return rows, history


def _read(store: Store, query: Any) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        for name in _TIMES:
            row[name] = aware(row[name])
    return rows


def choices(store: Store) -> dict[str, list[str]]:
    """The values the mismatch filters offer: those of the open mismatches."""
    m = t.mismatches.c
    out = {}
    with store.engine.connect() as conn:
        for name, column in (("entity", m.entity), ("job", m.job), ("connector", m.connector)):
            query = select(column).where(m.status == "open").distinct().order_by(column)
            out[name] = list(conn.execute(query).scalars())
    return out


@dataclass
class ConnectorHealth:
    """One connector as its last run saw it."""

    name: str
    type: str
    jobs: list[str] = field(default_factory=list)
    last_run_id: int | None = None
    last_job: str | None = None
    last_at: datetime | None = None
    #: Whether the last run that should have read it did (None: it has no run yet, or none reads it).
    pulled: bool | None = None
    requests: int = 0
    throttled: int = 0
    #: Changes it did not take in that run, and the run's errors that name it.
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def connector_health(config: LoadedConfig, recent: Iterable[dict[str, Any]]) -> list[ConnectorHealth]:
    """Each connector's figures from the newest finished run of a job using it (``recent``:
    ``store.runs.recent``, newest first). Only names and types: settings hold secrets."""
    out = {name: ConnectorHealth(name, settings.type) for name, settings in config.connectors.items()}
    readers: dict[str, set[str]] = {}
    for name, job in config.jobs.items():
        source = config.source_of(job)
        for conn in {source, *job.sources, *job.targets, *job.reservations}:
            if conn in out:
                out[conn].jobs.append(name)
        readers[name] = {source, *job.sources, *job.targets}
    for run in recent:
        report = run.get("report") or {}
        if run["status"] == "running" or run["job"] not in readers:
            continue
        for conn in readers[run["job"]]:
            health = out.get(conn)
            if health is None or health.last_run_id is not None:
                continue
            health.last_run_id, health.last_job, health.last_at = run["id"], run["job"], run["finished_at"]
            health.pulled = conn in (report.get("pulled") or {})
            health.requests = int((report.get("requests") or {}).get(conn, 0))
            health.throttled = int((report.get("throttled") or {}).get(conn, 0))
            health.failed = sum(1 for f in report.get("failures") or [] if f.get("connector") == conn)
            health.errors = [e for e in report.get("errors") or [] if conn in e]
    for health in out.values():
        health.jobs.sort()
    return sorted(out.values(), key=lambda h: h.name)
