"""The ``omnihub`` command line (typer).

Exit codes scripts can rely on: 0 the command did its job (mismatches are not failures), 1 a job
failed, 2 the configuration (or a mapping, or the database URL) is wrong. Errors are one clear
message on stderr that says what to fix; never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.config import LoadedConfig, config_json_schema, load_config
from hub.errors import ConfigError, OmnihubError
from hub.redact import install_log_redaction, redact
from hub.report import JobReport
from hub.store import Store, StoreError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="omnihub keeps products, stock, prices and customers the same on every channel.",
)
config_app = typer.Typer(help="Inspect the configuration format.", no_args_is_help=True)
app.add_typer(config_app, name="config")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


class State:
    config_path: Path = Path("omnihub.yaml")
    verbose: bool = False


state = State()


def _fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    err.print(f"[bold red]error:[/] {redact(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _load() -> LoadedConfig:
    try:
        return load_config(state.config_path)
    except ConfigError as exc:
        err.print(
            f"[bold red]invalid configuration[/] ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):",
            soft_wrap=True,
        )
        for problem in exc.problems:
            err.print(f"  {redact(problem)}", soft_wrap=True, markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


def _store(config: LoadedConfig, *, dry_run: bool = False) -> Store:
    url = config.database_url()
    if dry_run and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        url = "sqlite://"  # a dry run changes nothing anywhere: not even an empty state file
    try:
        return Store.open(url)
    except StoreError as exc:
        _fail(f"{exc}. Check hub.database in {state.config_path}.")


@app.callback()
def main_options(
    config: Path = typer.Option(
        None, "--config", "-c", help="Config file (default: $OMNIHUB_CONFIG, else ./omnihub.yaml).", show_default=False
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens (to stderr)."),
) -> None:
    state.config_path = config or Path(os.environ.get("OMNIHUB_CONFIG") or "omnihub.yaml")
    state.verbose = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_redaction()


# ---------------------------------------------------------------------- check


@app.command()
def check(ping: bool = typer.Option(False, "--ping", help="Also reach every connector with its credentials.")) -> None:
    """Validate the config and every mapping file (exit 0 valid, 2 invalid)."""
    config = _load()
    from hub.engine import Engine

    engine = Engine(config, store=None)  # type: ignore[arg-type]  # mappings only: no database needed
    problems = []
    for name in config.connectors:
        try:
            engine.mapping_for(name)
        except ConfigError as exc:
            problems += [str(p) for p in exc.problems]
    if problems:
        err.print("[bold red]invalid mapping[/]:")
        for problem in problems:
            err.print(f"  {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG)
    out.print(f"[green]ok[/] {state.config_path}: {len(config.connectors)} connectors, {len(config.jobs)} jobs")
    if ping:
        failures = asyncio.run(_ping_all(engine, config))
        if failures:
            raise typer.Exit(EXIT_FAILED)


async def _ping_all(engine: Any, config: LoadedConfig) -> int:
    failures = 0
    for name in config.connectors:
        conn = engine.connector(name)
        try:
            await conn.open()
            await conn.ping()
            out.print(f"  [green]reachable[/] {name} ({config.connectors[name].type})")
        except OmnihubError as exc:
            failures += 1
            err.print(f"  [red]unreachable[/] {name}: {redact(exc)}", soft_wrap=True)
        finally:
            await conn.close()
    return failures


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of omnihub.yaml (for editor completion and validation)."""
    sys.stdout.write(json.dumps(config_json_schema(), indent=2, default=str) + "\n")


# ---------------------------------------------------------------------- sync


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, str, int, int | None], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[tuple[str, str], Any] = {}

        def update(connector: str, entity: str, done: int, total: int | None) -> None:
            key = (connector, entity)
            if key not in tasks:
                tasks[key] = bar.add_task(f"pull {connector} {entity}", total=total)
            bar.update(tasks[key], completed=done, total=total)

        yield update


@app.command()
def sync(
    jobs: list[str] = typer.Argument(None, help="Jobs to run (default: all)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing anywhere."),
    monitor: bool = typer.Option(False, "--monitor", help="Report mismatches only, even for enforce jobs."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for machines."),
) -> None:
    """Run jobs once: pull, reconcile, and push corrections (enforce) or report them (monitor)."""
    config = _load()
    store = _store(config, dry_run=dry_run)
    from hub.engine import Engine

    try:
        with _progress(not as_json and err.is_terminal) as progress:
            engine = Engine(config, store, progress=progress, mode="monitor" if monitor else None)
            reports = asyncio.run(engine.sync(jobs or None, dry_run=dry_run))
            if not dry_run:
                _after_sync(config, store, reports)
    except ConfigError as exc:
        _fail(str(exc))
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps({"jobs": [r.as_json() for r in reports]}, default=str) + "\n")
    else:
        _print_reports(reports, dry_run)
    raise typer.Exit(EXIT_FAILED if any(r.status == "failed" for r in reports) else EXIT_OK)


