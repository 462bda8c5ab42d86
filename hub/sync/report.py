"""What one job run reports: the figures the CLI prints, the scheduler exports and runs store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["FailedChange", "JobReport", "PlannedChange"]

#: How many failed changes a report lists one by one (``failed`` always counts them all).
MAX_LISTED_FAILURES = 50


@dataclass
class PlannedChange:
    """One change a push would make (``sync --dry-run`` prints these)."""

    connector: str
    key: str
    field: str
    from_: str | None
    to: str | None

    def as_json(self) -> dict[str, Any]:
        return {"connector": self.connector, "key": self.key, "field": self.field, "from": self.from_, "to": self.to}


@dataclass
class FailedChange:
    """One change that did not land: which record, what was to be set, and why it failed."""

    connector: str
    key: str
    fields: list[str]
    code: str | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobReport:
    """The outcome of one job in one sync run."""

    name: str
    entity: str
    mode: str = "monitor"
    #: ``ok``: every planned change landed (or none was planned); ``partial``: the platform refused
    #: single items and the rest landed; ``failed``: the job could not finish, or changes did not
    #: land. Only ``ok`` exits 0.
    status: Literal["ok", "partial", "failed"] = "ok"
    #: Records yielded by each connector's pull (changed or not).
    pulled: dict[str, int] = field(default_factory=dict)
    #: Orders read from each reserving channel (stock jobs with ``reservations:``), before the stock.
    orders: dict[str, int] = field(default_factory=dict)
    #: Connectors read whole in this run (no cursor yet, ``full_every`` due, or their count showed
    #: records appearing or vanishing behind the cursor); the others brought only what changed.
    full: list[str] = field(default_factory=list)
    #: Target records compared with a golden record in this run (a job that compared nothing while
    #: both sides had records is failed: its silence would mean nothing).
    compared: int = 0
    #: Open mismatches of this job after the run.
    mismatches: int = 0
    #: Mismatches found for the first time in this run, and those closed in it (by a confirmed push,
    #: or because the channel came back in line by itself).
    new_mismatches: int = 0
    resolved_mismatches: int = 0
    #: Changes confirmed by each target.
    pushed: dict[str, int] = field(default_factory=dict)
    #: Changes a target refused or could not take (per record).
    failed: int = 0
    #: Records that could not become canonical (kept in the quarantine with their reason).
    quarantined: int = 0
    #: Stock pushes that met a sale made during the sync (the sale was kept).
    races: int = 0
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    #: What the run could not check and someone should know (locations no channel sells from, ...).
    warnings: list[str] = field(default_factory=list)
    #: The first ``MAX_LISTED_FAILURES`` changes that did not land, with their reasons.
    failures: list[FailedChange] = field(default_factory=list)
    planned: list[PlannedChange] | None = None
    #: Requests sent per connector, and throttled answers, from the transports.
    requests: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    #: Cost points charged per connector by platforms that bill in points (Shopify's bucket).
    points: dict[str, int] = field(default_factory=dict)
    run_id: int | None = None

    def fail(self, connector: str, key: str, fields: list[str], code: str | None, message: str) -> None:
        """Count a change that did not land, and list it while the list is short."""
        self.failed += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append(FailedChange(connector, key, fields, code, message))

    def settle_status(self) -> None:
        """The outcome once every push is answered: changes that did not land make the job
        ``partial`` (others landed) or ``failed`` (none did); a job already failed stays failed."""
        if self.status == "ok" and self.failed:
            self.status = "partial" if any(self.pushed.values()) else "failed"

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in {"planned", "run_id"}}
        out["duration_s"] = round(self.duration_s, 3)
        if self.planned is not None:
            out["planned"] = [p.as_json() for p in self.planned]
        return out
