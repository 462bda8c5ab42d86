"""HubSpot's published OpenAPI document for CRM v3 contacts, shipped with the package (SOURCE.md says
where it comes from).

The sandbox checks every request body against it, so sandbox and connector both answer to what
HubSpot publishes rather than to each other.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["contacts_spec"]


@cache
def contacts_spec() -> dict[str, Any]:
    """The contacts OpenAPI 3 document, parsed once per process."""
    return dict(json.loads(files(__name__).joinpath("contacts-v3-openapi.json").read_text(encoding="utf-8")))
