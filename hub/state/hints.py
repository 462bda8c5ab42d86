"""Sync hints: groups a job must decide at its next run, whatever its pulls bring.

A webhook delivery names the SKUs it is about; an order pull changes what some SKUs may sell. The
receiver answers the platform at once and leaves the work to a run, so what the run must look at
is written here first: a hint survives a restart between the answer and the run, and a job that
shares a channel with another (two stock jobs reserving for the same shop) gets its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, insert, select

from hub.state import schema as t
from hub.state.sql import CHUNK, Repository, chunks, utcnow

__all__ = ["HintRepository"]


class HintRepository(Repository):
    """``store.hints``: (job, group) pairs to decide, until a run of the job consumes them."""

    def add(self, jobs: Iterable[str], groups: Iterable[str], reason: str) -> int:
        """Ask each of ``jobs`` to decide ``groups`` at its next run; answers how many rows were written."""
        now = utcnow()
        rows = [
            {"job": job, "grp": grp, "reason": reason[:200], "created_at": now}
            for job in dict.fromkeys(jobs)
            for grp in dict.fromkeys(groups)
        ]
        if rows:
            with self.engine.begin() as conn:
                for chunk in chunks(rows, CHUNK):
                    conn.execute(insert(t.sync_hints), list(chunk))
        return len(rows)

    def pending(self, job: str, up_to: int | None = None) -> tuple[int, set[str]]:
        """(the newest hint id, the groups hinted) for ``job``; (0, empty) when none waits.
        ``up_to``: only hints up to that id (the partitions of a distributed run decide the hints
        its coordinator saw, and later ones wait for the next run)."""
        h = t.sync_hints.c
        with self.engine.connect() as conn:
            newest = select(func.max(h.id)).where(h.job == job)
            if up_to is not None:
                newest = newest.where(h.id <= up_to)
            top = conn.execute(newest).scalar()
            if top is None:
                return 0, set()
            groups = set(conn.execute(select(h.grp).where(h.job == job, h.id <= top)).scalars())
        return int(top), groups

    def consume(self, job: str, up_to: int) -> None:
        """Drop the hints of ``job`` up to id ``up_to``: a run decided them (later ones wait for the next)."""
        h = t.sync_hints.c
        with self.engine.begin() as conn:
            conn.execute(delete(t.sync_hints).where(h.job == job, h.id <= up_to))
