"""Shopify's calculated query cost, computed from a document before it is sent.

The Admin API charges a leaky bucket in cost points and refuses (THROTTLED) a query whose
*requested* cost exceeds what the bucket holds, so the connector must know a query's cost before
sending it. Shopify's rules, as documented on shopify.dev ("Rate limits", calculated query cost):

* a scalar or enum field costs 0;
* an object (or a list of objects) costs 1 plus what is selected inside it;
* a connection (a field selecting ``edges`` or ``nodes``) costs 2 plus ``first`` (or ``last``)
  times the cost of one node (1 plus what is selected inside the node), so page size multiplies
  every nested cost;
* a mutation costs 10.

It is an estimate made without the schema (a connection is recognised by its ``edges``/``nodes``
selection): the sandbox computes the cost on its own from the real schema (``sandbox_cost``), and
the tests hold this estimate to it on every document the connector sends. This module parses just
enough GraphQL (selection sets, arguments, aliases, inline fragments, ``@include``/``@skip``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MUTATION_COST", "Selection", "parse_operation", "query_cost"]

#: What one mutation field costs, whatever it selects.
MUTATION_COST = 10
#: Shopify refuses connections without ``first``/``last`` outside bulk operations; we assume the maximum.
_DEFAULT_PAGE = 250

_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'  # block string
    r'|"(?:[^"\\]|\\.)*"'  # string
    r"|\.\.\."  # spread
    r"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"  # number
    r"|[A-Za-z_][A-Za-z0-9_]*"  # name
    r"|[{}()\[\]:$!@=]"  # punctuator
    r"|#[^\n]*"  # comment
    r"|[\s,]+"  # ignored
)


@dataclass
class Selection:
    """One field (or inline fragment, ``name == "..."``) with its arguments, directives and children."""

    name: str
    alias: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    directives: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: list[Selection] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class _Var:
    name: str


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = [t for t in _TOKEN.findall(text) if not t.isspace() and t.strip(", \n\t") and t[0] != "#"]
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"GraphQL syntax: expected {expected or 'a token'}, found {token!r}")
        self.pos += 1
        return token

    def value(self) -> Any:
        token = self.take()
        if token == "$":
            return _Var(self.take())
        if token == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if token == "{":
            obj = {}
            while self.peek() != "}":
                key = self.take()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if token.startswith('"'):
            return token.strip('"')
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        return {"true": True, "false": False, "null": None}.get(token, token)

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                name = self.take()
                self.take(":")
                args[name] = self.value()
            self.take(")")
        return args

    def directives(self) -> dict[str, dict[str, Any]]:
        found = {}
        while self.peek() == "@":
            self.take("@")
            name = self.take()
            found[name] = self.arguments()
        return found

    def selection_set(self) -> list[Selection]:
        self.take("{")
        out = []
        while self.peek() != "}":
            if self.peek() == "...":
                self.take("...")
                if self.peek() == "on":
                    self.take("on")
                    self.take()
                directives = self.directives()
                out.append(Selection("...", directives=directives, children=self.selection_set()))
                continue
            name = self.take()
            alias = None
            if self.peek() == ":":
                self.take(":")
                alias, name = name, self.take()
            args = self.arguments()
            directives = self.directives()
            children = self.selection_set() if self.peek() == "{" else []
            out.append(Selection(name, alias, args, directives, children))
        self.take("}")
        return out


def parse_operation(text: str) -> tuple[str, list[Selection]]:
    """The first operation of a document: its kind (``query``/``mutation``) and top-level fields."""
    parser = _Parser(text)
    kind = "query"
    if parser.peek() in ("query", "mutation", "subscription"):
        kind = parser.take()
        while parser.peek() not in ("{", None):  # name, variable definitions, directives
            if parser.peek() == "(":
                depth = 0
                while True:
                    token = parser.take()
                    depth += token == "("
                    depth -= token == ")"
                    if depth == 0:
                        break
            else:
                parser.take()
    return kind, parser.selection_set()


def _resolve(value: Any, variables: Mapping[str, Any]) -> Any:
    return variables.get(value.name) if isinstance(value, _Var) else value


def _included(sel: Selection, variables: Mapping[str, Any]) -> bool:
    if "include" in sel.directives and not _resolve(sel.directives["include"].get("if"), variables):
        return False
    return not ("skip" in sel.directives and _resolve(sel.directives["skip"].get("if"), variables))


def _cost(selections: list[Selection], variables: Mapping[str, Any]) -> int:
    total = 0
    for sel in selections:
        if not _included(sel, variables):
            continue
        if sel.name == "...":
            total += _cost(sel.children, variables)
            continue
        if not sel.children:
            continue
        names = {c.name for c in sel.children}
        if names & {"edges", "nodes"}:
            size = _resolve(sel.args.get("first", sel.args.get("last")), variables)
            size = int(size) if isinstance(size, int) else _DEFAULT_PAGE
            per_node = 0
            for child in sel.children:
                if child.name == "nodes":
                    per_node = max(per_node, 1 + _cost(child.children, variables))
                elif child.name == "edges":
                    node = [c for c in child.children if c.name == "node"]
                    inner = _cost(node[0].children, variables) if node else 0
                    per_node = max(per_node, 1 + inner)
            total += 2 + size * per_node
        elif sel.name != "pageInfo":
            total += 1 + _cost(sel.children, variables)
    return total


def query_cost(text: str, variables: Mapping[str, Any] | None = None) -> int:
    """The calculated (requested) cost of ``text`` with ``variables``."""
    kind, selections = parse_operation(text)
    variables = variables or {}
    if kind == "mutation":
        return MUTATION_COST * sum(1 for s in selections if _included(s, variables))
    return max(1, _cost(selections, variables))
