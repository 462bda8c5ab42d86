"""A local Shopify Admin GraphQL API: ``omnihub sandbox shopify``, the tests and the benchmark.

``POST /admin/api/{version}/graphql.json`` executes documents with graphql-core, with the
sandbox's own resolvers, against Shopify's published schema of the version served
(``sandbox_schema``), and answers as Shopify does:

* a request for a version older than the oldest supported one (``oldest_supported``) is served
  as that one, and every answer names the version served in ``X-Shopify-API-Version``;
* every answer carries ``extensions.cost`` (requested and actual cost, ``throttleStatus``),
  computed by the sandbox itself from the parsed document and the schema (``sandbox_cost``);
  a query requesting more than 1,000 points is refused as Shopify refuses it;
* a leaky bucket (``bucket_size``, ``restore_rate``) refuses a query whose requested cost exceeds
  what it holds: HTTP 200, ``errors[].extensions.code = "THROTTLED"``, no ``data``;
* connections page by cursor, at most 250 per page, and filter with ``updated_at:>'...'``;
* bulk operations run the query over the whole store and serve JSONL (nested connections as
  lines carrying ``__parentId``) from ``/bulk-results/{n}.jsonl``;
* ``userErrors`` for a negative price, an unknown variant, a stale compare quantity, an item not
  stocked at a location; 401 with Shopify's body for a wrong token.

``POST /_sandbox/sale {sku, location, quantity}`` (or ``app.state.sandbox.sale(...)``) sells
stock between a connector's read and its write.

Orders (``sandbox_orders``): ``orderCreate``, ``orderCancel``, ``orderMarkAsPaid``,
``fulfillmentCreate`` and the ``orders`` connection move ``available``, ``committed`` and ``on_hand``
as Shopify does; ``POST /_sandbox/checkout {lines: [{sku, quantity}], location, pickup}`` (sandbox
only) places a paid storefront order, click and collect included. Webhooks (``sandbox_webhooks``):
subscriptions through the Admin API, deliveries signed with the app's ``client_secret`` through the
``WebhookSender`` on ``app.state.webhooks`` (knobs at ``/_sandbox/webhooks``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from graphql.execution import execute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.shopify.sandbox_cost import MAX_SINGLE_QUERY_COST, actual_cost, requested_cost
from connectors.shopify.sandbox_orders import checkout
from connectors.shopify.sandbox_resolvers import Resolvers
from connectors.shopify.sandbox_schema import OLDEST_SUPPORTED, UnknownVersion, schema_for, served_version
from connectors.shopify.sandbox_state import ShopState, location_gids
from connectors.shopify.sandbox_webhooks import DEFAULT_CLIENT_SECRET, WebhookHub
from hub.sdk import Catalogue, SandboxPlugin, demo_store, sandbox_app

__all__ = ["DEFAULT_CLIENT_SECRET", "DEFAULT_TOKEN", "PLUGIN", "LeakyBucket", "create_app", "location_gids"]

#: The token the sandbox accepts unless told otherwise (a fake, never a real credential).
DEFAULT_TOKEN = "shpat_sandbox_token_0000"
_AUTH_ERROR = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


class LeakyBucket:
    """Shopify's per app-and-store bucket in cost points."""

    def __init__(self, size: float, restore_rate: float) -> None:
        self.size = size
        self.restore_rate = restore_rate
        self._available = size
        self._stamp = time.monotonic()
        #: Queries refused THROTTLED.
        self.throttled = 0

    def available(self) -> float:
        now = time.monotonic()
        self._available = min(self.size, self._available + (now - self._stamp) * self.restore_rate)
        self._stamp = now
        return self._available

    def charge(self, cost: float) -> None:
        self._available = self.available() - cost

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": float(self.size),
            "currentlyAvailable": round(self.available(), 1),
            "restoreRate": float(self.restore_rate),
        }


def _too_costly(requested: int) -> dict[str, Any]:
    message = f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_SINGLE_QUERY_COST})."
    extensions = {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_SINGLE_QUERY_COST}
    return {"errors": [{"message": message, "extensions": extensions}]}


def _charged(schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any], data: Any) -> int:
    """The actual cost; an operation that returned no data at all is not charged."""
    return actual_cost(schema, document, variables, data) if data else 0


