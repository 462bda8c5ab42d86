"""What every ``omnihub`` command shares: the consoles, the exit codes, the global options, and
loading the config or the store with a clear error instead of a traceback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hub.config.loader import LoadedConfig, StateLocation, load_config, load_state_location
from hub.config.models import HubSettings
from hub.config.yamlio import load_located
from hub.errors import ConfigError
from hub.ops.logging_setup import LogFormat
from hub.redact import redact
from hub.state.store import Store, StoreError

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "Column",
    "OutputFormat",
    "State",
    "checked",
    "err",
    "fail",
    "fit_table",
    "hub_timezone",
    "iso_time",
    "load",
    "load_state",
    "open_store",
    "out",
    "short_time",
    "state",
    "styled",
]

#: Markup off: text from data, config and errors (``[wms] cannot reach ...``) is printed as it is;
#: what the CLI styles itself is built as ``rich.text.Text`` (see ``styled``).
out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

Loaded = TypeVar("Loaded")


class State:
    """The global options of this invocation (``--config``, ``--verbose``, ``--log-format``)."""

    config_path: Path = Path("omnihub.yaml")
    verbose: bool = False
    log_format: LogFormat = LogFormat.text


state = State()


def styled(label: str, style: str, rest: object) -> Text:
    """``label`` in ``style``, then ``rest`` as plain text, never read as markup."""
    return Text.assemble((label, style), f" {rest}")


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """One red ``error:`` line on stderr, redacted, and exit with ``code``."""
    err.print(styled("error:", "bold red", redact(message)), soft_wrap=True)
    raise typer.Exit(code)


def load() -> LoadedConfig:
    """The whole config, every connector validated, or its problems printed and exit 2."""
    return checked(load_config)


def load_state() -> StateLocation:
    """The config's state store alone, for the read-only listings: no connector secret need be set."""
    return checked(load_state_location)


def checked(read: Callable[[Path], Loaded]) -> Loaded:
    """``read(config path)``, or every problem of the config printed and exit 2."""
    try:
        return read(state.config_path)
    except ConfigError as exc:
        err.print(
            styled(
                "invalid configuration",
                "bold red",
                f"({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):",
            ),
            soft_wrap=True,
        )
        for problem in exc.problems:
            err.print(f"  {redact(problem)}", soft_wrap=True, markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


def open_store(config: LoadedConfig | StateLocation, *, dry_run: bool = False) -> Store:
    """The state store of ``config``; a dry run without a state file gets an empty one in memory."""
    url = config.database_url()
    if dry_run and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        url = "sqlite://"  # a dry run changes nothing anywhere: not even an empty state file
    try:
        return Store.open(url)
    except StoreError as exc:
        fail(f"{exc}. Check hub.database in {state.config_path}.")


def hub_timezone() -> tzinfo:
    """``hub.timezone`` of the config, read from its ``hub:`` section alone (no connector secret
    needed), for showing times the way the alert e-mail does; UTC when it cannot be read (the
    listing's own loading has reported any problem of the config by then)."""
    try:
        located = load_located(state.config_path, interpolate_within=("hub",))
        hub = located.data.get("hub", {}) if isinstance(located.data, dict) else {}
        return ZoneInfo(HubSettings.model_validate(hub).timezone)
    except Exception:  # the listing already said what is wrong with the config
        return UTC


def iso_time(value: datetime | None, zone: tzinfo) -> str | None:
    """A stored time for machines: ISO 8601 in ``zone`` with its offset, to the second
    (``2026-11-30T10:15:00+01:00``); ``Z`` for UTC, as the contract always wrote it."""
    if value is None:
        return None
    return value.astimezone(zone).isoformat(timespec="seconds").replace("+00:00", "Z")


def short_time(value: datetime | None, zone: tzinfo, now: datetime | None = None) -> str | None:
    """A stored time for people: ``10:15`` today, ``29 Nov 10:15`` this year, ``2025-11-29 10:15`` before."""
    if value is None:
        return None
    local = value.astimezone(zone)
    today = (now or datetime.now(UTC)).astimezone(zone)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M" if local.year == today.year else "%Y-%m-%d %H:%M")


class OutputFormat(StrEnum):
    """How a listing is printed: a table for people, CSV for a spreadsheet, JSON for scripts."""

    table = "table"
    csv = "csv"
    json = "json"


#: A row of a listing: a dict from the store, or any object the columns know how to read.
Row = Any


@dataclass(frozen=True)
class Column:
    """One column of a listing table and how much it matters when the terminal is narrow.

    ``rank`` 0 is always shown; on a narrow terminal the highest rank goes first (the last such
    column first on a tie). ``whole`` cells (keys, SKUs, names) are never wrapped: a key cut or
    folded is a key nobody can copy into the next command."""

    heading: str
    cell: Callable[[Row], Any]
    rank: int = 0
    whole: bool = False
    justify: str = "left"
    #: A word in a wrapped column longer than this is folded rather than widening the column.
    longest_word: int = 14


def _plain(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value))


