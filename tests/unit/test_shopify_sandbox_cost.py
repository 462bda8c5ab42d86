"""The sandbox's own cost (from the real schema, Shopify's published rules) against the client's estimate.

The client estimates without a schema (it must know a query's cost before sending it); the
sandbox computes from the parsed document and the served schema, sharing no code with the client.
Tolerance: the client may never estimate below the sandbox's requested cost (it would send a query
the bucket refuses) and may overestimate by at most 2% (it would only wait a little longer).
"""

from __future__ import annotations

import ast
from pathlib import Path

import graphql
import pytest

from connectors.shopify import queries
from connectors.shopify.cost import query_cost
from connectors.shopify.sandbox_bulk import bulk_limit_problem
from connectors.shopify.sandbox_cost import actual_cost, requested_cost
from connectors.shopify.sandbox_schema import UnknownVersion, schema_for, served_version

TOLERANCE = 0.02
#: Variables as the connector sends them (a full page, counts asked for).
VARIABLES = {"first": queries.PAGE_SIZE, "withCount": True}


def sent_to(version: str) -> list[queries.Document]:
    """Every document the connector sends to ``version`` (bulk queries run inside ``BULK_RUN``)."""
    chosen = {queries.customers_for(version), queries.stock_set_for(version)}
    fixed = [
        d for d in queries.DOCUMENTS if d.replaced_in is None and d not in (queries.BULK_VARIANTS, queries.BULK_STOCK)
    ]
    return [*fixed, *sorted(chosen, key=lambda d: d.name)]


@pytest.mark.parametrize("version", ["2025-10", "2026-07"])
def test_client_estimate_is_within_tolerance_of_the_sandboxs_cost(version: str) -> None:
    schema = schema_for(version)
    for document in sent_to(version):
        parsed = graphql.parse(document.text)
        assert graphql.validate(schema, parsed) == [], document.name
        sandbox = requested_cost(schema, parsed, VARIABLES)
        client = query_cost(document.text, VARIABLES)
        assert sandbox <= client <= sandbox * (1 + TOLERANCE), (document.name, client, sandbox)


def test_sandbox_cost_follows_the_published_rules() -> None:
    schema = schema_for("2026-07")
    cost = lambda text, variables=None: requested_cost(schema, graphql.parse(text), variables or {})  # noqa: E731
    assert cost("{ shop { name } }") == 1  # object 1, scalar 0
    assert cost("{ productVariants(first: 10) { nodes { id product { id } } pageInfo { hasNextPage } } }") == 2 + 10 * 2
    assert cost("query($n: Int) { productVariants(last: $n) { edges { node { id } cursor } } }", {"n": 5}) == 2 + 5
    # An interface costs the largest of its possible types' selections.
    assert cost('{ node(id: "x") { ... on BulkOperation { id } ... on ProductVariant { product { id } } } }') == 2
    assert (
        cost(
            "mutation { a: customerCreate(input: {}) { customer { id } } "
            "b: customerUpdate(input: {}) { customer { id } } }"
        )
        == 20
    )
    assert cost("query($s: Boolean!) { shop { name } productVariantsCount @skip(if: $s) { count } }", {"s": True}) == 1
    fragment = "fragment F on ProductVariant { product { id } } { productVariants(first: 3) { nodes { ...F } } }"
    assert cost(fragment) == 2 + 3 * 2


def test_actual_cost_charges_what_was_returned() -> None:
    schema = schema_for("2026-07")
    text = "{ productVariants(first: 250) { nodes { id product { id } } } shop { name } }"
    data = {
        "productVariants": {"nodes": [{"id": "1", "product": {"id": "p"}}, {"id": "2", "product": None}]},
        "shop": None,
    }
    # 2 for the connection, 1 + 1 for the first node, 1 for the second (its product is null), nothing for shop.
    assert actual_cost(schema, graphql.parse(text), {}, data) == 2 + 2 + 1
    assert requested_cost(schema, graphql.parse(text), {}) == 2 + 250 * 2 + 1


def test_bulk_limits_five_connections_two_levels() -> None:
    schema = schema_for("2026-07")
    assert bulk_limit_problem(schema, graphql.parse(queries.BULK_STOCK.text)) is None
    three_deep = (
        "{ locations { edges { node { inventoryLevels { edges { node {"
        " item { variants { edges { node { id } } } } } } } } } } }"
    )
    assert "nested more than 2" in str(bulk_limit_problem(schema, graphql.parse(three_deep)))
    six = "{ " + " ".join(f"c{i}: customers {{ edges {{ node {{ id }} }} }}" for i in range(6)) + " }"
    assert "more than 5 connections" in str(bulk_limit_problem(schema, graphql.parse(six)))


def test_retired_versions_are_served_as_the_oldest_supported() -> None:
    assert served_version("2025-01") == "2025-10"
    assert served_version("2026-07") == "2026-07"
    assert served_version("2025-10", oldest_supported="2026-07") == "2026-07"
    with pytest.raises(UnknownVersion):
        served_version("2026-04")  # supported by Shopify, but no schema shipped: never made up
    with pytest.raises(UnknownVersion):
        served_version("latest")


def test_sandbox_imports_no_client_or_connector_code() -> None:
    """The sandbox answers to Shopify's documentation and schemas, never to what the client computes."""
    allowed_local = {
        "sandbox",
        "sandbox_bulk",
        "sandbox_cost",
        "sandbox_mutations",
        "sandbox_resolvers",
        "sandbox_orders",
        "sandbox_webhooks",
        "sandbox_schema",
        "sandbox_state",
        "schemas",
    }
    for path in Path("connectors/shopify").glob("sandbox*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("connectors."):
                assert node.module.removeprefix("connectors.shopify.") in allowed_local, (path.name, node.module)
