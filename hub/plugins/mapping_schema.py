"""The schema of a mapping file: per entity, per canonical field, where it is read and through which transforms.

Validated by pydantic when the file is loaded (``hub.plugins.mapping.load_mapping``), so a typo in
a mapping is reported with file:line before any record is read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from hub.model.base import Entity
from hub.plugins.transforms import TRANSFORMS

__all__ = ["EntitySpec", "FieldSpec", "MappingFile"]


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
