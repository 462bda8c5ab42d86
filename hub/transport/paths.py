"""Dotted paths into parsed JSON bodies: where a listing keeps its records, its cursor, its total."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["dig"]


def dig(data: Any, path: str | None) -> Any:
    """Follow a dotted path (``data.products.pageInfo``) into nested dicts; ``None`` when absent."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit():
            index = int(part)
            data = data[index] if index < len(data) else None
        else:
            return None
        if data is None:
            return None
    return data
