"""The read-only listings of the state store: ``omnihub mismatches``, ``runs`` and ``quarantine``.

They read only the ``hub:`` section of the config (``load_state``), so listing needs no platform
credential; ``--json`` prints the list for machines (``docs/contract.md``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.table import Table

from hub.cli.common import load_state, open_store, out
from hub.state.store import Store

__all__ = ["mismatches", "quarantine", "runs"]


def _iso(value: Any) -> str | None:
    """A stored time as the JSON contract writes it: ISO 8601 in UTC with a ``Z``."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _read(query: Callable[[Store], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows from the state store of the loaded config (the listings' common first step)."""
    store = open_store(load_state())
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