def _after_sync(config: LoadedConfig, store: Store, reports: list[JobReport]) -> None:
    """Send the alert digest of this run, if alerts are configured (never fails the sync)."""
    try:
        from hub.notify import notify_after_run
    except ImportError:  # alerts module not installed in this build
        return
    try:
        asyncio.run(notify_after_run(config, store, reports))
    except Exception as exc:  # an alert problem must never fail the sync
        err.print(f"[yellow]warning:[/] alert e-mail not sent: {redact(exc)}", soft_wrap=True)


def _print_reports(reports: list[JobReport], dry_run: bool) -> None:
    table = Table(title="dry run: nothing was changed" if dry_run else None)
    numeric = {"new", "resolved", "open", "failed", "quarantined", "seconds"}
    for column in (
        "job",
        "entity",
        "mode",
        "pulled",
        "new",
        "resolved",
        "open",
        "pushed",
        "failed",
        "quarantined",
        "status",
        "seconds",
    ):
        table.add_column(column, justify="right" if column in numeric else "left")
    for r in reports:
        table.add_row(
            r.name,
            r.entity,
            r.mode,
            ", ".join(f"{k} {v}" for k, v in r.pulled.items()),
            str(r.new_mismatches),
            str(r.resolved_mismatches),
            str(r.mismatches),
            ", ".join(f"{k} {v}" for k, v in r.pushed.items()) or "-",
            str(r.failed),
            str(r.quarantined),
            "[green]ok[/]" if r.status == "ok" else "[red]failed[/]",
            f"{r.duration_s:.2f}",
        )
    out.print(table)
    for r in reports:
        for error in r.errors:
            err.print(f"[red]{r.name}:[/] {error}", soft_wrap=True, markup=False)
        if r.quarantined:
            out.print(f"{r.name}: {r.quarantined} records quarantined (see `omnihub quarantine`)")
        if r.races:
            out.print(f"{r.name}: {r.races} stock updates met a sale made during the sync; the sale was kept")
        if dry_run and r.planned:
            plan = Table(title=f"plan of {r.name}")
            for column in ("job", "connector", "key", "field", "current", "planned"):
                plan.add_column(column)
            for p in r.planned:
                plan.add_row(r.name, p.connector, p.key, p.field, p.from_ or "", p.to or "")
            out.print(plan)


