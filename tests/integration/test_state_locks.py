"""Processes sharing one state database, on SQLite and PostgreSQL: they all start on an empty
database (one migrates, the others wait for it), and a job runs in one process at a time (a
second run waits, then fails saying who runs the job; a killed run does not keep its lock)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from hub.config.loader import load_config
from hub.state import locks
from hub.state import schema as t
from hub.state.job_locks import JobAlreadyRunning, job_lock
from hub.state.store import Store, StoreError
from hub.sync.engine import Engine

REPO = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

#: Opens a store as soon as a file appears: every process is imported and ready, so they all
#: reach the migration at the same moment.
STARTER = """
import sys, time
from pathlib import Path
from hub.state.store import Store, StoreError
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
Store.open(sys.argv[1]).close()
print("started")
"""

#: Holds a job's lock, as a run in another process does, until a line comes on stdin.
HOLDER = """
import asyncio, sys
from hub.state.job_locks import job_lock
from hub.state.store import Store, StoreError

async def main() -> None:
    store = Store.open(sys.argv[1])
    async with job_lock(store.engine, sys.argv[2], wait_s=0):
        print("held", flush=True)
        sys.stdin.readline()
    print("released", flush=True)

asyncio.run(main())
"""


def _busy_message(job: str, pid: int, host: str = HOST) -> re.Pattern[str]:
    since = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    return re.compile(
        rf"job {job} is already running in another process \(pid {pid} on host {re.escape(host)} since {since}\);"
        r" this run did nothing"
    )


@pytest.fixture
def hold(db_url: str) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """Starts a process that holds a job's lock (returned once it holds it); stopped at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(job: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, db_url, job], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "released"
    assert proc.wait(timeout=10) == 0


# ---------------------------------------------------------------------- migrations


