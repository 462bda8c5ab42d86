"""The state store on SQLite (a temp file) and on PostgreSQL (when one answers), migrations included.

PostgreSQL: ``OMNIHUB_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
probed once per session. Each test gets its own schema (``search_path`` through the connection
options), dropped afterwards, so the shared database is left as it was.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from hub.state import schema as t
from hub.state.store import Store, StoreError, utcnow

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TABLES = {
    "runs",
    "observations",
    "links",
    "mismatches",
    "outbox",
    "cursors",
    "job_state",
    "quarantine",
    "notifications",
    "job_locks",
    "orders",
    "sync_hints",
    "alembic_version",
}


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    try:
        yield s
    finally:
        s.close()


def _run(store: Store, job: str = "stock") -> int:
    return store.runs.start(job, "stock", "enforce", False)


# ------------------------------------------------------------------ migrations


def test_migrations_create_the_schema(store: Store, db_url: str) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert names >= TABLES
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar_one() == "0004"
    observations = {c["name"] for c in inspect(store.engine).get_columns("observations")}
    assert observations == {"connector", "entity", "key", "grp", "hash", "data", "run_id", "updated_at"}
    # opening again applies nothing and keeps the data
    run_id = _run(store)
    again = Store.open(db_url)
    try:
        assert [r["id"] for r in again.runs.recent()] == [run_id]
    finally:
        again.close()


def test_sqlite_folder_is_created_and_other_databases_are_refused(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'a' / 'b' / 'hub.db'}")
    store.close()
    assert (tmp_path / "a" / "b" / "hub.db").exists()
    with pytest.raises(StoreError) as info:  # refused, whether or not its driver is installed
        Store.open("mysql+pymysql://u:secretpw@localhost/x")
    assert "secretpw" not in str(info.value)
    assert str(info.value).startswith("cannot use database mysql+pymysql://u:***@localhost/x")


def test_unreachable_database_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as info:
        Store.open("postgresql+psycopg://hub:hunter2-secret@127.0.0.1:1/none?connect_timeout=1")
    assert "hunter2-secret" not in str(info.value)
    assert "cannot open database" in str(info.value)


# ------------------------------------------------------------------ observations


def _obs(key: str, h: int, data: dict[str, Any] | None = None) -> tuple[str, str, int, str]:
    return key, key.split("@", 1)[0], h, json.dumps(data or {"key": key})


def test_observations_upsert_and_hashes(store: Store) -> None:
    run_id = _run(store)
    store.observations.write("wms", "stock", [_obs("A@m", 1), _obs("B@m", -(2**63)), _obs("C@m", 2**63 - 1)], run_id)
    store.observations.write("shop", "stock", [_obs("A@m", 99)], run_id)
    assert store.observations.hashes("wms", "stock") == {"A@m": 1, "B@m": -(2**63), "C@m": 2**63 - 1}
    store.observations.write("wms", "stock", [_obs("A@m", 2, {"v": 2})], run_id)
    assert store.observations.hashes("wms", "stock")["A@m"] == 2
    assert store.observations.count("wms", "stock") == 3
    assert store.observations.count("wms", "prices") == 0
    assert dict((k, json.loads(d)) for k, _, d in store.observations.iter_records("wms", "stock"))["A@m"] == {"v": 2}
    store.observations.write("wms", "stock", [], run_id)  # nothing to write is fine
    assert store.observations.hashes("shop", "stock") == {"A@m": 99}


def test_observations_past_one_statement_keep_their_connector_run_and_time(store: Store) -> None:
    """A write of more rows than one statement binds (full statements and a remainder): every row
    lands with its own values and the write's connector, entity, run and time, none swapped."""
    run_id = _run(store)
    rows = [_obs(f"S{i:04d}@m", i - 500, {"n": i}) for i in range(1001)]
    store.observations.write("wms", "stock", rows, run_id)
    store.observations.write("shop", "stock", rows[:7], None)
    assert store.observations.hashes("wms", "stock") == {f"S{i:04d}@m": i - 500 for i in range(1001)}
    assert {k: json.loads(d)["n"] for k, _, d in store.observations.iter_records("wms", "stock")} == {
        f"S{i:04d}@m": i for i in range(1001)
    }
    assert store.observations.count("shop", "stock") == 7
    o = t.observations.c
    with store.engine.connect() as conn:
        written = conn.execute(
            select(o.connector, o.entity, o.run_id, o.updated_at, func.count()).group_by(
                o.connector, o.entity, o.run_id, o.updated_at
            )
        ).all()
    expected = [("shop", "stock", None, 7), ("wms", "stock", run_id, 1001)]
    assert sorted((c, e, r, n) for c, e, r, _, n in written) == expected
    assert all(abs((at - utcnow()).total_seconds()) < 60 for *_, at, _ in written)


