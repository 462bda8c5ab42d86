"""Helpers for running the real ``omnihub`` command line in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


class Cli:
    """Runs ``omnihub`` as a user would, in a working folder of the test's own."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "COLUMNS": "200", **(env or {})}
        environment.pop("OMNIHUB_CONFIG", None)
        return subprocess.run(
            [sys.executable, "-m", "hub", *args],
            cwd=self.cwd,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def csv_demo(tmp_path: Path) -> Path:
    """A copy of the shipped CSV example (config and feeds) in the test's folder."""
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    return target / "demo-csv.yaml"
