"""Pagination: "first request" is the caller's; "next request from this reply" is the paginator's.

Each paginator reads one reply and answers the next ``PageRequest``, or ``None`` when the listing is
over; ``Transport.paginate`` owns the walk and refuses a page it has seen before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

from hub.errors import FatalError
from hub.transport.paths import dig
from hub.transport.reply import Reply

__all__ = [
    "JsonCursorPaginator",
    "LinkHeaderPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
]


@dataclass
class PageRequest:
    """One page's request: the URL, its query parameters and, for POST listings, its JSON body."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None

    def token(self) -> str:
        return repr((self.url, sorted(self.params.items()), orjson.dumps(self.json) if self.json else b""))


class Paginator(Protocol):
    """Reads one reply and answers the next page's request, or ``None`` when the listing is over."""

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None: ...


@dataclass
class LinkHeaderPaginator:
    """Follows ``Link: <...>; rel="next"`` (WooCommerce). ``rewrite`` may clean the URL first
    (WooCommerce echoes the previous page's OAuth parameters, which must be re-signed)."""

    rewrite: Callable[[str], str] | None = None

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        link = reply.response.links.get("next")
        if not link or not link.get("url"):
            return None
        url = link["url"]
        if self.rewrite is not None:
            url = self.rewrite(url)
        return PageRequest(url=url, params={}, json=previous.json)


@dataclass
class PageNumberPaginator:
    """``page=1,2,...`` until the total-pages header (or an empty page) says the list is over."""

    page_param: str = "page"
    total_pages_header: str | None = "X-WP-TotalPages"
    records_path: str | None = None

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        page = int(previous.params.get(self.page_param, 1))
        total = reply.headers.get(self.total_pages_header) if self.total_pages_header else None
        if total is not None:
            if page >= int(total):
                return None
        elif not dig(reply.data, self.records_path):
            return None
        return PageRequest(url=previous.url, params={**previous.params, self.page_param: page + 1}, json=previous.json)


@dataclass
class OffsetPaginator:
    """``offset``/``count`` against a total in the body (Mailchimp's ``total_items``)."""

    offset_param: str = "offset"
    count_param: str = "count"
    total_path: str = "total_items"
    records_path: str | None = None

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        offset = int(previous.params.get(self.offset_param, 0))
        count = int(previous.params[self.count_param])
        total = dig(reply.data, self.total_path)
        records = dig(reply.data, self.records_path) if self.records_path else None
        if records is not None and len(records) == 0:
            return None
        if total is not None and offset + count >= int(total):
            return None
        return PageRequest(
            url=previous.url, params={**previous.params, self.offset_param: offset + count}, json=previous.json
        )


@dataclass
class JsonCursorPaginator:
    """A cursor in the body (HubSpot ``paging.next.after``) sent back as a parameter or body field,
    or a full next URL in the body (``next_url_path``)."""

    cursor_path: str | None = None
    param: str = "after"
    in_body: bool = False
    next_url_path: str | None = None

    def next_request(self, previous: PageRequest, reply: Reply) -> PageRequest | None:
        if self.next_url_path:
            nxt = dig(reply.data, self.next_url_path)
            if not nxt:
                return None
            url = str(reply.response.request.url.join(str(nxt)))
            if httpx.URL(url).netloc != reply.response.request.url.netloc:
                # The credentials travel with the request: never follow a body to another host.
                raise FatalError(f"refusing to follow a next-page URL to another host ({httpx.URL(url).host})")
            return PageRequest(url=url, params={}, json=previous.json)
        cursor = dig(reply.data, self.cursor_path)
        if cursor in (None, ""):
            return None
        if self.in_body:
            return PageRequest(
                url=previous.url, params=previous.params, json={**(previous.json or {}), self.param: cursor}
            )
        return PageRequest(url=previous.url, params={**previous.params, self.param: cursor}, json=previous.json)