def test_fetch_records_by_stock_group_is_exact(store: Store) -> None:
    rows = [_obs(k, i) for i, k in enumerate(["SKU-1@a", "SKU-1@b", "SKU-10@x", "SKU-1-B@x", "SKU-@x", "SKU-2@z"])]
    store.observations.write("wms", "stock", rows, None)
    fetched = sorted(store.observations.fetch("wms", "stock", ["SKU-1"]))
    assert [(k, g) for k, g, _ in fetched] == [("SKU-1@a", "SKU-1"), ("SKU-1@b", "SKU-1")]
    assert sorted(k for k, _, _ in store.observations.fetch("wms", "stock", ["SKU-10", "SKU-2", "NOPE"])) == [
        "SKU-10@x",
        "SKU-2@z",
    ]
    assert list(store.observations.fetch("wms", "stock", [])) == []
    assert list(store.observations.fetch("shop", "stock", ["SKU-1"])) == []


def test_fetch_records_many_groups(store: Store) -> None:
    rows = [_obs(f"S{i}@loc", i) for i in range(120)]  # more than one chunk of group ranges
    store.observations.write("wms", "stock", rows, None)
    wanted = [f"S{i}" for i in range(0, 120, 2)]
    assert sorted(g for _, g, _ in store.observations.fetch("wms", "stock", wanted)) == sorted(wanted)


def test_fetch_records_by_key_for_other_entities(store: Store) -> None:
    rows = [("a@x.com", "a@x.com", 1, '{"key": "a@x.com"}'), ("b@x.com", "b@x.com", 2, '{"key": "b@x.com"}')]
    store.observations.write("crm", "customers", rows, None)
    fetched = list(store.observations.fetch("crm", "customers", ["b@x.com", "c@x.com"]))
    assert [(k, g, json.loads(d)) for k, g, d in fetched] == [("b@x.com", "b@x.com", {"key": "b@x.com"})]


def test_delete_observations(store: Store) -> None:
    store.observations.write("wms", "stock", [_obs(f"K{i}@m", i) for i in range(5)], None)
    store.observations.delete("wms", "stock", ["K1@m", "K3@m", "missing@m"])
    assert sorted(store.observations.hashes("wms", "stock")) == ["K0@m", "K2@m", "K4@m"]
    store.observations.delete("wms", "stock", [])
    assert store.observations.count("wms", "stock") == 3


# ------------------------------------------------------------------ links, cursors, job state


def test_links(store: Store) -> None:
    store.links.write("shop", "stock", [("A@m", {"inventory_item": "gid://1", "location": "gid://L"}), ("B@m", {})])
    store.links.write("shop", "stock", [("A@m", {"inventory_item": "gid://2"})])
    assert store.links.load("shop", "stock", ["A@m", "B@m", "C@m"]) == {"A@m": {"inventory_item": "gid://2"}}
    assert store.links.load("web", "stock", ["A@m"]) == {}


