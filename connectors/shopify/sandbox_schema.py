"""Which Admin API version the sandbox serves for a requested one, and that version's real schema.

The schemas are Shopify's own introspection results (``connectors.shopify.schemas``), built with
graphql-core's ``build_client_schema``; the sandbox builds its own copy of each, since it attaches
its resolvers to it. Versions, from Shopify's versioning page (see the platform notes): a version
is supported for 12 months, and a request for an older one is answered by the oldest supported
version, named in the ``X-Shopify-API-Version`` response header.
"""

from __future__ import annotations

import re
from functools import cache

from graphql import GraphQLSchema, build_client_schema

from connectors.shopify.schemas import VERSIONS, introspection

__all__ = ["OLDEST_SUPPORTED", "UnknownVersion", "schema_for", "served_version"]

#: The oldest version Shopify supported when these schemas were taken (November 2026).
OLDEST_SUPPORTED = "2025-10"
_RELEASE = re.compile(r"^\d{4}-(01|04|07|10)$")


class UnknownVersion(LookupError):
    """A version the sandbox has no schema for (it never makes one up)."""


def served_version(requested: str, oldest_supported: str = OLDEST_SUPPORTED) -> str:
    """The version that answers a request for ``requested``: itself, or the oldest supported one."""
    if not _RELEASE.match(requested):
        raise UnknownVersion(requested)
    served = max(requested, oldest_supported)  # YYYY-MM sorts as text
    if served not in VERSIONS:
        raise UnknownVersion(served)
    return served


@cache
def schema_for(version: str) -> GraphQLSchema:
    """Shopify's published Admin schema of ``version``, the sandbox's own copy (built once per process)."""
    return build_client_schema(introspection(version))
