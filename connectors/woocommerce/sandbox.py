"""A local WooCommerce (REST wc/v3) for tests, the demo and benchmarks.

It answers the routes the connector uses the way the real captures show: records with the same
fields, ``X-WP-Total``/``X-WP-TotalPages`` and ``Link`` rel next/prev echoing the query (OAuth
parameters included), ``per_page`` over 100 refused with 400 ``rest_invalid_param``, batches over
100 items with 413 ``woocommerce_rest_request_entity_too_large``, failed batch items inside a 200,
errors as ``{code, message, data: {status}}``.

Auth is WooCommerce's: it is served over plain HTTP, so Basic is refused with 401
``woocommerce_rest_cannot_view`` (captured) and one-legged OAuth 1.0a is verified (signature,
15-minute timestamp window, nonce not seen before). ``accept_basic=True`` makes it answer as a
site behind TLS would, to exercise the Basic and query-string paths.

``POST /_sandbox/sale {sku, quantity}`` (or ``app.state.sandbox.sale(sku, quantity)``) simulates
a sale; the kit's ``/_sandbox/faults`` injects failures.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.woocommerce.auth import oauth_signature
from connectors.woocommerce.sandbox_store import WooStore
from hub.sandbox import sandbox_app
from hub.seed import Catalogue, demo_store

__all__ = ["DEFAULT_CONSUMER_KEY", "DEFAULT_CONSUMER_SECRET", "WooSandbox", "create_app"]

API = "/wp-json/wc/v3"
DEFAULT_CONSUMER_KEY = "ck_sandbox_0000000000000000000000000000000000000000"
DEFAULT_CONSUMER_SECRET = "cs_sandbox_0000000000000000000000000000000000000000"
MAX_PER_PAGE = 100
MAX_BATCH = 100
TIMESTAMP_WINDOW_S = 15 * 60


def _error(code: str, message: str, status: int, **data: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "data": {"status": status, **data}}, status_code=status)


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
        if (key or secret) and self.accept_basic and self._pair_ok(key, secret):
            return None
        return self._refused(action)

    def _pair_ok(self, key: str, secret: str) -> bool:
        return hmac.compare_digest(key, self.consumer_key) and hmac.compare_digest(secret, self.consumer_secret)

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
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return refuse("Invalid signature method - must be HMAC-SHA1 or HMAC-SHA256.")
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        signed = [(k, v) for k, v in params if k != "oauth_signature"]
        expected = oauth_signature(request.method, url, signed, self.consumer_secret, method)  # type: ignore[arg-type]
        if not hmac.compare_digest(expected, given["oauth_signature"]):
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


# ------------------------------------------------------------------ listing


def _csv_ints(value: str | None) -> set[int] | None:
    if not value:
        return None
    return {int(v) for v in value.replace("[", "").replace("]", "").split(",") if v.strip().isdigit()}


def _list_param(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name) + request.query_params.getlist(f"{name}[]")
    return ",".join(values) if values else None


def _filtered(request: Request, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]] | JSONResponse:
    q = request.query_params
    items = list(records)
    include = _csv_ints(_list_param(request, "include"))
    if include is not None:
        items = [r for r in items if r["id"] in include]
    parents = _csv_ints(_list_param(request, "parent"))
    if parents is not None:
        items = [r for r in items if r.get("parent_id", 0) in parents]
    if q.get("type"):
        items = [r for r in items if r.get("type") == q["type"]]
    if q.get("status") and q["status"] != "any":
        items = [r for r in items if r.get("status") == q["status"]]
    if q.get("email"):
        items = [r for r in items if r.get("email") == q["email"].strip().lower()]
    if q.get("modified_after"):
        try:
            after = datetime.fromisoformat(q["modified_after"].replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return _error("rest_invalid_param", "Invalid parameter(s): modified_after", 400)
        field = "date_modified_gmt" if q.get("dates_are_gmt") in ("true", "1") else "date_modified"
        items = [r for r in items if r.get(field, r.get("date_modified_gmt", "")) > after]
    reverse = q.get("order", "desc") == "desc"
    key = {"date": "date_created_gmt", "modified": "date_modified_gmt"}.get(q.get("orderby", "id"), "id")
    items.sort(key=lambda r: (r.get(key) or "", r["id"]), reverse=reverse)
    return items


def _page(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
    q = request.query_params
    try:
        per_page = int(q.get("per_page", "10"))
        page = int(q.get("page", "1"))
    except ValueError:
        return _error("rest_invalid_param", "Invalid parameter(s): per_page", 400)
    if not 1 <= per_page <= MAX_PER_PAGE:
        return _error(
            "rest_invalid_param",
            "Invalid parameter(s): per_page",
            400,
            params={"per_page": f"per_page must be between 1 (inclusive) and {MAX_PER_PAGE} (inclusive)"},
        )
    total = len(items)
    pages = max(1, -(-total // per_page)) if total else 0
    if page < 1 or (total and page > pages):
        return _error(
            "rest_post_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
            400,
        )
    body = [_public(r) for r in items[(page - 1) * per_page : page * per_page]]
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    links = []
    if page > 1:
        links.append(f'<{_page_url(request, page - 1)}>; rel="prev"')
    if page < pages:
        links.append(f'<{_page_url(request, page + 1)}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return JSONResponse(body, headers=headers)


def _page_url(request: Request, page: int) -> str:
    """The request's URL with ``page`` replaced, the other parameters echoed as they came."""
    pairs = [p for p in request.url.query.split("&") if p and not p.startswith("page=")]
    head = [p for p in pairs if p.startswith("per_page=")]
    rest = [p for p in pairs if not p.startswith("per_page=")]
    query = "&".join([*head, f"page={page}", *rest])
    return f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{query}"


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(record)
    kind = "variations" if record.get("type") == "variation" else "products"
    if kind == "variations":
        href = f"{API}/products/{record['parent_id']}/variations/{record['id']}"
    elif "email" in record:
        href = f"{API}/customers/{record['id']}"
    else:
        href = f"{API}/products/{record['id']}"
    out["_links"] = {"self": [{"href": href}]}
    return out