def test_cursors_and_written_run(store: Store) -> None:
    assert store.cursors.get("wms", "stock") is None
    store.cursors.set("wms", "stock", "2024-05-01T00:00:00Z")
    first = _run(store)
    store.observations.write("wms", "stock", [_obs("A@m", 1)], first)
    assert store.cursors.get("wms", "stock") == "2024-05-01T00:00:00Z"  # writing observations keeps the cursor
    store.cursors.set("wms", "stock", "2024-05-02T00:00:00Z")
    assert store.cursors.get("wms", "stock") == "2024-05-02T00:00:00Z"
    store.cursors.set("wms", "stock", None)
    assert store.cursors.get("wms", "stock") is None


def test_groups_written_after_only_when_another_run_wrote(store: Store) -> None:
    first = _run(store)
    store.observations.write("wms", "stock", [_obs("A@m", 1), _obs("A@n", 2), _obs("B@m", 3)], first)
    assert store.observations.groups_written_after("wms", "stock", first) == set()  # nothing newer than this run
    assert store.observations.groups_written_after("wms", "stock", 0) == {"A", "B"}
    second = _run(store, "other-job")
    store.observations.write("wms", "stock", [_obs("B@m", 4), _obs("C@m", 5)], second)
    assert store.observations.groups_written_after("wms", "stock", first) == {"B", "C"}
    assert store.observations.groups_written_after("wms", "stock", second) == set()
    assert store.observations.groups_written_after("shop", "stock", 0) == set()


def test_job_state(store: Store) -> None:
    assert store.runs.job_state("stock") == (None, 0)
    store.runs.set_job_state("stock", "fp1", 3)
    store.runs.set_job_state("stock", "fp2", 7)
    assert store.runs.job_state("stock") == ("fp2", 7)


# ------------------------------------------------------------------ mismatches


def _finding(key: str, field: str = "available", connector: str = "shop", **kw: Any) -> dict[str, Any]:
    return {"key": key, "grp": key.split("@")[0], "field": field, "connector": connector, "expected": "5",
            "actual": "3", "detail": None, **kw}  # fmt: skip


def test_mismatch_lifecycle(store: Store) -> None:
    store.mismatches.save("stock", "stock", [_finding("A@m"), _finding("B@m")], [], T0)
    assert store.mismatches.count_open("stock") == 2
    open_rows = store.mismatches.open("stock", None)
    assert set(open_rows) == {("A@m", "available", "shop"), ("B@m", "available", "shop")}
    # seen again later: first_seen stays, last_seen and values move
    t1 = T0 + timedelta(minutes=5)
    store.mismatches.save("stock", "stock", [_finding("A@m", actual="4")], [], t1)
    [a] = [r for r in store.mismatches.rows() if r["key"] == "A@m"]
    assert (a["first_seen"], a["last_seen"], a["actual"], a["status"]) == (T0, t1, "4", "open")
    # resolved by id
    b_id = open_rows[("B@m", "available", "shop")]["id"]
    store.mismatches.save("stock", "stock", [], [b_id], t1)
    assert store.mismatches.count_open("stock") == 1
    [b] = [r for r in store.mismatches.rows(include_resolved=True) if r["key"] == "B@m"]
    assert (b["status"], b["resolution"], b["resolved_at"]) == ("resolved", "converged", t1)
    assert [r["key"] for r in store.mismatches.rows()] == ["A@m"]
    # it comes back: open again, and new again
    t2 = T0 + timedelta(hours=1)
    store.mismatches.mark_notified([(b_id, "resolved")], t1)
    store.mismatches.save("stock", "stock", [_finding("B@m")], [], t2)
    [b] = [r for r in store.mismatches.rows() if r["key"] == "B@m"]
    assert (b["status"], b["first_seen"], b["resolved_at"], b["resolution"]) == ("open", t2, None, None)
    assert (b["notified_at"], b["notified_status"]) == (None, None)
    assert b["id"] == b_id  # the same row, reopened


