"""Declarative mappings between a platform's fields and the canonical model.

A mapping file (``mappings/<connector type>.yaml``, or the user's own) says, per entity, where each
canonical field is found in a platform row and which named transforms convert it::

    entities:
      prices:
        fields:
          sku: sku
          amount: {from: price, transform: decimal}
          compare_at: {from: list_price, transform: [empty_to_none, decimal]}
          currency: {setting: currency}
      stock:
        fields:
          location: {from: location_id, transform: location}   # through the connector's `locations`

This module loads a mapping file and compiles it: ``load_mapping`` -> ``Mapping`` (one
``EntityMapping`` per entity) -> raw row to canonical record and back. The transforms a mapping
names are in ``hub.plugins.transforms``, the file's schema in ``hub.plugins.mapping_schema``, one
field's compiled reader in ``hub.plugins.field_rules``. Nothing in a mapping is evaluated as code.
A mapping is validated when it is loaded, with file:line for every problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.config.yamlio import Located, load_located, locate_problem
from hub.errors import ConfigError
from hub.model.base import Entity, Record, RecordInvalid
from hub.model.records import ENTITY_MODELS
from hub.model.values import RULES_VERSION, normalize_email, normalize_sku
from hub.plugins.contract import RawRecord
from hub.plugins.field_rules import KEY_FIELDS, FieldRule, compile_reader
from hub.plugins.mapping_schema import FieldSpec, MappingFile
from hub.plugins.transforms import TRANSFORMS, TransformContext, register_transform

__all__ = ["TRANSFORMS", "EntityMapping", "Mapping", "TransformContext", "load_mapping", "register_transform"]


@dataclass
class EntityMapping:
    """One entity's compiled rules: raw row -> canonical record, canonical values -> platform fields."""

    entity: Entity
    rules: list[FieldRule]
    context: TransformContext
    model: type[Record] = field(init=False)
    _key_rules: list[FieldRule] = field(init=False)
    _readers: list[tuple[str, Callable[[MappingABC[str, Any]], Any]]] = field(init=False, repr=False)
    _default_currency: str | None = field(init=False, repr=False)
    _validation: dict[str, Any] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.model = ENTITY_MODELS[self.entity]
        by_name = {r.name: r for r in self.rules}
        self._key_rules = [by_name[name] for name in KEY_FIELDS[self.entity]]
        for rule in self.rules:
            rule.reader = compile_reader(rule, self.context)
        #: (field, reader) pairs, the loop of every record.
        self._readers = [(rule.name, rule.reader) for rule in self.rules]
        #: A price whose currency cell is empty is in the hub's currency.
        self._default_currency = self.context.currency if self.entity is Entity.prices else None
        #: What the model's validators learn from the hub: the country phone numbers are read in.
        self._validation = {"country": self.context.country} if self.context.country else None

    def _value(self, rule: FieldRule, data: MappingABC[str, Any]) -> Any:
        """Read one canonical field from a platform row."""
        assert rule.reader is not None  # compiled in __post_init__
        return rule.reader(data)

    def key_of(self, raw: RawRecord) -> str:
        """The canonical key of a raw row, computed from the key fields alone (cheap)."""
        values = []
        for rule in self._key_rules:
            try:
                value = self._value(rule, raw.data)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise RecordInvalid(f"{rule.name}: {exc}", field=rule.name) from None
            if rule.name == "sku":
                try:
                    value = normalize_sku(value)
                except ValueError as exc:
                    raise RecordInvalid(f"sku: {exc}", field="sku") from None
            elif rule.name == "email":
                try:
                    value = normalize_email(value)
                except ValueError as exc:
                    raise RecordInvalid(f"email: {exc}", field="email") from None
            values.append(str(value).strip())  # as the model does (str_strip_whitespace)
        return "@".join(values)

    def to_canonical(self, raw: RawRecord, key: str | None = None) -> Record:
        """Apply every rule and validate; a bad value raises ``RecordInvalid`` naming the field."""
        values: dict[str, Any] = {}
        data = raw.data
        name = ""
        try:
            for name, read in self._readers:
                value = read(data)
                if value is not None:
                    values[name] = value
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise RecordInvalid(f"{name}: {exc}", key=key, field=name) from None
        if self._default_currency is not None and "currency" not in values:
            values["currency"] = self._default_currency
        try:
            return self.model.build(values, self._validation)
        except ValidationError as exc:
            raise RecordInvalid.from_validation(exc, key) from None

    def to_platform(self, values: MappingABC[str, Any]) -> dict[str, Any]:
        """Canonical field values to a (possibly nested) platform payload, through the inverse
        transforms. Fields read from settings or constants, and ``write: false`` ones, are skipped."""
        out: dict[str, Any] = {}
        for rule in self.rules:
            if rule.name not in values or rule.path is None or not rule.spec.write:
                continue
            value = values[rule.name]
            if rule.spec.map is not None and value is not None:
                inverse = {v: k for k, v in rule.spec.map.items()}
                value = inverse.get(value, value)
            if rule.reverse is None:
                raise ValueError(f"field {rule.name} cannot be written: a transform of it has no inverse")
            for fn in rule.reverse:
                value = fn(value, self.context)
            target = out
            for part in rule.path[:-1]:
                target = target.setdefault(part, {})
            target[rule.path[-1]] = value
        return out

    def platform_field(self, canonical: str) -> str | None:
        """The dotted platform path a canonical field is read from (``amount`` -> ``regular_price``)."""
        for rule in self.rules:
            if rule.name == canonical and rule.path is not None:
                return ".".join(rule.path)
        return None


