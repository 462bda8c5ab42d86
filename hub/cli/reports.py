"""How ``omnihub sync`` prints its reports for people: a table that fits the terminal, then each job's notes."""

from __future__ import annotations

import logging

from rich.text import Text

from hub.cli.common import Column, err, fit_table, out, state, styled
from hub.ops.logging_setup import LogFormat
from hub.sync.report import JobReport

log = logging.getLogger("omnihub.cli")

__all__ = ["print_reports"]


#: How a job's status looks in the sync table (only ``ok`` exits 0).
_STATUS_STYLES = {"ok": "green", "partial": "yellow", "failed": "red"}


def _figures(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def _layouts() -> list[list[Column]]:
    """A column per figure on a wide terminal; on a narrow one the job's entity and mode under its
    name and the mismatch figures in one cell, so that no heading or value is cut. Less telling
    figures (compared, quarantined, seconds) go first when even that does not fit."""
    job = Column("job", lambda r: r.name, whole=True)
    status = Column("status", lambda r: Text(r.status, style=_STATUS_STYLES.get(r.status, "red")), whole=True)
    pulled = Column("pulled", lambda r: _figures(r.pulled), rank=1)
    pushed = Column("pushed", lambda r: _figures(r.pushed), rank=1)
    compared = Column("compared", lambda r: r.compared, rank=3, justify="right")
    failed = Column("failed", lambda r: r.failed, rank=2, justify="right")
    quarantined = Column("quarantined", lambda r: r.quarantined, rank=4, justify="right")
    seconds = Column("seconds", lambda r: f"{r.duration_s:.2f}", rank=5, justify="right")
    wide = [
        job,
        Column("entity", lambda r: r.entity, rank=6),
        Column("mode", lambda r: r.mode, rank=6),
        pulled,
        compared,
        Column("new", lambda r: r.new_mismatches, rank=2, justify="right"),
        Column("resolved", lambda r: r.resolved_mismatches, rank=2, justify="right"),
        Column("open", lambda r: r.mismatches, justify="right"),
        pushed,
        failed,
        quarantined,
        status,
        seconds,
    ]
    narrow = [
        Column("job", lambda r: Text(f"{r.name}\n{r.entity}, {r.mode}"), whole=True),
        status,
        pulled,
        Column(
            "mismatches",
            lambda r: ", ".join(
                [f"{r.mismatches} open"]
                + [f"{n} {what}" for n, what in ((r.new_mismatches, "new"), (r.resolved_mismatches, "resolved")) if n]
            ),
        ),
        pushed,
        failed,
        compared,
        quarantined,
        seconds,
    ]
    return [wide, narrow]


def print_reports(reports: list[JobReport], dry_run: bool) -> None:
    """The sync table (a column per figure when the terminal is wide enough), then the notes."""
    title = "dry run: nothing was changed" if dry_run else None
    table, left_out = fit_table(reports, _layouts(), out.width, title=title)
    out.print(table)
    if left_out:
        out.print(Text(f"not shown at this width: {', '.join(left_out)} (see --json)", style="dim"), soft_wrap=True)
    _print_notes(reports, dry_run)


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
            plan, _ = fit_table(
                r.planned,
                [
                    [
                        Column("job", lambda p, job=r.name: job, rank=2, whole=True),
                        Column("connector", lambda p: p.connector, whole=True),
                        Column("key", lambda p: p.key, whole=True),
                        Column("field", lambda p: p.field, whole=True),
                        Column("current", lambda p: p.from_ or "", longest_word=24),
                        Column("planned", lambda p: p.to or "", longest_word=24),
                    ]
                ],
                out.width,
                title=f"plan of {r.name}",
            )
            out.print(plan)
