"""The ``rest_wms`` connector: stock and items read from any WMS of the common REST shape.

Everything platform-specific is data: the settings say how to reach the WMS (endpoints, auth
header, paging, pacing), the mapping file says where SKU, warehouse and quantities sit in a row.
The WMS is the source of truth for stock, so the connector only reads; it guards complete pulls
against empty or truncated answers (see ``guard``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from hub.sdk import (
    READ,
    AuthError,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Entity,
    FatalError,
    Paginator,
    PullPage,
    Reply,
    Transport,
    TransportSettings,
    TransportStats,
    dig,
    load_mapping,
)
from hub.sdk import Mapping as FieldMapping

from .guard import PullGuard
from .limits import build_limiter
from .paging import build_paginator, first_params
from .rows import RowShape, newer_timestamp, shape_rows
from .settings import EndpointSettings, RestWmsSettings

__all__ = ["RestWmsConnector"]

log = logging.getLogger("omnihub.connectors.rest_wms")


class RestWmsConnector(Connector):
    """Reads stock levels and items from a WMS over a configurable REST API."""

    type_name = "rest_wms"
    settings_model = RestWmsSettings
    capabilities = {Entity.stock: READ, Entity.products: READ}

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        self._transport: Transport | None = None
        #: The figures of the latest transport, kept after ``close`` for the run's report.
        self._stats: TransportStats | None = None
        self._mapping: FieldMapping | None = context.mapping
        #: Rows received by the last complete pull of each entity: the guard's baseline when the
        #: WMS announces no total.
        self._previous_received: dict[Entity, int] = {}
        #: Rows of the last pull skipped because their warehouse is not in ``locations``, by id.
        self.skipped_warehouses: Counter[str] = Counter()

    @property
    def wms(self) -> RestWmsSettings:
        return cast(RestWmsSettings, self.settings)

    @property
    def transport_stats(self) -> TransportStats | None:
        return self._stats

    async def open(self) -> None:
        """Load the mapping (unless the hub passed one) and build the transport."""
        settings = self.wms
        if self._mapping is None:
            self._mapping = load_mapping(
                self.type_name,
                user_file=settings.mapping,
                settings=settings.model_dump(include={"locations"}),
                currency=self.context.currency,
                base_dir=self.context.base_dir,
            )
        if self._transport is None:
            self._transport = Transport(
                self.name,
                TransportSettings(
                    base_url=settings.base_url,
                    headers={settings.auth_header: settings.auth_value()},
                    secrets=[settings.api_key.get_secret_value()],
                    timeout=settings.timeout_s,
                    max_attempts=settings.max_attempts,
                    max_concurrency=settings.max_concurrency or 4,
                    verify_tls=settings.verify_tls,
                ),
                limiter=build_limiter(settings),
            )
            self._stats = self._transport.stats

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    async def ping(self) -> None:
        """Ask for one stock row: proves the URL, the key and the records path in one request."""
        settings = self.wms
        endpoint = settings.endpoints.stock
        params = first_params(settings, page_size=1, since=None)
        try:
            reply = await self._require_transport().get(endpoint.path, params=params)
        except AuthError as exc:
            raise self._auth_error(exc) from None
        self._rows_of(reply, endpoint.path)

    async def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:
        """Stream one entity's rows page by page.

        With ``since`` and an ``updated_since_param``, only rows changed since then are asked for
        (``complete=False``); otherwise the pull is complete and guarded. The last page is held back
        until the guard has passed, so a refused pull never reaches the engine as complete.
        """
        settings = self.wms
        endpoint = self._endpoint(entity)
        incremental = since is not None and bool(settings.updated_since_param)
        shape = self._shape(entity, endpoint)
        params = first_params(settings, page_size=settings.page_size, since=since if incremental else None)
        paginator = build_paginator(settings, self.name)
        cursor = since if incremental else None
        total: int | None = None
        received = kept = 0
        skipped: Counter[str] = Counter()
        held: PullPage | None = None
        async for reply in self._pages(endpoint.path, paginator, params):
            rows = self._rows_of(reply, endpoint.path)
            if total is None:
                total = self._total(reply)
            page = shape_rows(rows, shape, settings.locations, origin=endpoint.path, first_index=received)
            received += len(rows)
            kept += len(page.records)
            skipped.update(page.skipped)
            cursor = newer_timestamp(cursor, page.newest)
            if held is not None:
                yield held
            held = PullPage(page.records, cursor=cursor, total=total, complete=not incremental, rejected=page.rejected)
        self._note_skipped(entity, skipped)
        if not incremental:
            self._guard(entity, total).check(kept=kept, received=received)
            self._previous_received[entity] = received
        if held is not None:
            yield held

    # ------------------------------------------------------------------ helpers

    def _require_transport(self) -> Transport:
        if self._transport is None:
            raise RuntimeError(f"{self!r} is not open; use `async with` or call open() first")
        return self._transport

    def _require_mapping(self) -> FieldMapping:
        if self._mapping is None:
            raise RuntimeError(f"{self!r} is not open; use `async with` or call open() first")
        return self._mapping

    def _endpoint(self, entity: Entity) -> EndpointSettings:
        if entity is Entity.stock:
            return self.wms.endpoints.stock
        if entity is Entity.products:
            return self.wms.endpoints.products
        raise NotImplementedError(f"{self.type_name} cannot read {entity.value}")

    def _shape(self, entity: Entity, endpoint: EndpointSettings) -> RowShape:
        """Where this entity's rows keep what the connector itself reads (from the mapping)."""
        fields = self._require_mapping()[entity]
        common = {
            "sku_path": fields.platform_field("sku"),
            "id_path": endpoint.id_field,
            "updated_at_path": self.wms.updated_at_field,
        }
        if entity is not Entity.stock:
            return RowShape(**common)
        return RowShape(
            **common,
            location_path=fields.platform_field("location"),
            available_path=fields.platform_field("available"),
            on_hand_path=fields.platform_field("on_hand"),
            committed_path=self.wms.committed_field,
        )

    async def _pages(self, path: str, paginator: Paginator, params: Mapping[str, Any]) -> AsyncIterator[Reply]:
        try:
            async for reply in self._require_transport().paginate("GET", path, paginator, params=params):
                yield reply
        except AuthError as exc:
            raise self._auth_error(exc) from None

    def _auth_error(self, exc: AuthError) -> AuthError:
        """The transport's 401/403, reworded to say which settings to fix."""
        detail = str(exc).removeprefix(f"[{self.name}] ")
        sent_as = f"`auth_header` {self.wms.auth_header!r}"
        if self.wms.auth_scheme:
            sent_as += f" with `auth_scheme` {self.wms.auth_scheme!r}"
        return AuthError(
            f"the WMS refused the credentials: check `api_key` (sent in {sent_as}) ({detail})",
            connector=self.name,
            status=exc.status,
        )

    def _rows_of(self, reply: Reply, path: str) -> list[Any]:
        rows = dig(reply.data, self.wms.records_path or None)
        if not isinstance(rows, list):
            where = f"`records_path` {self.wms.records_path!r}" if self.wms.records_path else "the top of the body"
            raise FatalError(
                f"GET {path} answered HTTP {reply.status} without a list of rows at {where}; "
                f"check `records_path` and the endpoint",
                connector=self.name,
                status=reply.status,
            )
        return rows

    def _total(self, reply: Reply) -> int | None:
        settings = self.wms
        candidates = [
            dig(reply.data, settings.total_path) if settings.total_path else None,
            reply.headers.get(settings.total_header) if settings.total_header else None,
        ]
        for value in candidates:
            if isinstance(value, bool) or value is None:
                continue
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
        return None

    def _guard(self, entity: Entity, total: int | None) -> PullGuard:
        settings = self.wms
        if total is not None:
            expected, source = total, "the total the WMS announced"
        else:
            expected, source = self._previous_received.get(entity), "the previous complete pull"
        return PullGuard(
            connector=self.name,
            entity=entity.value,
            min_records=settings.min_records,
            max_drop_fraction=settings.max_drop_fraction,
            expected=expected,
            expected_from=source,
        )

    def _note_skipped(self, entity: Entity, skipped: Counter[str]) -> None:
        self.skipped_warehouses = skipped
        if skipped:
            listed = ", ".join(f"{wid} ({n})" for wid, n in sorted(skipped.items()))
            log.warning(
                "%s: skipped %d %s rows of warehouses not in `locations`: %s",
                self.name,
                sum(skipped.values()),
                entity.value,
                listed,
            )
