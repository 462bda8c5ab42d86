"""The read-only listings of the state store: ``omnihub mismatches``, ``runs`` and ``quarantine``.

They read only the ``hub:`` section of the config (``load_state``), so listing needs no platform
credential; ``--json`` prints the list for machines (``docs/contract.md``). Tables fit the terminal:
on a narrow one the less important columns are left out (and named below the table) rather than
any heading or key being cut.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
from rich.text import Text

from hub.cli.common import Column, OutputFormat, fit_table, hub_timezone, iso_time, load_state, open_store, out
from hub.cli.common import short_time as _short
from hub.state.store import Store

__all__ = ["mismatches", "quarantine", "runs"]

Item = dict[str, Any]

#: The keys of ``mismatches --json`` (and the columns of ``--format csv``), in the contract's order.
MISMATCH_FIELDS = ("entity", "key", "field", "connector", "expected", "actual", "status", "job", "detail")
_STATUS_STYLES = {"ok": "green", "partial": "yellow", "failed": "red", "open": "yellow", "resolved": "green"}


def _read(query: Callable[[Store], list[Item]]) -> list[Item]:
    """Rows from the state store of the loaded config (the listings' common first step)."""
    store = open_store(load_state())
    try:
        return query(store)
    finally:
        store.close()


def _status(value: str | None) -> Text:
    return Text(value or "", style=_STATUS_STYLES.get(value or "", ""))


def _print_table(
    items: Sequence[Item], layouts: Sequence[Sequence[Column]], empty: str, caption: str | None = None
) -> None:
    """``items`` as a table that fits the terminal, then which columns a narrow terminal left out."""
    if not items:
        out.print(empty)
        return
    table, left_out = fit_table(items, layouts, out.width, caption=caption)
    out.print(table)
    if left_out:
        out.print(
            Text(f"not shown at this width: {', '.join(left_out)} (a wider terminal, or --json)", style="dim"),
            soft_wrap=True,
        )


def _print_json(items: Sequence[Item]) -> None:
    sys.stdout.write(json.dumps(list(items), default=str) + "\n")


def _output(output: OutputFormat | None, as_json: bool) -> OutputFormat:
    """``--json`` is the short way of writing ``--format json`` (and came first)."""
    return OutputFormat.json if as_json else (output or OutputFormat.table)


def mismatches(
    show_all: bool = typer.Option(False, "--all", help="Include resolved mismatches."),
    entity: str = typer.Option(
        None,
        "--entity",
        "-e",
        metavar="ENTITY",
        help="Only this entity (products, prices, stock, customers).",
        show_default=False,
    ),
    job: str = typer.Option(
        None, "--job", "-j", metavar="JOB", help="Only mismatches found by this job.", show_default=False
    ),
    connector: str = typer.Option(
        None, "--connector", metavar="CONNECTOR", help="Only this connector's side.", show_default=False
    ),
    limit: int = typer.Option(
        None, "--limit", "-n", min=1, metavar="N", help="At most this many (in entity, key order).", show_default=False
    ),
    output: OutputFormat = typer.Option(
        None, "--format", "-f", help="table for people (default), csv or json for machines.", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list (same as --format json)."),
) -> None:
    """List open mismatches (all with --all), filtered in the store; times in hub.timezone."""
    zone = hub_timezone()
    rows = _read(
        lambda store: store.mismatches.rows(
            include_resolved=show_all, entity=entity, job=job, connector=connector, limit=limit
        )
    )
    chosen = _output(output, as_json)
    if chosen != OutputFormat.table:
        items = [
            {
                **{f: r[f] for f in MISMATCH_FIELDS},
                "first_seen": iso_time(r["first_seen"], zone),
                "last_seen": iso_time(r["last_seen"], zone),
            }
            for r in rows
        ]
        if chosen == OutputFormat.json:
            _print_json(items)
        else:
            writer = csv.DictWriter(
                sys.stdout, fieldnames=[*MISMATCH_FIELDS, "first_seen", "last_seen"], lineterminator="\n"
            )
            writer.writeheader()
            writer.writerows(items)
        return
    filtered = any(v is not None for v in (entity, job, connector))
    nothing = "no mismatches recorded" if show_all else "no open mismatches"
    _print_table(
        rows,
        mismatch_layouts(zone, show_all, entity is not None),
        nothing + (" matching the filters" if filtered else ""),
        caption=f"times in {zone}",
    )


def mismatch_layouts(zone: Any, show_all: bool, one_entity: bool) -> list[list[Column]]:
    """A column per value on a wide terminal; on a narrow one ``expected -> actual`` in one column
    (with ``resolved`` under it for ``--all``), so the key, the connector and the field stay whole."""
    key = Column("key", lambda r: r["key"], whole=True)
    connector = Column("connector", lambda r: r["connector"], whole=True)
    field = Column("field", lambda r: r["field"], whole=True)
    entity = Column("entity", lambda r: r["entity"], rank=5 if one_entity else 2)
    since = Column("since", lambda r: _short(r["first_seen"], zone), rank=4, whole=True)
    detail = Column("detail", lambda r: r["detail"], rank=3)

    def change(r: Item) -> Text:
        text = Text(f"{r['expected'] or '-'} -> {r['actual'] or '-'}")
        if show_all and r["status"] != "open":
            text.append(f"\n{r['status']}", style=_STATUS_STYLES.get(r["status"], ""))
        return text

    wide = [
        entity,
        key,
        connector,
        field,
        Column("expected", lambda r: r["expected"], rank=1, longest_word=24),
        Column("actual", lambda r: r["actual"], rank=1, longest_word=24),
        Column("status", lambda r: _status(r["status"]), rank=3 if show_all else 6),
        since,
        detail,
    ]
    narrow = [entity, key, connector, field, Column("expected/actual", change, longest_word=24), since, detail]
    return [wide, narrow]


def _total(item: Item, part: str) -> int:
    return sum(((item["report"] or {}).get(part) or {}).values())


def runs(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many recent runs."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List recent job runs with their counts and errors."""
    rows = _read(lambda store: store.runs.recent(limit))
    if as_json:
        fields = ("id", "job", "entity", "mode", "status", "duration_s", "error", "report")
        _print_json(
            [
                {
                    **{f: r[f] for f in fields},
                    "started_at": _utc(r["started_at"]),
                    "finished_at": _utc(r["finished_at"]),
                }
                for r in rows
            ]
        )
        return
    zone = hub_timezone()
    columns = [
        Column("id", lambda r: r["id"], rank=3, whole=True, justify="right"),
        Column("job", lambda r: r["job"], whole=True),
        Column("status", lambda r: _status(r["status"]), whole=True),
        Column("started", lambda r: _short(r["started_at"], zone), whole=True),
        Column(
            "seconds", lambda r: None if r["duration_s"] is None else f"{r['duration_s']:.2f}", rank=4, justify="right"
        ),
        Column("pulled", lambda r: _total(r, "pulled"), rank=2, justify="right"),
        Column("mismatches", lambda r: (r["report"] or {}).get("mismatches"), rank=1, justify="right"),
        Column("pushed", lambda r: _total(r, "pushed"), rank=2, justify="right"),
        Column("error", lambda r: r["error"], rank=1, longest_word=20),
    ]
    _print_table(rows, [columns], "no runs recorded yet", caption=f"times in {zone}")


def quarantine(
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many of the newest quarantined records."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List records refused during pulls, with where they came from and why."""
    rows = _read(lambda store: store.quarantine.recent(limit=limit))
    if as_json:
        fields = ("connector", "entity", "key", "origin", "reason", "run_id")
        _print_json([{**{f: r[f] for f in fields}, "at": _utc(r["created_at"])} for r in rows])
        return
    zone = hub_timezone()
    columns = [
        Column("run", lambda r: r["run_id"], rank=3, whole=True, justify="right"),
        Column("connector", lambda r: r["connector"], whole=True),
        Column("entity", lambda r: r["entity"], rank=2),
        Column("key", lambda r: r["key"], whole=True),
        Column("origin", lambda r: r["origin"], rank=1, longest_word=20),
        Column("reason", lambda r: r["reason"], longest_word=20),
        Column("at", lambda r: _short(r["created_at"], zone), rank=4, whole=True),
    ]
    _print_table(rows, [columns], "nothing quarantined", caption=f"times in {zone}")


def _utc(value: Any) -> str | None:
    """``runs``/``quarantine`` JSON times as the contract has always written them: ISO 8601 UTC with ``Z``."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
