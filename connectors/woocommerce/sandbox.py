"""A local WooCommerce (REST wc/v3) for tests, the demo and benchmarks.

It answers as a real WooCommerce 11.0.1 did in the captures (``tests/fixtures/platforms/
woocommerce/real-captures``, replayed against it by ``tests/integration/test_woocommerce_replay.py``):
records with the same fields, listings newest first unless ``orderby`` says otherwise,
``X-WP-Total``/``X-WP-TotalPages`` and ``Link`` rel next/prev echoing the query (OAuth parameters
included), a page past the last as 200 ``[]`` with the totals, ``page=0`` and ``per_page`` over 100
as 400 ``rest_invalid_param``, the ``sku`` filter blind to case, batches over 100 items as 413
``woocommerce_rest_request_entity_too_large``, failed batch items inside a 200 with WooCommerce's
own codes, an empty batch as ``[]``, values stored the way WooCommerce coerces them
(``sandbox_store``), errors as ``{code, message, data: {status}}``. ``GET /variations`` lists every
variation of every product, as WooCommerce 10.3 and newer do; ``variations_route=False`` makes it
an older store that answers 404 ``rest_no_route`` there. Orders and webhooks are not simulated
(404 ``rest_no_route``).

Auth is WooCommerce's: over plain HTTP Basic is refused with 401 ``woocommerce_rest_cannot_view``
(captured) and one-legged OAuth 1.0a is verified (``sandbox_oauth``: signature, 15-minute timestamp
window, nonce not seen before); over HTTPS (the kit's ``serve(..., tls=...)``) Basic and the
``consumer_key``/``consumer_secret`` query parameters are read, and a wrong secret answers 401
``woocommerce_rest_authentication_error`` "Consumer secret is invalid." (captured).
``accept_basic=True`` makes a plain-HTTP sandbox answer as a site behind a TLS proxy would.

``POST /_sandbox/sale {sku, quantity}`` (or ``app.state.sandbox.sale(sku, quantity)``) simulates
a sale; the kit's ``/_sandbox/faults`` injects failures.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.woocommerce.sandbox_listing import error, filtered, page, root_link
from connectors.woocommerce.sandbox_oauth import SIGNATURE_METHODS, expected_signature
from connectors.woocommerce.sandbox_store import WooStore
from hub.sdk import Catalogue, SandboxPlugin, demo_store, sandbox_app

__all__ = ["DEFAULT_CONSUMER_KEY", "DEFAULT_CONSUMER_SECRET", "PLUGIN", "WooSandbox", "create_app"]

API = "/wp-json/wc/v3"
DEFAULT_CONSUMER_KEY = "ck_sandbox_0000000000000000000000000000000000000000"
DEFAULT_CONSUMER_SECRET = "cs_sandbox_0000000000000000000000000000000000000000"
MAX_BATCH = 100
TIMESTAMP_WINDOW_S = 15 * 60
_error = error


class WooSandbox(WooStore):
    """The sandbox's state plus what the HTTP layer needs: credentials, nonces, latency."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        consumer_key: str,
        consumer_secret: str,
        accept_basic: bool,
        latency: float,
        wall_clock: Callable[[], float] = time.time,
        **store_options: Any,
    ) -> None:
        super().__init__(catalogue, **store_options)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.accept_basic = accept_basic
        self.latency = latency
        self.wall_clock = wall_clock
        self._nonces: dict[str, float] = {}

    # ------------------------------------------------------------------ auth

    def authenticate(self, request: Request, action: str) -> JSONResponse | None:
        """``None`` when the request carries valid credentials, else WooCommerce's 401."""
        params = request.query_params
        if "oauth_signature" in params or "oauth_consumer_key" in params:
            return self._oauth(request)
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                key, secret = "", ""
        else:
            key, secret = params.get("consumer_key", ""), params.get("consumer_secret", "")
        if not (key or secret) or not (self.accept_basic or request.url.scheme == "https"):
            return self._refused(action)
        if not hmac.compare_digest(key, self.consumer_key):
            return self._refused(action)
        if not hmac.compare_digest(secret, self.consumer_secret):
            return _error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401)
        return None

    def _refused(self, action: str) -> JSONResponse:
        if action == "batch":
            return _error(
                "woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.", 401
            )
        return _error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)

    def _oauth(self, request: Request) -> JSONResponse | None:
        def refuse(message: str) -> JSONResponse:
            return _error("woocommerce_rest_authentication_error", message, 401)

        params = list(parse_qsl(request.url.query, keep_blank_values=True))
        given = dict(params)
        for name in (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        ):
            if not given.get(name):
                return refuse(f"{name} parameter is missing.")
        if not hmac.compare_digest(given["oauth_consumer_key"], self.consumer_key):
            return refuse("Consumer key is invalid.")
        method = given["oauth_signature_method"]
        if method not in SIGNATURE_METHODS:
            return refuse("Invalid signature - signature method is invalid.")
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        # PHP's $_GET: a parameter sent twice (the official client repeats its query) counts once,
        # with its last value.
        signed = [(k, v) for k, v in given.items() if k != "oauth_signature"]
        expected = expected_signature(request.method, url, signed, self.consumer_secret, method)
        # The query parser reads an unencoded "+" as a space: WooCommerce puts it back.
        if not hmac.compare_digest(expected, given["oauth_signature"].replace(" ", "+")):
            return refuse("Invalid signature - provided signature does not match.")
        try:
            stamp = int(given["oauth_timestamp"])
        except ValueError:
            return refuse("Invalid timestamp.")
        now = self.wall_clock()
        if abs(now - stamp) > TIMESTAMP_WINDOW_S:
            return refuse("Invalid timestamp.")
        with self.lock:
            if len(self._nonces) > 50_000:
                self._nonces = {n: t for n, t in self._nonces.items() if t > now - TIMESTAMP_WINDOW_S}
            if given["oauth_nonce"] in self._nonces:
                return refuse("Invalid nonce - nonce has already been used.")
            self._nonces[given["oauth_nonce"]] = float(stamp)
        return None