def test_mismatch_of_the_same_key_field_connector_is_one_row(store: Store) -> None:
    store.mismatches.save("stock", "stock", [_finding("A@m"), _finding("A@m", connector="web")], [], T0)
    store.mismatches.save("stock", "stock", [_finding("A@m")], [], T0 + timedelta(1))
    assert len(store.mismatches.rows(include_resolved=True)) == 2


def test_open_mismatches_by_group_and_touch(store: Store) -> None:
    store.mismatches.save("stock", "stock", [_finding("A@m"), _finding("A@n"), _finding("B@m")], [], T0)
    store.mismatches.save("prices", "prices", [_finding("A", field="amount")], [], T0)
    assert {k for k, _, _ in store.mismatches.open("stock", ["A"])} == {"A@m", "A@n"}
    assert store.mismatches.open("stock", []) == {}
    assert store.mismatches.open_groups("stock") == {"A", "B"}
    later = T0 + timedelta(hours=2)
    store.mismatches.touch_open("stock", later)
    assert {r["last_seen"] for r in store.mismatches.rows() if r["job"] == "stock"} == {later}
    assert {r["last_seen"] for r in store.mismatches.rows() if r["job"] == "prices"} == {T0}


def test_resolve_pushed_and_detail(store: Store) -> None:
    store.mismatches.save(
        "stock", "stock", [_finding("A@m"), _finding("A@m", field="on_hand"), _finding("A@m", connector="web")], [], T0
    )
    store.mismatches.set_detail("stock", "A@m", "shop", "stale: a sale happened", actual={"available": "2"})
    rows = {(r["field"], r["connector"]): r for r in store.mismatches.rows()}
    assert rows[("available", "shop")]["detail"] == "stale: a sale happened"
    assert rows[("available", "shop")]["actual"] == "2"
    assert rows[("on_hand", "shop")]["actual"] == "3"
    assert rows[("available", "web")]["detail"] is None
    t1 = T0 + timedelta(minutes=1)
    store.mismatches.resolve_pushed("stock", [("A@m", "available", "shop"), ("Z@m", "available", "shop")], t1)
    rows = {(r["field"], r["connector"]): r for r in store.mismatches.rows(include_resolved=True)}
    pushed = rows[("available", "shop")]
    assert (pushed["status"], pushed["resolution"], pushed["detail"], pushed["resolved_at"]) == (
        "resolved",
        "pushed",
        None,
        t1,
    )
    assert rows[("on_hand", "shop")]["status"] == "open"
    assert store.mismatches.count_open("stock") == 2


def test_mismatches_for_alerts_and_mark_notified(store: Store) -> None:
    store.mismatches.save("stock", "stock", [_finding("A@m"), _finding("B@m"), _finding("C@m")], [], T0)
    ids = {r["key"]: r["id"] for r in store.mismatches.rows()}
    store.mismatches.mark_notified([(ids["A@m"], "open"), (ids["B@m"], "open")], T0)
    store.mismatches.save("stock", "stock", [], [ids["A@m"], ids["C@m"]], T0 + timedelta(1))
    keys = {r["key"]: r["status"] for r in store.mismatches.for_alerts()}
    # A: resolved after being mailed as open (news); B: still open; C: resolved, never mailed (no news)
    assert keys == {"A@m": "resolved", "B@m": "open"}
    store.mismatches.mark_notified([(ids["A@m"], "resolved")], T0 + timedelta(2))
    assert {r["key"] for r in store.mismatches.for_alerts()} == {"B@m"}


# ------------------------------------------------------------------ outbox


def _change(run_id: int, key: str, decision: str, connector: str = "shop") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "job": "stock",
        "connector": connector,
        "entity": "stock",
        "key": key,
        "idempotency_key": f"{decision}-{run_id}",
        "decision": decision,
        "payload": json.dumps({"values": {"available": 5}}),
    }