def _throttled(requested: int, bucket: LeakyBucket) -> dict[str, Any]:
    """Shopify's answer to a query the bucket cannot pay for: HTTP 200, ``THROTTLED``, no ``data``."""
    error = {
        "message": "Throttled",
        "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
    }
    cost = {"requestedQueryCost": requested, "actualQueryCost": None, "throttleStatus": bucket.status()}
    return {"errors": [error], "extensions": {"cost": cost}}


class _ShopApp:
    """The sandbox's HTTP side: the GraphQL endpoint (auth, versions, cost, bucket), bulk files, controls."""

    def __init__(self, state: ShopState, bucket: LeakyBucket, resolvers: Resolvers, **options: Any) -> None:
        self.state = state
        self.bucket = bucket
        self.resolvers = resolvers
        self.hooks: WebhookHub = resolvers.hooks
        self.access_token: str = options["access_token"]
        self.oldest_supported: str = options["oldest_supported"]
        self._loop: asyncio.AbstractEventLoop | None = None
        state.on_event = self._wake

    def _wake(self) -> None:
        """An event was queued (maybe from a test's thread): deliver it from the sandbox's loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.hooks.flush)

    def _delivered(self) -> None:
        """After a request: remember the loop and hand its events to the sender."""
        self._loop = asyncio.get_running_loop()
        self.hooks.flush()

    def answer(self, version: str, body: Any, base_url: str) -> dict[str, Any]:
        """The GraphQL answer to ``body``: validated against the version's schema, costed, then run."""
        query = body.get("query") if isinstance(body, dict) else None
        variables = (body.get("variables") if isinstance(body, dict) else None) or {}
        if not isinstance(query, str) or not isinstance(variables, dict):
            return {"errors": [{"message": "Parameter query is required"}]}
        schema = schema_for(version)
        try:
            document = parse(query)
        except GraphQLError as exc:
            return {"errors": [exc.formatted]}
        problems = validate(schema, document)
        if problems:
            return {"errors": [p.formatted for p in problems]}
        with self.state.lock:
            requested = requested_cost(schema, document, variables)
            if requested > MAX_SINGLE_QUERY_COST:
                return _too_costly(requested)
            if requested > self.bucket.available():
                self.bucket.throttled += 1
                return _throttled(requested, self.bucket)
            return self._run(schema, document, variables, requested, version, base_url)

    def _run(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any],
        requested: int,
        version: str,
        base_url: str,
    ) -> dict[str, Any]:
        result = execute(
            schema,
            document,
            root_value=self.resolvers.root(version, base_url),
            variable_values=variables,
            context_value=self.resolvers.context(version),
        )
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        if result.data is not None:
            out["data"] = result.data
        actual = _charged(schema, document, variables, result.data)
        self.bucket.charge(actual)
        out["extensions"] = {
            "cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self.bucket.status()}
        }
        return out

    async def graphql_endpoint(self, request: Request) -> Response:
        if request.headers.get("x-shopify-access-token") != self.access_token:
            return JSONResponse(_AUTH_ERROR, status_code=401)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return JSONResponse({"errors": "Invalid JSON in request body"}, status_code=400)
        try:
            version = served_version(request.path_params["version"], self.oldest_supported)
        except UnknownVersion as exc:
            return JSONResponse({"errors": f"Not Found: the sandbox serves no API version {exc}"}, status_code=404)
        payload = self.answer(version, body, str(request.base_url).rstrip("/"))
        self._delivered()
        return Response(
            orjson.dumps(payload), media_type="application/json", headers={"X-Shopify-API-Version": version}
        )

    async def bulk_file(self, request: Request) -> Response:
        op = self.state.bulk_ops.get(f"gid://shopify/BulkOperation/{request.path_params['n']}")
        if op is None or op.url is None:  # not finished yet, or nothing matched
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", status_code=404, media_type="application/xml")
        return Response(op.body, media_type="application/jsonl")

    async def sale(self, request: Request) -> JSONResponse:
        body = await request.json()
        try:
            left = self.state.sale(str(body["sku"]), str(body["location"]), int(body.get("quantity", 1)))
        except KeyError as exc:
            return JSONResponse({"error": f"unknown {exc}"}, status_code=404)
        self._delivered()
        return JSONResponse({"sku": body["sku"], "location": body["location"], "available": left})

    async def checkout(self, request: Request) -> JSONResponse:
        """Sandbox only: a paid storefront order, shipped or picked up (``pickup``) at ``location``."""
        body = await request.json()
        try:
            lines = [(str(line["sku"]), int(line.get("quantity", 1))) for line in body["lines"]]
            order = checkout(self.state, lines, location=body.get("location"), pickup=bool(body.get("pickup")))
        except KeyError as exc:
            return JSONResponse({"error": f"unknown {exc}"}, status_code=404)
        self._delivered()
        return JSONResponse({"id": order.id, "name": order.name, "location": order.fulfillment_orders[0].location.id})

    async def sandbox_info(self, request: Request) -> JSONResponse:
        bucket = self.bucket
        return JSONResponse(
            {
                "shop": self.state.shop,
                "locations": self.state.location_gids(),
                "throttled": bucket.throttled,
                "bucket": bucket.status(),
            }
        )

    def routes(self) -> list[Route]:
        return [
            Route("/admin/api/{version}/graphql.json", self.graphql_endpoint, methods=["POST"]),
            Route("/bulk-results/{n}.jsonl", self.bulk_file, methods=["GET"]),
            Route("/_sandbox/sale", self.sale, methods=["POST"]),
            Route("/_sandbox/checkout", self.checkout, methods=["POST"]),
            *self.hooks.routes(),
            Route("/_sandbox/shopify", self.sandbox_info, methods=["GET"]),
        ]


