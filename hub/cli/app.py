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
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hub.config.loader import LoadedConfig, StateLocation, load_config, load_state_location
from hub.config.schema import config_json_schema
from hub.errors import ConfigError, OmnihubError
from hub.ops.logging_setup import LogFormat, configure_logging
from hub.redact import redact
from hub.state.store import Store, StoreError
from hub.sync.report import JobReport

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="omnihub keeps products, stock, prices and customers the same on every channel.",
)
config_app = typer.Typer(help="Inspect the configuration format.", no_args_is_help=True)
app.add_typer(config_app, name="config")

#: Markup off: text from data, config and errors (``[wms] cannot reach ...``) is printed as it is;
#: what the CLI styles itself is built as ``rich.text.Text`` (see ``_styled``).
out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

_Loaded = TypeVar("_Loaded")


class State:
    config_path: Path = Path("omnihub.yaml")
    verbose: bool = False
    log_format: LogFormat = LogFormat.text


state = State()


def _styled(label: str, style: str, rest: object) -> Text:
    """``label`` in ``style``, then ``rest`` as plain text, never read as markup."""
    return Text.assemble((label, style), f" {rest}")


def _fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    err.print(_styled("error:", "bold red", redact(message)), soft_wrap=True)
    raise typer.Exit(code)


def _load() -> LoadedConfig:
    return _checked(load_config)


def _load_state() -> StateLocation:
    """The config's state store alone, for the read-only listings: no connector secret need be set."""
    return _checked(load_state_location)


def _checked(read: Callable[[Path], _Loaded]) -> _Loaded:
    """``read(config path)``, or every problem of the config printed and exit 2."""
    try:
        return read(state.config_path)
    except ConfigError as exc:
        err.print(
            _styled(
                "invalid configuration",
                "bold red",
                f"({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):",
            ),
            soft_wrap=True,
        )
        for problem in exc.problems:
            err.print(f"  {redact(problem)}", soft_wrap=True, markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


def _store(config: LoadedConfig | StateLocation, *, dry_run: bool = False) -> Store:
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
    log_format: LogFormat = typer.Option(
        LogFormat.text, "--log-format", help="How log records are written to stderr, for every command."
    ),
) -> None:
    state.config_path = config or Path(os.environ.get("OMNIHUB_CONFIG") or "omnihub.yaml")
    state.verbose = verbose
    state.log_format = log_format
    # The one handler on the root logger, replaced (not doubled) when the daemon sets its own level.
    configure_logging(log_format, "INFO" if verbose else "WARNING")


# ---------------------------------------------------------------------- check


