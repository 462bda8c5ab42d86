"""A local WMS of the common REST shape, for the integration tests, the demo and the benchmark.

It serves per (SKU, warehouse) ``{item_id, sku, warehouse_id, on_hand, committed, available,
updated_at}`` at ``GET /v1/inventory`` and the items at ``GET /v1/items``, seeded from a
``hub.sandbox.seed.Catalogue``: the catalogue's location codes become warehouses ``WH-1``, ``WH-2``, ...
(``app.state.sandbox.warehouses`` maps id -> code), its stock numbers become ``available``, and
a small committed quantity is added on top to make ``on_hand``.

What it is faithful to: a key in ``Authorization: Bearer`` (or any header, any scheme) answered
with a 401 JSON error when wrong; paging in one of three styles (``cursor``: ``next_cursor`` in
the body; ``next_url``: ``links.next``; ``page``: ``page``/``per_page`` with ``X-Total-Pages``);
a ``limit`` above ``page_size_max`` refused with 400; ``updated_since`` (rows changed strictly
after that time; change times here only ever increase, so a change at the cursor's own instant
cannot be missed); ``X-RateLimit-Limit/Remaining/Reset`` on every answer and a 429 with
``Retry-After`` when the one-second window is spent; the kit's fault injection. ``set_stock``
(or ``POST /_sandbox/stock``) moves stock the way a sale or a delivery would, for incremental
tests.
"""

from __future__ import annotations

import base64
import bisect
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.sdk import Catalogue, SandboxPlugin, demo_store, sandbox_app

__all__ = ["DEFAULT_API_KEY", "PLUGIN", "StockRow", "WmsState", "create_app"]

#: The key ``omnihub sandbox wms`` accepts when none is given.
DEFAULT_API_KEY = "wms-sandbox-key-0001"

Style = Literal["cursor", "next_url", "page"]


@dataclass
class StockRow:
    """One SKU at one warehouse; ``available`` is on hand minus committed, as in a real WMS."""

    item_id: str
    sku: str
    warehouse_id: str
    on_hand: int
    committed: int
    updated_at: datetime

    @property
    def available(self) -> int:
        return self.on_hand - self.committed

    def as_json(self, *, with_available: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "item_id": self.item_id,
            "sku": self.sku,
            "warehouse_id": self.warehouse_id,
            "on_hand": self.on_hand,
            "committed": self.committed,
        }
        if with_available:
            row["available"] = self.available
        row["updated_at"] = _iso(self.updated_at)
        return row


