"""What a pull hands to the rest of a run: ``PullOutcome``, one per connector, and how a stored
record is read back for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from hub.model.base import Record

__all__ = ["PullOutcome", "QuarantineRow", "stored_record"]

#: A refused record as the quarantine keeps it: (connector, entity, key, origin, reason).
QuarantineRow = tuple[str, str, str | None, str, str]


@dataclass
class PullOutcome:
    """What one connector's pull of one entity produced, for the reconciler."""

    connector: str
    #: Records that changed (or are new) in this pull, by key, with their link.
    changed: dict[str, Record] = field(default_factory=dict)
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    #: Keys that appeared more than once: key -> origins. Neither copy is used.
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    seen: int = 0
    unchanged: int = 0
    complete: bool = True
    cursor: str | None = None
    quarantine: list[QuarantineRow] = field(default_factory=list)
    #: The pull outgrew the run's memory budget: its changed records were written to the store page
    #: by page and are not held (the store knows them by this run's id); the reconciler reads them back.
    spilled: bool = False
    #: Records the connector holds after this pull (pulled now, or stored before an incremental pull).
    held: int = 0
    #: Stock only: every location this connector holds stock at (pulled now or stored before).
    locations: frozenset[str] = frozenset()
    #: Read with no cursor (everything the platform holds), as opposed to only what changed.
    full: bool = False
    #: Records the platform says it holds (``PullPage.held``), when a page said so.
    platform_held: int | None = None
    #: An incremental pull whose platform count moved unlike the store's: records appeared or
    #: vanished behind its cursor. Nothing of it was written but the pages past the memory budget.
    drifted: bool = False

    def release(self) -> None:
        """Drop the records (the outcome's counts stay), once the run is done with them."""
        self.changed = {}
        self.links = {}

    #: Keys this connector has but could not read this run (quarantined, duplicated, or stored
    #: under looser rules than today's): never reported missing. Grows while the run reads back.
    unreadable: set[str] = field(default_factory=set)
    #: Stored records that no longer validate (key, reason): quarantined once the run has decided.
    stale: list[tuple[str, str]] = field(default_factory=list)

    @property
    def all_in_memory(self) -> bool:
        """Every current record of this connector is in ``changed`` (so the store need not be read)."""
        return self.complete and self.unchanged == 0 and not self.spilled


def stored_record(model: type[Record], outcome: PullOutcome, key: str, data: str) -> Record | None:
    """A stored record read back, or ``None`` when it no longer passes today's rules (stored by an
    older omnihub, before a value rule got stricter): it is then unreadable, as a quarantined row
    is, instead of failing the job. The platform's next change to it is read and checked anew."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        outcome.unreadable.add(key)
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
        outcome.stale.append(
            (
                key,
                f"stored record no longer valid ({reason}); not compared until {outcome.connector} "
                "changes it or the next full read",
            )
        )
        return None
