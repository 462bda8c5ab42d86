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

Transforms are a whitelist of named Python functions (``TRANSFORMS``), each with its inverse so
that the same file also builds the payloads written back. Nothing in a mapping is evaluated as
code. A mapping is validated when it is loaded, with file:line for every problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from hub.config.yamlio import Located, load_located, locate_problem
from hub.errors import ConfigError
from hub.model.base import Entity, Record, RecordInvalid
from hub.model.records import ENTITY_MODELS
from hub.model.values import RULES_VERSION, normalize_email, normalize_sku, parse_decimal, parse_whole
from hub.plugins.contract import RawRecord

__all__ = ["TRANSFORMS", "EntityMapping", "Mapping", "TransformContext", "load_mapping", "register_transform"]


@dataclass(frozen=True)
class TransformContext:
    """What a transform may consult: the connector's settings and the hub's defaults."""

    settings: MappingABC[str, Any]
    currency: str = "EUR"
    #: The hub's country (ISO 3166 alpha-2), in which a phone number without a country code is read.
    country: str | None = None

    def setting(self, name: str) -> Any:
        if name == "currency":
            return self.settings.get("currency") or self.currency
        return self.settings.get(name)


Forward = Callable[[Any, TransformContext], Any]
Reverse = Callable[[Any, TransformContext], Any]


@dataclass(frozen=True)
class Transform:
    forward: Forward
    reverse: Reverse | None
    doc: str


#: Every transform a mapping may name. Extend with ``register_transform`` (a plugin's own module).
TRANSFORMS: dict[str, Transform] = {}


def register_transform(name: str, forward: Forward, reverse: Reverse | None = None, doc: str = "") -> None:
    TRANSFORMS[name] = Transform(forward, reverse, doc or (forward.__doc__ or "").strip())


def _none_passes(fn: Callable[[Any, TransformContext], Any]) -> Forward:
    def wrapped(value: Any, ctx: TransformContext) -> Any:
        return None if value is None else fn(value, ctx)

    wrapped.__doc__ = fn.__doc__
    return wrapped


def _decimal_str(value: Any, ctx: TransformContext) -> str:
    return format(Decimal(value), "f")


def _bool(value: Any, ctx: TransformContext) -> bool:
    """yes/no, true/false, 1/0 to a boolean."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "si", "sì", "on"}:
        return True
    if text in {"0", "false", "no", "n", "off", ""}:
        return False
    raise ValueError(f"{value!r} is not yes/no")


def _iso_datetime(value: Any, ctx: TransformContext) -> datetime:
    """An ISO 8601 timestamp; a naive one is taken as UTC."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_ms(value: Any, ctx: TransformContext) -> datetime:
    """Milliseconds since 1970 (HubSpot) to a UTC timestamp."""
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _location(value: Any, ctx: TransformContext) -> str:
    """A platform location id to the canonical code, through the connector's ``locations`` map;
    without a map, the platform's own id is the code (a WMS whose warehouse codes are already
    canonical)."""
    mapping = ctx.setting("locations")
    if not mapping:
        return str(value)
    code = mapping.get(str(value))
    if code is None:
        raise ValueError(f"platform location {value!r} is not mapped; add it under this connector's `locations`")
    return str(code)


def _location_reverse(value: Any, ctx: TransformContext) -> str:
    mapping = ctx.setting("locations")
    if not mapping:
        return str(value)
    for platform_id, code in mapping.items():
        if code == value:
            return str(platform_id)
    raise ValueError(f"canonical location {value!r} has no platform location in `locations`")


def _to_cents(value: Any, ctx: TransformContext) -> int:
    """A decimal amount to integer cents; an amount with a fraction of a cent is refused, not cut."""
    cents = Decimal(value) * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{value} has a fraction of a cent and cannot be written as whole cents")
    return int(cents)


