"""What the tasks of one distributed run hand each other, as JSON: a pull's outcome without its
records, and the pieces of the run's report, merged back into one.

A pull task writes every record it read to the store (a run's pulls always do), so what travels
through the broker is small: counts, cursors, and the keys a pull found deleted or duplicated.
The decide tasks rebuild each outcome from that as ``spilled`` (its records are in the store,
written by this run), which is how the reconciler already reads a catalogue past the memory budget.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hub.sync.outcome import PullOutcome
from hub.sync.report import MAX_LISTED_FAILURES, FailedChange, JobReport, PlannedChange

__all__ = ["merge_reports", "outcome_from_json", "outcome_json", "report_from_json"]


def outcome_json(outcome: PullOutcome) -> dict[str, Any]:
    """A pull's outcome as JSON values, without the records (the store holds them)."""
    return {
        "connector": outcome.connector,
        "deleted": sorted(outcome.deleted),
        "duplicates": outcome.duplicates,
        "seen": outcome.seen,
        "unchanged": outcome.unchanged,
        "complete": outcome.complete,
        "cursor": outcome.cursor,
        "held": outcome.held,
        "locations": sorted(outcome.locations),
        "full": outcome.full,
        "platform_held": outcome.platform_held,
        "unreadable": sorted(outcome.unreadable),
        "stale": [list(pair) for pair in outcome.stale],
    }


def outcome_from_json(value: dict[str, Any]) -> PullOutcome:
    """The outcome back, its records in the store: ``spilled``, so the reconciler reads them there."""
    return PullOutcome(
        connector=value["connector"],
        deleted=set(value["deleted"]),
        duplicates={k: list(v) for k, v in value["duplicates"].items()},
        seen=value["seen"],
        unchanged=value["unchanged"],
        complete=value["complete"],
        cursor=value["cursor"],
        spilled=True,
        held=value["held"],
        locations=frozenset(value["locations"]),
        full=value["full"],
        platform_held=value["platform_held"],
        unreadable=set(value["unreadable"]),
        stale=[(k, why) for k, why in value["stale"]],
    )


def report_from_json(value: dict[str, Any], run_id: int | None = None) -> JobReport:
    """A ``JobReport`` back from its ``as_json`` (keys it does not know, from a newer worker, are left out)."""
    known = {f.name for f in fields(JobReport)}
    data = {k: v for k, v in value.items() if k in known}
    data["failures"] = [FailedChange(**f) for f in data.get("failures", [])]
    if value.get("planned") is not None:
        data["planned"] = [
            PlannedChange(p["connector"], p["key"], p["field"], p.get("from"), p.get("to")) for p in value["planned"]
        ]
    return JobReport(**data, run_id=run_id)


_RANK = {"ok": 0, "partial": 1, "failed": 2}


def merge_reports(into: JobReport, part: JobReport) -> None:
    """Add what one task of a run reports (a pull, the orders, a partition) to the run's report."""
    if _RANK[part.status] > _RANK[into.status]:
        into.status = part.status
    for mine, theirs in (
        (into.pulled, part.pulled),
        (into.orders, part.orders),
        (into.pushed, part.pushed),
        (into.requests, part.requests),
        (into.throttled, part.throttled),
        (into.points, part.points),
    ):
        for name, count in theirs.items():
            mine[name] = mine.get(name, 0) + count
    into.full += [n for n in part.full if n not in into.full]
    into.compared += part.compared
    into.new_mismatches += part.new_mismatches
    into.resolved_mismatches += part.resolved_mismatches
    into.failed += part.failed
    into.failures += part.failures[: max(0, MAX_LISTED_FAILURES - len(into.failures))]
    into.quarantined += part.quarantined
    into.races += part.races
    into.errors += [e for e in part.errors if e not in into.errors]
    # Every partition reaches the same location warnings: one copy each.
    into.warnings += [w for w in part.warnings if w not in into.warnings]
