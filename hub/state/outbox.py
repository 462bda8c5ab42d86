"""The outbox: every change the hub sends, journaled as ``pending`` before it leaves, with its outcome.

A run that dies between sending and hearing back leaves its changes pending; the next run supersedes
them and decides again from a fresh pull, so a change is never sent twice from a stale decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from hub.state import schema as t
from hub.state.sql import IN_CHUNK, Repository, chunks, utcnow

__all__ = ["OutboxRepository"]


class OutboxRepository(Repository):
    """``store.outbox``: journaled writes and what the platforms answered."""

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

    def journaled_by(self, job: str, run_id: int) -> list[tuple[int, str, str]]:
        """(id, key, status) of every change run ``run_id`` of ``job`` journaled: what a task of a
        distributed run finds of an earlier delivery of itself that died (``hub.distributed``)."""
        o = t.outbox.c
        with self.engine.connect() as conn:
            query = select(o.id, o.key, o.status).where(o.job == job, o.run_id == run_id)
            return [(int(i), k, s) for i, k, s in conn.execute(query)]

    def supersede(self, ids: Sequence[int], why: str) -> int:
        """Close the journaled changes ``ids`` still unconfirmed (pending or sent) as superseded."""
        o = t.outbox.c
        done = 0
        with self.engine.begin() as conn:
            for chunk in chunks(list(ids), IN_CHUNK):
                done += conn.execute(
                    update(t.outbox)
                    .where(o.id.in_(chunk), o.status.in_(("pending", "sent")))
                    .values(status="superseded", updated_at=utcnow(), error=why)
                ).rowcount
        return done

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

    def refused(self, decisions: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """Decisions a platform already refused for good: decision -> (code, message)."""
        o = t.outbox.c
        out = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(decisions), IN_CHUNK):
                for decision, code, error in conn.execute(
                    select(o.decision, o.error_code, o.error).where(o.decision.in_(chunk), o.status == "failed")
                ):
                    out[decision] = (code, error)
        return out

    def journal(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Write changes as ``pending`` before they are sent; returns their ids in order.

        One statement for the lot (``RETURNING`` in parameter order): a run that corrects ten
        thousand records must not pay ten thousand round trips to PostgreSQL before it sends any."""
        if not rows:
            return []
        now = utcnow()
        stmt = insert(t.outbox).returning(t.outbox.c.id, sort_by_parameter_order=True)
        params = [{"status": "pending", "attempts": 0, "created_at": now, "updated_at": now, **row} for row in rows]
        with self.engine.begin() as conn:
            return [int(i) for i in conn.execute(stmt, params).scalars()]

    def settle(self, outcomes: Sequence[tuple[int, str, str | None, str | None]]) -> None:
        """Record (outbox id, status, error code, error message) once the platform answered (one
        batched statement, for the same reason as ``journal``)."""
        if not outcomes:
            return
        now = utcnow()
        o = t.outbox.c
        stmt = (
            update(t.outbox)
            .where(o.id == bindparam("outbox_id"))
            .values(
                status=bindparam("new_status"),
                error_code=bindparam("code"),
                error=bindparam("message"),
                attempts=o.attempts + 1,
                updated_at=now,
            )
        )
        params = [
            {"outbox_id": i, "new_status": status, "code": code, "message": error}
            for i, status, code, error in outcomes
        ]
        with self.engine.begin() as conn:
            conn.execute(stmt, params)

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        o = t.outbox.c
        with self.engine.connect() as conn:
            return dict(conn.execute(select(o.status, func.count()).group_by(o.status)).tuples().all())

    def rows(self, connector: str | None = None) -> list[dict[str, Any]]:
        """Every journaled change in order, of one connector or of all."""
        query = select(t.outbox).order_by(t.outbox.c.id)
        if connector:
            query = query.where(t.outbox.c.connector == connector)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