def _split_comma(value: Any, ctx: TransformContext) -> tuple[str, ...]:
    """``"a, b"`` to ``("a", "b")``; lists pass through."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


for _name, _fwd, _rev, _doc in [
    ("strip", lambda v, c: str(v).strip(), None, "trim surrounding white space"),
    ("lower", lambda v, c: str(v).strip().lower(), None, "lowercase"),
    ("upper", lambda v, c: str(v).strip().upper(), None, "uppercase"),
    ("str", lambda v, c: str(v), lambda v, c: v, "any value as text"),
    (
        "empty_to_none",
        lambda v, c: None if isinstance(v, str) and not v.strip() else v,
        lambda v, c: v if v is not None else "",
        "an empty string means no value",
    ),
    (
        "decimal",
        _none_passes(lambda v, c: parse_decimal(v)),
        _none_passes(_decimal_str),
        "a decimal string such as 79.90",
    ),
    (
        "decimal_comma",
        _none_passes(lambda v, c: parse_decimal(v, decimal_comma=True)),
        _none_passes(lambda v, c: _decimal_str(v, c).replace(".", ",")),
        "a decimal with a comma, such as 1.234,50",
    ),
    (
        "cents",
        _none_passes(lambda v, c: Decimal(parse_whole(v)).scaleb(-2)),
        _none_passes(_to_cents),
        "integer cents (7990) to a decimal amount (79.90)",
    ),
    ("int", _none_passes(lambda v, c: parse_whole(v)), _none_passes(lambda v, c: int(v)), "a whole number"),
    ("bool", _none_passes(_bool), None, "yes/no, true/false, 1/0"),
    ("iso_datetime", _none_passes(_iso_datetime), _none_passes(lambda v, c: v.isoformat()), "an ISO 8601 timestamp"),
    (
        "epoch_ms",
        _none_passes(_epoch_ms),
        _none_passes(lambda v, c: str((v - _EPOCH) // timedelta(milliseconds=1))),  # exact: no float
        "milliseconds since 1970",
    ),
    (
        "location",
        _none_passes(_location),
        _none_passes(_location_reverse),
        "platform location id to canonical location code (connector setting `locations`)",
    ),
    ("split_comma", _none_passes(_split_comma), _none_passes(lambda v, c: ",".join(v)), "comma-separated list"),
    ("sku", _none_passes(lambda v, c: normalize_sku(v)), None, "a trimmed SKU"),
    ("email", _none_passes(lambda v, c: normalize_email(v)), None, "a normalized e-mail address"),
]:
    register_transform(_name, _fwd, _rev, _doc)


# ------------------------------------------------------------------------------------------
# The mapping file's own schema
# ------------------------------------------------------------------------------------------


class FieldSpec(BaseModel):
    """How one canonical field is read (and written back)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str | None = None
    setting: str | None = None
    const: Any = None
    transform: list[str] = []
    map: dict[str, Any] | None = None
    default: Any = None
    #: Whether pushes write this field back to the platform field it was read from.
    write: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"from_": value}
        if isinstance(value, dict):
            value = dict(value)
            if "from" in value:
                value["from_"] = value.pop("from")
            if isinstance(value.get("transform"), str):
                value["transform"] = [value["transform"]]
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = [s for s in (self.from_, self.setting) if s is not None] + ([1] if self.const is not None else [])
        if len(sources) != 1:
            raise ValueError("give exactly one of `from` (a field path), `setting` or `const`")
        unknown = [t for t in self.transform if t not in TRANSFORMS]
        if unknown:
            raise ValueError(f"unknown transform {unknown[0]!r}; known: {', '.join(sorted(TRANSFORMS))}")
        return self


class EntitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[str, FieldSpec]


class MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    description: str | None = None
    entities: dict[Entity, EntitySpec]


# ------------------------------------------------------------------------------------------
# Compiled mappings
# ------------------------------------------------------------------------------------------

_KEY_FIELDS: dict[Entity, tuple[str, ...]] = {
    Entity.products: ("sku",),
    Entity.prices: ("sku",),
    Entity.stock: ("sku", "location"),
    Entity.customers: ("email",),
}


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if type(data) is dict or isinstance(data, MappingABC):  # the exact-type test is the fast path
            data = data.get(part)
        else:
            return None
        if data is None:
            return None
    return data


@dataclass
class _Rule:
    name: str
    spec: FieldSpec
    path: tuple[str, ...] | None
    forwards: list[Forward]
    reverse: list[Reverse] | None
    #: The rule compiled into one function of the row (built on first use).
    reader: Callable[[MappingABC[str, Any]], Any] | None = None


