"""What an admin writes under ``connectors:`` for a WMS reached over a REST API.

One connector type serves any WMS of the common shape (per SKU and warehouse an on hand, a
committed and an available quantity; bearer or bare-key auth; cursor, next-URL or page-number
paging). These settings say *how to talk to* the WMS; the mapping file
(``mappings/rest_wms.yaml``) says *where the values sit* in each row.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from hub.sdk import HttpConnectorSettings

__all__ = ["EndpointSettings", "EndpointsSettings", "PaginationSettings", "RestWmsSettings"]


class PaginationSettings(BaseModel):
    """How the WMS splits a listing into pages: one ``style`` and the fields that style reads.

    * ``cursor``: the body carries a token (``cursor_path``) sent back as ``cursor_param``;
    * ``next_url``: the body carries the whole next URL (``next_url_path``);
    * ``page``: ``page_param`` counts from 1 and ``total_pages_header`` says when to stop; without
      that header the walk stops at the first empty page (one request more).

    ``page_size_param`` carries ``page_size`` in every style (``limit``, ``per_page``, ``count``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    style: Literal["cursor", "next_url", "page"] = "cursor"
    page_size_param: str = "limit"
    cursor_path: str = "next_cursor"
    cursor_param: str = "cursor"
    next_url_path: str = "links.next"
    page_param: str = "page"
    total_pages_header: str | None = "X-Total-Pages"


class EndpointSettings(BaseModel):
    """One listing: its path below ``base_url`` and the row field holding the WMS's own id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    #: Dotted path of the WMS's id in a row, remembered as the record's link (``item_id``).
    id_field: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value


class EndpointsSettings(BaseModel):
    """The listing of each entity the connector reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stock: EndpointSettings = EndpointSettings(path="/v1/inventory", id_field="item_id")
    products: EndpointSettings = EndpointSettings(path="/v1/items", id_field="id")


class RestWmsSettings(HttpConnectorSettings):
    """The ``rest_wms`` entry of ``connectors:``.

    The truncation guard (``min_records``, ``max_drop_fraction``) protects every channel's stock:
    the WMS is the source of truth, so an empty or cut-short answer taken as the whole stock would
    zero every SKU it left out. A complete pull that yields fewer than ``min_records`` rows, or
    fewer than ``1 - max_drop_fraction`` of the rows expected (the total the WMS announces, else the
    previous complete pull of this connector), fails with a ``FatalError`` naming the setting
    instead. Incremental pulls are not guarded: few changes is their normal answer.
    """

    #: The WMS API root (scheme://host[:port][/path]); endpoint paths are appended to it.
    base_url: str
    api_key: SecretStr
    #: The header that carries the key: ``Authorization`` for bearer tokens, or e.g. ``X-Api-Key``.
    auth_header: str = "Authorization"
    #: Put before the key in ``auth_header`` (``Bearer``); empty for a bare key.
    auth_scheme: str = "Bearer"
    endpoints: EndpointsSettings = EndpointsSettings()
    #: Dotted path of the list of rows in a response body (``data``); empty when the body is the list.
    records_path: str = "data"
    pagination: PaginationSettings = PaginationSettings()
    page_size: int = Field(100, ge=1, le=10_000)
    #: Static query parameters sent with every listing request (a field list, a company id, ...).
    params: dict[str, str] = Field(default_factory=dict)
    #: Query parameter that asks for rows changed since a time; unset means every pull is complete.
    updated_since_param: str | None = None
    #: Dotted path of a row's last change time (ISO 8601): the incremental cursor.
    updated_at_field: str = "updated_at"
    #: Dotted path of the quantity held for orders; ``available`` = on hand - this when a row has no
    #: available of its own.
    committed_field: str | None = "committed"
    #: WMS warehouse id -> canonical location code. Rows of warehouses not listed are skipped and
    #: counted. Empty: warehouse ids are used as location codes as they are.
    locations: dict[str, str] = Field(default_factory=dict)
    #: Client-side limit in requests per second (token bucket); unset: only the WMS's headers pace us.
    rate_limit_per_s: float | None = Field(None, gt=0)
    #: Header announcing the requests left in the WMS's current window; pacing stops before 0.
    rate_limit_remaining_header: str | None = "X-RateLimit-Remaining"
    #: Length of the WMS's rate-limit window when its headers do not say.
    rate_limit_window_s: float = Field(1.0, gt=0)
    #: Where the WMS announces a listing's total row count (body path or header), for progress and
    #: for the truncation guard.
    total_path: str | None = "meta.total"
    total_header: str | None = "X-Total-Count"
    #: Fewest rows a complete pull may yield (0 allows an empty WMS).
    min_records: int = Field(1, ge=0)
    #: Largest share of the expected rows a complete pull may lack (1 turns the check off).
    max_drop_fraction: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _auth_header_is_a_header(self) -> RestWmsSettings:
        if not self.auth_header.strip() or any(c in self.auth_header for c in " :\r\n"):
            raise ValueError(f"auth_header {self.auth_header!r} is not an HTTP header name")
        return self

    def auth_value(self) -> str:
        """The header value that carries the key (``Bearer <key>`` or the bare key)."""
        key = self.api_key.get_secret_value()
        return f"{self.auth_scheme} {key}" if self.auth_scheme else key
