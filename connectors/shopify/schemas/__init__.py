"""Shopify's published Admin GraphQL schemas, shipped with the package (see README.md beside this file).

They are Shopify's own introspection results, not a description written here: the tests validate
every document the connector sends against them, and the sandbox is built from them, so
both answer to what Shopify publishes rather than to each other.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib.resources import files
from typing import Any

from graphql import GraphQLSchema, build_client_schema

__all__ = ["VERSIONS", "introspection", "published_schema"]

#: The Admin API versions whose schema is shipped, oldest first.
VERSIONS = ("2025-01", "2025-10", "2026-07")


def introspection(version: str) -> dict[str, Any]:
    """Shopify's introspection result of ``version`` (``{"__schema": ...}``), read fresh on each call.

    Raises ``ValueError`` naming the shipped versions when ``version`` is not one of them.
    """
    if version not in VERSIONS:
        raise ValueError(f"no Shopify Admin schema shipped for {version!r}; shipped: {', '.join(VERSIONS)}")
    data = files(__name__).joinpath(f"admin-{version}.introspection.json.gz").read_bytes()
    result: dict[str, Any] = json.loads(gzip.decompress(data))["data"]
    return result


@cache
def published_schema(version: str) -> GraphQLSchema:
    """Shopify's Admin schema of ``version`` for validating documents (built once per process: each is
    several megabytes of JSON). The sandbox builds its own copy, since it attaches resolvers to it."""
    return build_client_schema(introspection(version))
