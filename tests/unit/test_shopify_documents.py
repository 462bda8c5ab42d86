"""Every GraphQL document the Shopify connector sends is valid against Shopify's published schema."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

import graphql
import pytest

from connectors.shopify import queries
from connectors.shopify.cost import query_cost

#: The repository's parent folder holds ``shared/`` (CI clones the repository beside it).
SCHEMA_FILE = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "platforms"
    / "shopify"
    / "admin-2025-01.introspection.json.gz"
)


@cache
def schema_2025_01() -> graphql.GraphQLSchema:
    if not SCHEMA_FILE.exists():
        pytest.fail(f"Shopify's schema is missing at {SCHEMA_FILE.resolve()}; the documents cannot be validated")
    with gzip.open(SCHEMA_FILE) as handle:
        return graphql.build_client_schema(json.load(handle)["data"])


@pytest.mark.parametrize("document", queries.DOCUMENTS, ids=lambda d: d.name)
def test_document_is_valid_in_2025_01(document: queries.Document) -> None:
    errors = graphql.validate(schema_2025_01(), graphql.parse(document.text))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("document", queries.LATER_DOCUMENTS, ids=lambda d: f"{d.name}-{d.introduced}")
def test_later_documents_are_chosen_only_from_their_version(document: queries.Document) -> None:
    """These use fields or directives the 2025-01 schema lacks (so they cannot be validated here):
    the version-choosing functions must never send them to an older version."""
    assert document.introduced > "2025-01"
    assert graphql.validate(schema_2025_01(), graphql.parse(document.text)), "valid in 2025-01: move it to DOCUMENTS"
    chosen_by = {
        v: {queries.customers_for(v), queries.stock_set_for(v)}
        for v in ("2025-01", "2025-04", "2025-10", "2026-01", "2026-04", "2026-07")
    }
    for version, chosen in chosen_by.items():
        assert (document in chosen) == (version >= document.introduced), version


def test_every_document_sent_is_listed() -> None:
    listed = set(queries.DOCUMENTS) | set(queries.LATER_DOCUMENTS)
    constants = {v for v in vars(queries).values() if isinstance(v, queries.Document)}
    assert constants <= listed


def test_page_queries_fit_under_the_single_query_limit() -> None:
    for document in (
        queries.VARIANTS,
        queries.LOCATION_LEVELS,
        queries.customers_for("2025-01"),
        queries.customers_for("2025-04"),
    ):
        cost = query_cost(document.text, {"first": queries.PAGE_SIZE, "withCount": True})
        assert 250 < cost <= 1000, (document.name, cost)


def test_cost_follows_shopifys_rules() -> None:
    text = "query($n: Int!) { a: productVariants(first: $n) { nodes { id product { id } } pageInfo { hasNextPage } } }"
    assert query_cost(text, {"n": 10}) == 2 + 10 * (1 + 1)
    assert query_cost(text, {"n": 10}, returned={"a": 3}) == 2 + 3 * 2
    assert query_cost("mutation { x(a: 1) { userErrors { code } } y { z } }") == 20
    assert query_cost("{ shop { name } c: productVariantsCount @skip(if: true) { count } }") == 1
