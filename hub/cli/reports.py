"""How ``omnihub sync`` prints its reports for people: a table that fits the terminal, then each job's notes."""

from __future__ import annotations

import logging

from rich.table import Table
from rich.text import Text

from hub.cli.common import err, out, state, styled
from hub.ops.logging_setup import LogFormat
from hub.sync.report import JobReport

log = logging.getLogger("omnihub.cli")

__all__ = ["print_reports"]


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


def print_reports(reports: list[JobReport], dry_run: bool) -> None:
    """The sync table (a column per figure when the terminal is wide enough), then the notes."""
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


def _note(level: int, job: str, message: str, shown: Text) -> None:
    """One note on stderr: a line for people, or with ``--log-format json`` a log record like every
    other line there, so that a log shipper reading stderr never meets a line that is not JSON."""
    if state.log_format == LogFormat.json:
        log.log(level, "job %s: %s", job, message, extra={"job": job})
    else:
        err.print(shown, soft_wrap=True)


def _print_notes(reports: list[JobReport], dry_run: bool) -> None:
    """What each job has to say beyond its figures: errors, warnings, changes that did not land, and
    the plan of a dry run."""
    for r in reports:
        for error in r.errors:
            _note(logging.ERROR, r.name, error, styled(f"{r.name}:", "red", error))
        for warning in r.warnings:
            _note(logging.WARNING, r.name, warning, Text(f"{r.name}: warning: {warning}", style="yellow"))
        for failure in r.failures:
            text = (
                f"not landed on {failure.connector}: {failure.key} "
                f"({', '.join(failure.fields)}): {failure.code or 'error'}: {failure.message}"
            )
            _note(logging.ERROR, r.name, text, Text(f"{r.name}: {text}"))
        if r.failed > len(r.failures):
            text = f"... and {r.failed - len(r.failures)} more changes that did not land"
            _note(logging.ERROR, r.name, text, Text(f"{r.name}: {text}"))
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