def create_app(
    catalogue: Catalogue | None = None,
    *,
    access_token: str = DEFAULT_TOKEN,
    bucket_size: float = 1000,
    restore_rate: float = 100,
    shop: str = "demo.myshopify.com",
    bulk_delay: float = 0.0,
    seed: int = 7,
    oldest_supported: str = OLDEST_SUPPORTED,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    webhook_sender: Any = None,
) -> Any:
    """The sandbox app; ``app.state.sandbox`` is the ``ShopState`` (with ``bucket`` and ``sale``),
    ``app.state.webhooks`` the ``WebhookSender`` of its deliveries (signed with ``client_secret``).

    ``webhook_sender`` is a ``hub.sandbox.deliveries.WebhookSender`` (the SDK's by default).
    ``oldest_supported`` moves the support window (``"2026-07"`` plays a date when 2025-10 is gone).
    """
    state = ShopState(catalogue if catalogue is not None else demo_store(), shop=shop)
    bucket = LeakyBucket(bucket_size, restore_rate)
    state.bucket = bucket  # type: ignore[attr-defined]
    hooks = WebhookHub(state, client_secret=client_secret, sender=webhook_sender, seed=seed)
    resolvers = Resolvers(state, bulk_delay=bulk_delay, hooks=hooks)
    served = _ShopApp(state, bucket, resolvers, access_token=access_token, oldest_supported=oldest_supported)
    app = sandbox_app("shopify", served.routes(), state=state, seed=seed)
    app.state.webhooks = hooks.sender
    app.state.webhook_hub = hooks
    if hooks.sender is not None:
        app.inner.router.on_shutdown.append(hooks.sender.aclose)
    return app


def _connector_block(url: str, app: Any) -> dict[str, Any]:
    state = app.state.sandbox
    return {
        "type": "shopify",
        "shop": state.shop,
        "access_token": "${OMNIHUB_DEMO_SHOPIFY_TOKEN}",
        "base_url": url,
        "locations": state.location_gids(),
        "webhook_secret": "${OMNIHUB_DEMO_SHOPIFY_CLIENT_SECRET}",
    }


#: What the demo, ``omnihub sandbox shopify`` and the contract tests know of this sandbox
#: (entry point ``omnihub.sandboxes: shopify``). Connections page by 250 whatever the settings;
#: several pages are read at a Shopify Plus store's rate (10,000 points, 1,000 a second), where the
#: standard 100 a second would make the client wait for its bucket most of the time.
_SECRETS = {
    "access_token": ("OMNIHUB_DEMO_SHOPIFY_TOKEN", "shpat_demo_token_00000000"),
    "client_secret": ("OMNIHUB_DEMO_SHOPIFY_CLIENT_SECRET", "shpss_demo_client_secret_0000"),
}
_PLUS_RATE = {"bucket_size": 10_000, "restore_rate": 1_000}
PLUGIN = SandboxPlugin(
    "shopify",
    create_app,
    _connector_block,
    _SECRETS,
    demo_name="shop",
    paging_settings=_PLUS_RATE,
    paging_app_options=_PLUS_RATE,
    page_size=250,
)
