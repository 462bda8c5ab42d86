"""What a platform reports, read through its connector: records, locations, currencies, fields.

An admin writing a stock job must know the location codes each side reports, or the job compares
nothing; a price job, the currencies; a mapping, the fields the platform sends that it ignores.
``discover`` answers that from the connector contract alone (``pull`` pages of ``RawRecord``, the
connector's mapping), with no per-platform code, and reads a bounded sample: at most
``max_pages`` pages or ``max_records`` records per entity, and says when it stopped short.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.errors import OmnihubError
from hub.model.base import Entity, RecordInvalid
from hub.plugins.contract import Capability, Connector, RawRecord
from hub.plugins.mapping import EntityMapping
from hub.redact import redact

__all__ = ["MAX_PAGES", "MAX_RECORDS", "Discovery", "EntityDiscovery", "discover", "raw_fields"]

#: The default bounds of one entity's read: enough to see every location and currency of a usual
#: store, few enough that a discovery stays a few seconds against a rate-limited API.
MAX_PAGES = 5
MAX_RECORDS = 1000
#: Canonical records shown per entity, and problems kept per entity.
SAMPLES = 3
REASONS = 5


@dataclass
class EntityDiscovery:
    """What one entity's read showed."""

    entity: Entity
    #: Records read (streamed and counted, within the bounds).
    read: int = 0
    #: How many the platform says it holds (``PullPage.total`` or ``held``), when it says.
    reported: int | None = None
    #: True when the bounds stopped the read before the platform's last page.
    cut: bool = False
    #: Canonical location code -> records at it (stock).
    locations: dict[str, int] = field(default_factory=dict)
    #: The platform's own location id -> its canonical code (``None``: the mapping has no code for it).
    platform_locations: dict[str, str | None] = field(default_factory=dict)
    #: The platform's own location id -> the name it gives it (where it lists its locations).
    location_names: dict[str, str] = field(default_factory=dict)
    #: Currency -> records in it (prices).
    currencies: dict[str, int] = field(default_factory=dict)
    #: The first canonical records, as JSON values.
    samples: list[dict[str, Any]] = field(default_factory=list)
    #: Raw fields (dotted paths) the mapping reads, and those the platform sends that it ignores.
    mapped_fields: list[str] = field(default_factory=list)
    ignored_fields: list[str] = field(default_factory=list)
    #: Rows the mapping refused (they would be quarantined), and the first reasons.
    invalid: int = 0
    reasons: list[str] = field(default_factory=list)
    #: Why the read failed, when it did (the rest of the report holds what came before).
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity.value,
            "read": self.read,
            "reported": self.reported,
            "cut": self.cut,
            "locations": self.locations,
            "platform_locations": self.platform_locations,
            "location_names": self.location_names,
            "currencies": self.currencies,
            "samples": self.samples,
            "mapped_fields": self.mapped_fields,
            "ignored_fields": self.ignored_fields,
            "invalid": self.invalid,
            "reasons": self.reasons,
            "error": self.error,
        }


@dataclass
class Discovery:
    """What one connector's platform reports, entity by entity."""

    connector: str
    type: str
    max_pages: int
    max_records: int
    entities: list[EntityDiscovery] = field(default_factory=list)

    def entity(self, entity: Entity) -> EntityDiscovery | None:
        return next((e for e in self.entities if e.entity is entity), None)

    @property
    def locations(self) -> list[str]:
        """Every canonical stock location code seen."""
        found = self.entity(Entity.stock)
        return sorted(found.locations) if found else []

    def as_json(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "type": self.type,
            "bounds": {"max_pages": self.max_pages, "max_records": self.max_records},
            "entities": [e.as_json() for e in self.entities],
        }


