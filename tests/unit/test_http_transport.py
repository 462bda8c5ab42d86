"""The HTTP transport: retries, errors, rate limits, pagination and redaction (respx, fake sleep/clock)."""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

import hub.transport.limiters as limiters
from hub.errors import AuthError, FatalError, RateLimited, RetriableError
from hub.transport import (
    CostBucket,
    HeaderWindowLimiter,
    JsonCursorPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Reply,
    TokenBucket,
    Transport,
    TransportSettings,
    dig,
    parse_retry_after,
)
from hub.transport.breaker import Breaker, CircuitOpen
from tests.conftest import TEST_SECRETS

BASE = "https://api.example.com"
TOKEN = TEST_SECRETS[0]


class Sleeps:
    """A fake ``sleep`` that records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def transport(sleeps: Sleeps) -> AsyncIterator[Transport]:
    settings = TransportSettings(
        base_url=BASE, headers={"X-Shopify-Access-Token": TOKEN}, secrets=[TOKEN], max_attempts=4
    )
    async with Transport("shop", settings, sleep=sleeps) as t:
        yield t


def _json(data: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=data, headers=headers)


# ------------------------------------------------------------------ retries


@respx.mock
async def test_retries_503_then_succeeds(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.get(f"{BASE}/items").mock(side_effect=[_json({}, 503), _json({}, 503), _json({"ok": True})])
    reply = await transport.get("/items")
    assert reply.data == {"ok": True}
    assert reply.status == 200
    assert route.call_count == 3
    assert len(sleeps.waits) == 2
    assert 0.125 <= sleeps.waits[0] <= 0.25  # jittered exponential backoff: base/2 .. base
    assert 0.25 <= sleeps.waits[1] <= 0.5
    assert transport.stats.requests == 3
    assert transport.stats.retries == 2
    assert transport.stats.by_status == {503: 2, 200: 1}


@respx.mock
async def test_gives_up_after_max_attempts(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.get(f"{BASE}/items").mock(return_value=_json({"message": "down"}, 503))
    with pytest.raises(RetriableError) as info:
        await transport.get("/items")
    assert route.call_count == 4
    assert info.value.status == 503
    assert info.value.connector == "shop"
    assert str(info.value) == f"[shop] GET {BASE}/items -> HTTP 503: down"


@respx.mock
async def test_429_waits_for_retry_after(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.get(f"{BASE}/items").mock(
        side_effect=[
            _json({}, 429, **{"Retry-After": "7"}),
            _json({}, 429, **{"Retry-After": "2.5"}),
            _json({"ok": 1}),
        ]
    )
    assert (await transport.get("/items")).data == {"ok": 1}
    assert route.call_count == 3
    assert sleeps.waits == [7.0, 2.5]
    assert transport.stats.throttled == 2
    assert transport.stats.throttled_in_a_row_max == 2


@respx.mock
async def test_a_503_with_retry_after_waits_as_asked(transport: Transport, sleeps: Sleeps) -> None:
    """WordPress in maintenance mode answers 503 with ``Retry-After``: the transport waits what the
    server asked (not its own short backoff, which would spend the retries while it is down), and a
    wait too long leaves the request for the next run, as for a 429."""
    route = respx.get(f"{BASE}/items").mock(side_effect=[_json({}, 503, **{"Retry-After": "9"}), _json({"ok": 1})])
    assert (await transport.get("/items")).data == {"ok": 1}
    assert route.call_count == 2 and sleeps.waits == [9.0]
    respx.get(f"{BASE}/down").mock(return_value=_json({}, 503, **{"Retry-After": "600"}))
    with pytest.raises(RetriableError) as info:
        await transport.get("/down")
    assert "asked to wait 600 s, more than max_retry_wait_s (60 s): left for the next run" in str(info.value)
    assert info.value.status == 503 and not isinstance(info.value, RateLimited)
    assert sleeps.waits == [9.0]


@respx.mock
async def test_a_retry_after_longer_than_max_retry_wait_fails_at_once(transport: Transport, sleeps: Sleeps) -> None:
    """A one-hour Retry-After once held a run for five minutes: it is not waited for at all now."""
    route = respx.get(f"{BASE}/a").mock(side_effect=[_json({}, 429, **{"Retry-After": "3600"}), _json({})])
    with pytest.raises(RateLimited) as info:
        await transport.get("/a")
    assert str(info.value) == (
        f"[shop] GET {BASE}/a -> HTTP 429: Too Many Requests; "
        "asked to wait 3600 s, more than max_retry_wait_s (60 s): left for the next run"
    )
    assert (info.value.retry_after, info.value.status) == (3600.0, 429)
    assert route.call_count == 1
    assert sleeps.waits == []


@respx.mock
async def test_a_retry_after_up_to_max_retry_wait_is_waited(sleeps: Sleeps) -> None:
    settings = TransportSettings(base_url=BASE, max_retry_wait_s=90)
    async with Transport("x", settings, sleep=sleeps) as t:
        respx.get(f"{BASE}/a").mock(side_effect=[_json({}, 429, **{"Retry-After": "90"}), _json({"ok": 1})])
        assert (await t.get("/a")).data == {"ok": 1}
    assert sleeps.waits == [90.0]


@respx.mock
async def test_a_retry_after_date_far_ahead_and_a_long_throttle_fail_at_once(sleeps: Sleeps) -> None:
    def slow_down(reply: Reply) -> None:
        if reply.data.get("throttled"):
            raise RateLimited("THROTTLED", retry_after=120.5, connector="shop")

    async with Transport("shop", TransportSettings(base_url=BASE), check_reply=slow_down, sleep=sleeps) as t:
        far_ahead = {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}
        dated = respx.get(f"{BASE}/dated").mock(return_value=_json({}, 429, **far_ahead))
        with pytest.raises(RateLimited, match=r"asked to wait \d+ s, more than max_retry_wait_s \(60 s\)"):
            await t.get("/dated")
        throttled = respx.post(f"{BASE}/graphql.json").mock(return_value=_json({"throttled": True}))
        with pytest.raises(RateLimited) as info:
            await t.post("/graphql.json", json={"query": "{}"})
    assert dated.call_count == 1 and throttled.call_count == 1
    assert str(info.value) == (
        "[shop] THROTTLED; asked to wait 120 s, more than max_retry_wait_s (60 s): left for the next run"
    )
    assert sleeps.waits == []


@respx.mock
async def test_no_wait_starts_that_would_end_past_max_retry_time(sleeps: Sleeps) -> None:
    """Five waits of 40 s fit max_attempts but not 100 s of retrying: the third is not taken."""
    settings = TransportSettings(base_url=BASE, max_attempts=6, max_retry_time=100)
    async with Transport("x", settings, sleep=sleeps) as t:
        route = respx.get(f"{BASE}/a").mock(return_value=_json({}, 429, **{"Retry-After": "40"}))
        with pytest.raises(RateLimited, match="HTTP 429"):
            await t.get("/a")
    assert sleeps.waits == [40.0, 40.0]
    assert route.call_count == 3


@respx.mock
async def test_429_on_a_post_is_retried(transport: Transport, sleeps: Sleeps) -> None:
    # a throttled request was not processed: repeating it cannot apply it twice
    route = respx.post(f"{BASE}/batch").mock(side_effect=[_json({}, 429, **{"Retry-After": "1"}), _json({"done": 1})])
    assert (await transport.post("/batch", json={"a": 1})).data == {"done": 1}
    assert route.call_count == 2
    assert sleeps.waits == [1.0]


@respx.mock
async def test_post_is_not_retried_after_a_5xx(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.post(f"{BASE}/batch").mock(side_effect=[_json({}, 502), _json({"done": 1})])
    with pytest.raises(RetriableError) as info:
        await transport.post("/batch", json={"a": 1})
    assert info.value.status == 502
    assert route.call_count == 1
    assert sleeps.waits == []


@respx.mock
async def test_post_is_retried_after_a_5xx_when_idempotent(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.post(f"{BASE}/batch").mock(side_effect=[_json({}, 502), _json({"done": 1})])
    assert (await transport.post("/batch", json={"a": 1}, idempotent=True)).data == {"done": 1}
    assert route.call_count == 2
    assert json.loads(route.calls[1].request.content) == {"a": 1}


@respx.mock
async def test_post_is_not_retried_after_a_read_timeout(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.post(f"{BASE}/batch").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(RetriableError, match="timed out"):
        await transport.post("/batch", json={})
    assert route.call_count == 1
    assert transport.stats.by_kind["timeout"] == 1


@respx.mock
async def test_post_is_retried_after_a_connect_error(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.post(f"{BASE}/batch").mock(side_effect=[httpx.ConnectError("refused"), _json({"done": 1})])
    assert (await transport.post("/batch", json={"a": 1})).data == {"done": 1}
    assert route.call_count == 2
    assert transport.stats.by_kind["connect_error"] == 1
    assert len(sleeps.waits) == 1


@respx.mock
async def test_connect_errors_to_the_end_become_a_retriable_error(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.get(f"{BASE}/items").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(RetriableError, match=r"cannot reach https://api\.example\.com/items: ConnectError"):
        await transport.get("/items")
    assert route.call_count == 4


@respx.mock
async def test_dropped_connection_on_get_is_retried(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.get(f"{BASE}/items").mock(side_effect=[httpx.RemoteProtocolError("eof"), _json([1])])
    assert (await transport.get("/items")).data == [1]
    assert route.call_count == 2
    assert transport.stats.by_kind["dropped"] == 1


@respx.mock
async def test_401_is_an_auth_error_without_retry(transport: Transport, sleeps: Sleeps) -> None:
    route = respx.get(f"{BASE}/items").mock(return_value=_json({"errors": "bad"}, 401))
    with pytest.raises(AuthError) as info:
        await transport.get("/items")
    assert route.call_count == 1
    assert info.value.status == 401
    assert isinstance(info.value, FatalError)
    assert sleeps.waits == []


@respx.mock
async def test_400_is_fatal_with_the_platform_code_and_message(transport: Transport, sleeps: Sleeps) -> None:
    body = {"code": "rest_invalid_param", "message": "Invalid parameter(s): sku", "data": {"status": 400}}
    route = respx.put(f"{BASE}/products/7").mock(return_value=_json(body, 400))
    with pytest.raises(FatalError) as info:
        await transport.request("PUT", "/products/7", json={"sku": ""})
    assert route.call_count == 1
    assert not isinstance(info.value, AuthError)
    assert info.value.platform_code == "rest_invalid_param"
    assert info.value.platform_message == "Invalid parameter(s): sku"
    assert "HTTP 400: rest_invalid_param: Invalid parameter(s): sku" in str(info.value)


@respx.mock
async def test_error_body_that_is_not_json(transport: Transport) -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(404, text="<html>nope</html>"))
    with pytest.raises(FatalError) as info:
        await transport.get("/x")
    assert info.value.platform_code is None
    assert info.value.platform_message.startswith("nope (an HTML page")  # summarized, not pasted


@respx.mock
async def test_ok_statuses_are_configurable(transport: Transport) -> None:
    respx.get(f"{BASE}/x").mock(return_value=_json({"gone": True}, 404))
    assert (await transport.get("/x", ok={200, 404})).status == 404


@respx.mock
async def test_malformed_json_in_a_200_is_retried(transport: Transport, sleeps: Sleeps) -> None:
    broken = httpx.Response(200, content=b'{"data": {"trunc', headers={"Content-Type": "application/json"})
    route = respx.get(f"{BASE}/items").mock(side_effect=[broken, _json({"data": []})])
    assert (await transport.get("/items")).data == {"data": []}
    assert route.call_count == 2
    assert transport.stats.by_kind["malformed"] == 1


@respx.mock
async def test_json_lines_and_non_json_bodies_are_not_malformed(transport: Transport) -> None:
    respx.get(f"{BASE}/bulk").mock(
        return_value=httpx.Response(200, content=b'{"a":1}\n{"a":2}\n', headers={"Content-Type": "application/jsonl"})
    )
    respx.get(f"{BASE}/text").mock(return_value=httpx.Response(200, text="hello"))
    bulk = await transport.get("/bulk")
    assert bulk.data is None
    assert bulk.response.content.count(b"\n") == 2
    assert (await transport.get("/text")).data is None


def _graphql_throttle(reply: Reply) -> None:
    errors = (reply.data or {}).get("errors") or []
    if any(e.get("extensions", {}).get("code") == "THROTTLED" for e in errors):
        raise RateLimited("THROTTLED", retry_after=1.5)


@respx.mock
async def test_check_reply_rate_limited_counts_as_throttled(sleeps: Sleeps) -> None:
    throttled = _json({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]})
    async with Transport("shop", TransportSettings(base_url=BASE), check_reply=_graphql_throttle, sleep=sleeps) as t:
        route = respx.post(f"{BASE}/graphql.json").mock(
            side_effect=[throttled, throttled, throttled, _json({"data": {}}), throttled, _json({"data": {"x": 1}})]
        )
        assert (await t.post("/graphql.json", json={"query": "{}"})).data == {"data": {}}
        assert (await t.post("/graphql.json", json={"query": "{}"})).data == {"data": {"x": 1}}
    assert route.call_count == 6
    assert sleeps.waits == [1.5, 1.5, 1.5, 1.5]
    assert t.stats.throttled == 4
    assert t.stats.throttled_in_a_row_max == 3
    assert t.stats.retries == 4


@respx.mock
async def test_check_reply_other_errors_are_not_retried(sleeps: Sleeps) -> None:
    def check(reply: Reply) -> None:
        if reply.data.get("errors"):
            raise FatalError("query refused")

    async with Transport("shop", TransportSettings(base_url=BASE), check_reply=check, sleep=sleeps) as t:
        route = respx.post(f"{BASE}/g").mock(return_value=_json({"errors": [{"message": "bad"}]}))
        with pytest.raises(FatalError, match="query refused"):
            await t.post("/g", json={}, idempotent=True)
    assert route.call_count == 1


@respx.mock
async def test_throttle_run_is_broken_by_any_other_answer(sleeps: Sleeps) -> None:
    respx.get(f"{BASE}/a").mock(
        side_effect=[_json({}, 429), _json({}, 429), _json({}, 500), _json({}, 429), _json({"ok": 1})]
    )
    async with Transport("x", TransportSettings(base_url=BASE, max_attempts=6), sleep=sleeps) as transport:
        await transport.request("GET", "/a")
    # 429, 429, (500 breaks the run), 429: two in a row at most; the 429s without Retry-After back off
    assert transport.stats.throttled == 3
    assert transport.stats.throttled_in_a_row_max == 2


# ------------------------------------------------------------------ circuit breaker


@respx.mock
async def test_writes_that_fail_for_good_open_the_breaker_and_the_next_write_is_not_sent(
    transport: Transport, sleeps: Sleeps
) -> None:
    writes = respx.post(f"{BASE}/batch").mock(return_value=_json({"message": "down"}, 503))
    reads = respx.get(f"{BASE}/items").mock(return_value=_json([1]))
    breaker = Breaker("shop", threshold=2)
    with breaker.watching():
        for _ in range(2):
            with pytest.raises(RetriableError, match="HTTP 503: down"):
                await transport.post("/batch", json={}, idempotent=True)  # 4 attempts each
        assert breaker.is_open and writes.call_count == 8
        with pytest.raises(CircuitOpen) as info:
            await transport.post("/batch", json={}, idempotent=True)
        assert (await transport.get("/items")).data == [1]  # reads still go: a writer confirms what landed
    assert writes.call_count == 8
    assert reads.call_count == 1
    assert len(sleeps.waits) == 6  # the retries of the two calls, none for the refused one
    assert str(info.value) == (
        f"[shop] not sent: shop failed 2 batches in a row (POST {BASE}/batch -> HTTP 503: down); decided again next run"
    )


@respx.mock
async def test_a_retry_in_flight_stops_when_the_breaker_opens(transport: Transport, sleeps: Sleeps) -> None:
    breaker = Breaker("shop", threshold=1)

    def opened_meanwhile(request: httpx.Request) -> httpx.Response:
        breaker.failed(RetriableError("another call gave up", connector="shop"))  # a parallel call
        return _json({}, 502)

    route = respx.post(f"{BASE}/batch").mock(side_effect=opened_meanwhile)
    with breaker.watching(), pytest.raises(CircuitOpen, match=r"\(another call gave up\)"):
        await transport.post("/batch", json={}, idempotent=True)
    assert route.call_count == 1  # its own retry was not sent
    assert breaker.failures == 1


@respx.mock
async def test_the_breaker_counts_failed_writes_in_a_row_only(transport: Transport, sleeps: Sleeps) -> None:
    respx.post(f"{BASE}/down").mock(return_value=_json({}, 503))
    respx.post(f"{BASE}/up").mock(return_value=_json({}))
    respx.post(f"{BASE}/refused").mock(return_value=_json({"code": "bad"}, 400))
    respx.get(f"{BASE}/read").mock(return_value=_json({}, 503))
    breaker = Breaker("shop", threshold=2)
    with breaker.watching():
        for path, error in [
            ("/down", RetriableError),
            ("/up", None),  # answered: the failures are no longer in a row
            ("/down", RetriableError),
            ("/refused", FatalError),  # a refusal is an answer too
            ("/down", RetriableError),
        ]:
            if error is None:
                await transport.post(path, json={})
            else:
                with pytest.raises(error):
                    await transport.post(path, json={})
        with pytest.raises(RetriableError):
            await transport.get("/read")  # a read neither counts nor resets
    assert (breaker.failures, breaker.is_open) == (1, False)
    with pytest.raises(RetriableError):
        await transport.post("/down", json={})  # outside a push: no breaker at all
    assert breaker.failures == 1


@respx.mock
async def test_a_retry_after_too_long_on_a_write_counts_as_a_failed_batch(transport: Transport) -> None:
    respx.post(f"{BASE}/batch").mock(return_value=_json({}, 429, **{"Retry-After": "3600"}))
    breaker = Breaker("shop", threshold=1)
    with breaker.watching(), pytest.raises(RateLimited):
        await transport.post("/batch", json={})
    assert breaker.is_open
    assert breaker.last_error is not None and "asked to wait 3600 s" in breaker.last_error


def test_the_breaker_counts_each_error_once_and_stays_open() -> None:
    breaker = Breaker("web", threshold=2)
    error = RetriableError(f"POST {BASE}/batch -> HTTP 503: down", connector="web")
    breaker.failed(error)
    breaker.failed(error)  # counted by the transport, then raised out of the push to the engine
    assert breaker.failures == 1
    breaker.failed(CircuitOpen("not sent", connector="web"))  # the breaker's own refusal
    assert not breaker.is_open
    breaker.failed(RetriableError("timed out", connector="web"))
    breaker.succeeded()  # a call that was already in flight lands
    assert breaker.is_open
    assert breaker.reason() == "not sent: web failed 2 batches in a row (timed out); decided again next run"
    with pytest.raises(CircuitOpen):
        breaker.refuse()


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    future = parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT")
    assert future is not None
    assert future > 86400


def test_dig() -> None:
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert dig(data, "a.b.1.c") == 2
    assert dig(data, "a.b.5.c") is None
    assert dig(data, "a.x.c") is None
    assert dig(data, None) is data
    assert dig([1], "a") is None


# ------------------------------------------------------------------ secrets


@respx.mock
async def test_secrets_are_not_in_errors_or_repr(sleeps: Sleeps) -> None:
    key = TEST_SECRETS[5]
    with_key = TransportSettings(base_url=f"{BASE}/api?api_key={key}", secrets=[key])
    async with Transport("wms", with_key) as t:
        assert key not in repr(t)
        assert repr(t) == "Transport(connector='wms', base_url='https://api.example.com/api?api_key=***')"
    settings = TransportSettings(base_url=f"{BASE}/api", secrets=[key], max_attempts=2)
    async with Transport("wms", settings, sleep=sleeps) as t:
        respx.get(url__startswith=f"{BASE}/api/stock").mock(
            return_value=_json({"message": f"key {key} is not allowed here"}, 403)
        )
        with pytest.raises(AuthError) as info:
            await t.get("stock", params={"api_key": key})
        assert key not in str(info.value)
        assert "key *** is not allowed here" in str(info.value)
        respx.get(url__startswith=f"{BASE}/api/down").mock(side_effect=httpx.ConnectError(f"no route {key}"))
        with pytest.raises(RetriableError) as info2:
            await t.get(f"{BASE}/api/down?token={key}")
        assert key not in str(info2.value)


@respx.mock
async def test_platform_message_is_redacted(transport: Transport) -> None:
    respx.post(f"{BASE}/x").mock(return_value=_json({"code": "bad", "message": f"token {TOKEN} revoked"}, 400))
    with pytest.raises(FatalError) as info:
        await transport.post("/x", json={})
    assert TOKEN not in str(info.value)
    assert TOKEN not in (info.value.platform_message or "")


# ------------------------------------------------------------------ pagination


async def _pages(t: Transport, method: str, url: str, paginator: Any, **kwargs: Any) -> list[Reply]:
    return [reply async for reply in t.paginate(method, url, paginator, **kwargs)]


@respx.mock
async def test_link_header_paginator(transport: Transport) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        headers = {"Link": f'<{BASE}/products?page={page + 1}&per_page=2>; rel="next"'} if page < 3 else {}
        return httpx.Response(200, json=[page], headers=headers)

    route = respx.get(url__startswith=f"{BASE}/products").mock(side_effect=answer)
    seen: list[str] = []
    paginator = LinkHeaderPaginator(rewrite=lambda url: seen.append(url) or url)
    pages = await _pages(transport, "GET", "/products", paginator, params={"per_page": 2})
    assert [p.data for p in pages] == [[1], [2], [3]]
    assert route.call_count == 3
    assert seen == [f"{BASE}/products?page=2&per_page=2", f"{BASE}/products?page=3&per_page=2"]


@respx.mock
async def test_page_number_paginator_with_total_pages_header(transport: Transport) -> None:
    route = respx.get(url__startswith=f"{BASE}/orders").mock(
        side_effect=lambda request: _json([request.url.params["page"]], **{"X-WP-TotalPages": "3"})
    )
    pages = await _pages(transport, "GET", "/orders", PageNumberPaginator(), params={"page": 1, "per_page": 100})
    assert [p.data for p in pages] == [["1"], ["2"], ["3"]]
    assert [c.request.url.params["per_page"] for c in route.calls] == ["100"] * 3


@respx.mock
async def test_page_number_paginator_with_zero_total_pages(transport: Transport) -> None:
    route = respx.get(url__startswith=f"{BASE}/orders").mock(return_value=_json([], **{"X-WP-TotalPages": "0"}))
    assert len(await _pages(transport, "GET", "/orders", PageNumberPaginator())) == 1
    assert route.call_count == 1


@respx.mock
async def test_page_number_paginator_stops_on_an_empty_page(transport: Transport) -> None:
    data = {"1": [1, 2], "2": [3]}
    route = respx.get(url__startswith=f"{BASE}/items").mock(
        side_effect=lambda request: _json({"items": data.get(request.url.params.get("page", "1"), [])})
    )
    paginator = PageNumberPaginator(total_pages_header=None, records_path="items")
    pages = await _pages(transport, "GET", "/items", paginator)
    assert [p.data["items"] for p in pages] == [[1, 2], [3], []]
    assert [c.request.url.params.get("page") for c in route.calls] == [None, "2", "3"]


@respx.mock
async def test_offset_paginator(transport: Transport) -> None:
    route = respx.get(url__startswith=f"{BASE}/members").mock(
        side_effect=lambda request: _json(
            {"members": [int(request.url.params["offset"])], "total_items": 5}  # offsets 0, 2, 4
        )
    )
    paginator = OffsetPaginator(records_path="members")
    pages = await _pages(transport, "GET", "/members", paginator, params={"offset": 0, "count": 2})
    assert [p.data["members"] for p in pages] == [[0], [2], [4]]
    assert route.call_count == 3


@respx.mock
async def test_offset_paginator_stops_on_empty_records_even_when_total_says_more(transport: Transport) -> None:
    route = respx.get(url__startswith=f"{BASE}/members").mock(
        side_effect=lambda request: _json(
            {"members": [] if request.url.params["offset"] == "2" else [1], "total_items": 100}
        )
    )
    pages = await _pages(
        transport, "GET", "/members", OffsetPaginator(records_path="members"), params={"offset": 0, "count": 2}
    )
    assert len(pages) == 2
    assert route.call_count == 2


@respx.mock
async def test_json_cursor_paginator_in_params(transport: Transport) -> None:
    cursors = {None: "c2", "c2": "c3", "c3": None}

    def answer(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        nxt = cursors[after]
        return _json({"results": [after], "paging": {"next": {"after": nxt}} if nxt else {}})

    route = respx.get(url__startswith=f"{BASE}/contacts").mock(side_effect=answer)
    paginator = JsonCursorPaginator(cursor_path="paging.next.after")
    pages = await _pages(transport, "GET", "/contacts", paginator, params={"limit": 100})
    assert [p.data["results"] for p in pages] == [[None], ["c2"], ["c3"]]
    assert [c.request.url.params.get("limit") for c in route.calls] == ["100"] * 3


@respx.mock
async def test_json_cursor_paginator_in_body(transport: Transport) -> None:
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        nxt = {None: "200", "200": "400"}.get(body.get("after"))
        return _json({"results": [], "paging": {"next": {"after": nxt}} if nxt else None})

    respx.post(f"{BASE}/search").mock(side_effect=answer)
    paginator = JsonCursorPaginator(cursor_path="paging.next.after", in_body=True)
    pages = await _pages(transport, "POST", "/search", paginator, json={"filterGroups": [], "limit": 200})
    assert len(pages) == 3
    assert bodies == [
        {"filterGroups": [], "limit": 200},
        {"filterGroups": [], "limit": 200, "after": "200"},
        {"filterGroups": [], "limit": 200, "after": "400"},
    ]


@respx.mock
async def test_next_url_paginator_same_host(transport: Transport) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        nxt = {None: "/v1/stock?cursor=b", "b": f"{BASE}/v1/stock?cursor=c"}.get(cursor)
        return _json({"data": [cursor], "links": {"next": nxt}})

    route = respx.get(url__startswith=f"{BASE}/v1/stock").mock(side_effect=answer)
    pages = await _pages(transport, "GET", "/v1/stock", JsonCursorPaginator(next_url_path="links.next"))
    assert [p.data["data"] for p in pages] == [[None], ["b"], ["c"]]
    assert route.call_count == 3


@respx.mock
async def test_next_url_paginator_refuses_another_host(transport: Transport) -> None:
    respx.get(f"{BASE}/v1/stock").mock(return_value=_json({"links": {"next": "https://evil.example.net/steal"}}))
    evil = respx.get(url__startswith="https://evil.example.net").mock(return_value=_json({}))
    with pytest.raises(FatalError, match=r"another host \(evil\.example\.net\)"):
        await _pages(transport, "GET", "/v1/stock", JsonCursorPaginator(next_url_path="links.next"))
    assert evil.call_count == 0


@pytest.mark.parametrize(
    ("paginator", "body", "headers"),
    [
        (JsonCursorPaginator(cursor_path="next"), {"next": "same"}, {}),
        (JsonCursorPaginator(next_url_path="next"), {"next": "/loop?x=1"}, {}),
        (LinkHeaderPaginator(), {}, {"Link": f'<{BASE}/loop?x=1>; rel="next"'}),
        (JsonCursorPaginator(cursor_path="next", in_body=True), {"next": "same"}, {}),
    ],
    ids=["cursor", "next-url", "link", "cursor-in-body"],
)
@respx.mock
async def test_repeated_page_token_is_a_pagination_loop(
    transport: Transport, paginator: Any, body: Any, headers: dict[str, str]
) -> None:
    route = respx.route(url__startswith=f"{BASE}/loop").mock(return_value=_json(body, **headers))
    method = "POST" if getattr(paginator, "in_body", False) else "GET"
    got: list[Reply] = []
    with pytest.raises(FatalError, match="pagination loop"):
        async for reply in transport.paginate(method, "/loop", paginator, json={"q": 1} if method == "POST" else None):
            got.append(reply)
    assert route.call_count == len(got)
    assert route.call_count == 2  # it stops as soon as a token comes back


# ------------------------------------------------------------------ rate limiters


class FakeTime:
    """A clock and an ``asyncio.sleep`` that advances it (for the limiters, which sleep through asyncio)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(limiters, "asyncio", types.SimpleNamespace(sleep=fake.sleep, Lock=asyncio.Lock))
    return fake


