"""How the sandbox answers each field: connections, filters, mutations and bulk operations.

Resolvers read the store from ``info.context["state"]``, so one schema object serves every
sandbox app in the process. Connection arguments follow Shopify: ``first`` or ``last`` is
required (at most 250) except inside a bulk operation, cursors are opaque, and ``query`` filters
on ``updated_at:>'...'``.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, parse, validate
from graphql.execution import execute

from connectors.shopify.sandbox_bulk import bulk_limit_problem
from connectors.shopify.sandbox_mutations import Mutations, user_error
from connectors.shopify.sandbox_orders import (
    FulfillmentOrder,
    LineItem,
    Order,
    OrderMutations,
    install_orders,
    orders_matching,
)
from connectors.shopify.sandbox_schema import schema_for
from connectors.shopify.sandbox_state import (
    BulkOp,
    Customer,
    InventoryItem,
    Level,
    Location,
    ShopState,
    Variant,
    gid,
)
from connectors.shopify.sandbox_webhooks import WebhookHub, WebhookMutations, install_webhooks

__all__ = ["Resolvers", "flatten_bulk"]

#: Shopify's largest page.
PAGE_SIZE = 250
_UPDATED_AFTER = re.compile(r"updated_at:\s*>\s*'?([0-9T:\-.+Z]+)'?")
_TYPE_NAMES = {
    Variant: "ProductVariant",
    InventoryItem: "InventoryItem",
    Location: "Location",
    Customer: "Customer",
    BulkOp: "BulkOperation",
    Level: "InventoryLevel",
    Order: "Order",
    LineItem: "LineItem",
    FulfillmentOrder: "FulfillmentOrder",
}


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"last_id": position})).decode()


def _position(cursor: str | None) -> int:
    if not cursor:
        return -1
    try:
        return int(orjson.loads(base64.urlsafe_b64decode(cursor.encode()))["last_id"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError("Invalid cursor for current pagination sort.") from None


def connection(
    info: GraphQLResolveInfo,
    items: Iterable[Any],
    stamp_of: Callable[[Any], str],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    query: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """A page of ``items`` (already in id order) as a Relay connection."""
    matched = list(enumerate(items))
    if query and (m := _UPDATED_AFTER.search(query)):
        since = m.group(1)
        matched = [(i, x) for i, x in matched if stamp_of(x) > since]
    if info.context.get("bulk"):
        page, more = matched, False
    else:
        size = first if first is not None else last
        if size is None:
            raise GraphQLError("you must provide one of first or last")
        if size > PAGE_SIZE or size < 0:
            raise GraphQLError(f"The maximum number of items per page is {PAGE_SIZE}")
        start = _position(after)
        rest = [(i, x) for i, x in matched if i > start]
        page, more = rest[:size], len(rest) > size
    nodes = [x for _, x in page]
    edges = [{"node": x, "cursor": _cursor(i)} for i, x in page]
    return {
        "nodes": nodes,
        "edges": edges,
        "pageInfo": {
            "hasNextPage": more,
            "hasPreviousPage": bool(after),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _install(schema: GraphQLSchema) -> None:
    """Resolvers of fields that take arguments on non-root types (once per schema object)."""
    if getattr(schema, "_shopify_sandbox", False):
        return
    types = schema.type_map

    def levels_at_location(loc: Location, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        state: ShopState = info.context["state"]
        levels = [lvl for v in state.variants if (lvl := v.inventoryItem.levels.get(loc.id)) is not None]
        return connection(info, levels, lambda lvl: lvl.updatedAt, **args)

    def levels_of_item(item: InventoryItem, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return connection(info, list(item.levels.values()), lambda lvl: lvl.updatedAt, **args)

    def level_of_item(item: InventoryItem, info: GraphQLResolveInfo, locationId: str, **_: Any) -> Level | None:
        return item.levels.get(locationId)

    def quantities(level: Level, info: GraphQLResolveInfo, names: list[str], **_: Any) -> list[dict[str, Any]]:
        values = {"available": level.available, "on_hand": level.on_hand, "committed": level.on_hand - level.available}
        return [
            {"id": f"{level.id}&name={n}", "name": n, "quantity": values.get(n, 0), "updatedAt": level.updatedAt}
            for n in names
        ]

    types["Location"].fields["inventoryLevels"].resolve = levels_at_location  # type: ignore[union-attr]
    types["InventoryItem"].fields["inventoryLevels"].resolve = levels_of_item  # type: ignore[union-attr]
    types["InventoryItem"].fields["inventoryLevel"].resolve = level_of_item  # type: ignore[union-attr]
    types["InventoryLevel"].fields["quantities"].resolve = quantities  # type: ignore[union-attr]
    types["Node"].resolve_type = lambda obj, info, type_: _TYPE_NAMES.get(type(obj))  # type: ignore[union-attr]
    install_orders(schema, connection)
    install_webhooks(schema)
    schema._shopify_sandbox = True  # type: ignore[attr-defined]


def flatten_bulk(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A bulk query's result as Shopify's JSONL rows: nested connections become rows of their own
    carrying ``__parentId``, each right after its parent."""
    rows: list[dict[str, Any]] = []

    def nodes_of(conn: dict[str, Any]) -> list[dict[str, Any]]:
        if "nodes" in conn:
            return list(conn["nodes"])
        return [e["node"] for e in conn.get("edges") or []]

    def strip(obj: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
        out = {}
        for key, value in obj.items():
            if isinstance(value, dict) and ("edges" in value or "nodes" in value):
                children.extend(nodes_of(value))
            elif isinstance(value, dict):
                out[key] = strip(value, children)
            else:
                out[key] = value
        return out

    def emit(node: dict[str, Any], parent: str | None) -> None:
        children: list[dict[str, Any]] = []
        row = strip(node, children)
        if parent is not None:
            row["__parentId"] = parent
        rows.append(row)
        for child in children:
            emit(child, node.get("id"))

    for value in data.values():
        if isinstance(value, dict):
            for node in nodes_of(value):
                emit(node, None)
    return rows


class _Root(Mutations, OrderMutations, WebhookMutations):
    """The root value of one request: the query fields here, the mutation fields from the mixins."""

    def __init__(self, resolvers: Resolvers, version: str, base_url: str) -> None:
        self.r = resolvers
        self.state = resolvers.state
        self.hooks = resolvers.hooks
        self.version = version
        self.base_url = base_url

    # -------------------------------------------------------------- queries

    def shop(self, info: GraphQLResolveInfo, **_: Any) -> dict[str, str]:
        return {"name": self.state.shop.split(".")[0], "myshopifyDomain": self.state.shop}

    def node(self, info: GraphQLResolveInfo, id: str, **_: Any) -> Any:
        found = self.state.nodes.get(id) or self.state.bulk_ops.get(id)
        if isinstance(found, BulkOp):
            self.r.refresh(found)
        return found

    def productVariants(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return connection(info, self.state.variants, lambda v: v.updatedAt, **args)

    def productVariantsCount(
        self, info: GraphQLResolveInfo, query: str | None = None, limit: int | None = 10000, **_: Any
    ) -> dict[str, Any]:
        items = self.state.variants
        if query and (m := _UPDATED_AFTER.search(query)):
            items = [v for v in items if v.updatedAt > m.group(1)]
        if limit is None or len(items) <= limit:
            return {"count": len(items), "precision": "EXACT"}
        return {"count": limit, "precision": "AT_LEAST"}

    def locations(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        args.pop("includeInactive", None)
        args.pop("includeLegacy", None)
        return connection(info, self.state.locations, lambda loc: "", **args)

    def location(self, info: GraphQLResolveInfo, id: str | None = None, **_: Any) -> Location | None:
        return self.state.location_by_id.get(id) if id else self.state.locations[0]

    def inventoryItem(self, info: GraphQLResolveInfo, id: str, **_: Any) -> InventoryItem | None:
        found = self.state.nodes.get(id)
        return found if isinstance(found, InventoryItem) else None

    def customers(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return connection(info, self.state.customers, lambda c: c.updatedAt, **args)

    def customersCount(self, info: GraphQLResolveInfo, query: str | None = None, **_: Any) -> dict[str, Any]:
        return {"count": len(self.state.customers), "precision": "EXACT"}

    def orders(
        self, info: GraphQLResolveInfo, sortKey: str | None = None, reverse: bool = False, **args: Any
    ) -> dict[str, Any]:
        found = orders_matching(self.state, args.pop("query", None), sortKey, reverse)
        args.pop("savedSearchId", None)
        return connection(info, found, lambda o: o.updatedAt, **args)

    def order(self, info: GraphQLResolveInfo, id: str, **_: Any) -> Order | None:
        found = self.state.nodes.get(id)
        return found if isinstance(found, Order) else None

    def webhookSubscriptions(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        found = self.subscriptions_matching(args)
        args.pop("query", None)
        return connection(info, found, lambda s: s.updatedAt, **args)

    def currentBulkOperation(self, info: GraphQLResolveInfo, type: str | None = None, **_: Any) -> BulkOp | None:
        if not self.state.bulk_ops:
            return None
        op = list(self.state.bulk_ops.values())[-1]
        self.r.refresh(op)
        return op


class Resolvers:
    """Builds the root value for each request and runs bulk operations."""

    def __init__(self, state: ShopState, *, bulk_delay: float = 0.0, hooks: WebhookHub | None = None) -> None:
        self.state = state
        self.bulk_delay = bulk_delay
        self.hooks = hooks if hooks is not None else WebhookHub(state, client_secret="")

    def root(self, version: str, base_url: str) -> _Root:
        _install(schema_for(version))
        return _Root(self, version, base_url)

    def context(self, version: str, *, bulk: bool = False) -> dict[str, Any]:
        return {"state": self.state, "version": version, "bulk": bulk}

    def refresh(self, op: BulkOp) -> None:
        """A bulk operation completes once its delay has passed."""
        if not op.done and not op.failed and time.monotonic() >= op.ready_at:
            op.done = True
            op.completedAt = self.state.tick()

    def start_bulk(self, query: str, version: str, base_url: str) -> dict[str, Any]:
        schema = schema_for(version)
        try:
            document = parse(query)
        except GraphQLError as exc:
            return {"bulkOperation": None, "userErrors": [user_error("INVALID", ["query"], exc.message)]}
        problems = validate(schema, document)
        if problems:
            return {"bulkOperation": None, "userErrors": [user_error("INVALID", ["query"], problems[0].message)]}
        if limit := bulk_limit_problem(schema, document):
            return {"bulkOperation": None, "userErrors": [user_error("INVALID", ["query"], limit)]}
        result = execute(
            schema, document, root_value=self.root(version, base_url), context_value=self.context(version, bulk=True)
        )
        if result.errors or result.data is None:
            message = result.errors[0].message if result.errors else "no data"
            return {"bulkOperation": None, "userErrors": [user_error("INVALID", ["query"], message)]}
        rows = flatten_bulk(result.data)
        n = len(self.state.bulk_ops) + 1
        op = BulkOp(gid("BulkOperation", n), query, self.state.tick(), time.monotonic() + self.bulk_delay)
        op.body = b"".join(orjson.dumps(row) + b"\n" for row in rows)
        op.objectCount = len(rows)
        op.rootObjectCount = sum(1 for row in rows if "__parentId" not in row)
        op.pending_url = f"{base_url}/bulk-results/{n}.jsonl" if rows else None
        self.state.bulk_ops[op.id] = op
        return {"bulkOperation": op, "userErrors": []}
