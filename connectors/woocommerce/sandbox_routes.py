"""The WooCommerce sandbox's HTTP routes: one small handler per resource and method, over a ``WooSandbox``.

Every handler authenticates first (``guard``: the configured latency, then WooCommerce's auth),
takes the store's lock for what it reads or writes, and answers in WooCommerce's shapes: records
with ``_links``, listings paged by ``sandbox_listing``, batches of at most 100 items with failed
items inside a 200, errors as ``{code, message, data: {status}}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.woocommerce.sandbox_auth import WooSandbox
from connectors.woocommerce.sandbox_listing import error, filtered, page, root_link
from connectors.woocommerce.sandbox_order_routes import OrderRoutes

__all__ = ["API", "MAX_BATCH", "WooRoutes"]

API = "/wp-json/wc/v3"
MAX_BATCH = 100

Apply = Callable[[dict[str, Any]], dict[str, Any]]
Pool = Callable[[Request], "list[dict[str, Any]] | Response"]
Endpoint = Callable[[Request], Awaitable[Response]]


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(record)
    if record.get("type") == "variation":
        href = f"{API}/products/{record['parent_id']}/variations/{record['id']}"
    elif "email" in record:
        href = f"{API}/customers/{record['id']}"
    else:
        href = f"{API}/products/{record['id']}"
    out["_links"] = {"self": [{"href": href}]}
    return out


def _answer(body: Any, request: Request, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Link": root_link(request), **headers})


def _batch_size(body: Mapping[str, Any]) -> int:
    return sum(len(body.get(k) or []) for k in ("create", "update", "delete"))


def _too_large() -> JSONResponse:
    message = f"Unable to accept more than {MAX_BATCH} items for this request."
    return error("woocommerce_rest_request_entity_too_large", message, 413)


def _no_route() -> JSONResponse:
    return error("rest_no_route", "No route was found matching the URL and request method.", 404)


async def _json_body(request: Request) -> Any:
    """The parsed body, or WooCommerce's 400 ``rest_invalid_json`` (captured)."""
    try:
        return await request.json()
    except ValueError:
        return error(
            "rest_invalid_json", "Invalid JSON body passed.", 400, json_error_code=4, json_error_message="Syntax error"
        )


def _skus(request: Request) -> list[str]:
    return [s.strip() for s in request.query_params.get("sku", "").split(",") if s.strip()]


