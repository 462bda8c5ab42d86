"""The sandbox kit: a tiny platform app served on loopback with every kind of injected fault."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.sandbox.kit import Fault, FaultPlan, ServedApp, sandbox_app, serve


class Shop:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = [{"sku": "A"}]


def _app(shop: Shop) -> Any:
    async def items(request: Request) -> JSONResponse:
        if request.method == "POST":
            shop.items.append(await request.json())
            return JSONResponse({"created": True}, status_code=201)
        return JSONResponse({"items": shop.items})

    async def other(request: Request) -> JSONResponse:
        return JSONResponse({"other": True})

    return sandbox_app("toy", [Route("/items", items, methods=["GET", "POST"]), Route("/other", other)], state=shop)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServedApp, Shop]]:
    shop = Shop()
    with serve(_app(shop)) as running:
        yield running, shop


@pytest.fixture
def sandbox(served: tuple[ServedApp, Shop]) -> Iterator[tuple[ServedApp, Shop, httpx.Client]]:
    running, shop = served
    plan: FaultPlan = running.app.state.faults
    plan.clear()
    plan.injected.clear()
    running.app.state.requests.clear()
    shop.items[:] = [{"sku": "A"}]
    with httpx.Client(base_url=running.url, timeout=5) as client:
        yield running, shop, client
    plan.clear()


def test_serves_on_loopback_with_state(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, shop, client = sandbox
    assert running.url == f"http://127.0.0.1:{running.port}"
    assert running.port > 0
    assert running.app.state.sandbox is shop
    assert running.app.state.name == "toy"
    assert client.get("/items").json() == {"items": [{"sku": "A"}]}
    assert client.post("/items", json={"sku": "B"}).status_code == 201
    assert shop.items == [{"sku": "A"}, {"sku": "B"}]


def test_status_fault_with_headers_and_times(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, _, client = sandbox
    running.app.state.faults.add(kind="status", status=429, headers={"Retry-After": "3"}, path="/items", times=2)
    first, second, third = (client.get("/items") for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert first.json() == {"error": "sandbox fault", "status": 429}
    assert second.status_code == 429
    assert third.status_code == 200
    assert running.app.state.faults.injected["status"] == 2
    assert running.app.state.faults.describe() == []  # used up


def test_status_fault_with_a_body(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, _, client = sandbox
    running.app.state.faults.add(Fault(status=400, body={"code": "rest_invalid", "message": "no"}))
    reply = client.get("/other")
    assert (reply.status_code, reply.json()) == (400, {"code": "rest_invalid", "message": "no"})


def test_faults_match_method_and_path_prefix(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, shop, client = sandbox
    running.app.state.faults.add(kind="status", status=503, method="post", path="/items", times=None)
    assert client.get("/items").status_code == 200  # another method
    assert client.get("/other").status_code == 200  # another path
    assert client.post("/items", json={"sku": "X"}).status_code == 503
    assert client.post("/items", json={"sku": "Y"}).status_code == 503  # times=None: until cleared
    assert shop.items == [{"sku": "A"}]  # refused requests were not processed
    running.app.state.faults.clear()
    assert client.post("/items", json={"sku": "Z"}).status_code == 201


def test_delay_fault(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, _, client = sandbox
    running.app.state.faults.add(kind="delay", seconds=0.3, path="/items")
    start = time.monotonic()
    reply = client.get("/items")
    assert time.monotonic() - start >= 0.3
    assert reply.status_code == 200
    assert reply.json()["items"] == [{"sku": "A"}]
    running.app.state.faults.add(kind="delay", seconds=1.0, path="/items")
    with pytest.raises(httpx.ReadTimeout):
        client.get("/items", timeout=0.2)


def test_drop_fault_does_not_process_the_request(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, shop, client = sandbox
    running.app.state.faults.add(kind="drop", method="POST", path="/items")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/items", json={"sku": "LOST"})
    assert shop.items == [{"sku": "A"}]
    assert client.post("/items", json={"sku": "B"}).status_code == 201  # the next one goes through
    assert running.app.state.faults.injected["drop"] == 1


def test_drop_after_processes_the_request_but_the_client_sees_a_drop(
    sandbox: tuple[ServedApp, Shop, httpx.Client],
) -> None:
    running, shop, client = sandbox
    running.app.state.faults.add(kind="drop_after", method="POST", path="/items")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/items", json={"sku": "APPLIED"})
    assert shop.items == [{"sku": "A"}, {"sku": "APPLIED"}]  # the write happened; the client cannot know


def test_malformed_fault(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, _, client = sandbox
    running.app.state.faults.add(kind="malformed", path="/items")
    reply = client.get("/items")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        reply.json()
    assert client.get("/items").json() == {"items": [{"sku": "A"}]}


def test_rate_hits_some_requests_reproducibly() -> None:
    def hits(seed: int) -> list[bool]:
        plan = FaultPlan(seed)
        plan.add(kind="status", status=500, rate=0.3, times=None)
        return [plan.take("GET", "/x") is not None for _ in range(200)]

    pattern = hits(7)
    assert 30 < sum(pattern) < 90
    assert hits(7) == pattern  # seeded: the same run every time
    assert hits(8) != pattern
    never, always = FaultPlan(), FaultPlan()
    never.add(kind="status", rate=0.0, times=None)
    always.add(kind="status", rate=1.0, times=3)
    assert all(never.take("GET", "/x") is None for _ in range(50))
    assert [always.take("GET", "/x") is not None for _ in range(5)] == [True, True, True, False, False]


def test_rate_over_http(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, _, client = sandbox
    running.app.state.faults.add(kind="status", status=502, rate=0.5, times=None, path="/other")
    statuses = [client.get("/other").status_code for _ in range(40)]
    assert set(statuses) == {200, 502}
    assert running.app.state.faults.injected["status"] == statuses.count(502)


def test_first_matching_fault_wins_in_order() -> None:
    plan = FaultPlan()
    plan.add(kind="status", status=429, path="/a", times=1)
    plan.add(kind="status", status=500, times=1)
    assert plan.take("GET", "/b").status == 500  # type: ignore[union-attr]
    assert plan.take("GET", "/a/1").status == 429  # type: ignore[union-attr]
    assert plan.take("GET", "/a") is None
    assert plan.injected == {"status": 2}


def test_faults_endpoint_over_http(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, _, client = sandbox
    posted = client.post(
        "/_sandbox/faults",
        json=[
            {"kind": "status", "status": 503, "path": "/items", "times": 1},
            {"kind": "malformed", "path": "/other", "times": 1},
        ],
    ).json()
    assert [f["kind"] for f in posted["faults"]] == ["status", "malformed"]
    assert [f["kind"] for f in running.app.state.faults.describe()] == ["status", "malformed"]  # the same plan
    assert (
        client.post("/_sandbox/faults", json={"kind": "delay", "seconds": 0.01, "path": "/nowhere"}).status_code == 200
    )
    assert len(client.get("/_sandbox/faults").json()["faults"]) == 3
    assert client.get("/items").status_code == 503
    with pytest.raises(ValueError):
        client.get("/other").json()
    described = client.get("/_sandbox/faults").json()
    assert [f["path"] for f in described["faults"]] == ["/nowhere"]
    assert described["injected"] == {"status": 1, "malformed": 1}
    assert client.delete("/_sandbox/faults").json()["faults"] == []
    assert client.get("/items").status_code == 200


def test_stats_endpoint_counts_requests(sandbox: tuple[ServedApp, Shop, httpx.Client]) -> None:
    running, _, client = sandbox
    running.app.state.faults.add(kind="status", status=500, path="/other")
    client.get("/items")
    client.get("/items")
    client.post("/items", json={"sku": "B"})
    client.get("/other")
    client.get("/_sandbox/faults")  # control routes are not counted
    stats = client.get("/_sandbox/stats").json()
    assert stats["sandbox"] == "toy"
    assert stats["requests"] == {"GET /items": 2, "POST /items": 1, "GET /other": 1, "total": 4}
    assert stats["injected"] == {"status": 1}
    assert client.delete("/_sandbox/stats").json()["requests"] == {}
    client.get("/items")
    assert client.get("/_sandbox/stats").json()["requests"] == {"GET /items": 1, "total": 1}


def test_serve_stops_and_frees_the_port() -> None:
    with serve(_app(Shop())) as running:
        url = running.url
        assert httpx.get(f"{url}/items", timeout=5).status_code == 200
    assert not running.thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/items", timeout=2)
