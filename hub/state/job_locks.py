"""Job locks: one run of a job at a time across every process sharing the state database.

A second run of a job beside the first would re-read what the first one is changing, report as
failures the changes the first one applied, and count the same writes as pushed twice. A run takes
its job's lock first (``job_lock``); a second run waits a bounded time and then fails with
``JobAlreadyRunning``, naming the process that holds it.

- PostgreSQL: a session-level advisory lock (keyed by the schema and the job), held by one
  connection for the whole run. It dies with its session, so a killed run frees it at once. A
  ``job_locks`` row only tells a waiting process who holds it.
- SQLite: the ``job_locks`` row is the lock, taken and taken over by compare-and-set on a token
  (a single statement each, atomic in SQLite). An owner is gone when its process no longer
  exists on this host, or, on another host (a shared file), when it has not refreshed its
  heartbeat for ``STALE_AFTER_S``; a gone owner's lock is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import OmnihubError
from hub.state import schema as t
from hub.state.locks import HOST, advisory_key, error_reason, process_alive
from hub.state.sql import utcnow as _utcnow

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "JobAlreadyRunning", "LockOwner", "job_lock"]

log = logging.getLogger("omnihub.locks")

#: How often a run refreshes its SQLite lock, and after how long without it another host's lock is
#: taken as dead. Generous: one long write transaction of the run may delay a heartbeat.
HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0
#: Pause between two attempts to take a busy job lock.
_POLL_S = 0.2

#: Tokens of the job locks this process holds. A row with this process's pid and another token was
#: left by an earlier process that had the same pid (a restarted container is pid 1 again).
_HELD: set[str] = set()


@dataclass(frozen=True)
class LockOwner:
    """The process that holds a job's lock, as it recorded itself."""

    host: str
    pid: int
    since: datetime


class JobAlreadyRunning(OmnihubError):
    """The job's lock stayed with another process for the whole wait: this run did nothing."""

    def __init__(self, job: str, owner: LockOwner | None) -> None:
        self.job = job
        self.owner = owner
        if owner is None:  # PostgreSQL: its holder has not written its row yet
            who = "which has not said who it is yet"
        else:
            since = owner.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            who = f"pid {owner.pid} on host {owner.host} since {since}"
        super().__init__(f"job {job} is already running in another process ({who}); this run did nothing")


def _claim(token: str) -> dict[str, object]:
    """The ``job_locks`` values that name this process as a lock's holder, from now."""
    now = _utcnow()
    return {"host": HOST, "pid": os.getpid(), "token": token, "acquired_at": now, "heartbeat_at": now}


class _JobLock(Protocol):
    """One attempt at a job's lock, however the database keeps it."""

    #: Who held the lock at the last failed attempt (None if it did not say).
    holder: LockOwner | None
    #: Whether a held lock must be refreshed while the run lasts (``beat``).
    needs_heartbeat: bool

    def try_acquire(self) -> bool:
        """Take the lock if it is free (or its holder is gone); False, with ``holder``, if not."""
        ...

    def held(self) -> None:
        """The block starts: the lock is this process's until ``release``."""
        ...

    def beat(self) -> None:
        """Show that the holder is still running."""
        ...

    def release(self) -> None:
        """Give a held lock back."""
        ...

    def abandon(self) -> None:
        """Give up after failed attempts."""
        ...


class _RowLock:
    """The ``job_locks`` row as the lock itself (SQLite)."""

    def __init__(self, engine: Engine, job: str, stale_after_s: float) -> None:
        self.engine = engine
        self.job = job
        self.stale_after = timedelta(seconds=stale_after_s)
        self.token = uuid.uuid4().hex
        self.holder: LockOwner | None = None
        self.needs_heartbeat = True

    def try_acquire(self) -> bool:
        j = t.job_locks.c
        mine = _claim(self.token)
        with self.engine.begin() as conn:
            claim = sqlite.insert(t.job_locks).values(job=self.job, **mine)
            if conn.execute(claim.on_conflict_do_nothing(index_elements=["job"])).rowcount == 1:
                return True
            row = conn.execute(
                select(j.host, j.pid, j.token, j.acquired_at, j.heartbeat_at).where(j.job == self.job)
            ).first()
            if row is None:  # released in between: the next attempt takes it
                return False
            self.holder = LockOwner(row.host, row.pid, row.acquired_at)
            if not self._gone(row.host, row.pid, row.token, row.heartbeat_at):
                return False
            taken = conn.execute(
                update(t.job_locks).where(j.job == self.job, j.token == row.token).values(**mine)
            ).rowcount
        if taken:
            log.warning(
                "job %s: took over the lock of pid %d on host %s, whose run is gone", self.job, row.pid, row.host
            )
        return bool(taken)

    def _gone(self, host: str, pid: int, token: str, heartbeat_at: datetime) -> bool:
        if host != HOST:  # another host's processes cannot be seen from here
            return _utcnow() - heartbeat_at > self.stale_after
        if pid == os.getpid():
            return token not in _HELD
        return not process_alive(pid)

    def held(self) -> None:
        _HELD.add(self.token)

    def beat(self) -> None:
        j = t.job_locks.c
        with self.engine.begin() as conn:
            kept = conn.execute(
                update(t.job_locks).where(j.job == self.job, j.token == self.token).values(heartbeat_at=_utcnow())
            ).rowcount
        if not kept:
            log.error("job %s: another process took over this run's lock (no heartbeat for too long)", self.job)

    def release(self) -> None:
        """Delete the row. If the database refuses (busy), the row stays: this process takes it
        over at its next run of the job, any other process once this one has exited."""
        _HELD.discard(self.token)
        j = t.job_locks.c
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(t.job_locks).where(j.job == self.job, j.token == self.token))
        except SQLAlchemyError as exc:
            log.warning("job %s: releasing its lock failed: %s", self.job, error_reason(exc))

    def abandon(self) -> None:
        """Nothing to close: no attempt keeps anything open."""