async def test_token_bucket_allows_a_burst_then_paces(fake_time: FakeTime) -> None:
    bucket = TokenBucket(rate=2, capacity=2, clock=fake_time.clock)
    await bucket.acquire()
    await bucket.acquire()
    assert fake_time.sleeps == []
    await bucket.acquire()
    assert fake_time.sleeps == [0.5]
    fake_time.now += 10  # idle: refills to capacity, not beyond
    await bucket.acquire()
    await bucket.acquire()
    assert fake_time.sleeps == [0.5]
    await bucket.acquire()
    assert fake_time.sleeps == [0.5, 0.5]


async def test_token_bucket_cost_above_capacity_is_capped(fake_time: FakeTime) -> None:
    bucket = TokenBucket(rate=1, capacity=3, clock=fake_time.clock)
    await bucket.acquire(10)  # would never fit: charged as a full bucket
    assert fake_time.sleeps == []
    await bucket.acquire(1)
    assert fake_time.sleeps == [1.0]
    with pytest.raises(ValueError):
        TokenBucket(rate=0)


async def test_cost_bucket_waits_for_restored_points(fake_time: FakeTime) -> None:
    bucket = CostBucket(capacity=1000, restore_rate=100, clock=fake_time.clock)
    await bucket.acquire(600)
    assert fake_time.sleeps == []
    await bucket.acquire(600)  # 400 left: 200 more points take 2 s at 100/s
    assert fake_time.sleeps == [2.0]