@dataclass
class Mapping:
    """A loaded mapping file: one ``EntityMapping`` per entity it covers."""

    source: str
    entities: dict[Entity, EntityMapping]
    #: Digest of the file's content, the settings it reads and the model's validation rules: it salts
    #: record hashes, so a changed mapping (or stricter rules) makes every record count as changed once.
    fingerprint: bytes

    def __getitem__(self, entity: Entity) -> EntityMapping:
        try:
            return self.entities[entity]
        except KeyError:
            raise ConfigError(f"{self.source}: the mapping has no section for {entity.value}") from None

    def covers(self, entity: Entity) -> bool:
        return entity in self.entities


def _compile(spec: MappingFile, located: Located, context: TransformContext) -> dict[Entity, EntityMapping]:
    problems = []
    compiled: dict[Entity, EntityMapping] = {}
    for entity, entity_spec in spec.entities.items():
        model = ENTITY_MODELS[entity]
        rules = []
        for name, field_spec in entity_spec.fields.items():
            if name not in model.model_fields:
                known = ", ".join(model.model_fields)
                problems.append(
                    located.problem(
                        ("entities", entity.value, "fields", name),
                        f"{name!r} is not a field of {entity.value}; known: {known}",
                    )
                )
                continue
            forwards = [TRANSFORMS[t].forward for t in field_spec.transform]
            reverses = [TRANSFORMS[t].reverse for t in reversed(field_spec.transform)]
            reverse = None if any(r is None for r in reverses) else reverses  # type: ignore[misc]
            path = tuple(field_spec.from_.split(".")) if field_spec.from_ else None
            rules.append(FieldRule(name, field_spec, path, forwards, reverse))
        missing = [k for k in KEY_FIELDS[entity] if k not in {r.name for r in rules}]
        if missing:
            problems.append(
                located.problem(
                    ("entities", entity.value, "fields"),
                    f"the key field {missing[0]!r} of {entity.value} must be mapped",
                )
            )
            continue
        if entity is Entity.prices and "currency" not in {r.name for r in rules}:
            rules.append(FieldRule("currency", FieldSpec(setting="currency"), None, [], None))
        compiled[entity] = EntityMapping(entity, rules, context)
    if problems:
        raise ConfigError(problems)
    return compiled


def shipped_mapping_path(connector_type: str) -> Path:
    """The mapping file shipped for a connector type (``mappings/<type>.yaml``)."""
    return Path(str(resources.files("mappings").joinpath(f"{connector_type}.yaml")))


def load_mapping(
    connector_type: str,
    *,
    user_file: str | Path | None = None,
    settings: MappingABC[str, Any] | None = None,
    currency: str = "EUR",
    country: str | None = None,
    base_dir: Path | None = None,
) -> Mapping:
    """Load and validate the mapping for a connector: the user's file if given, else the shipped one."""
    if user_file is not None:
        path = Path(user_file)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
    else:
        path = shipped_mapping_path(connector_type)
    located = load_located(path, interpolate=False)
    if not isinstance(located.data, dict):
        raise ConfigError(located.problem((), "a mapping file must be a mapping with an `entities:` section"))
    try:
        spec = MappingFile.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(
            [locate_problem(located, tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        ) from None
    context = TransformContext(settings=dict(settings or {}), currency=currency, country=country)
    return Mapping(str(path), _compile(spec, located, context), _fingerprint(path, context))


def _fingerprint(path: Path, context: TransformContext) -> bytes:
    """Digest of everything that changes what a row maps to: the file's bytes, the settings its
    transforms read, the hub's currency and country, and the model's value rules. It salts record
    hashes, so a change to any of them makes every record count as changed once."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(path.read_bytes())
    digest.update(
        repr(
            sorted((k, repr(v)) for k, v in context.settings.items() if k in {"locations", "location", "currency"})
        ).encode()
    )
    digest.update(context.currency.encode())
    digest.update(f"country={context.country or ''}".encode())  # it changes how phone numbers read
    digest.update(RULES_VERSION)
    return digest.digest()
