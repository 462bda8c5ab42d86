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


def check(
    ping: bool = typer.Option(False, "--ping", help="Also reach every connector with its credentials."),
    discover: bool = typer.Option(
        False, "--discover", help="Check stock locations against what the platforms report now (reaches them)."
    ),
) -> None:
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
    _check_locations(config, asyncio.run(_discover_locations(engine, config)) if discover else None)
    if ping:
        failures = asyncio.run(_ping_all(engine, config))
        if failures:
            raise typer.Exit(EXIT_FAILED)


def _stock_jobs(config: LoadedConfig) -> dict[str, Any]:
    return {name: job for name, job in config.jobs.items() if job.entity.value == "stock"}


def _check_locations(config: LoadedConfig, discovered: dict[str, frozenset[str]] | None = None) -> None:
    """Warn about stock locations no job can compare, from what the connectors reported when
    they were last read (nothing is reached for it: ``check`` stays offline), or from what they
    report now (``discovered``, with ``--discover``)."""
    stock_jobs = _stock_jobs(config)
    if not stock_jobs:
        return
    from hub.sync.locations import location_gaps

    store = open_store(config, dry_run=True)  # no state file yet: an empty one in memory
    try:
        for name, job in stock_jobs.items():
            source = config.source_of(job)
            involved = list(dict.fromkeys([source, *job.targets]))
            if discovered is not None:
                located = {n: discovered.get(n, frozenset()) for n in involved}
            else:
                located = {n: store.observations.stock_locations(n) for n in involved}
            if not located[source]:
                seen = "reports no stock" if discovered is not None else "has not been read yet (run a sync)"
                out.print(Text(f"  {name}: locations not checked: {source} {seen}"))
                continue
            gaps = location_gaps(job, source, job.targets, located)
            # A target that reported no stock at all, while the truth did: its location setting maps none.
            when = "now" if discovered is not None else "when last read"
            gaps += [
                f"{t} reports no stock at any location {when}: check its location settings (`omnihub discover {t}`)"
                for t in job.targets
                if not located.get(t) and (discovered is None or t in discovered)
            ]
            for gap in gaps:
                err.print(Text(f"  {name}: warning: {gap}", style="yellow"), soft_wrap=True)
    finally:
        store.close()


async def _discover_locations(engine: Any, config: LoadedConfig) -> dict[str, frozenset[str]]:
    """The stock locations each connector of a stock job reports now (a short read: two pages)."""
    from hub.model.base import Entity
    from hub.sync.discover import discover

    names = dict.fromkeys(n for job in _stock_jobs(config).values() for n in [config.source_of(job), *job.targets])
    located: dict[str, frozenset[str]] = {}
    for name in names:
        conn = engine.connector(name)
        try:
            async with conn:
                found = await discover(conn, max_pages=2, max_records=500, entities=[Entity.stock])
            located[name] = frozenset(found.locations)
        except OmnihubError as exc:
            err.print(Text("  ") + styled("unreachable", "red", f"{name}: {redact(exc)}"), soft_wrap=True)
    return located


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