class _AdvisoryLock:
    """A session-level advisory lock on one connection kept for the run (PostgreSQL); the
    ``job_locks`` row only says who holds it."""

    def __init__(self, engine: Engine, job: str) -> None:
        self.engine = engine
        self.job = job
        self.token = uuid.uuid4().hex
        self.holder: LockOwner | None = None
        self.needs_heartbeat = False
        self._conn: Connection | None = None
        self._key = 0

    def try_acquire(self) -> bool:
        if self._conn is None:
            self._conn = self.engine.connect()
            self._key = advisory_key(self._conn, "job", self.job)
        conn = self._conn
        j = t.job_locks.c
        try:
            taken = bool(conn.execute(select(func.pg_try_advisory_lock(self._key))).scalar())
            if taken:
                mine = _claim(self.token)
                claim = postgresql.insert(t.job_locks).values(job=self.job, **mine)
                conn.execute(claim.on_conflict_do_update(index_elements=["job"], set_=mine))
            else:
                row = conn.execute(select(j.host, j.pid, j.acquired_at).where(j.job == self.job)).first()
                self.holder = LockOwner(row.host, row.pid, row.acquired_at) if row else None
        except BaseException:
            conn.rollback()
            raise
        conn.commit()  # the advisory lock outlives the transaction; an open one would keep row locks
        return taken

    def held(self) -> None:
        """The session holds the lock; nothing else to remember."""

    def beat(self) -> None:
        """The session itself keeps the lock alive."""

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        j = t.job_locks.c
        try:
            conn.execute(delete(t.job_locks).where(j.job == self.job, j.token == self.token))
            conn.execute(select(func.pg_advisory_unlock(self._key)))
            conn.commit()
        except SQLAlchemyError as exc:
            log.warning(
                "job %s: releasing its lock failed (%s); closing the session frees it", self.job, error_reason(exc)
            )
            conn.invalidate()
        finally:
            conn.close()

    def abandon(self) -> None:
        """Close the session of a failed attempt: whatever it may hold dies with it, instead of
        going back to the pool."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()
            conn.close()


class _Heartbeat:
    """Refreshes a held SQLite lock from a thread: the run's own work may keep the event loop busy
    for longer than the heartbeat period."""

    def __init__(self, beat: Callable[[], None], every_s: float) -> None:
        self._beat = beat
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="omnihub-job-lock-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self._beat()
            except SQLAlchemyError as exc:  # a busy database: the next beat tries again
                log.warning("job lock heartbeat failed (tried again in %.0fs): %s", self._every_s, error_reason(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.asynccontextmanager
async def job_lock(
    engine: Engine,
    job: str,
    *,
    wait_s: float,
    heartbeat_s: float = HEARTBEAT_S,
    stale_after_s: float = STALE_AFTER_S,
) -> AsyncIterator[None]:
    """Hold ``job``'s lock for the block: one run of a job at a time across every process sharing
    the database. Waits up to ``wait_s`` (``hub.job_lock_wait``) for a run in another process to
    end, then raises ``JobAlreadyRunning`` naming it. Released when the block ends, however it ends."""
    lock: _JobLock = (
        _AdvisoryLock(engine, job) if engine.dialect.name == "postgresql" else _RowLock(engine, job, stale_after_s)
    )
    deadline = time.monotonic() + wait_s
    try:
        while not lock.try_acquire():
            left = deadline - time.monotonic()
            if left <= 0:
                raise JobAlreadyRunning(job, lock.holder)
            await asyncio.sleep(min(_POLL_S, left))
    except BaseException:
        lock.abandon()
        raise
    lock.held()
    heartbeat = _Heartbeat(lock.beat, heartbeat_s) if lock.needs_heartbeat else None
    try:
        yield
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        lock.release()
