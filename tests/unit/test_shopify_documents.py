"""Every GraphQL document the Shopify connector sends is valid against Shopify's published schema
of the version it is sent to (the schemas ship in ``connectors.shopify.schemas``)."""

from __future__ import annotations

import graphql
import pytest

from connectors.shopify import queries
from connectors.shopify.cost import query_cost
from connectors.shopify.schemas import VERSIONS, published_schema
from connectors.shopify.settings import DEFAULT_API_VERSION


def sent_to(version: str) -> set[queries.Document]:
    """The documents the connector sends to ``version``: the 2025-01 set with the version-chosen ones swapped."""
    chosen_for_oldest = {queries.customers_for("2025-01"), queries.stock_set_for("2025-01")}
    return set(queries.DOCUMENTS) - chosen_for_oldest | {queries.customers_for(version), queries.stock_set_for(version)}


@pytest.mark.parametrize("document", queries.DOCUMENTS, ids=lambda d: d.name)
def test_document_is_valid_in_2025_01(document: queries.Document) -> None:
    errors = graphql.validate(published_schema("2025-01"), graphql.parse(document.text))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("document", queries.LATER_DOCUMENTS, ids=lambda d: f"{d.name}-{d.introduced}")
def test_later_documents_are_chosen_only_from_their_version(document: queries.Document) -> None:
    """These use fields or directives the 2025-01 schema lacks (they are validated against later versions below):
    the version-choosing functions must never send them to an older version."""
    assert document.introduced > "2025-01"
    errors = graphql.validate(published_schema("2025-01"), graphql.parse(document.text))
    assert errors, "valid in 2025-01: move it to DOCUMENTS"
    chosen_by = {
        v: {queries.customers_for(v), queries.stock_set_for(v)}
        for v in ("2025-01", "2025-04", "2025-10", "2026-01", "2026-04", "2026-07")
    }
    for version, chosen in chosen_by.items():
        assert (document in chosen) == (version >= document.introduced), version


@pytest.mark.parametrize("version", [v for v in VERSIONS if v > "2025-01"])
def test_documents_sent_to_a_later_version_are_valid_in_its_schema(version: str) -> None:
    for document in sent_to(version):
        errors = graphql.validate(published_schema(version), graphql.parse(document.text))
        assert errors == [], (document.name, document.introduced, [e.message for e in errors])


def test_an_unshipped_version_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"2024-04.*shipped: 2025-01"):
        published_schema("2024-04")


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
    assert query_cost("mutation { x(a: 1) { userErrors { code } } y { z } }") == 20
    assert query_cost("{ shop { name } c: productVariantsCount @skip(if: true) { count } }") == 1


def test_the_default_version_is_the_latest_shipped_and_every_document_sent_to_it_is_valid() -> None:
    """A connector whose YAML names no version talks to the latest stable version, whose schema ships."""
    assert VERSIONS[-1] == DEFAULT_API_VERSION
    for document in sent_to(DEFAULT_API_VERSION):
        errors = graphql.validate(published_schema(DEFAULT_API_VERSION), graphql.parse(document.text))
        assert errors == [], (document.name, [e.message for e in errors])


@pytest.mark.parametrize(
    ("version", "compare_field"),
    [("2025-01", "compareQuantity"), ("2025-10", "compareQuantity"), ("2026-07", "changeFromQuantity")],
)
def test_the_stock_write_uses_the_compare_field_of_its_version(version: str, compare_field: str) -> None:
    """The compare field a version's schema takes is the one the chosen stock write is for."""
    document = queries.stock_set_for(version)
    fields = published_schema(version).type_map["InventoryQuantityInput"].fields  # type: ignore[union-attr]
    assert compare_field in fields
    assert ("@idempotent" in document.text) == (compare_field == "changeFromQuantity")
