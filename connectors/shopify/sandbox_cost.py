"""The sandbox's own calculated query cost, from the parsed document and the served schema.

Written from Shopify's published rules (shopify.dev, GraphQL Admin API rate limits, "Cost
calculation"), independently of the connector's estimate, so that the client's guess can be
checked against it:

* a field returning a scalar or enum costs 0;
* a field returning an object (or a list of objects) costs 1 plus its selection;
* a field returning an interface or a union costs 1 plus the largest of its possible types'
  selections (fragments apply per type);
* a connection (a ``...Connection`` type) costs 2 plus ``first``/``last`` times one node's cost,
  one node being the object under ``nodes`` or ``edges { node }`` (1 plus its selection); the 2
  covers ``pageInfo`` and the edge wrappers;
* each mutation field costs 10, whatever it selects.

``requested_cost`` is static (before running); ``actual_cost`` walks the answer, charging a
connection for the nodes it really returned and nothing for an object that came back null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    value_from_ast_untyped,
)

__all__ = ["MAX_SINGLE_QUERY_COST", "MUTATION_COST", "actual_cost", "requested_cost"]

MUTATION_COST = 10
#: Shopify refuses a single query that requests more than this.
MAX_SINGLE_QUERY_COST = 1000
#: A connection without ``first``/``last`` (only legal inside a bulk operation) is charged a full page.
_UNSIZED_PAGE = 250
_ABSENT = object()


class _Costing:
    """One document with its variables and fragments, costed against one schema."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        self.operation = operations[0]

    def _value(self, node: Any) -> Any:
        return value_from_ast_untyped(node, self.variables)

    def _included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
        for directive in node.directives or ():
            condition = next((self._value(a.value) for a in directive.arguments if a.name.value == "if"), None)
            if directive.name.value == "include" and not condition:
                return False
            if directive.name.value == "skip" and condition:
                return False
        return True

    def _applies(self, condition: str | None, object_type: GraphQLObjectType) -> bool:
        if condition is None or condition == object_type.name:
            return True
        target = self.schema.get_type(condition)
        return is_abstract_type(target) and self.schema.is_sub_type(target, object_type)  # type: ignore[arg-type]

    def fields(self, object_type: GraphQLObjectType, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        """The fields ``selection_set`` selects on ``object_type``, fragments expanded."""
        out: list[FieldNode] = []
        for selection in selection_set.selections if selection_set else ():
            if not self._included(selection):  # type: ignore[arg-type]
                continue
            if isinstance(selection, FieldNode):
                out.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else None
                if self._applies(condition, object_type):
                    out.extend(self.fields(object_type, selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and self._applies(fragment.type_condition.name.value, object_type):
                    out.extend(self.fields(object_type, fragment.selection_set))
        return out

    def selection(self, object_type: GraphQLObjectType, selection_set: SelectionSetNode | None, data: Any) -> int:
        """The cost of a selection on ``object_type``; ``data`` is the answer's object, or ``_ABSENT`` (static)."""
        total = 0
        for field in self.fields(object_type, selection_set):
            definition = object_type.fields.get(field.name.value)
            if definition is None:
                continue  # ``__typename`` and other meta fields
            value = data.get((field.alias or field.name).value) if isinstance(data, Mapping) else _ABSENT
            total += self.field(field, get_named_type(definition.type), value)
        return total

    def field(self, field: FieldNode, named: Any, value: Any) -> int:
        if is_leaf_type(named):
            return 0
        if value is None:
            return 0  # an object that came back null was not charged
        if named.name.endswith("Connection") and "pageInfo" in named.fields:
            return self.connection(field, named, value)
        items = value if isinstance(value, list) else [value]
        if value is _ABSENT or not items:
            return 1 + self.shape(named, field.selection_set, _ABSENT)
        return 1 + max(self.shape(named, field.selection_set, item) for item in items)

    def shape(self, named: Any, selection_set: SelectionSetNode | None, data: Any) -> int:
        """An object's selection, or for an interface or union the largest over its possible types."""
        if isinstance(named, GraphQLAbstractType):
            return max(
                (self.selection(t, selection_set, data) for t in self.schema.get_possible_types(named)), default=0
            )
        return self.selection(named, selection_set, data)

    def connection(self, field: FieldNode, connection_type: GraphQLObjectType, value: Any) -> int:
        args = {a.name.value: self._value(a.value) for a in field.arguments or ()}
        size = args.get("first") if args.get("first") is not None else args.get("last")
        size = size if isinstance(size, int) else _UNSIZED_PAGE
        per_node: list[tuple[Any, SelectionSetNode | None, str]] = []  # (node type, selection, path in the answer)
        for child in self.fields(connection_type, field.selection_set):
            name = child.name.value
            key = (child.alias or child.name).value
            if name == "nodes":
                node_type = get_named_type(connection_type.fields["nodes"].type)
                per_node.append((node_type, child.selection_set, key))
            elif name == "edges":
                edge_type = get_named_type(connection_type.fields["edges"].type)
                node_type = get_named_type(edge_type.fields["node"].type)
                for node_field in self.fields(edge_type, child.selection_set):
                    if node_field.name.value == "node":
                        per_node.append(
                            (
                                node_type,
                                node_field.selection_set,
                                f"{key}.{(node_field.alias or node_field.name).value}",
                            )
                        )
        if not per_node:
            return 2
        if value is _ABSENT:
            return 2 + size * max(1 + self.shape(t, s, _ABSENT) for t, s, _ in per_node)
        costs: dict[int, int] = {}
        for node_type, selection_set, path in per_node:
            for i, node in enumerate(_nodes_at(value, path)):
                costs[i] = max(costs.get(i, 0), 1 + self.shape(node_type, selection_set, node))
        return 2 + sum(costs.values())


def _nodes_at(connection: Any, path: str) -> list[Any]:
    """The returned nodes of a connection at ``nodes`` or ``edges.node`` (aliases followed)."""
    head, _, rest = path.partition(".")
    items = connection.get(head) if isinstance(connection, Mapping) else None
    if not isinstance(items, list):
        return []
    return [item.get(rest) if rest and isinstance(item, Mapping) else item for item in items]


def requested_cost(schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]) -> int:
    """What Shopify computes before running the first operation of ``document`` (a validated one)."""
    costing = _Costing(schema, document, variables)
    return _operation_cost(costing, _ABSENT)


def actual_cost(schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any], data: Any) -> int:
    """What Shopify charges once the operation ran and answered ``data``."""
    costing = _Costing(schema, document, variables)
    return _operation_cost(costing, data if data is not None else {})


def _operation_cost(costing: _Costing, data: Any) -> int:
    operation = costing.operation
    if operation.operation is OperationType.MUTATION:
        mutation = costing.schema.mutation_type
        assert mutation is not None
        return MUTATION_COST * len(costing.fields(mutation, operation.selection_set))
    root = costing.schema.query_type
    assert root is not None
    return costing.selection(root, operation.selection_set, data)