def _least_width(column: Column, cells: Sequence[Text]) -> int:
    """The narrowest the column may be: its whole heading, its whole cells when ``whole``, else its
    longest word (up to ``longest_word``) so that a value wraps between words."""
    heading = len(column.heading)
    if column.whole:
        return max([heading, *(line.cell_len for cell in cells for line in cell.split("\n"))])
    words = (len(word) for cell in cells for word in cell.plain.split())
    return max(heading, min(max(words, default=0), column.longest_word))


def fit_table(
    rows: Sequence[Row], layouts: Sequence[Sequence[Column]], width: int, **table_options: Any
) -> tuple[Table, list[str]]:
    """A table of ``rows`` that fits ``width`` with every heading and every ``whole`` cell intact.

    Rather than let rich cut cells with ``…`` (``JKT-A…``), the least important columns are left
    out until the rest fits. ``layouts`` are tried in order (a column per figure, then merged
    columns): the first that fits whole wins, else the one that leaves out the fewest columns.
    What was left out is returned so the caller can say so."""
    cells: dict[int, list[Text]] = {}  # by column (two layouts may head different cells alike)
    for column in (c for layout in layouts for c in layout):
        if id(column) not in cells:
            cells[id(column)] = [_plain(column.cell(row)) for row in rows]
    best: tuple[list[Column], list[str]] | None = None
    for layout in layouts:
        shown = _fitted(layout, cells, width)
        left_out = [c.heading for c in layout if c not in shown]
        if best is None or len(left_out) < len(best[1]):
            best = (shown, left_out)
        if not left_out:
            break
    assert best is not None, "fit_table needs at least one layout"
    shown, left_out = best
    table = Table(**table_options)
    widths = _widths(shown, cells, width)
    for column in shown:
        table.add_column(
            column.heading,
            justify=column.justify,  # type: ignore[arg-type]
            no_wrap=column.whole,
            overflow="fold",
            width=widths[column.heading],
        )
    for index in range(len(rows)):
        table.add_row(*(cells[id(column)][index] for column in shown))
    return table, left_out


def _widths(shown: Sequence[Column], cells: dict[int, list[Text]], width: int) -> dict[str, int]:
    """Each column's width, decided here once rather than by rich measuring every cell (which
    took seconds for a few thousand mismatches): as wide as its content when all fits, else the
    wrapped columns share what the whole ones leave, each at least its ``_least_width``."""
    least = {c.heading: _least_width(c, cells[id(c)]) for c in shown}
    natural = {
        c.heading: max([least[c.heading], *(line.cell_len for cell in cells[id(c)] for line in cell.split("\n"))])
        for c in shown
    }
    room = width - 3 * len(shown) - 1
    if sum(natural.values()) <= room:
        return natural
    widths = dict(least)
    spare = room - sum(least.values())
    wants = {c.heading: natural[c.heading] - least[c.heading] for c in shown if not c.whole}
    total = sum(wants.values())
    for heading, want in wants.items():
        if spare > 0 and total:
            widths[heading] += min(want, spare * want // total)
    return widths


def _fitted(layout: Sequence[Column], cells: dict[int, list[Text]], width: int) -> list[Column]:
    """The columns of ``layout`` left once the least important are dropped until the rest fits."""
    shown = list(layout)

    def needed() -> int:  # the cells, their one-space padding each side, and the n + 1 rules
        return sum(_least_width(c, cells[id(c)]) for c in shown) + 3 * len(shown) + 1

    while needed() > width and any(c.rank > 0 for c in shown):
        worst = max(c.rank for c in shown)
        shown.remove([c for c in shown if c.rank == worst][-1])
    return shown