class ApiError(Exception):
    """An answer the WMS gives instead of a listing."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class WmsState:
    """The simulated WMS: stock rows, items, and the rules of its API. Thread-safe."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        api_key: str = DEFAULT_API_KEY,
        auth_header: str = "Authorization",
        auth_scheme: str = "Bearer",
        pagination: Style = "cursor",
        page_size_max: int = 500,
        rate_limit_per_s: int | None = None,
        report_available: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_key, self.auth_header, self.auth_scheme = api_key, auth_header, auth_scheme
        self.pagination: Style = pagination
        self.page_size_max = page_size_max
        self.rate_limit_per_s = rate_limit_per_s
        self.report_available = report_available
        #: Warehouse id -> the catalogue's canonical location code (``WH-1`` -> the first code).
        self.warehouses: dict[str, str] = {f"WH-{n}": code for n, code in enumerate(catalogue.locations, start=1)}
        self._by_code = {code: wid for wid, code in self.warehouses.items()}
        self._lock = threading.Lock()
        self._clock = clock
        self._window_start = clock()
        self._window_used = 0
        self.items: dict[str, dict[str, Any]] = {}
        for n, item in enumerate(catalogue.items, start=1):
            self.items[item.sku] = {
                "id": f"ITEM-{n}",
                "sku": item.sku,
                "name": item.title,
                "barcode": item.barcode or "",
                "status": "active" if item.status == "active" else "inactive",
                "updated_at": _iso(item.updated_at),
            }
        self.stock: dict[tuple[str, str], StockRow] = {}
        self._newest = datetime(2026, 1, 1, tzinfo=UTC)
        for n, (sku, levels) in enumerate(sorted(catalogue.stock.items())):
            item = self.items.get(sku)
            stamp = datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00")) if item else self._newest
            for code, available in levels.items():
                committed = n % 3  # some stock is always promised to open orders
                wid = self._by_code[code]
                self.stock[(sku, wid)] = StockRow(
                    item["id"] if item else f"ITEM-{sku}", sku, wid, available + committed, committed, stamp
                )
                self._newest = max(self._newest, stamp)
        self._stock_keys = sorted(self.stock)
        self._item_keys = sorted(self.items)

    # ------------------------------------------------------------- test helpers

    def warehouse_of(self, location: str) -> str:
        """The warehouse id of a canonical location code (or the id itself)."""
        return location if location in self.warehouses else self._by_code[location]

    def set_stock(
        self, sku: str, location: str, *, on_hand: int | None = None, committed: int | None = None
    ) -> StockRow:
        """Move stock as a sale or a delivery would; the row's ``updated_at`` becomes now."""
        wid = self.warehouse_of(location)
        with self._lock:
            row = self.stock.get((sku, wid))
            if row is None:
                row = StockRow(self.items.get(sku, {}).get("id", f"ITEM-{sku}"), sku, wid, 0, 0, self._newest)
                self.stock[(sku, wid)] = row
                bisect.insort(self._stock_keys, (sku, wid))
            if on_hand is not None:
                row.on_hand = on_hand
            if committed is not None:
                row.committed = committed
            row.updated_at = self._tick()
            return row

    def clear_stock(self) -> None:
        """Forget every stock row, like a WMS answering from an empty database after a bad restore."""
        with self._lock:
            self.stock.clear()
            self._stock_keys.clear()

    def level(self, sku: str, location: str) -> StockRow:
        return self.stock[(sku, self.warehouse_of(location))]

    def _tick(self) -> datetime:
        """A change time later than every earlier one, even if the wall clock is behind the seed."""
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what the JSON shows, exactly
        self._newest = max(now, self._newest + timedelta(milliseconds=1))
        return self._newest

    # ------------------------------------------------------------- API rules

    def authorize(self, request: Request) -> None:
        sent = request.headers.get(self.auth_header, "")
        expected = f"{self.auth_scheme} {self.api_key}" if self.auth_scheme else self.api_key
        if sent != expected:
            raise ApiError(401, "unauthorized", f"missing or invalid API key in {self.auth_header}")

    def spend_rate(self) -> dict[str, str]:
        """Count a request against the one-second window; the rate-limit headers to send."""
        if self.rate_limit_per_s is None:
            return {}
        with self._lock:
            now = self._clock()
            if now - self._window_start >= 1.0:
                self._window_start, self._window_used = now, 0
            reset = max(0.0, 1.0 - (now - self._window_start))
            headers = {"X-RateLimit-Limit": str(self.rate_limit_per_s), "X-RateLimit-Reset": str(math.ceil(reset))}
            if self._window_used >= self.rate_limit_per_s:
                headers["X-RateLimit-Remaining"] = "0"
                raise ApiError(
                    429,
                    "rate_limited",
                    f"more than {self.rate_limit_per_s} requests per second",
                    {**headers, "Retry-After": str(max(1, math.ceil(reset)))},
                )
            self._window_used += 1
            headers["X-RateLimit-Remaining"] = str(self.rate_limit_per_s - self._window_used)
            return headers

    def listing(self, kind: str, request: Request) -> tuple[dict[str, Any], dict[str, str]]:
        """One page of ``stock`` or ``items`` in the configured style: (body, headers)."""
        query = request.query_params
        size_param = "per_page" if self.pagination == "page" else "limit"
        size = _int_param(query, size_param, 50)
        if not 1 <= size <= self.page_size_max:
            raise ApiError(400, "invalid_param", f"{size_param} must be between 1 and {self.page_size_max}")
        since = _time_param(query.get("updated_since"))
        with self._lock:
            keys, rows = (self._stock_keys, self.stock) if kind == "stock" else (self._item_keys, self.items)
            matching = [k for k in keys if since is None or _stamp(rows[k]) > since]
            if self.pagination == "page":
                page = _int_param(query, "page", 1)
                if page < 1:
                    raise ApiError(400, "invalid_param", "page must be 1 or more")
                chosen = matching[(page - 1) * size : page * size]
                pages = math.ceil(len(matching) / size)
                headers = {"X-Total-Pages": str(pages), "X-Total-Count": str(len(matching))}
                return {"data": self._render(kind, chosen), "meta": {"total": len(matching)}}, headers
            after = _decode_cursor(query.get("cursor")) if query.get("cursor") else None
            if after is not None and not isinstance(after, tuple if kind == "stock" else str):
                raise ApiError(400, "invalid_cursor", "the cursor is not one this listing gave out")
            start = bisect.bisect_right(matching, after) if after is not None else 0
            chosen = matching[start : start + size]
            more = start + size < len(matching)
            body: dict[str, Any] = {"data": self._render(kind, chosen), "meta": {"total": len(matching)}}
        token = _encode_cursor(chosen[-1]) if more and chosen else None
        if self.pagination == "cursor":
            body["next_cursor"] = token
        else:
            nxt = None
            if token is not None:
                params = {k: v for k, v in query.items() if k != "cursor"}
                nxt = f"{request.url.path}?{urlencode({**params, 'cursor': token})}"
            body["links"] = {"next": str(request.base_url).rstrip("/") + nxt if nxt else None}
        return body, {"X-Total-Count": str(body["meta"]["total"])}

    def _render(self, kind: str, keys: list[Any]) -> list[dict[str, Any]]:
        if kind == "stock":
            return [self.stock[k].as_json(with_available=self.report_available) for k in keys]
        return [dict(self.items[k]) for k in keys]


