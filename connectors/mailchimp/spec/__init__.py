"""Mailchimp Marketing API 3.0.55 as published (OpenAPI slices), shipped with the package (SOURCE.md says
where each file comes from).

The sandbox checks every request body against them, so sandbox and connector both answer to what
Mailchimp documents rather than to each other.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml

__all__ = ["SLICES", "marketing_spec"]

#: The shipped slices by name: ``members`` (list members, their tags), ``batches`` (``/batches``),
#: ``batch-subscribe`` (``POST /lists/{list_id}``).
SLICES = ("members", "batches", "batch-subscribe")


@cache
def marketing_spec(name: str) -> dict[str, Any]:
    """One slice, parsed once per process (the members slice is 370 kB of YAML)."""
    if name not in SLICES:
        raise ValueError(f"no Mailchimp spec slice {name!r}; shipped: {', '.join(SLICES)}")
    text = files(__name__).joinpath(f"mailchimp-{name}-api-openapi.yml").read_text(encoding="utf-8")
    return dict(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