def test_outbox_journal_settle_and_refusals(store: Store) -> None:
    run_id = _run(store)
    ids = store.outbox.journal(
        [_change(run_id, "A@m", "d1"), _change(run_id, "B@m", "d2"), _change(run_id, "C@m", "d3")]
    )
    assert len(ids) == 3 and ids == sorted(ids)
    assert store.outbox.counts() == {"pending": 3}
    store.outbox.settle([(ids[0], "done", None, None), (ids[1], "failed", "INVALID", "location not stocked")])
    rows = {r["id"]: r for r in store.outbox.rows()}
    assert (rows[ids[0]]["status"], rows[ids[0]]["attempts"]) == ("done", 1)
    assert (rows[ids[1]]["error_code"], rows[ids[1]]["error"]) == ("INVALID", "location not stocked")
    assert store.outbox.refused(["d1", "d2", "d3", "d9"]) == {"d2": ("INVALID", "location not stocked")}
    assert store.outbox.refused([]) == {}
    assert [r["key"] for r in store.outbox.rows("shop")] == ["A@m", "B@m", "C@m"]
    assert store.outbox.rows("web") == []
    assert store.outbox.journal([]) == []


def test_outbox_idempotency_key_is_unique(store: Store) -> None:
    run_id = _run(store)
    store.outbox.journal([_change(run_id, "A@m", "d1")])
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
        store.outbox.journal([_change(run_id, "A@m", "d1")])


def test_outbox_needs_a_real_run(store: Store) -> None:
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        store.outbox.journal([_change(424242, "A@m", "d1")])


def test_supersede_pending(store: Store) -> None:
    run_id = _run(store)
    ids = store.outbox.journal([_change(run_id, k, f"d{k}") for k in ("A@m", "B@m", "C@m", "D@m")])
    store.outbox.settle([(ids[0], "sent", None, None), (ids[1], "done", None, None), (ids[2], "failed", "X", "no")])
    live = _run(store)
    [other] = store.outbox.journal([_change(live, "E@m", "dE")])
    assert store.outbox.supersede_pending([run_id]) == 2  # the sent one and the pending one of the dead run
    statuses = {r["key"]: r["status"] for r in store.outbox.rows()}
    assert statuses == {"A@m": "superseded", "B@m": "done", "C@m": "failed", "D@m": "superseded", "E@m": "pending"}
    assert "interrupted" in next(r for r in store.outbox.rows() if r["key"] == "D@m")["error"]
    assert store.outbox.supersede_pending([run_id]) == 0
    assert store.outbox.supersede_pending([]) == 0
    assert other


# ------------------------------------------------------------------ quarantine and notifications


def test_quarantine(store: Store) -> None:
    first, second = _run(store), _run(store)
    store.quarantine.add(first, [("feed", "prices", "A", "prices.csv:2", "amount: 'abc' is not a decimal number")])
    store.quarantine.add(second, [("feed", "prices", None, "x" * 900, "sku: SKU is empty")])
    store.quarantine.add(second, [])
    assert [r["reason"] for r in store.quarantine.recent(first)] == ["amount: 'abc' is not a decimal number"]
    [row] = store.quarantine.recent(second)
    assert (row["key"], len(row["origin"])) == (None, 500)  # origin is cut to fit
    assert [r["run_id"] for r in store.quarantine.recent()] == [second, first]
    assert len(store.quarantine.recent(limit=1)) == 1


def test_notifications_queue_and_settle(store: Store) -> None:
    first = store.notifications.queue("Subject: one\n\nbody", [(1, "open"), (2, "resolved")])
    second = store.notifications.queue("Subject: two\n\nbody", [])
    pending = store.notifications.pending()
    assert [n["id"] for n in pending] == [first, second]
    assert pending[0]["covers"] == [(1, "open"), (2, "resolved")]
    assert pending[0]["message"] == "Subject: one\n\nbody"
    store.notifications.settle(first, False, "SMTP refused")
    [again, _] = store.notifications.pending()
    assert (again["attempts"], again["last_error"], again["status"]) == (1, "SMTP refused", "pending")
    store.notifications.settle(first, True, None)
    assert [n["id"] for n in store.notifications.pending()] == [second]


# ------------------------------------------------------------------ runs


