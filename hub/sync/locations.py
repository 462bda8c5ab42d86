"""Which stock locations a job can compare: the truth's locations against where each target sells.

A stock job compares a target's stock at a location with the truth's stock at the locations that
feed it (the same code, unless the job's ``rules: {target: {locations: ...}}`` says otherwise).
When the codes do not meet, nothing is compared and nothing would be said; these pure functions
name the gaps so that ``sync`` and ``check`` can say them in words an admin can act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hub.config.models import JobConfig

__all__ = ["feeders", "location_gaps", "sells_at"]


def sells_at(job: JobConfig, target: str, reported: frozenset[str]) -> frozenset[str]:
    """The canonical locations a target sells from: those it reports, and those its rules name."""
    rules = job.rules.get(target)
    return reported | frozenset(rules.locations if rules else ())


def feeders(job: JobConfig, target: str, location: str) -> list[str]:
    """The truth's locations whose stock a target location shows (itself, unless a rule says)."""
    rules = job.rules.get(target)
    return list(rules.locations.get(location, [location])) if rules else [location]


def location_gaps(
    job: JobConfig, source: str, targets: Sequence[str], located: Mapping[str, frozenset[str]]
) -> list[str]:
    """What a stock job cannot compare because of its locations: target locations no truth
    location feeds, rule locations their target does not report, and truth locations no target
    sells from. ``located`` holds the locations each connector reports stock at."""
    truth = located.get(source, frozenset())
    gaps = []
    used: set[str] = set()
    for target in targets:
        reported = located.get(target, frozenset())
        rules = job.rules.get(target)
        unknown = sorted(set(rules.locations) - reported) if rules and reported else []
        if unknown:
            gaps.append(f"the rules name {', '.join(unknown)} for {target}, which {target} does not report")
        unfed = []
        for location in sorted(sells_at(job, target, reported)):
            sources = feeders(job, target, location)
            used.update(sources)
            if truth and truth.isdisjoint(sources):
                unfed.append(location if sources == [location] else f"{location} (from {', '.join(sources)})")
        if unfed:
            gaps.append(
                f"{target} sells at {', '.join(unfed)}, where {source} (the truth) keeps no stock: not compared; "
                f"map it with rules: {{{target}: {{locations: {{LOCATION: [TRUTH-LOCATION, ...]}}}}}}"
            )
    idle = sorted(truth - used)
    if idle and any(located.get(t) for t in targets):
        gaps.append(f"{source} (the truth) keeps stock at {', '.join(idle)}, which no target sells from")
    return gaps
