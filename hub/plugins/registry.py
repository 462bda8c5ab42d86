"""Connector plugins, found by ``type`` through the entry point group ``omnihub.connectors``.

A third party ships a connector as its own distribution with an entry point in that group; the hub
imports it only when a config names its type, so a broken plugin cannot break unrelated jobs.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from hub.errors import ConfigError
from hub.plugins.contract import Connector

__all__ = ["GROUP", "available_types", "connector_class"]

GROUP = "omnihub.connectors"


@cache
def available_types() -> tuple[str, ...]:
    """Every connector type installed, by entry point name."""
    return tuple(sorted({ep.name for ep in entry_points(group=GROUP)}))


@cache
def connector_class(type_name: str) -> type[Connector]:
    """The connector class registered under ``type_name``; a ``ConfigError`` if there is none."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == type_name]
    if not matches:
        known = ", ".join(available_types()) or "none installed"
        raise ConfigError(f"unknown connector type {type_name!r}; installed types: {known}")
    try:
        cls = matches[0].load()
    except ImportError as exc:
        raise ConfigError(f"connector type {type_name!r} is installed but cannot be imported: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(f"entry point {type_name!r} does not name a Connector class")
    return cls