def test_runs(store: Store) -> None:
    first = store.runs.start("stock", "stock", "enforce", False)
    second = store.runs.start("prices", "prices", "monitor", True)
    store.runs.finish(first, "ok", 1.25, {"pulled": {"wms": 3}, "mismatches": 1}, None)
    runs = store.runs.recent()
    assert [r["id"] for r in runs] == [second, first]
    done = runs[1]
    assert (done["status"], done["duration_s"], done["report"], done["error"]) == (
        "ok",
        1.25,
        {"pulled": {"wms": 3}, "mismatches": 1},
        None,
    )
    assert done["started_at"].tzinfo is not None and done["finished_at"] >= done["started_at"]
    assert (runs[0]["status"], runs[0]["dry_run"], runs[0]["report"], runs[0]["finished_at"]) == (
        "running",
        1,
        None,
        None,
    )
    # The running run belongs to this very process, which is alive: a second process (a manual
    # `omnihub sync` beside the daemon) must not take it for interrupted.
    assert store.runs.interrupt_stale() == []
    assert store.runs.recent()[0]["status"] == "running"
    # Its process died (a pid that does not exist on this host): now it is interrupted.
    from hub.state import schema

    host = socket.gethostname()
    with store.engine.begin() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == second).values(owner=f"{host}:999999999"))
    assert store.runs.interrupt_stale() == [second]
    stale = store.runs.recent()[0]
    assert (stale["status"], stale["error"]) == ("failed", "interrupted (the process stopped during the run)")
    assert store.runs.interrupt_stale() == []
    # A run of another host cannot be checked: it counts as dead only once it is old.
    third = store.runs.start("prices", "prices", "monitor", False)
    with store.engine.begin() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == third).values(owner="elsewhere:1"))
    assert store.runs.interrupt_stale() == []
    with store.engine.begin() as conn:
        conn.execute(
            schema.runs.update()
            .where(schema.runs.c.id == third)
            .values(started_at=datetime.now(UTC) - timedelta(hours=7))
        )
    assert store.runs.interrupt_stale() == [third]
    assert len(store.runs.recent(limit=1)) == 1


def test_times_are_instants_whatever_their_offset(store: Store) -> None:
    rome = T0.astimezone(timezone(timedelta(hours=2)))
    store.mismatches.save("stock", "stock", [_finding("A@m")], [], rome)
    store.mismatches.mark_notified([(store.mismatches.rows()[0]["id"], "open")], rome)
    [row] = store.mismatches.rows()
    assert row["first_seen"] == T0
    assert row["notified_at"] == T0


def test_stock_locations_and_counts_come_from_the_store_without_reading_every_key(store: Store) -> None:
    run_id = _run(store)
    rows = [_obs("A@main-wh", 1), _obs("A@north-wh", 2), _obs("B@main-wh", 3), _obs("C-1@web.warehouse", 4)]
    store.observations.write("wms", "stock", rows, run_id)
    store.observations.write("shop", "stock", [_obs("A@milano", 1)], run_id)
    assert store.observations.stock_locations("wms") == {"main-wh", "north-wh", "web.warehouse"}
    assert (
        store.observations.stock_locations("shop") == {"milano"}
        and store.observations.stock_locations("nobody") == frozenset()
    )
    assert store.observations.count("wms", "stock") == 4


def test_a_forked_process_records_its_own_pid_on_the_runs_it_starts(tmp_path: Path) -> None:
    """A pool process forked after import must not pass for its parent: a run of a killed pool
    process is then seen as interrupted while the parent lives."""
    import os

    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.close()
    child = os.fork()
    if child == 0:  # the pool process: start a run and leave at once
        forked = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
        forked.runs.start("stock", "stock", "enforce", False)
        forked.close()
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert status == 0
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        [run] = store.runs.recent()
        assert run["status"] == "running"
        assert store.runs.interrupt_stale() == [run["id"]]  # its process is gone, whoever forked it
    finally:
        store.close()
