"""The JSON Schema of ``omnihub.yaml`` for editors, with each connector type's own settings."""

from __future__ import annotations

from typing import Any

from hub.config.models import HubConfig
from hub.errors import ConfigError
from hub.plugins.registry import available_types, connector_class

__all__ = ["config_json_schema"]


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``omnihub.yaml`` for editors, connector entries included by type."""
    schema = HubConfig.model_json_schema()
    variants = []
    for type_name in available_types():
        try:
            cls = connector_class(type_name)
        except ConfigError:
            continue
        sub = cls.settings_model.model_json_schema(ref_template="#/$defs/{model}")
        # Nested models of a connector are referenced from the root: hoist their definitions there.
        schema.setdefault("$defs", {}).update(sub.pop("$defs", {}))
        sub.setdefault("properties", {})["type"] = {"const": type_name}
        variants.append(sub)
    if variants:
        schema["properties"]["connectors"]["additionalProperties"] = {"oneOf": variants}
    schema["title"] = "omnihub configuration"
    return schema
