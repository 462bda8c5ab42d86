"""The JSON Schema of ``omnihub.yaml`` for editors, with each connector type's own settings.

Each property's ``description`` comes from the ``#:`` comment lines right above its field in the
model's source (``hub/config/models.py``, each connector's settings model): the comments people
read in the code are the ones an editor shows on hover, with no second copy to keep in step.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from functools import cache
from typing import Any

from pydantic import BaseModel

from hub.config.models import HubConfig
from hub.errors import ConfigError
from hub.plugins.registry import available_types, connector_class

__all__ = ["config_json_schema", "field_comments"]


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``omnihub.yaml`` for editors, connector entries included by type."""
    schema = HubConfig.model_json_schema()
    models: dict[str, type[BaseModel]] = {}
    _collect(HubConfig, models)
    variants = []
    for type_name in available_types():
        try:
            cls = connector_class(type_name)
        except ConfigError:
            continue
        _collect(cls.settings_model, models)
        sub = cls.settings_model.model_json_schema(ref_template="#/$defs/{model}")
        _describe(sub, cls.settings_model)
        # Nested models of a connector are referenced from the root: hoist their definitions there.
        schema.setdefault("$defs", {}).update(sub.pop("$defs", {}))
        sub.setdefault("properties", {})["type"] = {"const": type_name, "description": "The connector type."}
        variants.append(sub)
    _describe(schema, HubConfig)
    for name, text in _SECTIONS.items():
        schema["properties"].get(name, {}).setdefault("description", text)
    for name, definition in schema.get("$defs", {}).items():
        if name in models:
            _describe(definition, models[name])
    if variants:
        schema["properties"]["connectors"]["additionalProperties"] = {"oneOf": variants}
    schema["title"] = "omnihub configuration"
    return schema


#: What the top-level sections are for, where ``HubConfig`` has no ``#:`` comment of its own.
_SECTIONS = {
    "version": "The format version of this file (1).",
    "hub": "Where the state is kept, the currency, the time zone of schedules and e-mails, and run limits.",
    "connectors": "The platforms, by the name the jobs use: each has a `type` and that type's settings.",
    "truth": "Per entity (products, prices, stock, customers), the connector whose values are the truth.",
    "jobs": "What to keep in sync: an entity, its targets, a mode (enforce or monitor) and a schedule.",
    "alerts": "Where the digest of open mismatches goes (e-mail, other channels) and when.",
}


def _collect(model: type[BaseModel], into: dict[str, type[BaseModel]]) -> None:
    """``model`` and every model its fields hold, by the name pydantic gives their ``$defs``."""
    if model.__name__ in into:
        return
    into[model.__name__] = model
    for field in model.model_fields.values():
        for kind in _types_in(field.annotation):
            _collect(kind, into)


def _types_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models named anywhere in a type (``dict[str, JobConfig] | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [kind for arg in getattr(annotation, "__args__", ()) for kind in _types_in(arg)]


def _describe(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Fill in the ``description`` of each property from its field's ``#:`` comment (a description
    given in the model itself wins)."""
    comments = field_comments(model)
    properties = schema.get("properties", {})
    for name, field in model.model_fields.items():
        text = comments.get(name)
        prop = properties.get(field.alias or name)
        if text and isinstance(prop, dict) and "description" not in prop:
            prop["description"] = text


@cache
def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the ``#:`` comment lines above it, joined, for ``model`` and the classes it
    inherits from (a subclass's comment wins)."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if cls is BaseModel or not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            continue
        found.update(_class_comments(cls))
    return found


def _class_comments(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (a frozen build): the schema goes without descriptions
        return {}
    lines = source.splitlines()
    try:
        tree = ast.parse(source)
    except SyntaxError:  # pragma: no cover - the source of a class that imported
        return {}
    node = tree.body[0]
    if not isinstance(node, ast.ClassDef):
        return {}
    comments = {}
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            above = []
            line = statement.lineno - 2  # 0-based index of the line above the field
            while line >= 0 and lines[line].strip().startswith("#:"):
                above.append(lines[line].strip()[2:].strip())
                line -= 1
            if above:
                comments[statement.target.id] = _plain(" ".join(reversed(above)))
    return comments


def _plain(text: str) -> str:
    """A comment as an editor shows it: reStructuredText's double backticks as single ones."""
    return text.replace("``", "`")