def test_processes_starting_together_on_an_empty_database_all_start(db_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, db_url, str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    time.sleep(2)  # every process imported and waiting
    go.touch()
    outcomes = [proc.communicate(timeout=120) for proc in procs]
    assert [(proc.returncode, out.strip()) for proc, (out, _) in zip(procs, outcomes, strict=True)] == [
        (0, "started")
    ] * 6, [err[-500:] for _, err in outcomes]
    store = Store.open(db_url, migrate=False)
    try:
        assert set(inspect(store.engine).get_table_names()) == set(t.metadata.tables) | {"alembic_version"}
        with store.engine.connect() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalars().all() == ["0004"]
        assert store.runs.recent() == []
    finally:
        store.close()


def test_a_migrated_database_opens_at_once_while_another_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing to migrate, nothing to lock: ``omnihub runs`` does not wait for the daemon's writes."""
    monkeypatch.setattr(locks, "MIGRATION_WAIT_S", 1.0)  # fail fast if opening did wait
    path = tmp_path / "omnihub.db"
    Store.open(f"sqlite:///{path}").close()
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
        began = time.monotonic()
        store = Store.open(f"sqlite:///{path}")
        try:
            assert store.runs.recent() == []
        finally:
            store.close()
        assert time.monotonic() - began < 2
    finally:
        writer.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: a 10 s busy timeout per try
def test_a_migration_that_waits_too_long_for_another_one_says_so(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "MIGRATION_WAIT_S", 1.0)
    other = create_engine(db_url)
    try:
        # another process migrating, for longer than this one waits
        with locks.migration_transaction(other), pytest.raises(StoreError) as info:
            Store.open(db_url)
    finally:
        other.dispose()
    assert str(info.value).endswith(
        ": another process has been migrating the database for over 1s; try again once it is done"
    )
    assert str(info.value).startswith("cannot open database postgresql+psycopg://")


def test_a_database_migrated_by_a_newer_omnihub_is_a_clear_error(db_url: str) -> None:
    Store.open(db_url).close()
    other = create_engine(db_url)
    try:
        with other.begin() as conn:
            conn.execute(text("update alembic_version set version_num = '9999'"))
    finally:
        other.dispose()
    with pytest.raises(StoreError) as info:
        Store.open(db_url)
    assert str(info.value).endswith(
        ": Can't locate revision identified by '9999'; it was migrated by a newer omnihub, so run that version"
    )


# ---------------------------------------------------------------------- job runs


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    try:
        yield s
    finally:
        s.close()


async def test_a_second_run_waits_then_fails_naming_the_run_in_progress(
    store: Store, hold: Callable[[str], subprocess.Popen[str]]
) -> None:
    holder = hold("stock")
    began = time.monotonic()
    with pytest.raises(JobAlreadyRunning) as busy:
        async with job_lock(store.engine, "stock", wait_s=0.6):
            pytest.fail("two runs of one job at once")
    assert time.monotonic() - began >= 0.6
    assert _busy_message("stock", holder.pid).fullmatch(str(busy.value))
    async with job_lock(store.engine, "prices", wait_s=0):  # another job is not held up
        pass

    # A run that waits long enough starts as soon as the first one ends.
    waiting = asyncio.create_task(_hold_briefly(store, "stock", wait_s=20))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await asyncio.to_thread(_release, holder)
    assert await asyncio.wait_for(waiting, 20) == "ran"


async def _hold_briefly(store: Store, job: str, *, wait_s: float) -> str:
    async with job_lock(store.engine, job, wait_s=wait_s):
        return "ran"


async def test_a_lock_is_released_when_the_run_raises(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with job_lock(store.engine, "stock", wait_s=0):
            raise RuntimeError("the run failed")
    async with job_lock(store.engine, "stock", wait_s=0):
        with store.engine.connect() as conn:
            assert conn.execute(select(t.job_locks.c.pid)).scalars().all() == [os.getpid()]
    with store.engine.connect() as conn:
        assert conn.execute(select(t.job_locks)).all() == []


async def test_a_killed_run_does_not_keep_its_lock(
    store: Store, hold: Callable[[str], subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    holder = hold("stock")
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=10) == -signal.SIGKILL
    with store.engine.connect() as conn:  # the killed run's row is still there ...
        assert conn.execute(select(t.job_locks.c.pid)).scalars().all() == [holder.pid]
    # ... but its lock is not: SQLite sees that its process is gone and takes the lock over at the
    # first try; PostgreSQL freed the advisory lock with the killed run's session.
    wait_s = 0 if store.engine.dialect.name == "sqlite" else 10
    with caplog.at_level(logging.WARNING, logger="omnihub.locks"):
        async with job_lock(store.engine, "stock", wait_s=wait_s):
            with store.engine.connect() as conn:
                pids = conn.execute(select(t.job_locks.c.pid)).scalars().all()
            assert pids != [holder.pid] and len(pids) == 1
    if store.engine.dialect.name == "sqlite":
        assert f"took over the lock of pid {holder.pid} on host {HOST}, whose run is gone" in caplog.text


def _copy_demo(folder: Path, db_url: str, lock_wait: str) -> Path:
    shutil.copytree(REPO / "config", folder, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    path = folder / "demo-csv.yaml"
    text_ = re.sub(r"  database: .*\n", f'  database: "{db_url}"\n  job_lock_wait: {lock_wait}\n', path.read_text())
    path.write_text(text_)
    return path


async def test_a_run_of_a_busy_job_does_nothing_and_says_so(
    db_url: str, tmp_path: Path, hold: Callable[[str], subprocess.Popen[str]]
) -> None:
    config = load_config(_copy_demo(tmp_path / "hub", db_url, "0.5s"))
    web_feed = tmp_path / "hub" / "feeds" / "web-stock.csv"
    drifted = web_feed.read_bytes()
    holder = hold("stock")
    store = Store.open(config.database_url())
    try:
        report = await Engine(config, store).run_job("stock")
        assert (report.status, report.pulled, report.pushed, report.mismatches) == ("failed", {}, {}, 0)
        assert len(report.errors) == 1 and _busy_message("stock", holder.pid).fullmatch(report.errors[0])
        assert report.duration_s >= 0.5
        assert web_feed.read_bytes() == drifted
        [run] = store.runs.recent()
        assert (run["id"], run["status"], run["error"]) == (report.run_id, "failed", report.errors[0])
        assert run["report"]["status"] == "failed"

        dry = await Engine(config, store).run_job("stock", dry_run=True)  # changes nothing: takes no lock
        assert dry.status == "ok" and dry.planned

        await asyncio.to_thread(_release, holder)
        report = await Engine(config, store).run_job("stock")
        assert report.status == "ok" and report.pushed["web"] > 0
        assert web_feed.read_bytes() != drifted
    finally:
        store.close()


def test_two_syncs_started_together_push_each_change_once(db_url: str, tmp_path: Path) -> None:
    """The daemon and a manual sync at once: the second run of each job waits for the first and
    then finds nothing left to push, instead of pushing (and counting) the same changes again."""
    path = _copy_demo(tmp_path / "hub", db_url, "120s")
    command = [sys.executable, "-m", "hub", "--config", str(path), "sync", "--json"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=180) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-500:] for _, err in outputs]
    jobs = [{job["name"]: job for job in json.loads(out)["jobs"]} for out, _ in outputs]
    for name in ("prices", "stock"):
        pushed = sorted(sum(run[name]["pushed"].values()) for run in jobs)
        assert pushed[0] == 0 and pushed[1] > 0, (name, pushed)
        assert all(run[name]["status"] == "ok" for run in jobs)


# ---------------------------------------------------------------------- SQLite: the row is the lock


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'omnihub.db'}")
    try:
        yield s
    finally:
        s.close()


def test_sqlite_a_migration_may_rebuild_a_table_that_others_refer_to(sqlite_store: Store) -> None:
    """Alembic's batch mode rebuilds a table by copying it and dropping the original, which
    SQLite's foreign keys refuse while other rows refer to it (the outbox to its run): they are
    off during a migration, and every reference is checked before it commits."""
    run_id = sqlite_store.runs.start("stock", "stock", "enforce", False)
    change = {"job": "stock", "connector": "web", "entity": "stock", "key": "A@m", "decision": "d", "payload": "{}"}
    sqlite_store.outbox.journal([{**change, "run_id": run_id, "idempotency_key": "k"}])
    with locks.migration_transaction(sqlite_store.engine) as conn:
        operations = Operations(MigrationContext.configure(conn))
        with operations.batch_alter_table("runs", recreate="always") as batch:
            batch.add_column(sa.Column("probe", sa.Integer()))
    assert "probe" in {c["name"] for c in inspect(sqlite_store.engine).get_columns("runs")}
    assert [r["run_id"] for r in sqlite_store.outbox.rows()] == [run_id]
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on for the store

    # A migration that leaves a reference dangling is refused, and nothing of it is kept.
    with pytest.raises(locks.MigrationError) as broken, locks.migration_transaction(sqlite_store.engine) as conn:
        conn.execute(t.runs.delete())
    assert str(broken.value) == (
        "the migration left 1 row(s) of outbox referring to missing rows; nothing of it was kept"
    )
    assert [r["id"] for r in sqlite_store.runs.recent()] == [run_id]


def _plant(store: Store, *, host: str, pid: int, token: str, heartbeat_at: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            t.job_locks.insert().values(
                job="stock", host=host, pid=pid, token=token, acquired_at=T0, heartbeat_at=heartbeat_at
            )
        )


async def test_sqlite_a_lock_of_another_host_is_taken_over_once_its_heartbeat_stops(sqlite_store: Store) -> None:
    now = datetime.now(UTC)
    _plant(sqlite_store, host="elsewhere", pid=4242, token="a" * 32, heartbeat_at=now - timedelta(seconds=10))
    with pytest.raises(JobAlreadyRunning) as busy:
        async with job_lock(sqlite_store.engine, "stock", wait_s=0, stale_after_s=60):
            pytest.fail("took a lock whose owner is alive")
    assert str(busy.value) == (
        "job stock is already running in another process (pid 4242 on host elsewhere since 2024-05-01T12:00:00Z);"
        " this run did nothing"
    )
    async with job_lock(sqlite_store.engine, "stock", wait_s=0, stale_after_s=5):  # 10 s without a heartbeat
        with sqlite_store.engine.connect() as conn:
            assert conn.execute(select(t.job_locks.c.host, t.job_locks.c.pid)).all() == [(HOST, os.getpid())]


async def test_sqlite_a_lock_left_by_an_earlier_process_with_this_pid_is_taken_over(sqlite_store: Store) -> None:
    """A restarted container is pid 1 again: a row with this pid but not this process's token is
    the earlier process's, and it is gone."""
    _plant(sqlite_store, host=HOST, pid=os.getpid(), token="b" * 32, heartbeat_at=datetime.now(UTC))
    async with job_lock(sqlite_store.engine, "stock", wait_s=0):
        with pytest.raises(JobAlreadyRunning):  # while this process holds it, it is held for everyone
            async with job_lock(sqlite_store.engine, "stock", wait_s=0):
                pytest.fail("two runs of one job at once in one process")


async def test_sqlite_a_held_lock_keeps_its_heartbeat_fresh(sqlite_store: Store) -> None:
    c = t.job_locks.c
    async with job_lock(sqlite_store.engine, "stock", wait_s=0, heartbeat_s=0.05):
        await asyncio.sleep(0.4)
        with sqlite_store.engine.connect() as conn:
            acquired_at, heartbeat_at = conn.execute(select(c.acquired_at, c.heartbeat_at)).one()
    assert heartbeat_at - acquired_at >= timedelta(seconds=0.2)
