"""``omnihub check`` and ``omnihub config schema``: the config, its mappings, its locations, the connectors' reach."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import typer
from rich.text import Text

from hub.cli.common import EXIT_CONFIG, EXIT_FAILED, err, load, open_store, out, state, styled
from hub.config.loader import LoadedConfig
from hub.config.schema import config_json_schema
from hub.errors import ConfigError, OmnihubError
from hub.redact import redact

__all__ = ["check", "config_schema"]


def check(ping: bool = typer.Option(False, "--ping", help="Also reach every connector with its credentials.")) -> None:
    """Validate the config and every mapping file (exit 0 valid, 2 invalid)."""
    config = load()
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
        styled("ok", "green", f"{state.config_path}: {len(config.connectors)} connectors, {len(config.jobs)} jobs")
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

    store = open_store(config, dry_run=True)  # no state file yet: an empty one in memory
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
            out.print(Text("  ") + styled("reachable", "green", f"{name} ({config.connectors[name].type})"))
        except OmnihubError as exc:
            failures += 1
            err.print(Text("  ") + styled("unreachable", "red", f"{name}: {redact(exc)}"), soft_wrap=True)
        finally:
            await conn.close()
    return failures


def config_schema() -> None:
    """Print the JSON Schema of omnihub.yaml (for editor completion and validation)."""
    sys.stdout.write(json.dumps(config_json_schema(), indent=2, default=str) + "\n")
