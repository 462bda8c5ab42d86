"""The tables of ``sync``, ``mismatches``, ``runs`` and ``quarantine`` at 80 and 200 columns: every
heading whole, every key whole, no line wider than the terminal, no ``…``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

#: Every heading these tables may show; a heading cut short would not be one of them.
HEADINGS = {
    "job", "entity", "mode", "pulled", "compared", "new", "resolved", "open", "pushed", "failed",
    "quarantined", "status", "seconds", "mismatches", "key", "connector", "field", "expected",
    "actual", "expected/actual", "since", "detail", "id", "started", "error", "run", "origin",
    "reason", "at", "current", "planned",
}  # fmt: skip
#: The seeded drift of the CSV example, and the records it quarantines.
KEYS = ("JKT-ALPINE-S", "TEE-BASIC-M", "JKT-ALPINE-M@web-warehouse", "JNS-SLIM-32@web-warehouse")


def _headings(table: str) -> list[str]:
    """The headings of each table printed (the lines between ┃ rules)."""
    return [cell.strip() for line in table.splitlines() if line.startswith("┃") for cell in line.strip("┃").split("┃")]


def _check(stdout: str, width: int) -> None:
    assert "…" not in stdout
    assert max(len(line) for line in stdout.splitlines()) <= width
    shown = [h for h in _headings(stdout) if h]
    assert shown and set(shown) <= HEADINGS, shown


@pytest.mark.parametrize("width", [80, 200])
def test_tables_fit_with_whole_headings_and_keys(cli: Cli, csv_demo: Path, width: int) -> None:
    env = {"COLUMNS": str(width)}
    config = ("--config", str(csv_demo))
    plan = cli(*config, "sync", "--dry-run", env=env)
    assert plan.returncode == 0, plan.stderr
    _check(plan.stdout, width)
    assert all(key in plan.stdout for key in KEYS)  # the plan's keys, whole

    synced = cli(*config, "sync", env=env)
    assert synced.returncode == 0, synced.stderr
    _check(synced.stdout, width)
    assert {"job", "status", "pushed"} <= set(_headings(synced.stdout))

    listed = cli(*config, "mismatches", "--all", env=env)
    _check(listed.stdout, width)
    assert all(key in listed.stdout for key in KEYS)
    assert {"key", "connector", "field"} <= set(_headings(listed.stdout))
    assert ("resolved" in listed.stdout) and ("79.00" in listed.stdout)

    runs = cli(*config, "runs", env=env)
    _check(runs.stdout, width)
    assert {"job", "status", "started", "mismatches"} <= set(_headings(runs.stdout))

    quarantined = cli(*config, "quarantine", env=env)
    _check(quarantined.stdout, width)
    assert "TEE-BASIC-L" in quarantined.stdout and "CAP-WOOL" in quarantined.stdout
    if width == 200:  # nothing left out when there is room
        assert "not shown" not in listed.stdout + runs.stdout + quarantined.stdout + synced.stdout