def _compile_reader(rule: _Rule, context: TransformContext) -> Callable[[MappingABC[str, Any]], Any]:
    """One closure per field: the branches that depend only on the mapping are taken once, here,
    instead of once per record."""
    spec = rule.spec
    path = rule.path
    if path is not None and len(path) == 1:
        name = path[0]

        def get(data: MappingABC[str, Any]) -> Any:
            return data.get(name) if type(data) is dict else _dig(data, path)
    elif path is not None:

        def get(data: MappingABC[str, Any]) -> Any:
            return _dig(data, path)
    else:
        fixed = context.setting(spec.setting) if spec.setting is not None else spec.const

        def get(data: MappingABC[str, Any]) -> Any:
            return fixed

    forwards = tuple(rule.forwards)
    choices, default = spec.map, spec.default
    single = path[0] if path is not None and len(path) == 1 else None
    if single is not None and choices is None and default is None and len(forwards) <= 1:
        # The common shapes (a column, or a column through one transform) as the shortest closures.
        if not forwards:

            def read_plain(data: MappingABC[str, Any]) -> Any:
                return data.get(single) if type(data) is dict else get(data)

            return read_plain
        (only,) = forwards

        def read_one(data: MappingABC[str, Any]) -> Any:
            return only(data.get(single) if type(data) is dict else get(data), context)

        return read_one

    def read(data: MappingABC[str, Any]) -> Any:
        value = data.get(single) if single is not None and type(data) is dict else get(data)
        for fn in forwards:
            value = fn(value, context)
        if choices is not None and value is not None:
            text = str(value)
            if text not in choices:
                raise ValueError(f"{value!r} is not one of {', '.join(map(str, choices))}")
            value = choices[text]
        if value is None or value == "":
            return default if default is not None else value
        return value

    return read


@dataclass
class EntityMapping:
    """One entity's compiled rules: raw row -> canonical record, canonical values -> platform fields."""

    entity: Entity
    rules: list[_Rule]
    context: TransformContext
    model: type[Record] = field(init=False)
    _key_rules: list[_Rule] = field(init=False)
    _readers: list[tuple[str, Callable[[MappingABC[str, Any]], Any]]] = field(init=False, repr=False)
    _default_currency: str | None = field(init=False, repr=False)
    _validation: dict[str, Any] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.model = ENTITY_MODELS[self.entity]
        by_name = {r.name: r for r in self.rules}
        self._key_rules = [by_name[name] for name in _KEY_FIELDS[self.entity]]
        for rule in self.rules:
            rule.reader = _compile_reader(rule, self.context)
        #: (field, reader) pairs, the loop of every record.
        self._readers = [(rule.name, rule.reader) for rule in self.rules]
        #: A price whose currency cell is empty is in the hub's currency.
        self._default_currency = self.context.currency if self.entity is Entity.prices else None
        #: What the model's validators learn from the hub: the country phone numbers are read in.
        self._validation = {"country": self.context.country} if self.context.country else None

    def _value(self, rule: _Rule, data: MappingABC[str, Any]) -> Any:
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
            rules.append(_Rule(name, field_spec, path, forwards, reverse))
        missing = [k for k in _KEY_FIELDS[entity] if k not in {r.name for r in rules}]
        if missing:
            problems.append(
                located.problem(
                    ("entities", entity.value, "fields"),
                    f"the key field {missing[0]!r} of {entity.value} must be mapped",
                )
            )
            continue
        if entity is Entity.prices and "currency" not in {r.name for r in rules}:
            rules.append(_Rule("currency", FieldSpec(setting="currency"), None, [], None))
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
    digest = hashlib.blake2b(digest_size=16)
    digest.update(path.read_bytes())
    digest.update(
        repr(
            sorted((k, repr(v)) for k, v in context.settings.items() if k in {"locations", "location", "currency"})
        ).encode()
    )
    digest.update(currency.encode())
    digest.update(f"country={country or ''}".encode())  # it changes how phone numbers read
    digest.update(RULES_VERSION)
    return Mapping(str(path), _compile(spec, located, context), digest.digest())
