"""What comes from data, configuration or errors is printed as it is: never read as rich markup
(``[wms] cannot reach ...`` keeps its ``[wms]``), and no markup tag is ever shown literally."""

from __future__ import annotations

import re
import socket
import textwrap
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

#: A markup tag shown as text instead of as a style.
LITERAL_MARKUP = re.compile(r"\[/\]|\[/?(bold|red|green|yellow)\b")
WIDE = {"COLUMNS": "400"}  # table cells on one line, so a message can be found whole


def _no_literal_markup(*outputs: str) -> None:
    for output in outputs:
        assert not LITERAL_MARKUP.search(output), output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unreachable_wms(tmp_path: Path) -> Path:
    """A stock job whose truth is a WMS nobody answers for (its errors start with ``[wms]``)."""
    config = tmp_path / "omnihub.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            version: 1
            hub: {{database: "sqlite:///hub.db"}}
            connectors:
              wms:  {{type: rest_wms, base_url: "http://127.0.0.1:{_closed_port()}", api_key: "k", max_attempts: 1}}
              shop: {{type: csv, path: shop.csv}}
            truth: {{stock: wms}}
            jobs:
              stock: {{entity: stock, targets: [shop], mode: monitor}}
            """
        ),
        encoding="utf-8",
    )
    (tmp_path / "shop.csv").write_text("sku,location,available\nA-1,wh,2\n", encoding="utf-8")
    return config


def test_a_failed_jobs_error_is_printed_verbatim_by_sync_and_runs(cli: Cli, unreachable_wms: Path) -> None:
    synced = cli("--config", str(unreachable_wms), "sync", env=WIDE)
    assert synced.returncode == 1
    assert "stock: [wms] cannot reach http://127.0.0.1:" in synced.stderr
    _no_literal_markup(synced.stdout, synced.stderr)
    runs = cli("--config", str(unreachable_wms), "runs", env=WIDE)
    assert runs.returncode == 0, runs.stderr
    assert "[wms] cannot reach http://127.0.0.1:" in runs.stdout
    _no_literal_markup(runs.stdout, runs.stderr)


def test_check_ping_prints_the_connectors_error_verbatim(cli: Cli, unreachable_wms: Path) -> None:
    checked = cli("--config", str(unreachable_wms), "check", "--ping", env=WIDE)
    assert checked.returncode == 1
    assert "unreachable wms: [wms] cannot reach http://127.0.0.1:" in checked.stderr
    assert f"ok {unreachable_wms}: 2 connectors, 1 jobs" in checked.stdout
    assert "reachable shop (csv)" in checked.stdout
    _no_literal_markup(checked.stdout, checked.stderr)


def test_keys_with_brackets_are_shown_whole_in_the_plan_and_the_mismatches(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "omnihub.yaml"
    config.write_text(
        textwrap.dedent(
            """
            version: 1
            hub: {database: "sqlite:///hub.db"}
            connectors:
              wms:  {type: csv, path: wms.csv}
              shop: {type: csv, path: shop.csv}
            truth: {stock: wms}
            jobs:
              stock: {entity: stock, targets: [shop], mode: enforce}
            """
        ),
        encoding="utf-8",
    )
    (tmp_path / "wms.csv").write_text("sku,location,available\nTEE[red],wh,5\n", encoding="utf-8")
    (tmp_path / "shop.csv").write_text("sku,location,available\nTEE[red],wh,2\n", encoding="utf-8")
    plan = cli("--config", str(config), "sync", "--dry-run", env=WIDE)
    assert plan.returncode == 0, plan.stderr
    assert "plan of stock" in plan.stdout and "TEE[red]@wh" in plan.stdout
    synced = cli("--config", str(config), "sync", "--monitor", env=WIDE)
    assert synced.returncode == 0, synced.stderr
    listed = cli("--config", str(config), "mismatches", env=WIDE)
    assert "TEE[red]@wh" in listed.stdout
    # The key itself contains "[red]": only the tags the CLI could have written are looked for.
    for output in (plan.stdout, synced.stdout, listed.stdout):
        assert "[/]" not in output and "[bold" not in output and "[green]" not in output


def test_an_error_naming_what_the_user_typed_keeps_it_whole(cli: Cli) -> None:
    done = cli("sandbox", "[nope]")
    assert done.returncode == 2
    assert "error: no sandbox named '[nope]'; available:" in done.stderr
    _no_literal_markup(done.stderr)
