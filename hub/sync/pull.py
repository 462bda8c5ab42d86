"""The pull stage: read one connector's entity, normalize what changed, and store it.

What makes re-syncs cheap: each raw row is hashed (salted with the mapping's fingerprint) and
compared with the stored hash before it is normalized, so an unchanged row costs a hash and a
lookup. Past the run's memory budget a pull keeps one window of records: the rest is written to
the store page by page, and its keys go to a ledger on disk (``hub.state.ledger``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from hub.config.models import HubSettings
from hub.errors import FatalError
from hub.model.base import Entity, RecordInvalid
from hub.model.limits import check_truth
from hub.model.records import ENTITY_MODELS, json_dumper
from hub.plugins.contract import Connector, PullPage, RawRecord
from hub.plugins.mapping import EntityMapping, Mapping
from hub.state.ledger import PullLedger
from hub.state.store import FORGOTTEN_HASH, Store, utcnow
from hub.sync.outcome import PullOutcome
from hub.sync.row_hash import RowHasher

__all__ = ["Progress", "PullRequest", "Puller", "pack_cursor"]

log = logging.getLogger("omnihub.engine")

#: progress(connector, entity, records done, total or None)
Progress = Callable[[str, str, int, int | None], None]


def pack_cursor(cursor: str, mapping: Mapping) -> str:
    """A cursor as stored: tied to the mapping it was read with (a changed mapping reads everything)."""
    return f"{mapping.fingerprint.hex()[:16]}|{cursor}"


def _unpack_cursor(stored: str | None, mapping: Mapping) -> str | None:
    prefix = f"{mapping.fingerprint.hex()[:16]}|"
    return stored[len(prefix) :] if stored is not None and stored.startswith(prefix) else None


@dataclass(frozen=True)
class PullRequest:
    """What a job asks of one connector's pull."""

    entity: Entity
    run_id: int | None
    dry_run: bool
    #: The job's source of truth: held to what only a truth must be (no negative stock).
    truth: bool = False
    full_every: timedelta | None = None


@dataclass
class _Reading:
    """One pull while its pages arrive: what it saw, and what it knows of the stored records."""

    out: PullOutcome
    row_hash: RowHasher
    #: Records the pull may hold before it writes them out; None in a dry run (it writes nothing).
    budget: int | None
    #: Key -> stored hash, loaded with the first record (a pull may bring none); {} once on disk.
    stored: dict[str, int] | None = None
    #: Stored hash -> key: an unchanged row is recognized by its hash alone.
    known: dict[int, str] = field(default_factory=dict)
    #: Created when the pull first passes the budget.
    ledger: PullLedger | None = None
    #: The stored hashes are in the ledger, looked up page by page.
    hashes_on_disk: bool = False
    #: Key -> origin of every key of the window held.
    seen: dict[str, str] = field(default_factory=dict)
    #: Key -> raw-row hash of the changed records held.
    hashes: dict[str, int] = field(default_factory=dict)
    total: int | None = None

    def over_budget(self) -> bool:
        out, budget = self.out, self.budget
        return budget is not None and (
            len(out.changed) > budget or (self.ledger is not None and len(self.seen) > budget)
        )


def _take_rows(
    records: list[RawRecord], reading: _Reading, em: EntityMapping, held_to_truth: Callable[..., None] | None
) -> None:
    """Sort a page's rows into unchanged, changed, duplicated and refused.

    The loop of every pulled row: locals only, nothing allocated for an unchanged one."""
    out, seen, hashes, known, row_hash = reading.out, reading.seen, reading.hashes, reading.known, reading.row_hash
    changed, links, duplicates, quarantine = out.changed, out.links, out.duplicates, out.quarantine
    to_canonical, name, entity = em.to_canonical, out.connector, em.entity.value
    for raw in records:
        digest = row_hash(raw)
        key = known.get(digest) if known else None
        if key is not None:  # unchanged since the last pull
            if key in seen:
                duplicates.setdefault(key, [seen[key]]).append(raw.origin)
            else:
                seen[key] = raw.origin
                out.unchanged += 1
            continue
        try:
            record = to_canonical(raw)
            key = record.key
            if held_to_truth is not None:
                held_to_truth(record)
        except RecordInvalid as exc:
            try:
                key = em.key_of(raw)
            except RecordInvalid:
                key = None
            quarantine.append((name, entity, key, raw.origin, exc.reason))
            if key is not None and key not in seen:
                seen[key] = raw.origin  # known but unreadable now: not a deletion
            continue
        if key in seen:
            duplicates.setdefault(key, [seen[key]]).append(raw.origin)
            continue
        seen[key] = raw.origin
        changed[key] = record
        hashes[key] = digest
        if raw.link:
            links[key] = raw.link