@app.command()
def check(ping: bool = typer.Option(False, "--ping", help="Also reach every connector with its credentials.")) -> None:
    """Validate the config and every mapping file (exit 0 valid, 2 invalid)."""
    config = _load()
    from hub.sync.engine import Engine

    engine = Engine(config, store=None)  # type: ignore[arg-type]  # mappings only: no database needed
    problems = []
    for name in config.connectors:
        try:
            engine.mapping_for(name)
        except ConfigError as exc:
            problems += [str(p) for p in exc.problems]
    if problems:
        err.print(Text("invalid mapping:", style="bold red"))
        for problem in problems:
            err.print(f"  {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG)
    out.print(
        _styled("ok", "green", f"{state.config_path}: {len(config.connectors)} connectors, {len(config.jobs)} jobs")
    )
    _check_locations(config)
    if ping:
        failures = asyncio.run(_ping_all(engine, config))
        if failures:
            raise typer.Exit(EXIT_FAILED)


def _check_locations(config: LoadedConfig) -> None:
    """Warn about stock locations no job can compare, from what the connectors reported when
    they were last read (nothing is reached for it: ``check`` stays offline)."""
    stock_jobs = {name: job for name, job in config.jobs.items() if job.entity.value == "stock"}
    if not stock_jobs:
        return
    from hub.sync.locations import location_gaps

    store = _store(config, dry_run=True)  # no state file yet: an empty one in memory
    try:
        for name, job in stock_jobs.items():
            source = config.source_of(job)
            involved = list(dict.fromkeys([source, *job.targets]))
            located = {n: store.observations.stock_locations(n) for n in involved}
            if not located[source]:
                out.print(Text(f"  {name}: locations not checked: {source} has not been read yet (run a sync)"))
                continue
            for gap in location_gaps(job, source, job.targets, located):
                err.print(Text(f"  {name}: warning: {gap}", style="yellow"), soft_wrap=True)
    finally:
        store.close()


async def _ping_all(engine: Any, config: LoadedConfig) -> int:
    failures = 0
    for name in config.connectors:
        conn = engine.connector(name)
        try:
            await conn.open()
            await conn.ping()
            out.print(Text("  ") + _styled("reachable", "green", f"{name} ({config.connectors[name].type})"))
        except OmnihubError as exc:
            failures += 1
            err.print(Text("  ") + _styled("unreachable", "red", f"{name}: {redact(exc)}"), soft_wrap=True)
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
        TextColumn("{task.description}", markup=False),
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
    from hub.sync.engine import Engine

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
        err.print(_styled("warning:", "yellow", f"alert e-mail not sent: {redact(exc)}"), soft_wrap=True)


#: How a job's status looks in the sync table (only ``ok`` exits 0).
_STATUS_STYLES = {"ok": "green", "partial": "yellow", "failed": "red"}


#: Below this many columns the sync table has one outcome cell per job instead of a column per figure.
_WIDE_TABLE = 130


def _outcome_table(reports: list[JobReport], title: str | None) -> Table:
    """The sync table for a narrow terminal: job, status, and every figure in one wrapped cell, so
    that no header or value is cut."""
    table = Table(title=title, show_lines=True)
    table.add_column("job", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("outcome", overflow="fold")
    for r in reports:
        figures = [
            f"pulled {', '.join(f'{k} {v}' for k, v in r.pulled.items()) or '-'}",
            f"compared {r.compared}",
            f"mismatches {r.new_mismatches} new, {r.resolved_mismatches} resolved, {r.mismatches} open",
            f"pushed {', '.join(f'{k} {v}' for k, v in r.pushed.items()) or '-'}",
            f"failed {r.failed}",
            f"quarantined {r.quarantined}",
            f"{r.duration_s:.2f} s",
        ]
        table.add_row(
            Text(f"{r.name}\n{r.entity}, {r.mode}"),
            Text(r.status, style=_STATUS_STYLES.get(r.status, "red")),
            Text("; ".join(figures)),
        )
    return table


def _print_reports(reports: list[JobReport], dry_run: bool) -> None:
    title = "dry run: nothing was changed" if dry_run else None
    if out.width < _WIDE_TABLE:
        out.print(_outcome_table(reports, title))
    else:
        out.print(_figures_table(reports, title))
    _print_notes(reports, dry_run)


def _figures_table(reports: list[JobReport], title: str | None) -> Table:
    """The sync table for a wide terminal: a column per figure."""
    table = Table(title=title)
    numeric = {"compared", "new", "resolved", "open", "failed", "quarantined", "seconds"}
    for column in (
        "job",
        "entity",
        "mode",
        "pulled",
        "compared",
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
            str(r.compared),
            str(r.new_mismatches),
            str(r.resolved_mismatches),
            str(r.mismatches),
            ", ".join(f"{k} {v}" for k, v in r.pushed.items()) or "-",
            str(r.failed),
            str(r.quarantined),
            Text(r.status, style=_STATUS_STYLES.get(r.status, "red")),
            f"{r.duration_s:.2f}",
        )
    return table


def _print_notes(reports: list[JobReport], dry_run: bool) -> None:
    """What each job has to say beyond its figures: errors, warnings, changes that did not land, and
    the plan of a dry run."""
    for r in reports:
        for error in r.errors:
            err.print(_styled(f"{r.name}:", "red", error), soft_wrap=True)
        for warning in r.warnings:
            err.print(Text(f"{r.name}: warning: {warning}", style="yellow"), soft_wrap=True)
        for failure in r.failures:
            err.print(
                Text(
                    f"{r.name}: not landed on {failure.connector}: {failure.key} "
                    f"({', '.join(failure.fields)}): {failure.code or 'error'}: {failure.message}"
                ),
                soft_wrap=True,
            )
        if r.failed > len(r.failures):
            err.print(Text(f"{r.name}: ... and {r.failed - len(r.failures)} more changes that did not land"))
        if r.quarantined:
            out.print(f"{r.name}: {r.quarantined} records quarantined (see `omnihub quarantine`)")
        if r.races:
            out.print(f"{r.name}: {r.races} stock updates met a sale made during the sync; the sale was kept")
        if dry_run and r.planned:
            plan = Table(title=f"plan of {r.name}")
            for column in ("job", "connector", "key", "field", "current", "planned"):
                plan.add_column(column, overflow="fold")  # a long key wraps whole, never cut
            for p in r.planned:
                plan.add_row(r.name, p.connector, p.key, p.field, p.from_ or "", p.to or "")
            out.print(plan)


# ---------------------------------------------------------------------- listings


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _read(query: Callable[[Store], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows from the state store of the loaded config (the listings' common first step)."""
    store = _store(_load_state())
    try:
        return query(store)
    finally:
        store.close()


def _show(
    items: list[dict[str, Any]], as_json: bool, columns: dict[str, Callable[[dict[str, Any]], Any]], empty: str
) -> None:
    """A listing as a JSON list for machines, or a table of ``columns`` (heading -> cell) for people."""
    if as_json:
        sys.stdout.write(json.dumps(items, default=str) + "\n")
        return
    if not items:
        out.print(empty)
        return
    table = Table()
    for heading in columns:
        table.add_column(heading)
    for item in items:
        table.add_row(*("" if (cell := cell_of(item)) is None else str(cell) for cell_of in columns.values()))
    out.print(table)


@app.command()
def mismatches(
    show_all: bool = typer.Option(False, "--all", help="Include resolved mismatches."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List open mismatches (all with --all)."""
    fields = ("entity", "key", "field", "connector", "expected", "actual", "status", "job", "detail")
    items = [
        {**{f: r[f] for f in fields}, "first_seen": _iso(r["first_seen"]), "last_seen": _iso(r["last_seen"])}
        for r in _read(lambda store: store.mismatches.rows(include_resolved=show_all))
    ]
    columns = {
        c: (lambda i, c=c: i[c]) for c in ("entity", "key", "field", "connector", "expected", "actual", "status")
    }
    columns |= {"since": lambda i: i["first_seen"], "detail": lambda i: i["detail"]}
    _show(items, as_json, columns, "no mismatches recorded" if show_all else "no open mismatches")


@app.command()
def runs(
    limit: int = typer.Option(20, "--limit", "-n", help="How many recent runs."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List recent job runs with their counts and errors."""
    fields = ("id", "job", "entity", "mode", "status", "duration_s", "error", "report")
    items = [
        {**{f: r[f] for f in fields}, "started_at": _iso(r["started_at"]), "finished_at": _iso(r["finished_at"])}
        for r in _read(lambda store: store.runs.recent(limit))
    ]

    def total(item: dict[str, Any], part: str) -> int:
        return sum(((item["report"] or {}).get(part) or {}).values())

    _show(
        items,
        as_json,
        {
            "id": lambda i: i["id"],
            "job": lambda i: i["job"],
            "status": lambda i: i["status"],
            "started": lambda i: i["started_at"],
            "seconds": lambda i: None if i["duration_s"] is None else f"{i['duration_s']:.2f}",
            "pulled": lambda i: total(i, "pulled"),
            "mismatches": lambda i: (i["report"] or {}).get("mismatches"),
            "pushed": lambda i: total(i, "pushed"),
            "error": lambda i: i["error"],
        },
        "no runs recorded yet",
    )


@app.command()
def quarantine(
    limit: int = typer.Option(50, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List records refused during pulls, with where they came from and why."""
    fields = ("connector", "entity", "key", "origin", "reason", "run_id")
    items = [
        {**{f: r[f] for f in fields}, "at": _iso(r["created_at"])}
        for r in _read(lambda store: store.quarantine.recent(limit=limit))
    ]
    columns = {"run": lambda i: i["run_id"]} | {
        c: (lambda i, c=c: i[c]) for c in ("connector", "entity", "origin", "key", "reason")
    }
    _show(items, as_json, columns, "nothing quarantined")


# ---------------------------------------------------------------------- daemon, demo, sandboxes


@app.command()
def run(
    http_port: int = typer.Option(
        None, "--http-port", min=1, max=65535, help="Serve /healthz and /metrics on this port (1-65535)."
    ),
    http_host: str = typer.Option("127.0.0.1", "--http-host", help="Address for --http-port (0.0.0.0 in a container)."),
    log_format: LogFormat | None = typer.Option(
        None, "--log-format", help="Alias of the global --log-format (which goes before `run`).", show_default=False
    ),
) -> None:
    """Run the scheduler: every job with a `schedule:` runs unattended until SIGTERM/Ctrl-C."""
    config = _load()
    try:
        from hub.ops.daemon import serve_scheduled
    except ImportError as exc:  # pragma: no cover - shipped together
        _fail(f"the scheduler is not available: {exc}", EXIT_FAILED)
    raise typer.Exit(
        asyncio.run(
            serve_scheduled(config, http_port=http_port, http_host=http_host, log_format=log_format or state.log_format)
        )
    )


@app.command()
def demo(
    workdir: Path = typer.Option(Path("omnihub-demo"), "--dir", help="Where the demo writes its files."),
) -> None:
    """Start every sandbox with a drifted clothing store, sync it, and write the alert e-mail."""
    from hub.cli.demo import run_demo

    raise typer.Exit(run_demo(workdir, out))


@app.command()
def sandbox(
    platform: str = typer.Argument(..., help="shopify, woocommerce, hubspot, mailchimp or wms"),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."),
) -> None:
    """Serve a platform simulator on 127.0.0.1, seeded with the demo store."""
    from importlib.metadata import entry_points

    from hub.sandbox.kit import serve_forever
    from hub.sandbox.plugin import GROUP, SandboxPlugin
    from hub.sandbox.seed import demo_store

    found = [ep for ep in entry_points(group=GROUP) if ep.name == platform]
    if not found:
        names = ", ".join(sorted(ep.name for ep in entry_points(group=GROUP)))
        _fail(f"no sandbox named {platform!r}; available: {names}")
    try:
        plugin = found[0].load()
    except ImportError as exc:
        _fail(f"the {platform} sandbox cannot be loaded: {exc}", EXIT_FAILED)
    if not isinstance(plugin, SandboxPlugin):
        _fail(f"entry point {platform!r} does not name a SandboxPlugin", EXIT_FAILED)
    # Fakes, printed so that a hand-written config can reach the sandbox (they are the demo's).
    out.print("It accepts these credentials (environment variable = value):", highlight=False)
    for name, value in plugin.credentials.items():
        out.print(Text(f"  {name}={value}"), highlight=False)
    try:
        serve_forever(plugin.app(demo_store()), port=port, announce=out.print)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        _fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; choose another --port", EXIT_FAILED)


def main() -> None:
    """Console entry point: typer app with omnihub's errors turned into exit codes."""
    try:
        app()
    except OmnihubError as exc:  # anything not handled closer to its cause
        err.print(_styled("error:", "bold red", redact(exc)), soft_wrap=True)
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # a bug: one line for the user, the traceback only with --verbose
        if state.verbose:  # as a log record, so it comes in the chosen --log-format
            logging.getLogger("omnihub.cli").error("internal error", exc_info=True)
        hint = "please report it" if state.verbose else "run with --verbose for the traceback, and please report it"
        err.print(
            _styled("internal error:", "bold red", f"{type(exc).__name__}: {redact(exc)} ({hint})"), soft_wrap=True
        )
        sys.exit(EXIT_FAILED)
