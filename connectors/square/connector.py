"""The ``square`` connector and its settings: a store's stock, read from and set in Square's Inventory API.

Square counts per item variation, location and state (only ``IN_STOCK`` is sellable); SKUs live on
the catalog's variations, so a pull walks them first. A write sets physical counts under a key
derived from the changes' own, ``occurred_at`` kept per key: a batch sent again is the same request,
which Square does not apply twice. A sale made between the pull and the write is overwritten (a
count has no compare-and-set); the next run corrects it. The documented facts relied on, with their
pages, are in ``sandbox.py``, which holds this connector to them.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SecretStr

from hub import sdk

__all__ = ["SquareConnector", "SquareSettings"]

COUNTS = sdk.Endpoint(
    "/v2/inventory/counts/batch-retrieve",
    method="POST",
    records_path="counts",
    records_optional=True,  # Square leaves empty lists out of its answers
    paginator=sdk.JsonCursorPaginator(cursor_path="cursor", param="cursor", in_body=True),
    incremental=sdk.Incremental("calculated_at", param="updated_after", in_body=True),
)
VARIATIONS = sdk.Endpoint(
    "/v2/catalog/list",
    params={"types": "ITEM_VARIATION"},
    records_path="objects",
    records_optional=True,
    paginator=sdk.JsonCursorPaginator(cursor_path="cursor", param="cursor"),
)


def square_error(response: Any, data: Any) -> tuple[str | None, str | None]:
    """The code and detail of the first of Square's ``errors``."""
    return sdk.dig(data, "errors.0.code"), sdk.dig(data, "errors.0.detail")


class SquareSettings(sdk.HttpConnectorSettings):
    """A token, the API version, and the locations to sync (their ids to canonical codes)."""

    #: An access token with the INVENTORY_READ, INVENTORY_WRITE and ITEMS_READ permissions.
    access_token: SecretStr
    #: Sent as ``Square-Version``, so a newer default version of the application changes nothing.
    square_version: str = "2025-10-16"
    #: Square location id -> canonical location code; only these locations are read and written.
    locations: dict[str, str] = Field(min_length=1)
    #: Counts per page of ``counts/batch-retrieve`` (its ``limit``).
    page_size: int = Field(100, ge=1, le=1000)

    @property
    def api_url(self) -> str:
        """Square's own host, unless ``base_url`` points elsewhere (Square's sandbox, a test)."""
        return self.base_url or "https://connect.squareup.com"


class SquareConnector(sdk.ClientConnector[sdk.RestClient]):
    """In-stock counts of Square item variations at the configured locations, read and set."""

    type_name = "square"
    display_name = "Square"
    settings_model = SquareSettings
    capabilities = {sdk.Entity.stock: sdk.READ_WRITE}
    push_batch_size = 100  # the most changes one batch-create takes
    settings: SquareSettings
    _skus: dict[str, str] | None = None
    _stamps: dict[str, str]  # occurred_at per idempotency key: a batch sent again is sent as it was

    def make_client(self) -> sdk.RestClient:
        settings, token, self._stamps = self.settings, self.settings.access_token.get_secret_value(), {}
        headers = {"Authorization": f"Bearer {token}", "Square-Version": settings.square_version}
        hint = sdk.SettingHint("Square refused `access_token` or its permissions ({detail})")
        transport = sdk.Transport(
            self.name,
            settings.transport_settings(settings.api_url, headers=headers, secrets=[token], hints=(hint,)),
            error_parser=square_error,
            http_transport=self.http_transport,
        )
        return sdk.RestClient(transport, ping=VARIATIONS)

    async def pull(self, entity: sdk.Entity, since: str | None = None) -> AsyncIterator[sdk.PullPage]:
        """The in-stock counts (changed since ``since``), each with its variation's SKU."""
        self._skus = skus = await self._catalog()
        body = {"location_ids": sorted(self.settings.locations), "states": ["IN_STOCK"]}
        counts = replace(COUNTS, body=body | {"limit": self.settings.page_size})
        async for page in self.client.pages(counts, since=since):
            rows = [_row(count, skus) for count in page.records if count.get("state") == "IN_STOCK"]
            yield sdk.PullPage(rows, page.cursor, complete=since is None)

    async def push_stock(self, changes: Sequence[sdk.Change]) -> list[sdk.PushResult]:
        """Every change a physical count, all in one batch-create (Square applies all or none)."""
        variations = {sku: vid for vid, sku in (self._skus or await self._catalog()).items()}
        counts: dict[int, dict[str, Any]] = {}
        results: dict[int, sdk.PushResult] = {}
        for n, change in enumerate(changes):
            try:
                counts[n] = self._physical_count(change, variations)
            except (KeyError, ValueError) as exc:
                results[n] = sdk.PushResult(change.key, ok=False, code="not_linked", message=f"not in Square: {exc}")
        key = hashlib.blake2b("".join(changes[n].idempotency_key for n in counts).encode(), digest_size=16).hexdigest()
        when = self._stamps.setdefault(key, datetime.now(UTC).isoformat())
        sent = [{"type": "PHYSICAL_COUNT", "physical_count": c | {"occurred_at": when}} for c in counts.values()]
        failed: sdk.FatalError | None = None
        try:  # idempotent: resent after a dropped answer, the key makes Square answer without applying twice
            if sent:
                body = {"idempotency_key": key, "changes": sent}
                await self.client.transport.post("/v2/inventory/changes/batch-create", json=body, idempotent=True)
        except sdk.AuthError:
            raise
        except sdk.FatalError as exc:
            failed = exc
        for n in counts:
            code, message = (failed.platform_code, str(failed)) if failed else (None, None)
            results[n] = sdk.PushResult(changes[n].key, ok=failed is None, code=code, message=message)
        return [results[n] for n in range(len(changes))]

    def _physical_count(self, change: sdk.Change, variations: Mapping[str, str]) -> dict[str, Any]:
        """The change as Square's physical count (the mapping names the location and the quantity)."""
        sku, location = change.key.rsplit("@", 1)
        fields = self.field_mapping[sdk.Entity.stock].to_platform({**change.values, "location": location})
        variation = change.link.get("catalog_object_id") or variations[sku]
        return {"catalog_object_id": variation, **fields, "quantity": str(fields["quantity"]), "state": "IN_STOCK"}

    async def _catalog(self) -> dict[str, str]:
        """Item variation id -> SKU, from one walk of the catalog's variations."""
        skus: dict[str, str] = {}
        async for page in self.client.pages(VARIATIONS):
            skus |= {v["id"]: sku for v in page.records if (sku := sdk.dig(v, "item_variation_data.sku"))}
        return skus


def _row(count: Mapping[str, Any], skus: Mapping[str, str]) -> sdk.RawRecord:
    """One count with its SKU, and the ids a write of it needs."""
    ids = {key: str(count[key]) for key in ("catalog_object_id", "location_id")}
    return sdk.RawRecord({**count, "sku": skus.get(ids["catalog_object_id"])}, ids, "/".join(ids.values()))
