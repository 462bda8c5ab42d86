"""The base of every canonical record: the entities, the consent states, ``Record`` and ``RecordInvalid``.

Records are frozen pydantic models: cheap to compare, safe to share between the reconciler and
the store, and their validation errors name the field that is wrong. ``Record.build`` is the one
way a pulled row becomes a record: a plain-Python fast path for the common shapes, pydantic for
everything else (and for every error message).
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Consent", "Entity", "Record", "RecordInvalid"]


class Entity(enum.StrEnum):
    """The kinds of record the hub keeps, named as in the YAML ``jobs:`` and ``truth:`` sections."""

    products = "products"
    prices = "prices"
    stock = "stock"
    customers = "customers"


class Consent(enum.StrEnum):
    """E-mail marketing consent. ``unsubscribed`` is the most restrictive and always wins a conflict."""

    subscribed = "subscribed"
    unsubscribed = "unsubscribed"
    never = "never"


_new_object = object.__new__
_set_attribute = object.__setattr__
# pydantic keeps these in slots of BaseModel: setting a slot through its descriptor is the cheapest way.
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
#: One ``model_fields_set`` per shape of input, shared by the records built from it: a set per
#: record would cost 200 bytes each at catalogue scale. Records are frozen, nothing adds to it, and
#: ``model_copy`` copies it before it adds the updated fields.
_FIELDS_SETS: dict[tuple[str, ...], set[str]] = {}


class RecordInvalid(ValueError):
    """A platform record that cannot become a canonical record; it is quarantined with this reason."""

    def __init__(self, reason: str, *, key: str | None = None, field: str | None = None) -> None:
        super().__init__(reason)
        #: Why the record was refused, in words an admin can act on.
        self.reason = reason
        #: The canonical key if it could be read, so the quarantine can say which record it was.
        self.key = key
        #: The canonical field at fault, when one field is.
        self.field = field

    @classmethod
    def from_validation(cls, error: ValidationError, key: str | None) -> RecordInvalid:
        parts = []
        first_field = None
        for item in error.errors():
            loc = ".".join(str(p) for p in item["loc"]) or "record"
            first_field = first_field or loc
            msg = item["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}")
        return cls("; ".join(parts), key=key, field=first_field)


class Record(BaseModel):
    """Base of every canonical record."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    #: The entity this record belongs to.
    entity: ClassVar[Entity]
    #: Fields the reconciler compares across channels (identity fields are not compared).
    compared_fields: ClassVar[tuple[str, ...]]

    @property
    def key(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def compared(self) -> dict[str, Any]:
        """The values the reconciler compares, by canonical field name."""
        return {name: getattr(self, name) for name in self.compared_fields}

    @classmethod
    def build(cls, values: dict[str, Any], context: dict[str, Any] | None = None) -> Self:
        """Validate normalized values into a record, as ``model_validate`` does, only faster.

        Every pulled row becomes a record, so this is the hottest call of a sync. The common shapes
        (plain strings, decimals and ints) are checked in plain Python by ``_fast`` with the very
        functions the field validators call; anything else, and every invalid record, goes
        through pydantic, which stays the reference and writes the error messages. A property
        test holds the two paths to the same records.

        ``context`` is what the hub knows beyond the values (its ``country``, in which a customer's
        phone number without a country code is read), passed to pydantic's validators; no shape of
        the fast path depends on it.
        """
        try:
            record = cls._fast(values)
        except (ValueError, TypeError, ArithmeticError):
            record = None
        return record if record is not None else cls.model_validate(values, context=context)

    @classmethod
    def _fast(cls, values: dict[str, Any]) -> Self | None:
        """The record when ``values`` has a shape the fast path knows, else ``None`` (or an error):
        then pydantic decides. The base class knows no shape."""
        return None

    @classmethod
    def _install(cls, fields: dict[str, Any], given: dict[str, Any]) -> Self:
        """A record from fields already validated exactly as the model would: what
        ``model_construct`` does, without its per-field loop. ``given`` is what the caller passed
        (pydantic's ``model_fields_set``)."""
        record = _new_object(cls)
        _set_attribute(record, "__dict__", fields)
        shape = tuple(given)
        fields_set = _FIELDS_SETS.get(shape)
        if fields_set is None:
            fields_set = _FIELDS_SETS[shape] = set(shape)
        _set_fields_set(record, fields_set)
        _set_extra(record, None)
        _set_private(record, None)
        return record
