"""The mapping transform that turns a WMS warehouse id into a canonical location code.

The core ``location`` transform insists on a ``locations`` map. A WMS configured without one (the
smallest YAML: ``{type: rest_wms, base_url, api_key}``) should still work, with its warehouse ids
taken as location codes; ``wms_location`` does exactly that and otherwise behaves like
``location``. It is registered when this package is imported (the connector's entry point).
"""

from __future__ import annotations

from typing import Any

from hub.sdk import TransformContext, register_transform

__all__ = ["wms_location", "wms_location_reverse"]


def wms_location(value: Any, ctx: TransformContext) -> str | None:
    """Warehouse id -> canonical location through ``locations``; as it is when that map is empty."""
    if value is None:
        return None
    mapping = ctx.setting("locations") or {}
    if not mapping:
        return str(value).strip()
    code = mapping.get(str(value))
    if code is None:
        raise ValueError(f"warehouse {value!r} is not mapped; add it under this connector's `locations`")
    return str(code)


def wms_location_reverse(value: Any, ctx: TransformContext) -> str | None:
    """Canonical location code -> warehouse id (the inverse of ``wms_location``)."""
    if value is None:
        return None
    mapping = ctx.setting("locations") or {}
    if not mapping:
        return str(value)
    for warehouse, code in mapping.items():
        if code == value:
            return str(warehouse)
    raise ValueError(f"location {value!r} has no warehouse in `locations`")


register_transform(
    "wms_location",
    wms_location,
    wms_location_reverse,
    "WMS warehouse id to canonical location code (setting `locations`; ids as they are when it is empty)",
)