def raw_fields(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """The dotted paths of a raw row's values, as a mapping's ``from:`` names them (nested dicts
    are walked; a list is one field)."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from raw_fields(value, f"{path}.")
        else:
            yield path


def _ignored(seen: set[str], mapped: set[str]) -> list[str]:
    """Raw fields no rule reads: neither a mapped path, nor above or below one."""
    return sorted(
        f for f in seen if f not in mapped and not any(m.startswith(f"{f}.") or f.startswith(f"{m}.") for m in mapped)
    )


def _dig(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class _Reader:
    """One entity's tallies while its pages stream in."""

    def __init__(self, entity: Entity, mapping: EntityMapping) -> None:
        self.found = EntityDiscovery(entity)
        self.mapping = mapping
        self.mapped = {".".join(r.path) for r in mapping.rules if r.path is not None}
        self.location_path = mapping.platform_field("location") if entity is Entity.stock else None
        self.seen: set[str] = set()
        self.locations: Counter[str] = Counter()
        self.currencies: Counter[str] = Counter()

    def take(self, raw: RawRecord) -> None:
        found = self.found
        found.read += 1
        self.seen.update(raw_fields(raw.data))
        platform_location = _dig(raw.data, self.location_path) if self.location_path else None
        try:
            record = self.mapping.to_canonical(raw)
        except RecordInvalid as exc:
            found.invalid += 1
            if len(found.reasons) < REASONS:
                found.reasons.append(f"{raw.origin or 'row'}: {exc}")
            if platform_location is not None:
                found.platform_locations.setdefault(str(platform_location), None)
            return
        location = getattr(record, "location", None)
        if location is not None:
            self.locations[location] += 1
            if platform_location is not None:
                found.platform_locations[str(platform_location)] = location
        currency = getattr(record, "currency", None) if found.entity is Entity.prices else None
        if currency is not None:
            self.currencies[currency] += 1
        if len(found.samples) < SAMPLES:
            found.samples.append(record.model_dump(mode="json", exclude_none=True))

    def finish(self) -> EntityDiscovery:
        found = self.found
        found.locations = dict(sorted(self.locations.items()))
        found.currencies = dict(self.currencies.most_common())
        found.mapped_fields = sorted(self.mapped)
        found.ignored_fields = _ignored(self.seen, self.mapped)
        found.platform_locations = dict(sorted(found.platform_locations.items()))
        return found


async def _read(connector: Connector, entity: Entity, max_pages: int, max_records: int) -> EntityDiscovery:
    reader = _Reader(entity, connector.field_mapping[entity])
    found = reader.found
    pages = connector.pull(entity)
    pulled = 0
    try:
        async for page in pages:
            pulled += 1
            reported = page.total if page.total is not None else page.held
            if reported is not None:
                found.reported = reported
            for raw in page.records:
                if found.read >= max_records:
                    found.cut = True
                    break
                reader.take(raw)
            if found.cut or pulled >= max_pages:
                # A full last page may still be the platform's last: cut only when more was coming.
                found.cut = found.cut or found.reported is None or found.reported > found.read
                break
    except OmnihubError as exc:
        found.error = redact(str(exc))
    finally:
        with contextlib.suppress(Exception):  # a generator left early closes its requests
            await pages.aclose()  # type: ignore[attr-defined]
    return reader.finish()


async def discover(
    connector: Connector,
    *,
    max_pages: int = MAX_PAGES,
    max_records: int = MAX_RECORDS,
    entities: Sequence[Entity] | None = None,
) -> Discovery:
    """Read each entity the (open) connector can read and its mapping covers (of ``entities``, when
    given), within the bounds.

    A failure of one entity's read is kept in its report and the others are still read; reaching the
    platform at all is the caller's ``connector.ping()``.
    """
    found = Discovery(connector.name, connector.type_name, max_pages, max_records)
    mapping = connector.field_mapping
    for entity in entities or list(Entity):
        if connector.can(entity, Capability.read) and mapping.covers(entity):
            found.entities.append(await _read(connector, entity, max_pages, max_records))
    stock = found.entity(Entity.stock)
    if stock is not None and not stock.error:
        await _add_unmapped_locations(connector, stock)
    return found


async def _add_unmapped_locations(connector: Connector, stock: EntityDiscovery) -> None:
    """The platform's locations its stock pull skipped (not in the connector's settings), listed as
    not mapped: the admin sees every id there is to map, not only those already mapped."""
    try:
        everywhere = await connector.platform_locations()
    except OmnihubError as exc:
        stock.reasons.append(f"the platform's locations could not be listed: {redact(str(exc))}")
        return
    for platform_id in everywhere:
        stock.platform_locations.setdefault(platform_id, None)
    stock.location_names = dict(sorted(everywhere.items()))
    stock.platform_locations = dict(sorted(stock.platform_locations.items()))
