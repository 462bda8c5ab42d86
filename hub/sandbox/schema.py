"""Request bodies held to a platform's published OpenAPI document (Swagger 2.0 or OpenAPI 3).

A sandbox checks what a client sends against what the platform documents, and refuses what the
platform documents as invalid, instead of accepting whatever its own client happens to send: a
sandbox that only agrees with its client proves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SchemaProblem", "request_schema", "schema_problems"]

#: Keywords that only document a schema.
_ANNOTATIONS = frozenset({"description", "title", "example", "format", "readOnly", "default", "x-title"})
#: Keywords the check enforces. A schema using any other keyword (``oneOf``, ``pattern``, ...) is
#: refused with an error rather than passed unjudged: a check that silently skips a rule cannot fail.
_CHECKED = frozenset(
    {"$ref", "type", "enum", "properties", "required", "additionalProperties", "items", "maxItems", "minItems"}
    | {"maximum", "minimum", "nullable", "x-nullable"}
)
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@dataclass(frozen=True)
class SchemaProblem:
    """One way a request body departs from its documented schema: where (``members[0].status``) and why."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where or 'body'}: {self.message}"


def request_schema(spec: Any, method: str, path: str) -> dict[str, Any]:
    """The JSON body schema of ``method path`` (the spec's path template) in a Swagger 2.0 document
    (a parameter ``in: body``) or an OpenAPI 3 one (``requestBody``)."""
    operation = spec["paths"][path][method.lower()]
    if "requestBody" in operation:
        return dict(operation["requestBody"]["content"]["application/json"]["schema"])
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "body":
            return dict(parameter["schema"])
    raise KeyError(f"{method} {path} documents no request body")


def schema_problems(schema: Any, value: Any, *, spec: Any, where: str = "") -> list[SchemaProblem]:
    """Every way ``value`` departs from ``schema`` (``$ref`` resolved in ``spec``), empty when it conforms.

    Objects are closed: a field the schema does not list is refused unless the schema declares
    ``additionalProperties``. JSON Schema would let it through, but the point of the check is that a
    client relies only on what the platform documents; an undocumented field is at best ignored by
    the platform and at worst means something else there.
    """
    schema = _resolved(schema, spec)
    unknown = set(schema) - _CHECKED - _ANNOTATIONS
    if unknown:
        raise ValueError(f"schema keyword {sorted(unknown)[0]!r} at {where or 'body'} is not supported by this check")
    if value is None:
        nullable = schema.get("nullable") or schema.get("x-nullable") or "type" not in schema
        return [] if nullable else [SchemaProblem(where, f"null where the documentation asks for {schema['type']}")]
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        return [SchemaProblem(where, f"{_json_type(value)} where the documentation asks for {kind}")]
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(v) for v in schema["enum"])
        return [SchemaProblem(where, f"{value!r} is not one of the documented values ({allowed})")]
    problems: list[SchemaProblem] = []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(SchemaProblem(where, f"{value} is above the documented maximum {schema['maximum']}"))
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(SchemaProblem(where, f"{value} is below the documented minimum {schema['minimum']}"))
    if isinstance(value, dict):
        problems += _object_problems(schema, value, spec, where)
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(SchemaProblem(where, f"{len(value)} items, at most {schema['maxItems']} documented"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(SchemaProblem(where, f"{len(value)} items, at least {schema['minItems']} documented"))
        for index, item in enumerate(value):
            problems += schema_problems(schema.get("items", {}), item, spec=spec, where=f"{where}[{index}]")
    return problems


def _object_problems(schema: dict[str, Any], value: dict[str, Any], spec: Any, where: str) -> list[SchemaProblem]:
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    problems = [
        SchemaProblem(_join(where, name), "required by the documentation, missing")
        for name in schema.get("required") or []
        if name not in value
    ]
    for name, item in value.items():
        if name in properties:
            problems += schema_problems(properties[name], item, spec=spec, where=_join(where, name))
        elif isinstance(extra, dict):
            problems += schema_problems(extra, item, spec=spec, where=_join(where, name))
        elif extra is not True:
            problems.append(SchemaProblem(_join(where, name), "not a documented field"))
    return problems


def _resolved(schema: Any, spec: Any) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        node = spec
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return dict(schema or {})


def _is_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, _TYPES[kind])


def _json_type(value: Any) -> str:
    for name, types in (("boolean", (bool,)), ("integer", (int,)), ("number", (float,)), ("string", (str,))):
        if isinstance(value, types):
            return name
    return "array" if isinstance(value, list) else "object"


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