class Puller:
    """Pulls the connectors of one job run, sharing its memory budget among them."""

    def __init__(
        self,
        store: Store,
        hub: HubSettings,
        mapping_for: Callable[[str], Mapping],
        progress: Progress | None = None,
        readers: int = 1,
    ) -> None:
        self.store = store
        self.hub = hub
        self.mapping_for = mapping_for
        self.progress = progress
        #: How many connectors the job reads (they share the memory budget).
        self.readers = max(1, readers)

    async def pull(self, conn: Connector, request: PullRequest) -> PullOutcome:
        """Pull one connector's entity: only what changed since its cursor, or everything.

        Incremental pulls cannot see a platform that went back in time (restored from a backup: its
        records are older than the cursor), so everything is read when there is no cursor, when
        the last full read is older than ``full_every``, and when the platform's count shows records
        appeared or vanished behind the cursor. That last one is read again in the same run: the
        job would otherwise decide from a store it knows to be wrong, and the count costs nothing
        (it comes with the pages), while the second read happens only when something is off."""
        entity = request.entity.value
        # A cursor is saved only after a successful run, so there are stored records to compare with;
        # it is tied to the mapping it was read with: a changed mapping means reading everything.
        since = _unpack_cursor(self.store.cursors.get(conn.name, entity), self.mapping_for(conn.name))
        full_at, gap = self.store.cursors.full_read(conn.name, entity)
        started = utcnow()
        every = request.full_every
        if since is not None and every is not None and (full_at is None or started - full_at >= every):
            when = full_at.isoformat(timespec="seconds") if full_at else "never"
            log.info(
                "%s: %s last read in full %s, longer ago than full_every (%s): reading everything",
                conn.name,
                entity,
                when,
                every,
            )
            since = None
        out = await self._read(conn, request, since, gap)
        if out.drifted:
            log.warning(
                "%s: the platform holds %d %s records where the hub expected %d: records appeared or vanished "
                "without changing their modification time (a restored backup?); reading everything",
                conn.name,
                out.platform_held,
                entity,
                out.held + (gap or 0),
            )
            incremental = out
            out = await self._read(conn, request, None, None)
            if incremental.spilled:  # its first pages are stored: the full read finds them unchanged
                out.spilled = True
        if out.full and out.complete and not request.dry_run:
            held_gap = None if out.platform_held is None else out.platform_held - out.held
            self.store.cursors.mark_full_read(conn.name, entity, started, held_gap)
        return out

    async def _read(self, conn: Connector, request: PullRequest, since: str | None, gap: int | None) -> PullOutcome:
        """Read, normalize and store one pull from ``since``. An incremental pull whose platform
        count minus the records held differs from ``gap`` (what it was after the last full read)
        comes back ``drifted`` and unwritten, for ``pull`` to read everything instead.

        Past the memory budget the pull keeps one window in memory: its records are written, its
        keys go to a ledger on disk (``PullLedger``) that finds duplicates across windows,
        deletions and the census at the end. A re-sync of more stored records than the budget
        looks each page's digests up in the ledger instead of holding every stored hash."""
        entity = request.entity
        mapping = self.mapping_for(conn.name)
        em: EntityMapping = mapping[entity]
        budget = None if request.dry_run else max(1, self.hub.memory_records // self.readers)
        reading = _Reading(PullOutcome(conn.name, full=since is None), RowHasher(mapping.fingerprint), budget)
        # What only a source of truth is held to (no negative stock): a target is read as it is.
        held_to_truth = check_truth if request.truth and entity is Entity.stock else None
        try:
            async for page in conn.pull(entity, since):
                self._take_page(conn.name, entity, reading, page)
                _take_rows(page.records, reading, em, held_to_truth)
                if reading.over_budget():
                    self._spill_window(conn.name, entity, reading, request.run_id)
                if self.progress is not None:
                    self.progress(conn.name, entity.value, reading.out.seen, reading.total)
            if reading.ledger is not None:  # the last window; then every copy of a key, across windows
                reading.ledger.add_window(reading.seen, reading.out.duplicates)
                reading.seen.clear()
                reading.ledger.finish()
                reading.out.duplicates = reading.ledger.duplicates()
            return self._settle(conn.name, entity, reading, request, gap)
        finally:
            if reading.ledger is not None:
                reading.ledger.close()

    def _take_page(self, name: str, entity: Entity, reading: _Reading, page: PullPage) -> None:
        """What a page says besides its rows; and, with the first records, what the store holds."""
        out = reading.out
        out.complete = out.complete and page.complete
        out.cursor = page.cursor or out.cursor
        reading.total = page.total or reading.total
        if out.platform_held is None:
            out.platform_held = page.held
        for key, reason, origin in page.rejected:
            out.quarantine.append((name, entity.value, key, origin, reason))
        if reading.stored is None and page.records:
            self._load_stored(name, entity, reading)
        if reading.hashes_on_disk and reading.ledger is not None:  # this page's digests, looked up together
            reading.known = reading.ledger.known(map(reading.row_hash, page.records), FORGOTTEN_HASH)
        out.seen += len(page.records)

    def _load_stored(self, name: str, entity: Entity, reading: _Reading) -> None:
        """The stored hashes: in memory, or in a ledger on disk when there are more than the budget."""
        budget = reading.budget
        if budget is not None and self.store.observations.count(name, entity.value) > budget:
            reading.stored, reading.hashes_on_disk = {}, True
            reading.ledger = PullLedger()
            reading.ledger.add_stored(self.store.observations.iter_hashes(name, entity.value))
            reading.ledger.index_stored()
            reading.out.spilled = True  # nor is any record held: the reconciler reads the store
            log.info(
                "%s: more than %d stored %s records; comparing them on disk",
                name,
                self.hub.memory_records,
                entity.value,
            )
        else:
            reading.stored = self.store.observations.hashes(name, entity.value)
            # An unchanged row is recognized by its hash alone, before its key is even read.
            reading.known = {digest: key for key, digest in reading.stored.items()}
            reading.known.pop(FORGOTTEN_HASH, None)  # rows the hub wrote since: read again, whatever they hold

    def _spill_window(self, name: str, entity: Entity, reading: _Reading, run_id: int | None) -> None:
        """Past the budget: write the window's records, and move its keys to the ledger."""
        if reading.ledger is None:
            reading.ledger = PullLedger()
            reading.ledger.add_stored((reading.stored or {}).items())
            reading.ledger.index_stored()
        self._spill(name, entity, reading.out, reading.hashes, run_id)
        reading.ledger.add_window(reading.seen, reading.out.duplicates)  # the window's keys leave memory too
        reading.seen.clear()
        reading.out.duplicates.clear()

    def _settle(
        self, name: str, entity: Entity, reading: _Reading, request: PullRequest, gap: int | None
    ) -> PullOutcome:
        """The end of a pull: quarantine its duplicates, find its deletions, count what the
        connector holds, and write what it has not written yet."""
        out = reading.out
        _quarantine_duplicates(name, entity, out, reading.hashes)
        out.unreadable = set(out.duplicates).union(q[2] for q in out.quarantine if q[2] is not None)
        self._find_deletions(name, entity, reading)
        self._census(name, entity, reading)
        if not out.complete and gap is not None and out.platform_held not in (None, out.held + gap):
            out.drifted = True
            return out
        if not request.dry_run:
            self._store_pull(name, entity, out, reading.hashes, request.run_id)
        return out

    def _find_deletions(self, name: str, entity: Entity, reading: _Reading) -> None:
        """A complete pull deletes the stored keys it did not see (unless the feed looks truncated)."""
        out, ledger = reading.out, reading.ledger
        if not out.complete:
            return
        if ledger is not None:
            out.deleted = set(ledger.unseen_stored())
            self._guard_truncation(name, entity, ledger.stored, ledger.count_seen(), len(out.deleted))
            return
        if reading.stored is None:
            reading.stored = self.store.observations.hashes(name, entity.value)  # an empty feed: were records deleted?
        if reading.stored:
            out.deleted = {k for k in reading.stored if k not in reading.seen}
            self._guard_truncation(name, entity, len(reading.stored), len(reading.seen), len(out.deleted))

    def _store_pull(
        self, name: str, entity: Entity, out: PullOutcome, hashes: dict[str, int], run_id: int | None
    ) -> None:
        """Write what the pull holds, remove what it deleted, keep what it refused."""
        spilled_duplicates: set[str] = set()
        if out.spilled:
            self._spill(name, entity, out, hashes, run_id)  # the last pages, not held either
            if out.duplicates and run_id is not None:
                spilled_duplicates = self.store.observations.keys_written_by(name, entity.value, run_id, out.duplicates)
        else:
            self._write(name, entity, out, hashes, run_id)
        if out.deleted or spilled_duplicates:
            # A duplicate already written page by page is taken out too: neither copy is used.
            self.store.observations.delete(name, entity.value, sorted(out.deleted | spilled_duplicates))
        self.store.quarantine.add(run_id, out.quarantine)

    def _census(self, name: str, entity: Entity, reading: _Reading) -> None:
        """How many records the connector holds now and, for stock, at which locations: what tells
        a job that compared nothing from one that had nothing to compare."""
        out, seen, stored, ledger = reading.out, reading.seen, reading.stored, reading.ledger
        if ledger is not None:  # past the budget: the ledger on disk holds the pull's keys
            out.held = ledger.count_seen() - len(out.duplicates) if out.complete else ledger.count_held()
            if entity is Entity.stock:
                out.locations = ledger.locations(with_stored=not out.complete)
            return
        if out.complete:
            current: Iterable[str] = seen.keys() - out.duplicates.keys()
            out.held = len(seen) - len(out.duplicates)
        elif stored is not None:  # an incremental pull: what it did not bring is still held as stored
            current = stored.keys() | seen.keys()
            out.held = len(current)
        else:  # it brought nothing (an unchanged feed): the store says, without reading every key
            out.held = self.store.observations.count(name, entity.value)
            if entity is Entity.stock:
                out.locations = self.store.observations.stock_locations(name)
            return
        if entity is Entity.stock:
            out.locations = frozenset(key.rpartition("@")[2] for key in current)

    def _write(self, name: str, entity: Entity, out: PullOutcome, hashes: dict[str, int], run_id: int | None) -> None:
        keys = list(out.changed)
        # (key, group, hash, JSON) rows zipped from columns: no Python-level step per record.
        groups = [k.split("@", 1)[0] for k in keys] if entity is Entity.stock else keys
        to_json = json_dumper(ENTITY_MODELS[entity])
        rows = zip(keys, groups, map(hashes.__getitem__, keys), map(to_json, out.changed.values()), strict=True)
        self.store.observations.write(name, entity.value, rows, run_id)
        self.store.links.write(name, entity.value, out.links.items())

    def _spill(self, name: str, entity: Entity, out: PullOutcome, hashes: dict[str, int], run_id: int | None) -> None:
        """Write what the pull holds and stop holding it: past the memory budget, records live in
        the store and the reconciler streams them back group by group."""
        if not out.spilled:
            log.info(
                "%s: more than %d changed %s records; reconciling them from the store",
                name,
                self.hub.memory_records,
                entity.value,
            )
        self._write(name, entity, out, hashes, run_id)
        out.changed.clear()
        out.links.clear()
        hashes.clear()
        out.spilled = True

    def _guard_truncation(self, name: str, entity: Entity, known: int, seen: int, deleted: int) -> None:
        limit = self.hub.max_delete_fraction
        if deleted and (seen == 0 or deleted > limit * known):
            raise FatalError(
                f"the pull of {entity.value} returned {seen} records where {known} were known; refusing to treat "
                f"{deleted} as deleted because the feed looks empty or truncated. Fix the feed, or raise "
                f"hub.max_delete_fraction (now {limit}) if so many records really went away",
                connector=name,
            )


def _quarantine_duplicates(name: str, entity: Entity, out: PullOutcome, hashes: dict[str, int]) -> None:
    """A key pulled more than once: neither copy is used, each is quarantined with the others' origins."""
    for key, origins in out.duplicates.items():
        out.changed.pop(key, None)
        hashes.pop(key, None)
        for origin in origins:
            others = ", ".join(o for o in origins if o != origin)
            out.quarantine.append(
                (
                    name,
                    entity.value,
                    key,
                    origin,
                    f"duplicate key {key!r} (also at {others}); neither record is used until the source has one",
                )
            )