# ---------------------------------------------------------------------- listings


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@app.command()
def mismatches(
    show_all: bool = typer.Option(False, "--all", help="Include resolved mismatches."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List open mismatches (all with --all)."""
    config = _load()
    store = _store(config)
    rows = store.list_mismatches(include_resolved=show_all)
    store.close()
    items = [
        {
            "entity": r["entity"],
            "key": r["key"],
            "field": r["field"],
            "connector": r["connector"],
            "expected": r["expected"],
            "actual": r["actual"],
            "status": r["status"],
            "first_seen": _iso(r["first_seen"]),
            "last_seen": _iso(r["last_seen"]),
            "job": r["job"],
            "detail": r["detail"],
        }
        for r in rows
    ]
    if as_json:
        sys.stdout.write(json.dumps(items) + "\n")
        return
    if not items:
        out.print("no open mismatches" if not show_all else "no mismatches recorded")
        return
    table = Table()
    for column in ("entity", "key", "field", "connector", "expected", "actual", "status", "since", "detail"):
        table.add_column(column)
    for i in items:
        table.add_row(
            i["entity"],
            i["key"],
            i["field"],
            i["connector"],
            i["expected"] or "",
            i["actual"] or "",
            i["status"],
            i["first_seen"] or "",
            i["detail"] or "",
        )
    out.print(table)


@app.command()
def runs(
    limit: int = typer.Option(20, "--limit", "-n", help="How many recent runs."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List recent job runs with their counts and errors."""
    config = _load()
    store = _store(config)
    rows = store.list_runs(limit)
    store.close()
    items = [
        {
            "id": r["id"],
            "job": r["job"],
            "entity": r["entity"],
            "mode": r["mode"],
            "status": r["status"],
            "started_at": _iso(r["started_at"]),
            "finished_at": _iso(r["finished_at"]),
            "duration_s": r["duration_s"],
            "error": r["error"],
            "report": r["report"],
        }
        for r in rows
    ]
    if as_json:
        sys.stdout.write(json.dumps(items, default=str) + "\n")
        return
    table = Table()
    for column in ("id", "job", "status", "started", "seconds", "pulled", "mismatches", "pushed", "error"):
        table.add_column(column)
    for i in items:
        rep = i["report"] or {}
        table.add_row(
            str(i["id"]),
            i["job"],
            i["status"],
            i["started_at"] or "",
            f"{i['duration_s']:.2f}" if i["duration_s"] is not None else "",
            str(sum((rep.get("pulled") or {}).values())),
            str(rep.get("mismatches", "")),
            str(sum((rep.get("pushed") or {}).values())),
            i["error"] or "",
        )
    out.print(table)


@app.command()
def quarantine(
    limit: int = typer.Option(50, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List records refused during pulls, with where they came from and why."""
    config = _load()
    store = _store(config)
    rows = store.list_quarantine(limit=limit)
    store.close()
    items = [
        {
            "connector": r["connector"],
            "entity": r["entity"],
            "key": r["key"],
            "origin": r["origin"],
            "reason": r["reason"],
            "run_id": r["run_id"],
            "at": _iso(r["created_at"]),
        }
        for r in rows
    ]
    if as_json:
        sys.stdout.write(json.dumps(items) + "\n")
        return
    table = Table()
    for column in ("run", "connector", "entity", "origin", "key", "reason"):
        table.add_column(column)
    for i in items:
        table.add_row(str(i["run_id"]), i["connector"], i["entity"], i["origin"] or "", i["key"] or "", i["reason"])
    out.print(table)


# ---------------------------------------------------------------------- daemon, demo, sandboxes


@app.command()
def run(
    http_port: int = typer.Option(None, "--http-port", help="Serve /healthz and /metrics on this port."),
    http_host: str = typer.Option("127.0.0.1", "--http-host", help="Address for --http-port (0.0.0.0 in a container)."),
    log_format: str = typer.Option("text", "--log-format", help="text or json"),
) -> None:
    """Run the scheduler: every job with a `schedule:` runs unattended until SIGTERM/Ctrl-C."""
    config = _load()
    try:
        from hub.daemon import serve_scheduled
    except ImportError as exc:  # pragma: no cover - shipped together
        _fail(f"the scheduler is not available: {exc}", EXIT_FAILED)
    raise typer.Exit(
        asyncio.run(serve_scheduled(config, http_port=http_port, http_host=http_host, log_format=log_format))
    )


@app.command()
def demo(
    workdir: Path = typer.Option(Path("omnihub-demo"), "--dir", help="Where the demo writes its files."),
) -> None:
    """Start every sandbox with a drifted clothing store, sync it, and write the alert e-mail."""
    from hub.demo import run_demo

    raise typer.Exit(run_demo(workdir, out))


@app.command()
def sandbox(
    platform: str = typer.Argument(..., help="shopify, woocommerce, hubspot, mailchimp or wms"),
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: any free port)."),
) -> None:
    """Serve a platform simulator on 127.0.0.1, seeded with the demo store."""
    from importlib.metadata import entry_points

    from hub.sandbox import serve_forever
    from hub.seed import demo_store

    found = [ep for ep in entry_points(group="omnihub.sandboxes") if ep.name == platform]
    if not found:
        names = ", ".join(sorted(ep.name for ep in entry_points(group="omnihub.sandboxes")))
        _fail(f"no sandbox named {platform!r}; available: {names}")
    try:
        create_app = found[0].load()
    except ImportError as exc:
        _fail(f"the {platform} sandbox cannot be loaded: {exc}", EXIT_FAILED)
    try:
        serve_forever(create_app(catalogue=demo_store()), port=port, announce=out.print)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        _fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; choose another --port", EXIT_FAILED)


def main() -> None:
    """Console entry point: typer app with omnihub's errors turned into exit codes."""
    try:
        app()
    except OmnihubError as exc:  # anything not handled closer to its cause
        err.print(f"[bold red]error:[/] {redact(exc)}", soft_wrap=True)
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # a bug: one line for the user, the traceback only with --verbose
        logging.getLogger("omnihub.cli").debug("internal error", exc_info=True)
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {redact(exc)} (run with --verbose for the "
            "traceback, and please report it)",
            soft_wrap=True,
        )
        sys.exit(EXIT_FAILED)
