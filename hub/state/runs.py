"""Runs: one row per sync run (who runs it, its outcome and report), and each job's state between
runs (the fingerprint of its rules and the newest run it reconciled).
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from hub.state import schema as t
from hub.state.locks import process_alive
from hub.state.sql import Repository, aware, utcnow

__all__ = ["STALE_AFTER", "RunRepository"]


def _owner() -> str:
    """This process, as recorded on the runs it starts: asked at each start, never at import, since
    a forked worker (Celery's pool) would otherwise record its parent's pid, and a run of a killed
    pool process would look alive as long as the parent lives."""
    return f"{socket.gethostname()}:{os.getpid()}"


#: A running run of another host older than this is taken as dead.
STALE_AFTER = timedelta(hours=6)


class RunRepository(Repository):
    """``store.runs``: the run history and the job state."""

    def start(self, job: str, entity: str, mode: str, dry_run: bool) -> int:
        """Record a run as ``running`` by this process; its id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(t.runs).values(
                    job=job,
                    entity=entity,
                    mode=mode,
                    dry_run=int(dry_run),
                    status="running",
                    started_at=utcnow(),
                    owner=_owner(),
                )
            )
            return int(result.inserted_primary_key[0])

    def covering(self, job: str, since: datetime) -> tuple[int, dict[str, Any]] | None:
        """(id, report) of the newest finished run of ``job`` that started at ``since`` or later:
        a scheduler that waited for the job's lock while another scheduler ran the job finds here
        that the run it was about to make has been made (the schedulers' clocks agree, as NTP keeps
        them; a run missed by a skewed clock is only made again)."""
        r = t.runs.c
        query = (
            select(r.id, r.report)
            .where(r.job == job, r.dry_run == 0, r.status != "running", r.started_at >= since, r.report.is_not(None))
            .order_by(r.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    def finish(self, run_id: int, status: str, duration_s: float, report: dict[str, Any], error: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    status=status, finished_at=utcnow(), duration_s=duration_s, report=json.dumps(report), error=error
                )
            )

    def interrupt_stale(self) -> list[int]:
        """Runs left ``running`` by a process that died are marked failed, with why; their ids.

        A run whose process is still alive (the daemon, while someone runs ``omnihub sync`` by hand)
        is left alone. A run started on another host cannot be checked from here: it is taken as
        dead only once it is older than ``STALE_AFTER``.
        """
        r = t.runs.c
        host = _owner().rsplit(":", 1)[0]
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

    def interrupt_job(self, job: str) -> list[int]:
        """Runs of ``job`` still ``running`` while the caller holds the job's lock are dead, wherever
        they started (one run of a job at a time is what the lock means): marked failed, with why;
        their ids. A run on another host is thus settled by the next run of its job at once,
        rather than after ``STALE_AFTER``."""
        r = t.runs.c
        with self.engine.begin() as conn:
            dead = list(conn.execute(select(r.id).where(r.job == job, r.status == "running")).scalars())
            if dead:
                conn.execute(
                    update(t.runs)
                    .where(r.id.in_(dead))
                    .values(status="failed", error="interrupted (the process stopped during the run)")
                )
        return dead

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest runs first, with their report read back."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)).mappings().all()
        out = []
        for row in rows:
            item = dict(row)
            item["started_at"] = aware(item["started_at"])
            item["finished_at"] = aware(item["finished_at"])
            item["report"] = json.loads(item["report"]) if item["report"] else None
            out.append(item)
        return out

    def job_state(self, job: str) -> tuple[str | None, int]:
        """(rules fingerprint, newest run id reconciled) of a job; (None, 0) before its first run."""
        j = t.job_state.c
        with self.engine.connect() as conn:
            row = conn.execute(select(j.fingerprint, j.last_run_id).where(j.job == job)).first()
        return (row[0], row[1] or 0) if row else (None, 0)

    def set_job_state(self, job: str, fingerprint: str, last_run_id: int) -> None:
        row = {"job": job, "fingerprint": fingerprint, "last_run_id": last_run_id, "updated_at": utcnow()}
        self._upsert(t.job_state, ["job"], [row], ["fingerprint", "last_run_id", "updated_at"])