# ------------------------------------------------------------------ the app


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
    return _error("woocommerce_rest_request_entity_too_large", message, 413)


async def _json_body(request: Request) -> Any:
    """The parsed body, or WooCommerce's 400 ``rest_invalid_json`` (captured)."""
    try:
        return await request.json()
    except ValueError:
        return _error(
            "rest_invalid_json", "Invalid JSON body passed.", 400, json_error_code=4, json_error_message="Syntax error"
        )


def create_app(
    catalogue: Catalogue | None = None,
    *,
    consumer_key: str = DEFAULT_CONSUMER_KEY,
    consumer_secret: str = DEFAULT_CONSUMER_SECRET,
    location_code: str | None = None,
    variable_products: bool = True,
    variations_route: bool = True,
    latency: float = 0.0,
    accept_basic: bool = False,
    clock: Callable[[], datetime] | None = None,
    wall_clock: Callable[[], float] = time.time,
    first_id: int = 10,
    seed: int = 7,
) -> Any:
    """The sandbox app; its state is ``app.state.sandbox`` (a ``WooSandbox``), faults ``app.state.faults``.

    ``location_code`` is the catalogue location whose stock the shop holds (default the first);
    ``variations_route=False`` answers as a store older than 10.3 (no ``GET /variations``);
    ``clock`` gives ``date_modified_gmt`` of writes, ``wall_clock`` the time OAuth timestamps are
    checked against; ``latency`` seconds are added to every API answer (shared hosting is slow);
    ``first_id`` is the id the first record gets.
    """
    state = WooSandbox(
        catalogue if catalogue is not None else demo_store(),
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        accept_basic=accept_basic,
        latency=latency,
        wall_clock=wall_clock,
        location_code=location_code,
        variable_products=variable_products,
        clock=clock,
        first_id=first_id,
    )

    def show(record: Mapping[str, Any]) -> dict[str, Any]:
        return _public(state.view(record))

    async def guard(request: Request, action: str) -> JSONResponse | None:
        if state.latency:
            await asyncio.sleep(state.latency)
        return state.authenticate(request, action)

    def listing(pool: Callable[[Request], list[dict[str, Any]] | Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if (refused := await guard(request, "view")) is not None:
                return refused
            with state.lock:
                records = pool(request)
                if isinstance(records, Response):
                    return records
                items = filtered(request, records)
                return items if isinstance(items, Response) else page(request, items, show)

        return endpoint

    def products_pool(request: Request) -> list[dict[str, Any]]:
        if request.query_params.get("sku"):
            return state.by_sku(s.strip() for s in request.query_params["sku"].split(",") if s.strip())
        return list(state.products.values())

    def variations_pool(request: Request) -> list[dict[str, Any]] | Response:
        parent = state.products.get(request.path_params["id"])
        if parent is None:
            return _error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        pool = state.children(parent["id"])
        if request.query_params.get("sku"):
            wanted = {s.strip().casefold() for s in request.query_params["sku"].split(",")}
            pool = [v for v in pool if v["sku"].casefold() in wanted]
        return pool

    def all_variations_pool(request: Request) -> list[dict[str, Any]] | Response:
        if not variations_route:
            return _error("rest_no_route", "No route was found matching the URL and request method.", 404)
        return list(state.variations.values())

    async def get_product(request: Request) -> Response:
        if (refused := await guard(request, "view")) is not None:
            return refused
        with state.lock:
            record = state.products.get(request.path_params["id"])
            if record is None or record.get("status") == "trash":
                return _error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            return _answer(show(record), request)

    async def write_one(request: Request, apply: Callable[[dict[str, Any]], dict[str, Any]], created: bool) -> Response:
        """``POST`` (create) or ``PUT`` (update) of one record: the batch's rules, errors as a whole answer."""
        if (refused := await guard(request, "edit")) is not None:
            return refused
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        with state.lock:
            done = apply(body if isinstance(body, dict) else {})
        if "error" in done:
            problem = done["error"]
            return _error(problem["code"], problem["message"], problem["data"].pop("status"), **problem["data"])
        if not created:
            return _answer(_public(done), request)
        location = f"{request.url.scheme}://{request.url.netloc}{request.url.path}/{done['id']}"
        return _answer(_public(done), request, 201, Location=location)

    async def create_product(request: Request) -> Response:
        return await write_one(request, state.create_product, created=True)

    async def update_product(request: Request) -> Response:
        product_id = request.path_params["id"]
        return await write_one(request, lambda body: state.update_product({**body, "id": product_id}), created=False)

    async def create_variation(request: Request) -> Response:
        parent_id = request.path_params["id"]
        return await write_one(request, lambda body: state.create_variation(parent_id, body), created=True)

    async def update_variation(request: Request) -> Response:
        parent_id, item_id = request.path_params["id"], request.path_params["variation"]
        return await write_one(
            request, lambda body: state.update_variation(parent_id, {**body, "id": item_id}), created=False
        )

    def batch(
        create: Callable[[dict[str, Any]], dict[str, Any]],
        update: Callable[[dict[str, Any]], dict[str, Any]],
        delete: Callable[[Any], dict[str, Any]] | None,
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if (refused := await guard(request, "batch")) is not None:
                return refused
            body = await _json_body(request)
            if isinstance(body, Response):
                return body
            if not isinstance(body, dict):
                return _error("rest_invalid_param", "Invalid parameter(s): body", 400)
            if _batch_size(body) > MAX_BATCH:
                return _too_large()
            answer: dict[str, list[dict[str, Any]]] = {}
            with state.lock:
                for kind, apply in (("create", create), ("update", update)):
                    for entry in body.get(kind) or []:
                        done = apply(entry if isinstance(entry, dict) else {})
                        answer.setdefault(kind, []).append(done if "error" in done else _public(done))
                for item_id in body.get("delete") or [] if delete is not None else []:
                    done = delete(item_id)
                    answer.setdefault("delete", []).append(done if "error" in done else _public(done))
            # PHP's json_encode of an empty array: an empty batch answers [] (captured).
            return _answer(answer or [], request)

        return endpoint

    products_batch = batch(state.create_product, state.update_product, state.delete_product)

    async def variations_batch(request: Request) -> Response:
        parent_id = request.path_params["id"]
        endpoint = batch(
            lambda body: state.create_variation(parent_id, body),
            lambda body: state.update_variation(parent_id, body),
            None,
        )
        return await endpoint(request)

    async def customers_batch(request: Request) -> Response:
        if (refused := await guard(request, "batch")) is not None:
            return refused
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        if _batch_size(body) > MAX_BATCH:
            return _too_large()
        answer: dict[str, list[dict[str, Any]]] = {}
        with state.lock:
            for kind in ("create", "update"):
                for entry in body.get(kind) or []:
                    done = state.upsert_customer(entry, create=kind == "create")
                    answer.setdefault(kind, []).append(_public(done) if "error" not in done else done)
        return _answer(answer or [], request)

    async def rest_route_form(request: Request) -> Response:
        # Captured: the ?rest_route= form answers 401 with API keys.
        return _error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)

    async def no_route(request: Request) -> Response:
        return _error("rest_no_route", "No route was found matching the URL and request method.", 404)

    async def sale(request: Request) -> Response:
        payload = await request.json()
        try:
            left = state.sale(str(payload["sku"]), int(payload.get("quantity", 1)))
        except KeyError:
            return JSONResponse({"error": f"unknown sku {payload.get('sku')!r}"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"sku": payload["sku"], "stock_quantity": left})

    one_variation = f"{API}/products/{{id:int}}/variations/{{variation:int}}"
    routes = [
        Route("/_sandbox/sale", sale, methods=["POST"]),
        Route("/", rest_route_form, methods=["GET", "POST"]),
        Route(f"{API}/products", listing(products_pool), methods=["GET"]),
        Route(f"{API}/products", create_product, methods=["POST"]),
        Route(f"{API}/products/batch", products_batch, methods=["POST", "PUT", "PATCH"]),
        Route(f"{API}/products/{{id:int}}", get_product, methods=["GET"]),
        Route(f"{API}/products/{{id:int}}", update_product, methods=["PUT", "PATCH", "POST"]),
        Route(f"{API}/products/{{id:int}}/variations", listing(variations_pool), methods=["GET"]),
        Route(f"{API}/products/{{id:int}}/variations", create_variation, methods=["POST"]),
        Route(f"{API}/products/{{id:int}}/variations/batch", variations_batch, methods=["POST", "PUT", "PATCH"]),
        Route(one_variation, update_variation, methods=["PUT", "PATCH", "POST"]),
        Route(f"{API}/variations", listing(all_variations_pool), methods=["GET"]),
        Route(f"{API}/customers", listing(lambda _request: list(state.customers.values())), methods=["GET"]),
        Route(f"{API}/customers/batch", customers_batch, methods=["POST", "PUT", "PATCH"]),
        Route(f"{API}/{{rest:path}}", no_route, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    return sandbox_app("woocommerce", routes, state=state, seed=seed)


def _connector_block(url: str, app: Any) -> dict[str, Any]:
    return {
        "type": "woocommerce",
        "url": url,
        "consumer_key": "${OMNIHUB_DEMO_WC_KEY}",
        "consumer_secret": "${OMNIHUB_DEMO_WC_SECRET}",
        "location": app.state.sandbox.location_code,
        "manage_stock": True,
    }


_KEY, _SECRET = "ck_demo_" + "0" * 36, "cs_demo_" + "0" * 36

#: What the demo, ``omnihub sandbox woocommerce`` and the contract tests know of this sandbox
#: (entry point ``omnihub.sandboxes: woocommerce``). Listings page by 100 (``per_page``'s maximum).
PLUGIN = SandboxPlugin(
    connector_type="woocommerce",
    create_app=create_app,
    credentials={"OMNIHUB_DEMO_WC_KEY": _KEY, "OMNIHUB_DEMO_WC_SECRET": _SECRET},
    app_options={"consumer_key": _KEY, "consumer_secret": _SECRET, "location_code": "web-warehouse"},
    connector_block=_connector_block,
    demo_name="web",
    page_size=100,
)