async def test_cost_bucket_follows_the_platform_accounting(fake_time: FakeTime) -> None:
    bucket = CostBucket(capacity=1000, restore_rate=100, clock=fake_time.clock)
    status = {"maximumAvailable": 2000.0, "currentlyAvailable": 50, "restoreRate": 50.0}
    bucket.observe(httpx.Response(200), {"data": {}, "extensions": {"cost": {"throttleStatus": status}}})
    assert (bucket.capacity, bucket.restore_rate) == (2000.0, 50.0)
    await bucket.acquire(150)  # 100 missing at 50/s
    assert fake_time.sleeps == [2.0]
    bucket.observe(httpx.Response(200), {"data": {}})  # no cost extension: nothing learned
    bucket.observe(httpx.Response(200), None)
    assert bucket.capacity == 2000.0


async def test_header_window_limiter_waits_for_the_next_window(fake_time: FakeTime) -> None:
    limiter = HeaderWindowLimiter(
        remaining_header="X-HubSpot-RateLimit-Remaining",
        interval_ms_header="X-HubSpot-RateLimit-Interval-Milliseconds",
        reserve=1,
        clock=fake_time.clock,
    )
    await limiter.acquire()  # nothing known yet: no wait
    headers = {"X-HubSpot-RateLimit-Remaining": "3", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    limiter.observe(httpx.Response(200, headers=headers), None)
    assert limiter.interval == 10.0
    fake_time.now += 1
    await limiter.acquire()  # 3 -> 2
    await limiter.acquire()  # 2 -> 1
    assert fake_time.sleeps == []
    fake_time.now += 3
    await limiter.acquire()  # at the reserve: wait for the rest of the 10 s window
    assert fake_time.sleeps == [6.0]
    await limiter.acquire()  # a fresh window: unknown allowance, no wait
    assert fake_time.sleeps == [6.0]


async def test_header_window_limiter_ignores_bad_headers(fake_time: FakeTime) -> None:
    limiter = HeaderWindowLimiter(remaining_header="X-Remaining", reserve=0, clock=fake_time.clock)
    limiter.observe(httpx.Response(200, headers={"X-Remaining": "lots"}), None)
    limiter.observe(httpx.Response(200), None)
    await limiter.acquire()
    assert fake_time.sleeps == []
    limiter.observe(httpx.Response(200, headers={"X-Remaining": "0"}), None)
    await limiter.acquire()
    assert fake_time.sleeps == [10.0]  # the default interval


@respx.mock
async def test_transport_charges_the_limiter_and_lets_it_observe(transport: Transport) -> None:
    calls: list[tuple[str, Any]] = []

    class Recorder:
        async def acquire(self, cost: float = 1.0) -> None:
            calls.append(("acquire", cost))

        def observe(self, response: httpx.Response, data: Any) -> None:
            calls.append(("observe", data))

    async with Transport("x", TransportSettings(base_url=BASE), limiter=Recorder()) as t:
        respx.post(f"{BASE}/g").mock(return_value=_json({"n": 1}))
        await t.post("/g", json={}, cost=52)
    assert calls == [("acquire", 52), ("observe", {"n": 1})]


@respx.mock
async def test_headers_and_json_body_are_sent(transport: Transport) -> None:
    route = respx.post(f"{BASE}/x").mock(return_value=_json({}))
    await transport.post("/x", json={"a": [1, 2]}, headers={"X-Extra": "1"})
    request = route.calls[0].request
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Extra"] == "1"
    assert request.headers["User-Agent"].startswith("omnihub/")
    assert json.loads(request.content) == {"a": [1, 2]}


@respx.mock
async def test_cost_bucket_refunds_requests_that_spent_nothing() -> None:
    """A 5xx or a dropped connection costs the platform nothing: the retry must not wait for it."""
    from hub.transport import CostBucket

    clock = [0.0]
    bucket = CostBucket(capacity=100, restore_rate=1, clock=lambda: clock[0])
    route = respx.post("https://cost.example/graphql").mock(
        side_effect=[httpx.Response(503), httpx.ReadError("dropped"), httpx.Response(200, json={"data": {}})]
    )
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    transport = Transport(
        "shop", TransportSettings(base_url="https://cost.example", max_attempts=3), limiter=bucket, sleep=no_sleep
    )
    reply = await transport.request("POST", "/graphql", json={}, idempotent=True, cost=90)
    await transport.aclose()
    assert reply.status == 200 and route.call_count == 3
    # Only the backoff between attempts was waited for, never 90 points at 1 point/s.
    assert all(w < 30 for w in waits), waits
    assert bucket._current() == 10  # one successful request of 90 charged, the failed two refunded


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>", "502 Bad Gateway (an HTML"),
        ("<!DOCTYPE html><html><head><title>Down &amp; out</title></head><body>…</body></html>", "Down & out (an HTML"),
        ("price must be < 10 and > 0", "price must be < 10 and > 0"),
        ("x" * 2000, "x" * 499 + "…"),
    ],
)
def test_an_html_page_or_a_long_body_is_summarized_not_pasted(body: str, expected: str) -> None:
    from hub.transport import summarize_body

    assert summarize_body(body).startswith(expected)
    assert "<" not in summarize_body(body).replace("< 10", "")


