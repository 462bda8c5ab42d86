"""Declarative REST endpoints: record selection, incremental cursor, parent partition, one-page reads."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx

from hub.errors import FatalError
from hub.transport import (
    CursorTracker,
    Endpoint,
    EndpointDefaults,
    Incremental,
    JsonCursorPaginator,
    Parent,
    Reply,
    RestReader,
    Transport,
    TransportSettings,
)

BASE = "https://api.example.com"


def reader(defaults: EndpointDefaults | None = None) -> RestReader:
    return RestReader(Transport("api", TransportSettings(base_url=BASE, max_attempts=1)), defaults)


async def collect(pages: Any) -> list[Any]:
    return [page async for page in pages]


@respx.mock
async def test_incremental_endpoint_sends_since_and_tracks_the_newest_time() -> None:
    answers = {
        None: {"data": {"items": [{"t": "2026-01-01T10:00:00Z"}]}, "next": "2"},
        "2": {"data": {"items": [{"t": "2026-01-01T12:00:00+01:00"}, {"t": "2026-01-01T10:30:00Z"}]}},
    }
    route = respx.get(f"{BASE}/items").mock(
        side_effect=lambda request: httpx.Response(200, json=answers[request.url.params.get("after")])
    )
    items = Endpoint(
        "/items",
        records_path="data.items",
        paginator=JsonCursorPaginator(cursor_path="next"),
        params={"limit": 2},
        incremental=Incremental("t", param="changed_since", since_params={"gmt": "true"}),
    )
    pages = await collect(reader().pages(items, since="2026-01-01T09:00:00Z"))

    assert [len(p.records) for p in pages] == [1, 2]
    assert [p.cursor for p in pages] == ["2026-01-01T10:00:00+00:00", "2026-01-01T12:00:00+01:00"]
    first = route.calls[0].request.url.params
    assert (first["changed_since"], first["gmt"], first["limit"]) == ("2026-01-01T09:00:00Z", "true", "2")


@respx.mock
async def test_a_full_read_sends_no_since_and_starts_without_a_cursor() -> None:
    route = respx.get(f"{BASE}/items").mock(return_value=httpx.Response(200, json=[{"t": None}, {"x": 1}]))
    pages = await collect(reader().pages(Endpoint("/items", incremental=Incremental("t", param="since"))))
    assert pages[0].cursor is None and len(pages) == 1  # no paginator: one page
    assert "since" not in route.calls[0].request.url.params


def test_the_cursor_stays_below_the_servers_clock_at_the_first_answer() -> None:
    tracker = CursorTracker(Incremental("t", until_server_clock=True), since="2026-01-01T00:00:00+00:00")
    reply = httpx.Response(200, headers={"Date": "Thu, 01 Jan 2026 08:00:00 GMT"})
    tracker.answered(Reply(reply, None))
    tracker.see("2026-01-01T09:00:00Z")  # a clock ahead of the server's: not trusted past it
    assert tracker.cursor == "2026-01-01T08:00:00+00:00"


@respx.mock
async def test_a_parent_partition_reads_each_parents_children() -> None:
    respx.get(f"{BASE}/products").mock(return_value=httpx.Response(200, json=[{"id": 7}, {"id": 9}]))
    respx.get(f"{BASE}/products/7/variations").mock(return_value=httpx.Response(200, json=[{"v": "a"}]))
    respx.get(f"{BASE}/products/9/variations").mock(return_value=httpx.Response(200, json=[{"v": "b"}, {"v": "c"}]))
    variations = Endpoint("/products/{id}/variations", parent=Parent(Endpoint("/products")))

    pages = await collect(reader().pages(variations))

    assert [(p.parent["id"], [r["v"] for r in p.records]) for p in pages] == [(7, ["a"]), (9, ["b", "c"])]


@respx.mock
async def test_a_body_without_records_names_the_path_and_the_hint() -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(200, json={"rows": []}))
    items = Endpoint("/items", records_hint="; check `records_path`")
    with pytest.raises(FatalError, match=r"without a list of records at `data`; check `records_path`"):
        await collect(reader(EndpointDefaults(records_path="data")).pages(items))


@respx.mock
async def test_a_post_listing_sends_its_body_since_and_cursor_in_the_json_body() -> None:
    answers = {None: {"counts": [{"at": "2026-01-02T00:00:00Z"}], "cursor": "c2"}, "c2": {}}
    route = respx.post(f"{BASE}/counts").mock(
        side_effect=lambda request: httpx.Response(200, json=answers[orjson.loads(request.content).get("cursor")])
    )
    counts = Endpoint(
        "/counts",
        method="POST",
        records_path="counts",
        records_optional=True,  # the last page leaves the empty list out
        body={"limit": 5},
        paginator=JsonCursorPaginator(cursor_path="cursor", param="cursor", in_body=True),
        incremental=Incremental("at", param="updated_after", in_body=True),
    )
    pages = await collect(reader().pages(counts, since="2026-01-01T00:00:00Z"))

    sent = [orjson.loads(call.request.content) for call in route.calls]
    assert sent == [
        {"limit": 5, "updated_after": "2026-01-01T00:00:00Z"},
        {"limit": 5, "updated_after": "2026-01-01T00:00:00Z", "cursor": "c2"},
    ]
    assert not route.calls[0].request.url.params  # nothing in the query
    assert [len(p.records) for p in pages] == [1, 0] and pages[-1].cursor == "2026-01-02T00:00:00+00:00"


@respx.mock
async def test_a_missing_list_is_an_error_unless_the_endpoint_says_it_may_be_left_out() -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(FatalError, match="without a list of records"):
        await collect(reader().pages(Endpoint("/items", records_path="items")))
    pages = await collect(reader().pages(Endpoint("/items", records_path="items", records_optional=True)))
    assert [p.records for p in pages] == [[]]


async def _no_sleep(_: float) -> None:
    return None


@respx.mock
@pytest.mark.parametrize("paged", [True, False])
async def test_a_post_listing_is_a_read_and_a_5xx_on_it_is_retried(paged: bool) -> None:
    """A POST that lists (Square's batch retrieve, HubSpot's search) changes nothing: the transport
    retries it as it would a GET, where an unsafe POST (a write) is never sent twice blindly."""
    route = respx.post(f"{BASE}/counts").mock(
        side_effect=[httpx.Response(503, json={"errors": []}), httpx.Response(200, json={"counts": [{"n": 1}]})]
    )
    transport = Transport("api", TransportSettings(base_url=BASE, max_attempts=3), sleep=_no_sleep)
    paginator = JsonCursorPaginator(cursor_path="cursor", param="cursor", in_body=True) if paged else None
    counts = Endpoint("/counts", method="POST", records_path="counts", body={"limit": 5}, paginator=paginator)
    pages = await collect(RestReader(transport, None).pages(counts))

    assert route.call_count == 2
    assert [len(p.records) for p in pages] == [1]
    writes = respx.post(f"{BASE}/write").mock(return_value=httpx.Response(503, json={}))
    with pytest.raises(Exception):  # noqa: B017 - whichever error: what matters is it was sent once
        await transport.post("/write", json={"a": 1})
    assert writes.call_count == 1