# ------------------------------------------------------------------ the app


def create_app(
    catalogue: Catalogue | None = None,
    *,
    consumer_key: str = DEFAULT_CONSUMER_KEY,
    consumer_secret: str = DEFAULT_CONSUMER_SECRET,
    location_code: str | None = None,
    variable_products: bool = True,
    latency: float = 0.0,
    accept_basic: bool = False,
    clock: Callable[[], datetime] | None = None,
    wall_clock: Callable[[], float] = time.time,
    seed: int = 7,
) -> Any:
    """The sandbox app; its state is ``app.state.sandbox`` (a ``WooSandbox``), faults ``app.state.faults``.

    ``location_code`` is the catalogue location whose stock the shop holds (default the first);
    ``clock`` gives ``date_modified_gmt`` of writes, ``wall_clock`` the time OAuth timestamps are
    checked against; ``latency`` seconds are added to every API answer (shared hosting is slow).
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
    )

    async def guard(request: Request, action: str) -> JSONResponse | None:
        if state.latency:
            await asyncio.sleep(state.latency)
        return state.authenticate(request, action)

    async def list_products(request: Request) -> Response:
        if (refused := await guard(request, "view")) is not None:
            return refused
        with state.lock:
            if request.query_params.get("sku"):
                wanted = {s.strip() for s in request.query_params["sku"].split(",") if s.strip()}
                found = [state.by_sku[s] for s in wanted if s in state.by_sku]
                pool = [(state.products if kind == "product" else state.variations)[i] for kind, i in found]
            else:
                pool = list(state.products.values())
            items = _filtered(request, pool)
            return items if isinstance(items, Response) else _page(request, items)

    async def get_product(request: Request) -> Response:
        if (refused := await guard(request, "view")) is not None:
            return refused
        record = state.products.get(request.path_params["id"])
        if record is None:
            return _error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        return JSONResponse(_public(record))

    async def list_variations(request: Request) -> Response:
        if (refused := await guard(request, "view")) is not None:
            return refused
        with state.lock:
            parent = state.products.get(request.path_params["id"])
            if parent is None:
                return _error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            pool = state.children(parent["id"])
            if request.query_params.get("sku"):
                wanted = {s.strip() for s in request.query_params["sku"].split(",")}
                pool = [v for v in pool if v["sku"] in wanted]
            items = _filtered(request, pool)
            return items if isinstance(items, Response) else _page(request, items)

    async def batch(request: Request, table: Callable[[], dict[int, dict[str, Any]] | None]) -> Response:
        if (refused := await guard(request, "batch")) is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error("rest_invalid_json", "Invalid JSON body passed.", 400)
        if not isinstance(body, dict):
            return _error("rest_invalid_param", "Invalid parameter(s): body", 400)
        size = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if size > MAX_BATCH:
            return _error(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {MAX_BATCH} items for this request.",
                413,
            )
        with state.lock:
            records = table()
            if records is None:
                return _error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            answer: dict[str, list[dict[str, Any]]] = {}
            for entry in body.get("update") or []:
                done = state.update_item(records, entry if isinstance(entry, dict) else {})
                answer.setdefault("update", []).append(_public(done) if "error" not in done else done)
            for _entry in body.get("create") or []:
                answer.setdefault("create", []).append(
                    {
                        "id": 0,
                        "error": {
                            "code": "woocommerce_rest_cannot_create",
                            "message": "Sorry, the sandbox does not create products.",
                            "data": {"status": 400},
                        },
                    }
                )
            for item_id in body.get("delete") or []:
                record = records.get(int(item_id)) if str(item_id).isdigit() else None
                if record is None:
                    answer.setdefault("delete", []).append(
                        {
                            "id": item_id,
                            "error": {
                                "code": "woocommerce_rest_product_invalid_id",
                                "message": "Invalid ID.",
                                "data": {"status": 400},
                            },
                        }
                    )
                else:
                    record["status"] = "trash"
                    answer.setdefault("delete", []).append(_public(record))
        return JSONResponse(answer)

    async def products_batch(request: Request) -> Response:
        return await batch(request, lambda: state.products)

    async def variations_batch(request: Request) -> Response:
        parent_id = request.path_params["id"]

        def table() -> dict[int, dict[str, Any]] | None:
            if parent_id not in state.products:
                return None
            return {v["id"]: v for v in state.children(parent_id)}

        return await batch(request, table)

    async def list_customers(request: Request) -> Response:
        if (refused := await guard(request, "view")) is not None:
            return refused
        with state.lock:
            items = _filtered(request, list(state.customers.values()))
            return items if isinstance(items, Response) else _page(request, items)

    async def customers_batch(request: Request) -> Response:
        if (refused := await guard(request, "batch")) is not None:
            return refused
        body = await request.json()
        size = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if size > MAX_BATCH:
            return _error(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {MAX_BATCH} items for this request.",
                413,
            )
        answer: dict[str, list[dict[str, Any]]] = {}
        with state.lock:
            for kind in ("create", "update"):
                for entry in body.get(kind) or []:
                    done = state.upsert_customer(entry, create=kind == "create")
                    answer.setdefault(kind, []).append(_public(done) if "error" not in done else done)
        return JSONResponse(answer)

    async def rest_route_form(request: Request) -> Response:
        # Captured: the ?rest_route= form answers 401 with API keys.
        return _error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)

    async def sale(request: Request) -> Response:
        payload = await request.json()
        try:
            left = state.sale(str(payload["sku"]), int(payload.get("quantity", 1)))
        except KeyError:
            return JSONResponse({"error": f"unknown sku {payload.get('sku')!r}"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"sku": payload["sku"], "stock_quantity": left})

    routes = [
        Route("/_sandbox/sale", sale, methods=["POST"]),
        Route("/", rest_route_form, methods=["GET", "POST"]),
        Route(f"{API}/products", list_products, methods=["GET"]),
        Route(f"{API}/products/batch", products_batch, methods=["POST", "PUT", "PATCH"]),
        Route(f"{API}/products/{{id:int}}", get_product, methods=["GET"]),
        Route(f"{API}/products/{{id:int}}/variations", list_variations, methods=["GET"]),
        Route(f"{API}/products/{{id:int}}/variations/batch", variations_batch, methods=["POST", "PUT", "PATCH"]),
        Route(f"{API}/customers", list_customers, methods=["GET"]),
        Route(f"{API}/customers/batch", customers_batch, methods=["POST", "PUT", "PATCH"]),
    ]
    return sandbox_app("woocommerce", routes, state=state, seed=seed)