def test_stats_of_several_transports_combine_into_one_figure_of_the_callers_kind() -> None:
    from hub.transport import TransportStats

    class Points(TransportStats):
        points: int = 0

    api, files = TransportStats(requests=3, retries=1, throttled=2), TransportStats(requests=4, throttled=1)
    api.throttled_in_a_row_max, files.throttled_in_a_row_max = 2, 1
    api.by_status[200], files.by_status[200], files.by_status[503] = 3, 3, 1
    total = Points.combined(api, files)
    assert isinstance(total, Points) and total.points == 0
    assert (total.requests, total.retries, total.throttled, total.throttled_in_a_row_max) == (7, 1, 3, 2)
    assert total.by_status == {200: 6, 503: 1}


async def test_every_transport_verifies_tls_with_one_shared_context_unless_told_not_to() -> None:
    """A context per client loaded the CA bundle for every run (~70 ms each); sharing it must not
    loosen verification."""
    import ssl

    def context_of(transport: Transport) -> Any:
        return transport._client._transport._pool._ssl_context  # type: ignore[attr-defined]

    async with (
        Transport("a", TransportSettings(base_url=BASE)) as a,
        Transport("b", TransportSettings(base_url=BASE)) as b,
    ):
        shared = context_of(a)
        assert shared is context_of(b)
        assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname
    async with Transport("c", TransportSettings(base_url="http://127.0.0.1:9", verify_tls=False)) as c:
        unverified = context_of(c)
        assert unverified is not shared and unverified.verify_mode == ssl.CERT_NONE
