"""The ``rest_wms`` connector: stock and items read from any WMS of the common REST shape.

Everything platform-specific is data: the settings say how to reach the WMS (endpoints, auth
header, paging, pacing) and become declarative endpoints (``hub.sdk.Endpoint``); the mapping file
says where SKU, warehouse and quantities sit in a row. The WMS is the source of truth for stock, so
the connector only reads; it guards complete pulls against empty or truncated answers (``guard``).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import AsyncIterator

from hub.sdk import (
    READ,
    ClientConnector,
    Endpoint,
    EndpointDefaults,
    Entity,
    Incremental,
    PullPage,
    RestClient,
    SettingHint,
    Transport,
)

from .guard import PullGuard
from .limits import build_limiter
from .paging import build_paginator, first_params
from .rows import RowShape, shape_rows
from .settings import EndpointSettings, RestWmsSettings

__all__ = ["RestWmsConnector"]

log = logging.getLogger("omnihub.connectors.rest_wms")


class RestWmsConnector(ClientConnector[RestClient]):
    """Reads stock levels and items from a WMS over a configurable REST API."""

    type_name = "rest_wms"
    display_name = "REST WMS"
    settings_model = RestWmsSettings
    capabilities = {Entity.stock: READ, Entity.products: READ}
    settings: RestWmsSettings

    @functools.cached_property
    def _previous_received(self) -> dict[Entity, int]:
        """Rows received by the last complete pull of each entity: the guard's baseline when the WMS
        announces no total (kept across runs of this connector object)."""
        return {}

    @functools.cached_property
    def skipped_warehouses(self) -> Counter[str]:
        """Rows of the last pull skipped because their warehouse is not in ``locations``, by id."""
        return Counter()

    def make_client(self) -> RestClient:
        """The transport (auth header, pacing, the setting to fix on a 401) and the shared paging."""
        settings = self.settings
        sent_as = f"`auth_header` {settings.auth_header!r}"
        if settings.auth_scheme:
            sent_as += f" with `auth_scheme` {settings.auth_scheme!r}"
        sent_as = sent_as.replace("{", "{{").replace("}", "}}")
        hint = SettingHint(f"the WMS refused the credentials: check `api_key` (sent in {sent_as}) ({{detail}})")
        transport = Transport(
            self.name,
            settings.transport_settings(
                settings.base_url,
                headers={settings.auth_header: settings.auth_value()},
                secrets=[settings.api_key.get_secret_value()],
                hints=(hint,),
            ),
            limiter=build_limiter(settings),
            http_transport=self.http_transport,
        )
        defaults = EndpointDefaults(
            paginator=build_paginator(settings, self.name),
            params=first_params(settings, page_size=settings.page_size),
            records_path=settings.records_path or None,
        )
        stock = self._endpoint(Entity.stock)
        ping = stock.with_params(**{settings.pagination.page_size_param: 1})
        return RestClient(transport, defaults, ping=ping)

    async def open(self) -> None:
        """Load the mapping (unless the hub passed one) and build the client."""
        _ = self.field_mapping
        await super().open()

    async def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:
        """Stream one entity's rows page by page.

        With ``since`` and an ``updated_since_param``, only rows changed since then are asked for
        (``complete=False``); otherwise the pull is complete and guarded. The last page is held back
        until the guard has passed, so a refused pull never reaches the engine as complete.
        """
        endpoint = self._endpoint(entity)
        incremental = since is not None and bool(self.settings.updated_since_param)
        shape = self._shape(entity)
        total: int | None = None
        received = kept = 0
        skipped: Counter[str] = Counter()
        held: PullPage | None = None
        async for page in self.client.pages(endpoint, since=since if incremental else None):
            total = page.total if total is None else total
            rows = shape_rows(page.records, shape, self.settings.locations, origin=endpoint.path, first_index=received)
            received += len(page.records)
            kept += len(rows.records)
            skipped.update(rows.skipped)
            if held is not None:
                yield held
            held = PullPage(rows.records, page.cursor, total=total, complete=not incremental, rejected=rows.rejected)
        self._note_skipped(entity, skipped)
        if not incremental:
            self._guard(entity, total).check(kept=kept, received=received)
            self._previous_received[entity] = received
        if held is not None:
            yield held

    # ------------------------------------------------------------------ helpers

    def _endpoint(self, entity: Entity) -> Endpoint:
        """The listing of ``entity`` as the settings describe it."""
        settings = self.settings
        configured = self._configured(entity)
        return Endpoint(
            configured.path,
            incremental=Incremental(settings.updated_at_field, param=settings.updated_since_param, raw=True),
            total_path=settings.total_path,
            total_header=settings.total_header,
            records_hint="; check `records_path` and the endpoint",
        )

    def _configured(self, entity: Entity) -> EndpointSettings:
        if entity is Entity.stock:
            return self.settings.endpoints.stock
        if entity is Entity.products:
            return self.settings.endpoints.products
        raise NotImplementedError(f"{self.type_name} cannot read {entity.value}")

    def _shape(self, entity: Entity) -> RowShape:
        """Where this entity's rows keep what the connector itself reads (from the mapping)."""
        fields = self.field_mapping[entity]
        common = {
            "sku_path": fields.platform_field("sku"),
            "id_path": self._configured(entity).id_field,
        }
        if entity is not Entity.stock:
            return RowShape(**common)
        return RowShape(
            **common,
            location_path=fields.platform_field("location"),
            available_path=fields.platform_field("available"),
            on_hand_path=fields.platform_field("on_hand"),
            committed_path=self.settings.committed_field,
        )

    def _guard(self, entity: Entity, total: int | None) -> PullGuard:
        settings = self.settings
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
