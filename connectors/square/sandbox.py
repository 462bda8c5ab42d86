"""A local Square seller account (catalog variations and inventory counts), written from Square's documentation.

It is a witness, not a mirror of the connector: it shares no code with it and answers as the
documentation says Square answers, so that a connector that misreads the documentation fails here.
Seeded from a ``hub.sdk.Catalogue``: every item becomes an ``ITEM_VARIATION`` with its SKU, every
location code a Square location id (``app.state.sandbox.locations`` maps id -> code), and every
stock number an ``IN_STOCK`` count.

The documented facts it holds a client to (pages below developer.squareup.com/):

* ``reference/square/catalog-api/list-catalog``: ``GET /v2/catalog/list`` with ``types`` (a
  comma-separated, case-insensitive list) and ``cursor``; ``objects[]`` and a ``cursor`` while more
  follow. Pages of 100 objects (not in the reference; a Square forum answer,
  ``forums/t/maximum-number-of-catalog-objects-from-v2-catalog-list/808``). Only
  ``ITEM_VARIATION`` objects are simulated (``reference/square/objects/CatalogItemVariation``:
  ``item_variation_data.sku``).
* ``reference/square/inventory-api/batch-retrieve-inventory-counts``: ``POST
  /v2/inventory/counts/batch-retrieve`` with a body of ``catalog_object_ids``, ``location_ids``,
  ``updated_after`` (RFC 3339: counts whose ``calculated_at`` is later), ``cursor``, ``states`` and
  ``limit``; ``counts[]`` of ``{catalog_object_id, catalog_object_type, state, location_id,
  quantity (a decimal string), calculated_at}`` and a ``cursor`` while more follow. The range of
  ``limit`` is not stated there: 1 to 1000 is assumed, 100 by default (a forum answer saw pages of 100).
* ``reference/square/inventory-api/batch-change-inventory``: ``POST
  /v2/inventory/changes/batch-create`` with a required ``idempotency_key``, ``changes`` (at most 100,
  as Square's own SDK documentation states) and ``ignore_unchanged_counts``; a ``PHYSICAL_COUNT``
  change carries ``physical_count`` ``{catalog_object_id, location_id, quantity, state,
  occurred_at}`` (``reference/square/objects/InventoryPhysicalCount``: a decimal string with up to
  5 digits after the point). On success it answers the current ``counts`` of the objects changed.
  Only ``PHYSICAL_COUNT`` changes are simulated.
* ``docs/working-with-apis/idempotency``: the same key with the same request answers the first
  result and applies nothing; the same key with another request is an error. Its code is assumed to
  be ``IDEMPOTENCY_KEY_REUSED`` (the search could not show the ErrorCode page's entry for it).
* ``reference/square/objects/Error``: errors are ``{"errors": [{category, code, detail, field}]}``;
  a bad token is ``AUTHENTICATION_ERROR``/``UNAUTHORIZED`` with HTTP 401 (``reference/square/enums/ErrorCode``).
* ``docs/build-basics/versioning``: ``Square-Version: YYYY-MM-DD`` picks the version; answers carry it.

Square leaves empty lists out of its answers, and so does this sandbox. Unknown body fields are
refused with ``INVALID_REQUEST_ERROR`` (stricter than Square may be, on purpose).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.sdk import Catalogue, SandboxPlugin, demo_store, sandbox_app

__all__ = ["PLUGIN", "SquareError", "SquareState", "create_app"]

CATALOG_PAGE = 100
MAX_CHANGES = 100
STATES = {"IN_STOCK", "SOLD", "RETURNED_BY_CUSTOMER", "RESERVED_FOR_SALE", "WASTE", "UNLINKED_RETURN", "NONE"}
_DECIMAL = re.compile(r"^-?\d+(\.\d{1,5})?$")
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COUNT_FIELDS = {"catalog_object_ids", "location_ids", "updated_after", "cursor", "states", "limit"}
CHANGE_FIELDS = {"idempotency_key", "changes", "ignore_unchanged_counts"}
PHYSICAL_FIELDS = {"catalog_object_id", "location_id", "quantity", "state", "occurred_at", "reference_id"}


class SquareError(Exception):
    """An answer of Square's error shape instead of a result."""

    def __init__(self, status: int, category: str, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = {"category": category, "code": code, "detail": detail} | ({"field": field} if field else {})


def _invalid(code: str, detail: str, field: str | None = None) -> SquareError:
    return SquareError(400, "INVALID_REQUEST_ERROR", code, detail, field)


def _square_id(kind: str, name: str, length: int) -> str:
    """A stable id of Square's look (upper-case letters and digits) for a seeded object."""
    return base64.b32encode(hashlib.sha256(f"{kind}:{name}".encode()).digest()).decode()[:length]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(value: Any, field: str) -> datetime:
    """An RFC 3339 time with its offset, or the error Square gives for it."""
    if not isinstance(value, str) or "T" not in value:
        raise _invalid("INVALID_TIME", f"`{field}` must be an RFC 3339 timestamp", field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("INVALID_TIME", f"`{field}` must be an RFC 3339 timestamp", field) from None
    if parsed.tzinfo is None:
        raise _invalid("INVALID_TIME", f"`{field}` needs a time zone offset", field)
    return parsed


def _strings(body: dict[str, Any], field: str) -> list[str] | None:
    value = body.get(field)
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise _invalid("INCORRECT_TYPE", f"`{field}` must be a list of strings", field)
    return value


def _known_fields(body: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid("EXPECTED_JSON_BODY", f"{where} must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _invalid("BAD_REQUEST", f"unknown field `{unknown[0]}` in {where}", unknown[0])
    return body


class SquareState:
    """The simulated seller account: variations, locations, counts, idempotency keys. Thread-safe."""

    def __init__(self, catalogue: Catalogue, *, access_token: str) -> None:
        self.access_token = access_token
        #: Square location id -> the catalogue's canonical location code.
        self.locations = {_square_id("location", code, 13): code for code in catalogue.locations}
        self._location_of = {code: lid for lid, code in self.locations.items()}
        self.variations: dict[str, dict[str, Any]] = {}
        for item in catalogue.items:
            vid = _square_id("variation", item.sku, 24)
            data = {"item_id": _square_id("item", item.group, 24), "name": item.title, "sku": item.sku}
            self.variations[vid] = {
                "type": "ITEM_VARIATION",
                "id": vid,
                "is_deleted": False,
                "item_variation_data": data,
            }
        self._variation_of = {v["item_variation_data"]["sku"]: vid for vid, v in self.variations.items()}
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        #: (variation id, location id) -> [quantity as a decimal string, calculated_at]
        self.counts: dict[tuple[str, str], list[Any]] = {}
        for sku, levels in sorted(catalogue.stock.items()):
            for code, available in levels.items():
                self.counts[(self._variation_of[sku], self._location_of[code])] = [str(available), self._tick()]
        self._keys: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        #: Batches applied (a replayed key adds nothing): what a crash-and-retry test counts.
        self.applied = 0

    # ------------------------------------------------------------- test helpers

    def quantity(self, sku: str, location: str) -> str | None:
        """The ``IN_STOCK`` quantity of ``sku`` at a canonical location code, ``None`` if never counted."""
        count = self.counts.get((self._variation_of[sku], self._location_of[location]))
        return count[0] if count else None

    def sell(self, sku: str, location: str, quantity: int = 1) -> None:
        """A sale at the register: the count goes down and is calculated again now."""
        with self._lock:
            count = self.counts[(self._variation_of[sku], self._location_of[location])]
            count[:] = [str(Decimal(count[0]) - quantity), self._tick()]

    def _tick(self) -> datetime:
        """A ``calculated_at`` later than every earlier one, even if the wall clock is behind the seed."""
        self._clock = max(datetime.now(UTC), self._clock + timedelta(milliseconds=1))
        self._clock = self._clock.replace(microsecond=self._clock.microsecond // 1000 * 1000)
        return self._clock

    # ------------------------------------------------------------- the API

    def authorize(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            raise SquareError(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized.")
        version = request.headers.get("square-version")
        if version is not None and not _VERSION.match(version):
            raise _invalid("INVALID_VALUE", f"Square-Version {version!r} is not a version", "Square-Version")

    def list_catalog(self, query: Any) -> dict[str, Any]:
        unknown = sorted(set(query) - {"types", "cursor", "catalog_version"})
        if unknown:
            raise _invalid("UNKNOWN_QUERY_PARAMETER", f"unknown query parameter `{unknown[0]}`", unknown[0])
        types = {t.strip().upper() for t in query.get("types", "ITEM").split(",")}
        objects = [self.variations[k] for k in sorted(self.variations)] if "ITEM_VARIATION" in types else []
        return _page(objects, query.get("cursor"), CATALOG_PAGE, "objects")

    def retrieve_counts(self, body: Any) -> dict[str, Any]:
        body = _known_fields(body, COUNT_FIELDS, "the request")
        objects, locations, states = (_strings(body, f) for f in ("catalog_object_ids", "location_ids", "states"))
        if states and not set(states) <= STATES:
            raise _invalid("INVALID_ENUM_VALUE", "`states` holds an unknown inventory state", "states")
        after = _time(body["updated_after"], "updated_after") if body.get("updated_after") else None
        limit = body.get("limit", 100)
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise _invalid("INVALID_VALUE", "`limit` must be a whole number from 1 to 1000", "limit")
        with self._lock:
            rows = [
                _count(vid, lid, quantity, at)
                for (vid, lid), (quantity, at) in sorted(self.counts.items())
                if (objects is None or vid in objects)
                and (locations is None or lid in locations)
                and (not states or "IN_STOCK" in states)
                and (after is None or at > after)
            ]
        return _page(rows, body.get("cursor"), limit, "counts")

    def batch_change(self, raw: bytes, body: Any) -> dict[str, Any]:
        body = _known_fields(body, CHANGE_FIELDS, "the request")
        key = body.get("idempotency_key")
        if not isinstance(key, str) or not key:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "`idempotency_key` is required", "idempotency_key")
        digest = hashlib.sha256(raw).digest()
        with self._lock:
            if key in self._keys:
                seen, answer = self._keys[key]
                if seen != digest:
                    raise _invalid("IDEMPOTENCY_KEY_REUSED", "the idempotency key was used with another request")
                return answer
            counts = self._checked_counts(body.get("changes"))
            for physical in counts:
                place = (physical["catalog_object_id"], physical["location_id"])
                self.counts[place] = [physical["quantity"], self._tick()]
            answer = {
                "counts": [_count(v, loc, *self.counts[(v, loc)]) for v, loc in dict.fromkeys(self._places(counts))]
            }
            self._keys[key] = (digest, answer)
            self.applied += 1
            return answer

    @staticmethod
    def _places(counts: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(c["catalog_object_id"], c["location_id"]) for c in counts]

    def _checked_counts(self, changes: Any) -> list[dict[str, Any]]:
        """The physical counts of ``changes``, every one checked before any is applied."""
        if not isinstance(changes, list) or not changes:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "`changes` must hold at least one change", "changes")
        if len(changes) > MAX_CHANGES:
            raise _invalid("ARRAY_LENGTH_TOO_LONG", f"at most {MAX_CHANGES} changes per request", "changes")
        counts = []
        for n, change in enumerate(changes):
            where = f"changes[{n}]"
            change = _known_fields(change, {"type", "physical_count"}, where)
            if change.get("type") != "PHYSICAL_COUNT":
                raise _invalid("INVALID_VALUE", f"{where}.type: only PHYSICAL_COUNT is simulated", f"{where}.type")
            physical = _known_fields(change.get("physical_count"), PHYSICAL_FIELDS, f"{where}.physical_count")
            quantity = physical.get("quantity")
            if not isinstance(quantity, str) or not _DECIMAL.match(quantity):
                raise _invalid("INVALID_VALUE", f"{where}: `quantity` must be a decimal string", f"{where}.quantity")
            if physical.get("catalog_object_id") not in self.variations:
                raise _invalid("INVALID_VALUE", f"{where}: unknown `catalog_object_id`", f"{where}.catalog_object_id")
            if physical.get("location_id") not in self.locations:
                raise _invalid("INVALID_VALUE", f"{where}: unknown `location_id`", f"{where}.location_id")
            if physical.get("state") != "IN_STOCK":
                raise _invalid("INVALID_VALUE", f"{where}: only IN_STOCK counts are simulated", f"{where}.state")
            _time(physical.get("occurred_at"), f"{where}.occurred_at")
            counts.append(physical)
        return counts


def _count(vid: str, lid: str, quantity: str, at: datetime) -> dict[str, Any]:
    return {
        "catalog_object_id": vid,
        "catalog_object_type": "ITEM_VARIATION",
        "state": "IN_STOCK",
        "location_id": lid,
        "quantity": quantity,
        "calculated_at": _iso(at),
    }


def _page(rows: list[Any], cursor: Any, size: int, name: str) -> dict[str, Any]:
    """One page of ``rows`` from an opaque ``cursor``; empty lists and the last cursor left out."""
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(str(cursor).encode()).decode().removeprefix("offset:"))
        except ValueError:
            raise _invalid("INVALID_CURSOR", "the cursor is not one this listing gave out", "cursor") from None
    chosen = rows[start : start + size]
    answer: dict[str, Any] = {name: chosen} if chosen else {}
    if start + size < len(rows):
        answer["cursor"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
    return answer


def _answer(request: Request, body: dict[str, Any] | None = None, status: int = 200) -> Response:
    headers = {"Square-Version": request.headers.get("square-version", "2025-10-16")}
    return Response(orjson.dumps(body or {}), status_code=status, media_type="application/json", headers=headers)


def _routes(state: SquareState) -> list[Route]:
    async def handle(request: Request) -> Response:
        try:
            state.authorize(request)
            if request.method == "GET":
                return _answer(request, state.list_catalog(request.query_params))
            raw = await request.body()
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise _invalid("EXPECTED_JSON_BODY", "the body is not JSON") from None
            if request.url.path.endswith("/counts/batch-retrieve"):
                return _answer(request, state.retrieve_counts(body))
            return _answer(request, state.batch_change(raw, body))
        except SquareError as err:
            return _answer(request, {"errors": [err.error]}, err.status)

    return [
        Route("/v2/catalog/list", handle, methods=["GET"]),
        Route("/v2/inventory/counts/batch-retrieve", handle, methods=["POST"]),
        Route("/v2/inventory/changes/batch-create", handle, methods=["POST"]),
    ]


def create_app(
    catalogue: Catalogue | None = None, *, access_token: str = "square-sandbox-token-0001", seed: int = 7
) -> Any:
    """The Square sandbox app, seeded with ``catalogue`` (the demo store when none is given);
    ``app.state.sandbox`` is the ``SquareState``."""
    state = SquareState(catalogue if catalogue is not None else demo_store(), access_token=access_token)
    return sandbox_app("square", _routes(state), state=state, seed=seed)


def _connector_block(url: str, app: Any) -> dict[str, Any]:
    locations = dict(app.state.sandbox.locations)  # Square location id -> canonical code
    return {"type": "square", "base_url": url, "access_token": "${OMNIHUB_DEMO_SQUARE_TOKEN}", "locations": locations}


#: What ``omnihub sandbox square`` and the contract tests know of this sandbox (entry point
#: ``omnihub.sandboxes: square``). Not part of ``omnihub demo``: the store there plays no POS.
_SECRETS = {"access_token": ("OMNIHUB_DEMO_SQUARE_TOKEN", "square-demo-token-000000")}
PLUGIN = SandboxPlugin(
    "square", create_app, _connector_block, _SECRETS, paging_settings={"page_size": 10}, page_size=10
)