class WooRoutes:
    """The handlers of one sandbox; ``variations_route=False`` plays a store older than 10.3."""

    def __init__(self, state: WooSandbox, *, variations_route: bool = True) -> None:
        self.state = state
        self.variations_route = variations_route
        self.orders = OrderRoutes(state, self.guard)

    # ------------------------------------------------------------------ shared steps

    def show(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return _public(self.state.view(record))

    async def guard(self, request: Request, action: str) -> JSONResponse | None:
        """WooCommerce's 401 when the request is not authenticated, after the configured latency."""
        if self.state.latency:
            await asyncio.sleep(self.state.latency)
        return self.state.authenticate(request, action)

    def listing(self, pool: Pool) -> Endpoint:
        """A ``GET`` listing of ``pool``'s records, filtered and paged as WooCommerce does."""

        async def endpoint(request: Request) -> Response:
            if (refused := await self.guard(request, "view")) is not None:
                return refused
            with self.state.lock:
                records = pool(request)
                if isinstance(records, Response):
                    return records
                items = filtered(request, records)
                return items if isinstance(items, Response) else page(request, items, self.show)

        return endpoint

    # ------------------------------------------------------------------ what listings list

    def products_pool(self, request: Request) -> list[dict[str, Any]]:
        if request.query_params.get("sku"):
            return self.state.by_sku(_skus(request))
        return list(self.state.products.values())

    def variations_pool(self, request: Request) -> list[dict[str, Any]] | Response:
        parent = self.state.products.get(request.path_params["id"])
        if parent is None:
            return error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        pool = self.state.children(parent["id"])
        if request.query_params.get("sku"):
            wanted = {s.strip().casefold() for s in request.query_params["sku"].split(",")}
            pool = [v for v in pool if v["sku"].casefold() in wanted]
        return pool

    def all_variations_pool(self, request: Request) -> list[dict[str, Any]] | Response:
        if not self.variations_route:
            return _no_route()
        return list(self.state.variations.values())

    def customers_pool(self, request: Request) -> list[dict[str, Any]]:
        return list(self.state.customers.values())

    # ------------------------------------------------------------------ one record

    async def get_product(self, request: Request) -> Response:
        if (refused := await self.guard(request, "view")) is not None:
            return refused
        with self.state.lock:
            record = self.state.products.get(request.path_params["id"])
            if record is None or record.get("status") == "trash":
                return error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            return _answer(self.show(record), request)

    async def write_one(self, request: Request, apply: Apply, created: bool) -> Response:
        """``POST`` (create) or ``PUT`` (update) of one record: the batch's rules, errors as a whole answer."""
        if (refused := await self.guard(request, "edit")) is not None:
            return refused
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        with self.state.lock:
            done = apply(body if isinstance(body, dict) else {})
        if "error" in done:
            problem = done["error"]
            self.orders.flush(request)
            return error(problem["code"], problem["message"], problem["data"].pop("status"), **problem["data"])
        self.orders.flush(request)
        if not created:
            return _answer(_public(done), request)
        location = f"{request.url.scheme}://{request.url.netloc}{request.url.path}/{done['id']}"
        return _answer(_public(done), request, 201, Location=location)

    async def create_product(self, request: Request) -> Response:
        return await self.write_one(request, self.state.create_product, created=True)

    async def update_product(self, request: Request) -> Response:
        product_id = request.path_params["id"]
        return await self.write_one(
            request, lambda body: self.state.update_product({**body, "id": product_id}), created=False
        )

    async def create_variation(self, request: Request) -> Response:
        parent_id = request.path_params["id"]
        return await self.write_one(request, lambda body: self.state.create_variation(parent_id, body), created=True)

    async def update_variation(self, request: Request) -> Response:
        parent_id, item_id = request.path_params["id"], request.path_params["variation"]
        return await self.write_one(
            request, lambda body: self.state.update_variation(parent_id, {**body, "id": item_id}), created=False
        )

    # ------------------------------------------------------------------ batches

    def batch(self, create: Apply, update: Apply, delete: Callable[[Any], dict[str, Any]] | None) -> Endpoint:
        """A ``/batch`` endpoint: at most ``MAX_BATCH`` items, each failing alone inside a 200."""

        async def endpoint(request: Request) -> Response:
            if (refused := await self.guard(request, "batch")) is not None:
                return refused
            body = await _json_body(request)
            if isinstance(body, Response):
                return body
            if not isinstance(body, dict):
                return error("rest_invalid_param", "Invalid parameter(s): body", 400)
            if _batch_size(body) > MAX_BATCH:
                return _too_large()
            answer: dict[str, list[dict[str, Any]]] = {}
            with self.state.lock:
                for kind, apply in (("create", create), ("update", update)):
                    for entry in body.get(kind) or []:
                        done = apply(entry if isinstance(entry, dict) else {})
                        answer.setdefault(kind, []).append(done if "error" in done else _public(done))
                for item_id in body.get("delete") or [] if delete is not None else []:
                    done = delete(item_id)
                    answer.setdefault("delete", []).append(done if "error" in done else _public(done))
            self.orders.flush(request)
            # PHP's json_encode of an empty array: an empty batch answers [] (captured).
            return _answer(answer or [], request)

        return endpoint

    async def variations_batch(self, request: Request) -> Response:
        parent_id = request.path_params["id"]
        endpoint = self.batch(
            lambda body: self.state.create_variation(parent_id, body),
            lambda body: self.state.update_variation(parent_id, body),
            None,
        )
        return await endpoint(request)

    async def customers_batch(self, request: Request) -> Response:
        if (refused := await self.guard(request, "batch")) is not None:
            return refused
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        if _batch_size(body) > MAX_BATCH:
            return _too_large()
        answer: dict[str, list[dict[str, Any]]] = {}
        with self.state.lock:
            for kind in ("create", "update"):
                for entry in body.get(kind) or []:
                    done = self.state.upsert_customer(entry, create=kind == "create")
                    answer.setdefault(kind, []).append(_public(done) if "error" not in done else done)
        return _answer(answer or [], request)

    # ------------------------------------------------------------------ the rest

    async def rest_route_form(self, request: Request) -> Response:
        # Captured: the ?rest_route= form answers 401 with API keys.
        return error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)

    async def no_route(self, request: Request) -> Response:
        return _no_route()

    async def sale(self, request: Request) -> Response:
        payload = await request.json()
        try:
            left = self.state.sale(str(payload["sku"]), int(payload.get("quantity", 1)))
        except KeyError:
            return JSONResponse({"error": f"unknown sku {payload.get('sku')!r}"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        self.orders.flush(request)
        return JSONResponse({"sku": payload["sku"], "stock_quantity": left})

    def routes(self) -> list[Route]:
        """Every route, in Starlette's matching order (the catch-all ``rest_no_route`` last)."""
        state, writes, batch = self.state, ["PUT", "PATCH", "POST"], ["POST", "PUT", "PATCH"]
        products_batch = self.batch(state.create_product, state.update_product, state.delete_product)
        product, variations = f"{API}/products/{{id:int}}", f"{API}/products/{{id:int}}/variations"
        return [
            Route("/_sandbox/sale", self.sale, methods=["POST"]),
            Route("/", self.rest_route_form, methods=["GET", "POST"]),
            Route(f"{API}/products", self.listing(self.products_pool), methods=["GET"]),
            Route(f"{API}/products", self.create_product, methods=["POST"]),
            Route(f"{API}/products/batch", products_batch, methods=batch),
            Route(product, self.get_product, methods=["GET"]),
            Route(product, self.update_product, methods=writes),
            Route(variations, self.listing(self.variations_pool), methods=["GET"]),
            Route(variations, self.create_variation, methods=["POST"]),
            Route(f"{variations}/batch", self.variations_batch, methods=batch),
            Route(f"{variations}/{{variation:int}}", self.update_variation, methods=writes),
            Route(f"{API}/variations", self.listing(self.all_variations_pool), methods=["GET"]),
            Route(f"{API}/customers", self.listing(self.customers_pool), methods=["GET"]),
            Route(f"{API}/customers/batch", self.customers_batch, methods=batch),
            *self.orders.routes(),
            Route(f"{API}/{{rest:path}}", self.no_route, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
