"""The wc/v3 routes omnihub uses, over one ``hub.transport.Transport``.

This module knows WooCommerce's URLs, page size, batch limit and which settings to fix on a "bad
key"; it knows nothing of canonical records. Listings are declared endpoints (``hub.sdk.Endpoint``)
sharing one default: ``per_page=100`` by id, following the ``Link`` header
(``hub.transport.LinkHeaderPaginator``) after stripping the credentials WooCommerce echoes into it,
so OAuth signs every page afresh.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx

from connectors.woocommerce.auth import OAuth1Auth, QueryAuth, strip_auth_params
from connectors.woocommerce.settings import WooCommerceSettings
from hub.sdk import (
    Endpoint,
    EndpointDefaults,
    FatalError,
    LinkHeaderPaginator,
    RedactingFilter,
    Reply,
    RestReader,
    SettingHint,
    Transport,
    secret_value,
)

__all__ = ["BATCH_LIMIT", "PAGE_SIZE", "VARIATIONS_OF", "WooClient", "chunks"]

#: ``per_page`` maximum (more: 400 ``rest_invalid_param``).
PAGE_SIZE = 100
#: Items per batch call, creates + updates + deletes together (more: 413).
BATCH_LIMIT = 100

#: What every listing sends: a full page, in a stable order (new records do not shift pages).
LIST_PARAMS = {"per_page": PAGE_SIZE, "orderby": "id", "order": "asc"}
#: The variations of one variable product (``path_values={"id": parent_id}``).
VARIATIONS_OF = Endpoint("products/{id}/variations")
#: httpcore logs response headers at DEBUG from these child loggers, and WooCommerce's ``Link``
#: echoes ``oauth_consumer_key``; a filter on the ``httpcore`` parent does not see child records.
_HEADER_LOGGERS = ("httpcore.http11", "httpcore.http2", "httpcore.connection")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _auth_for(settings: WooCommerceSettings) -> httpx.Auth:
    key = secret_value(settings.consumer_key) or ""
    secret = secret_value(settings.consumer_secret) or ""
    mode = settings.auth_mode
    if mode == "basic":
        return httpx.BasicAuth(key, secret)
    if mode == "query":
        return QueryAuth(key, secret)
    return OAuth1Auth(key, secret)


class WooClient:
    """wc/v3 requests for one connector: listings, id/SKU reads and batch writes."""

    def __init__(
        self,
        name: str,
        settings: WooCommerceSettings,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        _redact_header_logs()
        self.transport = Transport(
            name,
            settings.transport_settings(
                settings.api_root,
                auth=_auth_for(settings),
                secrets=[secret_value(settings.consumer_key) or "", secret_value(settings.consumer_secret) or ""],
                hints=(_setting_hint(settings),),
            ),
            http_transport=http_transport,
        )
        origin = settings.origin
        paginator = LinkHeaderPaginator(rewrite=lambda url: strip_auth_params(url, origin))
        self.reader = RestReader(self.transport, EndpointDefaults(paginator=paginator, params=LIST_PARAMS))

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def list(
        self, path: str | Endpoint, params: Mapping[str, Any] | None = None, **path_values: Any
    ) -> AsyncIterator[tuple[list[dict], Reply]]:
        """Every page of a listing, ``per_page=100`` ordered by id, as (records, reply)."""
        endpoint = path if isinstance(path, Endpoint) else Endpoint(path)
        async for page in self.reader.pages(endpoint, params=params, path_values=path_values or None):
            yield _objects(page.records), page.reply

    async def get_list(self, path: str, params: Mapping[str, Any]) -> list[dict]:
        """One page of a listing (a batched read by ``include`` or ``sku``), at most 100 records."""
        reply = await self.transport.get(path, params={"per_page": PAGE_SIZE, **params})
        return _objects(self.reader.records(Endpoint(path), reply))

    async def batch(self, path: str, body: Mapping[str, Any], *, idempotent: bool) -> dict[str, Any]:
        """One ``POST .../batch`` of at most 100 items; per-item errors stay in the returned body.

        ``idempotent`` lets the transport resend after a dropped answer: true for updates that set
        absolute values (sending them twice leaves the same state), false when the body creates.
        """
        size = sum(len(body.get(kind) or ()) for kind in ("create", "update", "delete"))
        if size > BATCH_LIMIT:
            raise ValueError(f"a WooCommerce batch takes at most {BATCH_LIMIT} items, got {size}")
        reply = await self.transport.post(path, json=body, idempotent=idempotent)
        if not isinstance(reply.data, Mapping):
            raise FatalError(f"POST {path}: the batch answer is not a JSON object", connector=self.name)
        return dict(reply.data)

    async def ping(self) -> None:
        """One cheap authenticated read."""
        await self.get_list("products", {"per_page": 1})


def _redact_header_logs() -> None:
    """Mask secrets in httpcore's header logs (only those loggers: handlers are the app's business)."""
    for name in _HEADER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def _objects(records: list[Any]) -> list[dict]:
    return [r for r in records if isinstance(r, dict)]


def _setting_hint(settings: WooCommerceSettings) -> SettingHint:
    """WooCommerce's 401 reworded to say which settings to fix."""
    hint = (
        "check the consumer_key and consumer_secret settings (a key with Read/Write permission, "
        "from WooCommerce > Settings > Advanced > REST API)"
    )
    if settings.auth_mode in ("basic", "query") and settings.origin.startswith("http://"):
        hint += "; WooCommerce refuses Basic over plain http: use an https url or auth: oauth1"
    return SettingHint("{detail}; " + hint)
