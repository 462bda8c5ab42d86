"""The command line's own options: ``--version``, completion, help on every option, flags shown as
flags, ``--log-format`` checked everywhere, ``run --now``, retries in the sync progress, and the
schema's descriptions."""

from __future__ import annotations

import io
from importlib import metadata
from pathlib import Path
from typing import Any

import click
import pytest
import typer.main
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from hub.cli.app import app
from hub.cli.sync_commands import _transport_line
from hub.config.models import HubSettings
from hub.config.schema import config_json_schema, field_comments
from hub.transport.stats import TransportStats, watching


def _commands() -> list[tuple[str, click.Command]]:
    found = []

    def walk(command: click.Command, path: str) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "omnihub")
    return found


def test_version_comes_from_the_package_metadata() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"omnihub {metadata.version('omnihub')}"


def test_shell_completion_is_offered() -> None:
    names = {opt for param in typer.main.get_command(app).params for opt in param.opts}
    assert {"--install-completion", "--show-completion"} <= names


def test_every_option_has_help_and_no_flag_shows_a_type() -> None:
    for path, command in _commands():
        for param in command.params:
            if isinstance(param, click.Option) and param.opts[0] not in {"--install-completion", "--show-completion"}:
                assert param.help, f"{path} {param.opts[0]} has no help"
        if not getattr(command, "commands", None):
            shown = CliRunner().invoke(app, [*path.split()[1:], "--help"], env={"COLUMNS": "100"})
            assert shown.exit_code == 0
            assert "<bool>" not in shown.stdout, path


@pytest.mark.parametrize("args", [["--log-format", "xml", "runs"], ["run", "--log-format", "xml"]])
def test_an_unknown_log_format_is_a_usage_error(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "internal error" not in result.output


def test_run_now_asks_the_daemon_to_run_every_job_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "omnihub.yaml"
    (tmp_path / "feed.csv").write_text("sku,price\nA,1.00\n", encoding="utf-8")
    config.write_text(
        "version: 1\nhub: {database: 'sqlite:///state.db'}\n"
        "connectors:\n  a: {type: csv, path: feed.csv}\n  b: {type: csv, path: feed.csv}\n"
        "truth: {prices: a}\njobs:\n  prices: {entity: prices, targets: [b], schedule: 'every 15m'}\n",
        encoding="utf-8",
    )
    seen: dict[str, Any] = {}

    async def fake_daemon(config: object, run_job: object, **options: Any) -> int:
        seen.update(options)
        return 0

    import hub.ops.lifecycle

    monkeypatch.setattr(hub.ops.lifecycle, "run_daemon", fake_daemon)
    result = CliRunner().invoke(app, ["--config", str(config), "run", "--now"])
    assert result.exit_code == 0, result.output
    assert seen["run_at_start"] is True


def test_retries_and_throttles_reach_the_progress_as_they_happen() -> None:
    stats = TransportStats()
    stderr = Console(file=io.StringIO(), width=100)
    with Progress(console=stderr, auto_refresh=False) as bar, watching(_transport_line(bar)):
        stats.retries += 1
        stats.record_throttle(True)
        stats.retries += 1
        (task,) = bar.tasks
        assert task.description == "transport: 2 retries, 1 throttled answers"
        TransportStats.combined(stats, stats)  # adding up a report is not a new retry
        assert bar.tasks[0].description == "transport: 2 retries, 1 throttled answers"
    stats.retries += 1  # nobody watching any more: nothing is called


def test_the_schema_describes_fields_from_their_comments() -> None:
    schema = config_json_schema()
    hub = schema["$defs"]["HubSettings"]["properties"]
    comments = field_comments(HubSettings)
    assert hub["database"]["description"] == comments["database"]
    assert "SQLAlchemy URL" in comments["database"]
    assert all(hub[name]["description"] == text for name, text in comments.items())
    assert all(schema["properties"][section].get("description") for section in ("hub", "connectors", "jobs"))
    described = [
        prop
        for variant in schema["properties"]["connectors"]["additionalProperties"]["oneOf"]
        for prop in variant["properties"].values()
        if prop.get("description")
    ]
    assert len(described) > 20  # the connectors' own settings are described too
