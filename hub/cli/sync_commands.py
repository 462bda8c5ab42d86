"""``omnihub sync``: run jobs once, with a progress bar on a terminal, then the alert digest of the run."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.cli.common import EXIT_FAILED, EXIT_OK, err, fail, load, open_store, styled
from hub.cli.reports import print_reports
from hub.config.loader import LoadedConfig
from hub.errors import ConfigError
from hub.redact import redact
from hub.state.store import Store
from hub.sync.report import JobReport
from hub.transport.stats import watching

__all__ = ["sync"]


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, str, int, int | None], None] | None]:
    """A progress bar per pull on stderr (only on a terminal), and a line counting the transports'
    retries and throttled answers as they happen, so that a slow sync says why it is slow."""
    if not enabled:
        yield None
        return
    with (
        Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar,
        watching(_transport_line(bar)),
    ):
        tasks: dict[tuple[str, str], Any] = {}

        def update(connector: str, entity: str, done: int, total: int | None) -> None:
            key = (connector, entity)
            if key not in tasks:
                tasks[key] = bar.add_task(f"pull {connector} {entity}", total=total)
            bar.update(tasks[key], completed=done, total=total)

        yield update


def _transport_line(bar: Progress) -> Callable[[str], None]:
    """The watcher that keeps ``retries N, throttled M`` under the bars (added at the first one)."""
    counts = {"retries": 0, "throttled": 0}
    task: list[Any] = []

    def heard(figure: str) -> None:
        counts[figure] += 1
        text = f"transport: {counts['retries']} retries, {counts['throttled']} throttled answers"
        if not task:
            task.append(bar.add_task(text, total=None))
        bar.update(task[0], description=text)

    return heard


def sync(
    jobs: list[str] = typer.Argument(None, help="Jobs to run (default: all)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing anywhere."),
    monitor: bool = typer.Option(False, "--monitor", help="Report mismatches only, even for enforce jobs."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for machines."),
) -> None:
    """Run jobs once: pull, reconcile, and push corrections (enforce) or report them (monitor)."""
    config = load()
    store = open_store(config, dry_run=dry_run)
    from hub.sync.engine import Engine

    try:
        with _progress(not as_json and err.is_terminal) as progress:
            engine = Engine(config, store, progress=progress, mode="monitor" if monitor else None)
            reports = asyncio.run(engine.sync(jobs or None, dry_run=dry_run))
            if not dry_run:
                _after_sync(config, store, reports)
    except ConfigError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps({"jobs": [r.as_json() for r in reports]}, default=str) + "\n")
    else:
        print_reports(reports, dry_run)
    raise typer.Exit(EXIT_OK if all(r.status == "ok" for r in reports) else EXIT_FAILED)


def _after_sync(config: LoadedConfig, store: Store, reports: list[JobReport]) -> None:
    """Send the alert digest of this run, if alerts are configured (never fails the sync)."""
    try:
        from hub.ops.notify import notify_after_run
    except ImportError:  # alerts module not installed in this build
        return
    try:
        asyncio.run(notify_after_run(config, store, reports))
    except Exception as exc:  # an alert problem must never fail the sync
        err.print(styled("warning:", "yellow", f"alert e-mail not sent: {redact(exc)}"), soft_wrap=True)
