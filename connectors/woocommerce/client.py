"""The wc/v3 routes omnihub uses, over one ``hub.transport.Transport``.

This module knows WooCommerce's URLs, page size, batch limit and how it says "bad key"; it knows
nothing of canonical records. Listings follow the ``Link`` header (``hub.transport.LinkHeaderPaginator``)
after stripping the credentials WooCommerce echoes into it, so OAuth signs every page afresh.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx

from connectors.woocommerce.auth import OAuth1Auth, QueryAuth, strip_auth_params
from connectors.woocommerce.settings import WooCommerceSettings
from hub.sdk import (
    AuthError,
    FatalError,
    LinkHeaderPaginator,
    RedactingFilter,
    Reply,
    Transport,
    TransportSettings,
    secret_value,
)

__all__ = ["BATCH_LIMIT", "PAGE_SIZE", "WooClient", "chunks"]

#: ``per_page`` maximum (more: 400 ``rest_invalid_param``).
PAGE_SIZE = 100
#: Items per batch call, creates + updates + deletes together (more: 413).
BATCH_LIMIT = 100

_DEFAULT_CONCURRENCY = 4
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
            TransportSettings(
                base_url=settings.api_root,
                auth=_auth_for(settings),
                secrets=[secret_value(settings.consumer_key) or "", secret_value(settings.consumer_secret) or ""],
                timeout=settings.timeout_s,
                max_attempts=settings.max_attempts,
                max_concurrency=settings.max_concurrency or _DEFAULT_CONCURRENCY,
                verify_tls=settings.verify_tls,
            ),
            http_transport=http_transport,
        )
        origin = settings.origin
        self._paginator = LinkHeaderPaginator(rewrite=lambda url: strip_auth_params(url, origin))

    async def aclose(self) -> None:
        await self.transport.aclose()

    @contextlib.contextmanager
    def _explained(self) -> Iterator[None]:
        """Turn WooCommerce's 401 into an ``AuthError`` that says which settings to fix."""
        try:
            yield
        except AuthError as exc:
            detail = str(exc).removeprefix(f"[{self.name}] ")
            hint = (
                "check the consumer_key and consumer_secret settings (a key with Read/Write permission, "
                "from WooCommerce > Settings > Advanced > REST API)"
            )
            if self.settings.auth_mode in ("basic", "query") and self.settings.origin.startswith("http://"):
                hint += "; WooCommerce refuses Basic over plain http: use an https url or auth: oauth1"
            raise AuthError(f"{detail}; {hint}", connector=self.name, status=exc.status) from None

    async def list(self, path: str, params: Mapping[str, Any] | None = None) -> AsyncIterator[tuple[list[dict], Reply]]:
        """Every page of a listing, ``per_page=100`` ordered by id, as (records, reply)."""
        query = {"per_page": PAGE_SIZE, "orderby": "id", "order": "asc", **(params or {})}
        with self._explained():
            async for reply in self.transport.paginate("GET", path, self._paginator, params=query):
                yield _records(reply, path, self.name), reply

    async def get_list(self, path: str, params: Mapping[str, Any]) -> list[dict]:
        """One page of a listing (a batched read by ``include`` or ``sku``), at most 100 records."""
        with self._explained():
            reply = await self.transport.get(path, params={"per_page": PAGE_SIZE, **params})
        return _records(reply, path, self.name)

    async def batch(self, path: str, body: Mapping[str, Any], *, idempotent: bool) -> dict[str, Any]:
        """One ``POST .../batch`` of at most 100 items; per-item errors stay in the returned body.

        ``idempotent`` lets the transport resend after a dropped answer: true for updates that set
        absolute values (sending them twice leaves the same state), false when the body creates.
        """
        size = sum(len(body.get(kind) or ()) for kind in ("create", "update", "delete"))
        if size > BATCH_LIMIT:
            raise ValueError(f"a WooCommerce batch takes at most {BATCH_LIMIT} items, got {size}")
        with self._explained():
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


def _records(reply: Reply, path: str, name: str) -> list[dict]:
    if not isinstance(reply.data, list):
        kind = type(reply.data).__name__
        raise FatalError(f"GET {path}: expected a JSON list of records, got {kind}", connector=name)
    return [r for r in reply.data if isinstance(r, dict)]
