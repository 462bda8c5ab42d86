"""Declarative REST endpoints: a listing described as a small value, read as a stream of pages.

A REST connector's read side is mostly the same few facts per listing, and this module lets it
state them instead of coding a loop (the vocabulary is that of dlt's ``rest_api`` source and
Airbyte's low-code streams, without their weight):

* ``Endpoint``: the *requester* and *record selector* of one listing: ``path`` below the base URL,
  ``records_path`` (where the list of records sits in a body, ``data.items`` style, read with
  ``dig``), the ``paginator``, default ``params``, where the total is announced, and optionally an
  ``Incremental`` cursor and a ``Parent`` partition;
* ``Incremental``: the *incremental cursor*: which record field holds a change time, which query
  parameter carries ``since``, and how the newest value seen becomes the next cursor;
* ``Parent``: the *parent partition* of a nested listing (``products/{id}/variations``): which
  parent endpoint is walked, and which field of each parent record fills the placeholder;
* ``EndpointDefaults``: what every endpoint of one connector shares (a paginator, params, a records
  path), so each endpoint states only what differs;
* ``RestReader``: reads an endpoint through the connector's one ``Transport`` as an async stream of
  ``EndpointPage`` values (raw records, the reply, the total, the parent record) carrying the newest cursor
  value so far. Newest-cursor tracking lives here once (``CursorTracker``), also for pulls that do
  not fit an endpoint (a search walk), which feed the tracker themselves.

The base URL, headers, auth, limiter and "which setting to fix" hints are the transport's
(``HttpConnectorSettings.transport_settings``), built once per connector.

Example, a WMS whose items are paged by a cursor and filtered by change time::

    ITEMS = Endpoint(
        "/v1/items",
        records_path="data",
        paginator=JsonCursorPaginator(cursor_path="next_cursor", param="cursor"),
        params={"limit": 100},
        incremental=Incremental("updated_at", param="updated_since"),
        total_path="meta.total",
    )
    async for page in RestReader(transport).pages(ITEMS, since=cursor):
        rows = [RawRecord(r) for r in page.records]
        yield PullPage(rows, cursor=page.cursor, total=page.total, complete=cursor is None)
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from hub.errors import FatalError
from hub.transport.client import Transport
from hub.transport.paginators import Paginator
from hub.transport.paths import dig
from hub.transport.reply import Reply

__all__ = [
    "CursorTracker",
    "Endpoint",
    "EndpointDefaults",
    "EndpointPage",
    "Incremental",
    "Parent",
    "RestClient",
    "RestReader",
    "iso_time",
    "server_time",
]


def iso_time(value: Any) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive taken as UTC) as an aware datetime, else ``None``.

    Times are compared as times, not as text: ``+02:00`` and ``Z`` mix in one platform's answers.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def server_time(reply: Reply) -> datetime | None:
    """The server's clock when it answered (its ``Date`` header), ``None`` when absent or unreadable."""
    try:
        return email.utils.parsedate_to_datetime(reply.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Incremental:
    """An endpoint's incremental cursor: a record's change time, and how ``since`` is asked for.

    ``field`` is the dotted path of the change time in a record (``updated_at``,
    ``date_modified_gmt``). With ``param``, a pull given ``since`` sends it in that query parameter
    (as ``send(since)`` when the platform wants another form), with ``since_params`` beside it;
    without ``param`` the endpoint is always read whole and only the cursor is tracked. With
    ``in_body`` they go in the JSON body instead (a POST listing such as Square's counts).

    The cursor after each page is the newest change time seen (``since`` included), read by
    ``parse`` and written back by ``render``. ``raw`` keeps the platform's own text of the newest
    value instead (a WMS that wants its ``updated_at`` back as it sent it). With
    ``until_server_clock`` the cursor never passes the server's clock at the first answer, so a
    record changed during a long pull, behind the page being read, is read again next time.
    """

    field: str
    param: str | None = None
    since_params: Mapping[str, Any] = field(default_factory=dict)
    send: Callable[[str], Any] | None = None
    parse: Callable[[Any], datetime | None] = iso_time
    render: Callable[[datetime], str] = datetime.isoformat
    raw: bool = False
    until_server_clock: bool = False
    in_body: bool = False

    def query(self, since: str | None) -> dict[str, Any]:
        """The query parameters that ask for records changed since ``since`` (none without it)."""
        if since is None or self.param is None:
            return {}
        return {**self.since_params, self.param: self.send(since) if self.send else since}

    def tracker(self, since: str | None) -> CursorTracker:
        """A fresh tracker starting at ``since``."""
        return CursorTracker(self, since)


class CursorTracker:
    """The newest change time seen during one pull, as the cursor to save when the pull succeeds."""

    def __init__(self, incremental: Incremental, since: str | None = None) -> None:
        self.incremental = incremental
        self._floor = incremental.parse(since) if since else None
        self._newest = self._floor
        self._text = since if incremental.raw else None
        self._ceiling: datetime | None = None

    def see(self, value: Any) -> None:
        """Take one record's change time (its raw value; unreadable or missing ones are ignored)."""
        when = self.incremental.parse(value)
        if when is not None and (self._newest is None or when > self._newest):
            self._newest = when
            if self.incremental.raw:
                self._text = str(value)

    def see_records(self, records: list[Any]) -> None:
        """Take the change time of every record (a mapping) at the ``Incremental.field`` path."""
        for record in records:
            if isinstance(record, Mapping):
                self.see(dig(record, self.incremental.field))

    def answered(self, reply: Reply) -> None:
        """Note a reply: the first server clock known (its ``Date``) is the ``until_server_clock`` ceiling."""
        self.answered_at(server_time(reply))

    def answered_at(self, when: datetime | None) -> None:
        """Note the server's clock at an answer, for a pull that reads its replies itself."""
        if self._ceiling is None:
            self._ceiling = when

    @property
    def cursor(self) -> str | None:
        """The cursor to save: the newest time seen, held below the server's clock if asked."""
        if self.incremental.raw:
            return self._text
        newest = self._newest
        if newest is None:
            return None
        if self.incremental.until_server_clock and self._ceiling is not None:
            floor = self._floor or self._ceiling
            newest = min(newest, max(self._ceiling, floor))
        return self.incremental.render(newest)


@dataclass(frozen=True)
class Parent:
    """The parent partition of a nested listing: ``endpoint`` is walked, and each parent record's
    ``field`` fills ``{placeholder}`` in the child's path (``products/{id}/variations``)."""

    endpoint: Endpoint
    field: str = "id"
    placeholder: str = "id"


@dataclass(frozen=True)
class Endpoint:
    """One listing of a REST API, as data.

    ``path`` is below the transport's base URL and may hold ``{placeholders}`` (filled from
    ``RestReader.pages(path_values=...)`` or by a ``parent``). ``records_path`` is where the list of
    records sits in a body (``None``: the body is the list). ``paginator`` walks the pages (``None``:
    the connector's default, and one page when there is none). ``params`` are sent on the first
    request, and ``body`` as its JSON body (a POST listing); the paginator carries them on.
    ``total_path``/``total_header`` say where the platform announces the listing's size.
    ``records_hint`` ends the error raised when a body holds no list of records (which setting to
    check); with ``records_optional`` a body without the list holds no records (platforms that
    leave empty arrays out of their answers).
    """

    path: str
    records_path: str | None = None
    paginator: Paginator | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    incremental: Incremental | None = None
    parent: Parent | None = None
    method: str = "GET"
    total_path: str | None = None
    total_header: str | None = None
    records_hint: str = ""
    body: Mapping[str, Any] | None = None
    records_optional: bool = False

    def with_params(self, **params: Any) -> Endpoint:
        """The same endpoint with more default parameters."""
        return replace(self, params={**self.params, **params})


@dataclass(frozen=True)
class EndpointDefaults:
    """What every endpoint of one connector shares; an endpoint's own values win."""

    paginator: Paginator | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    records_path: str | None = None


@dataclass
class EndpointPage:
    """One page of an endpoint: its raw records, the reply, and what the pull learned so far."""

    records: list[Any]
    reply: Reply
    #: The newest cursor value so far (``since`` included); ``None`` without an ``Incremental``.
    cursor: str | None = None
    #: The listing's size as the platform announced it on this page, when it does.
    total: int | None = None
    #: The parent record this page belongs to, for a partitioned endpoint.
    parent: Mapping[str, Any] | None = None


class RestReader:
    """Reads ``Endpoint`` values through one connector's transport, with its shared defaults."""

    def __init__(self, transport: Transport, defaults: EndpointDefaults | None = None) -> None:
        self.transport = transport
        self.defaults = defaults or EndpointDefaults()

    async def pages(
        self,
        endpoint: Endpoint,
        *,
        since: str | None = None,
        params: Mapping[str, Any] | None = None,
        path_values: Mapping[str, Any] | None = None,
        tracker: CursorTracker | None = None,
    ) -> AsyncIterator[EndpointPage]:
        """Every page of ``endpoint``, changed since ``since`` when it is incremental.

        ``params`` add to the endpoint's; ``tracker`` lets several endpoints of one pull share one
        cursor (products and their variations). A partitioned endpoint walks its parent first and
        yields each parent's pages with ``EndpointPage.parent`` set.
        """
        incremental = endpoint.incremental
        if tracker is None and incremental is not None:
            tracker = incremental.tracker(since)
        if endpoint.parent is not None:
            async for page in self._partitioned(endpoint, since, params, tracker):
                yield page
            return
        asked = incremental.query(since) if incremental else {}
        in_body = incremental is not None and incremental.in_body
        query = {**self.defaults.params, **endpoint.params, **({} if in_body else asked)}
        body = ({**(endpoint.body or {}), **asked} or None) if in_body else endpoint.body
        path = endpoint.path.format(**path_values) if path_values else endpoint.path
        async for reply in self._replies(endpoint, path, {**query, **(params or {})}, body):
            records = self.records(endpoint, reply, path)
            if tracker is not None:
                tracker.answered(reply)
                tracker.see_records(records)
            yield EndpointPage(records, reply, tracker.cursor if tracker else None, _total(endpoint, reply))

    def records(self, endpoint: Endpoint, reply: Reply, path: str | None = None) -> list[Any]:
        """The list of records in ``reply`` (the record selector); a body without one is an error."""
        where = endpoint.records_path if endpoint.records_path is not None else self.defaults.records_path
        found = dig(reply.data, where or None)
        if isinstance(found, list):
            return found
        if found is None and endpoint.records_optional and isinstance(reply.data, Mapping):
            return []
        at = f"`{where}`" if where else "the top of the body"
        raise FatalError(
            f"{endpoint.method} {path or endpoint.path} answered HTTP {reply.status} without a list of records "
            f"at {at}{endpoint.records_hint}",
            connector=self.transport.connector,
            status=reply.status,
        )

    def _replies(
        self, endpoint: Endpoint, path: str, query: dict[str, Any], body: Mapping[str, Any] | None
    ) -> AsyncIterator[Reply]:
        paginator = endpoint.paginator if endpoint.paginator is not None else self.defaults.paginator
        json = dict(body) if body is not None else None
        if paginator is None:
            return _one(self.transport, endpoint.method, path, query, json)
        # An endpoint is a listing: reading it again is harmless whatever its method, so a 5xx on a
        # POST listing (a search, a batch retrieve) is retried like one on a GET.
        return self.transport.paginate(endpoint.method, path, paginator, params=query, json=json, idempotent=True)

    async def _partitioned(
        self,
        endpoint: Endpoint,
        since: str | None,
        params: Mapping[str, Any] | None,
        tracker: CursorTracker | None,
    ) -> AsyncIterator[EndpointPage]:
        parent = endpoint.parent
        assert parent is not None
        async for parents in self.pages(parent.endpoint):
            for record in parents.records:
                values = {parent.placeholder: dig(record, parent.field)}
                child = replace(endpoint, parent=None)
                async for page in self.pages(child, since=since, params=params, path_values=values, tracker=tracker):
                    page.parent = record
                    yield page


async def _one(
    transport: Transport, method: str, path: str, query: dict[str, Any], json: dict[str, Any] | None = None
) -> AsyncIterator[Reply]:
    yield await transport.request(method, path, params=query or None, json=json, idempotent=True)


def _total(endpoint: Endpoint, reply: Reply) -> int | None:
    """The listing's size from the body path or the header, the first that reads as a number."""
    candidates = [
        dig(reply.data, endpoint.total_path) if endpoint.total_path else None,
        reply.headers.get(endpoint.total_header) if endpoint.total_header else None,
    ]
    for value in candidates:
        if isinstance(value, bool) or value is None:
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


class RestClient:
    """A platform client made of declarations: one transport, a reader with the connector's shared
    defaults, and the endpoint whose first page proves the connection (``ping``).

    It is what ``ClientConnector`` needs of a client (``transport``, ``ping``, ``aclose``), so a
    declarative connector builds one in ``make_client`` and writes no client class of its own.
    """

    def __init__(
        self, transport: Transport, defaults: EndpointDefaults | None = None, *, ping: Endpoint | None = None
    ) -> None:
        self.transport = transport
        self.reader = RestReader(transport, defaults)
        self.ping_endpoint = ping

    async def ping(self) -> None:
        """One request to the ping endpoint (no paging): proves the URL, the credentials and the
        records path at once."""
        endpoint = self.ping_endpoint
        if endpoint is None:
            return
        params = {**self.reader.defaults.params, **endpoint.params}
        body = dict(endpoint.body) if endpoint.body is not None else None
        reply = await self.transport.request(
            endpoint.method, endpoint.path, params=params or None, json=body, idempotent=True
        )
        self.reader.records(endpoint, reply)

    def pages(self, endpoint: Endpoint, **options: Any) -> AsyncIterator[EndpointPage]:
        """``RestReader.pages`` of this client's reader."""
        return self.reader.pages(endpoint, **options)

    async def aclose(self) -> None:
        await self.transport.aclose()
