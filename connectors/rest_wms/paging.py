"""The three paging styles of the settings, as the transport's paginators.

The transport owns the walk (and refuses a page token it has seen before); this module only
picks the paginator and the first request's parameters. A next URL taken from a response body is
followed only to the WMS's own origin: the bearer token travels with every request, and a body
that could send it to another host would leak it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from hub.sdk import FatalError, JsonCursorPaginator, PageNumberPaginator, PageRequest, Paginator, Reply, dig, redact

from .settings import PaginationSettings, RestWmsSettings

__all__ = ["SameOriginNextUrl", "build_paginator", "first_params"]


@dataclass
class SameOriginNextUrl:
    """Follows a next URL found in the body, resolved against ``base_url``, never off its origin."""

    base_url: str
    next_url_path: str
    connector: str

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        found = dig(reply.data, self.next_url_path)
        if not found:
            return None
        url = urljoin(self.base_url.rstrip("/") + "/", str(found))
        if _origin(url) != _origin(self.base_url):
            raise FatalError(
                f"the WMS's next page URL {redact(url)!r} leaves {_origin(self.base_url)}; refusing to send the "
                f"API key there (check `pagination.next_url_path` and `base_url`)",
                connector=self.connector,
            )
        return PageRequest(url=url, params={}, json=previous.json)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def build_paginator(settings: RestWmsSettings, connector: str) -> Paginator:
    """The paginator for the configured ``pagination.style``."""
    paging: PaginationSettings = settings.pagination
    if paging.style == "cursor":
        return JsonCursorPaginator(cursor_path=paging.cursor_path, param=paging.cursor_param)
    if paging.style == "next_url":
        return SameOriginNextUrl(settings.base_url, paging.next_url_path, connector)
    return PageNumberPaginator(
        page_param=paging.page_param,
        total_pages_header=paging.total_pages_header,
        records_path=settings.records_path or None,
    )


def first_params(settings: RestWmsSettings, *, page_size: int) -> dict[str, Any]:
    """Query parameters of a listing's first request (``since`` is the endpoint's ``Incremental``)."""
    params: dict[str, Any] = {**settings.params, settings.pagination.page_size_param: page_size}
    if settings.pagination.style == "page":
        params[settings.pagination.page_param] = 1
    return params
