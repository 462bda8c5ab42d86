"""One mapped field compiled into a reader: its path into a platform row, its transforms, its inverse.

Every pulled row goes through every reader, so the branches that depend only on the mapping are
taken once, when the reader is compiled, instead of once per record.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

from hub.model.base import Entity
from hub.plugins.mapping_schema import FieldSpec
from hub.plugins.transforms import Forward, Reverse, TransformContext
from hub.transport.paths import dig

__all__ = ["KEY_FIELDS", "FieldRule", "compile_reader"]


KEY_FIELDS: dict[Entity, tuple[str, ...]] = {
    Entity.products: ("sku",),
    Entity.prices: ("sku",),
    Entity.stock: ("sku", "location"),
    Entity.customers: ("email",),
}


def _path_getter(path: tuple[str, ...]) -> Callable[[MappingABC[str, Any]], Any]:
    """The value at ``path`` in a row, through ``hub.transport.paths.dig`` (the one dotted-path
    reader of the hub). Every field of every pulled row is read here, so the shapes rows have (a
    plain dict, one or two levels) are read directly first: ``dig`` spells the path out and
    checks against ``Mapping`` on each call, five times the cost."""
    dotted = ".".join(path)
    if len(path) == 1:
        (name,) = path

        def get_one(data: MappingABC[str, Any]) -> Any:
            return data.get(name) if type(data) is dict else dig(data, dotted)

        return get_one
    if len(path) == 2:
        first, second = path

        def get_two(data: MappingABC[str, Any]) -> Any:
            if type(data) is dict:
                inner = data.get(first)
                if type(inner) is dict:
                    return inner.get(second)
                if inner is None:
                    return None
            return dig(data, dotted)

        return get_two
    return lambda data: dig(data, dotted)


@dataclass
class FieldRule:
    name: str
    spec: FieldSpec
    path: tuple[str, ...] | None
    forwards: list[Forward]
    reverse: list[Reverse] | None
    #: The rule compiled into one function of the row (built on first use).
    reader: Callable[[MappingABC[str, Any]], Any] | None = None


def compile_reader(rule: FieldRule, context: TransformContext) -> Callable[[MappingABC[str, Any]], Any]:
    """One closure per field: the branches that depend only on the mapping are taken once, here,
    instead of once per record."""
    spec = rule.spec
    path = rule.path
    if path is not None:
        get = _path_getter(path)
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