def _stamp(row: StockRow | dict[str, Any]) -> datetime:
    if isinstance(row, StockRow):
        return row.updated_at
    return datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00"))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int_param(query: Any, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "invalid_param", f"{name} must be a whole number") from None


def _time_param(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid_param", "updated_since must be an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def _decode_cursor(token: str) -> Any:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API gave out") from None
    return tuple(value) if isinstance(value, list) else value


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _routes(state: WmsState) -> Iterator[Route]:
    def listing(kind: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            headers: dict[str, str] = {}
            try:
                state.authorize(request)
                headers = state.spend_rate()
                body, more_headers = state.listing(kind, request)
            except ApiError as err:
                return _json({"code": err.code, "message": err.message}, err.status, {**headers, **err.headers})
            return _json(body, 200, {**headers, **more_headers})

        return endpoint

    async def change_stock(request: Request) -> Response:
        payload = await request.json()
        try:
            row = state.set_stock(
                str(payload["sku"]),
                str(payload.get("warehouse_id") or payload["location"]),
                on_hand=payload.get("on_hand"),
                committed=payload.get("committed"),
            )
        except KeyError as exc:
            return _json({"code": "not_found", "message": f"unknown {exc.args[0]!r}"}, 404)
        return _json(row.as_json(with_available=True))

    async def warehouses(request: Request) -> Response:
        return _json(state.warehouses)

    yield Route("/v1/inventory", listing("stock"), methods=["GET"])
    yield Route("/v1/items", listing("items"), methods=["GET"])
    yield Route("/_sandbox/stock", change_stock, methods=["POST"])
    yield Route("/_sandbox/warehouses", warehouses, methods=["GET"])


def create_app(catalogue: Catalogue | None = None, *, seed: int = 7, **options: Any) -> Any:
    """The WMS sandbox app, seeded with ``catalogue`` (the demo store when none is given).

    ``options`` are ``WmsState``'s (``api_key``, ``auth_header``, ``auth_scheme``, ``pagination``,
    ``page_size_max``, ``rate_limit_per_s``, ``report_available``). ``report_available=False``
    leaves ``available`` out of stock rows, like a WMS that reports only on hand and committed.
    ``app.state.sandbox`` is the ``WmsState``.
    """
    pagination = options.get("pagination", "cursor")
    if pagination not in ("cursor", "next_url", "page"):
        raise ValueError(f"pagination must be cursor, next_url or page, not {pagination!r}")
    state = WmsState(catalogue if catalogue is not None else demo_store(), **options)
    return sandbox_app("wms", list(_routes(state)), state=state, seed=seed)


def _connector_block(url: str, app: Any) -> dict[str, Any]:
    return {
        "type": "rest_wms",
        "base_url": url,
        "api_key": "${OMNIHUB_DEMO_WMS_KEY}",
        "locations": dict(app.state.sandbox.warehouses),
    }


#: What the demo, ``omnihub sandbox wms`` and the contract tests know of this sandbox
#: (entry point ``omnihub.sandboxes: wms``).
_SECRETS = {"api_key": ("OMNIHUB_DEMO_WMS_KEY", "wms-demo-key-000000")}
PLUGIN = SandboxPlugin(
    "rest_wms", create_app, _connector_block, _SECRETS, demo_name="wms", paging_settings={"page_size": 10}, page_size=10
)
