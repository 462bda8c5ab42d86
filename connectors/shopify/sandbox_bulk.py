"""The limits Shopify puts on a bulk operation's query (shopify.dev, "Perform bulk operations"):
at most 5 connections in the query, and connections nested at most 2 levels deep."""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, FieldNode, GraphQLSchema, TypeInfo, TypeInfoVisitor, Visitor, get_named_type, visit

__all__ = ["MAX_CONNECTIONS", "MAX_NESTING", "bulk_limit_problem"]

MAX_CONNECTIONS = 5
MAX_NESTING = 2


class _Connections(Visitor):
    """Counts connection fields and the deepest nesting of one connection inside another."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.count = 0
        self.depth = 0
        self.deepest = 0
        self._open: list[FieldNode] = []

    def _is_connection(self) -> bool:
        named: Any = get_named_type(self.type_info.get_type())
        return named is not None and named.name.endswith("Connection") and "pageInfo" in getattr(named, "fields", {})

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if self._is_connection():
            self.count += 1
            self._open.append(node)
            self.deepest = max(self.deepest, len(self._open))

    def leave_field(self, node: FieldNode, *_: Any) -> None:
        if self._open and self._open[-1] is node:
            self._open.pop()


def bulk_limit_problem(schema: GraphQLSchema, document: DocumentNode) -> str | None:
    """Why Shopify would refuse ``document`` (already validated) as a bulk query, or ``None``."""
    type_info = TypeInfo(schema)
    counter = _Connections(type_info)
    visit(document, TypeInfoVisitor(type_info, counter))
    if counter.count > MAX_CONNECTIONS:
        return f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections (this one has {counter.count})."
    if counter.deepest > MAX_NESTING:
        return f"Bulk queries cannot contain connections nested more than {MAX_NESTING} levels deep."
    return None
