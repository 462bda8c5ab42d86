"""The alert digest's rules: which mismatches are worth a mail now, and what to remember once mailed.

After each run the caller (engine or daemon) hands the job's mismatches over as plain
``MismatchView`` values; ``select_for_digest`` decides what is worth a mail (new ones, ones still
open after ``renotify_after``, ones resolved since they were mailed) and ``Digest.notified`` says
what to remember so that the same mismatch is not mailed every five minutes. The store is not
touched here, which keeps the rules pure and testable. The mail itself is rendered by
``hub.ops.digest_mail`` and delivered by ``hub.ops.delivery``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any, Literal

from hub.config.models import Thresholds

__all__ = ["Digest", "MismatchStatus", "MismatchView", "Severity", "select_for_digest", "severity"]

#: Price fields whose differences up to ``thresholds.price`` are not mailed.
_PRICE_FIELDS = frozenset({"amount", "compare_at"})

MismatchStatus = Literal["open", "resolved"]


@dataclass
class MismatchView:
    """One mismatch as the store knows it, with what was last mailed about it."""

    id: int
    job: str
    entity: str
    #: The SKU, ``SKU@location`` for stock, or the normalized e-mail of a customer.
    key: str
    field: str
    #: The channel that shows the wrong value.
    connector: str
    expected: str | None
    actual: str | None
    status: MismatchStatus
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    #: When this mismatch was last mailed, and as what (``open`` or ``resolved``).
    notified_at: datetime | None = None
    notified_status: str | None = None
    detail: str | None = None
    #: How a resolved mismatch closed: ``pushed`` (omnihub corrected it) or ``converged`` (by itself).
    resolution: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MismatchView:
        """Build one from a store row (``store.mismatches.rows``), ignoring the columns not mailed."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


@dataclass
class Digest:
    """What one digest mail reports, in its three sections."""

    new: list[MismatchView] = field(default_factory=list)
    persisting: list[MismatchView] = field(default_factory=list)
    resolved: list[MismatchView] = field(default_factory=list)
    #: Open mismatches left out of this mail because they were mailed within ``renotify_after``:
    #: the subject still counts them, so "3 open" is the truth and not just what this mail repeats.
    quiet: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.new or self.persisting or self.resolved)

    @property
    def open_count(self) -> int:
        """Every open mismatch above the thresholds, mailed now or recently."""
        return len(self.new) + len(self.persisting) + self.quiet

    def notified(self) -> list[tuple[int, MismatchStatus]]:
        """(mismatch id, status it was mailed as): persist these once the mail is sent."""
        out: list[tuple[int, MismatchStatus]] = [(m.id, "open") for m in (*self.new, *self.persisting)]
        out.extend((m.id, "resolved") for m in self.resolved)
        return out


def _within_thresholds(mismatch: MismatchView, thresholds: Thresholds) -> bool:
    """True when the difference is too small to bother anyone (a cent of rounding, one unit)."""
    if mismatch.entity == "prices" and mismatch.field in _PRICE_FIELDS:
        limit: Decimal = thresholds.price
    elif mismatch.entity == "stock" and mismatch.field == "available":
        limit = Decimal(thresholds.stock)
    else:
        return False
    if mismatch.expected is None or mismatch.actual is None:
        return False  # a value that is missing on one side is never a rounding difference
    try:
        difference = abs(Decimal(mismatch.expected) - Decimal(mismatch.actual))
    except InvalidOperation:
        return False
    return difference <= limit


class Severity(IntEnum):
    """How bad a mismatch is, worst first: the order a digest lists them in."""

    #: A channel shows more stock than the truth has: it can sell what is not there.
    oversell = 0
    stock = 1
    prices = 2
    other = 3


#: Stock quantities a channel sells from: more there than in the truth can oversell.
_SELLABLE_FIELDS = frozenset({"available"})


def _number(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def severity(mismatch: MismatchView) -> Severity:
    """Oversell risk first (a channel showing more than the golden quantity, or stock the truth does
    not have at all), then other stock, then prices, then the rest."""
    if mismatch.entity == "stock":
        actual, expected = _number(mismatch.actual), _number(mismatch.expected)
        if mismatch.field in _SELLABLE_FIELDS and actual is not None and actual > (expected or 0):
            return Severity.oversell
        return Severity.stock
    if mismatch.entity == "prices":
        return Severity.prices
    return Severity.other


def _utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC (SQLite hands times back without their zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def select_for_digest(
    mismatches: Iterable[MismatchView], *, now: datetime, renotify_after: timedelta, thresholds: Thresholds
) -> Digest:
    """Pick the mismatches worth mailing now.

    - ``new``: open and never mailed as open (a mismatch that reopens after a mailed resolution
      counts as new again).
    - ``persisting``: open, mailed as open at least ``renotify_after`` ago: a reminder, not spam.
    - ``resolved``: resolved after it was mailed as open; one never mailed is not worth a mail.

    Open differences within ``thresholds`` are left out altogether. Each section is sorted worst
    first (``severity``: oversell risk, other stock, prices, the rest), then by entity and key.
    """
    digest = Digest()
    for mismatch in mismatches:
        mailed_open = mismatch.notified_status == "open" and mismatch.notified_at is not None
        if mismatch.status == "resolved":
            if mailed_open:
                digest.resolved.append(mismatch)
            continue
        if _within_thresholds(mismatch, thresholds):
            continue
        if not mailed_open:
            digest.new.append(mismatch)
        elif _utc(now) - _utc(mismatch.notified_at) >= renotify_after:  # type: ignore[arg-type]
            digest.persisting.append(mismatch)
        else:
            digest.quiet += 1
    for section in (digest.new, digest.persisting, digest.resolved):
        section.sort(key=lambda m: (severity(m), m.entity, m.job, m.key, m.field, m.connector))
    return digest
