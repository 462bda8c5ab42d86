"""What every platform sandbox shares: fault injection, request counting and serving on loopback.

A sandbox (``connectors/<platform>/sandbox.py``) is a Starlette app that simulates one platform's
API. ``sandbox_app`` wraps its routes with:

* ``/_sandbox/faults``: scripted or random faults (a status such as 500/503/429 with
  ``Retry-After``, a delay, a dropped connection, a malformed body), matched by method and path,
  settable from a test in the same process (``app.state.faults``) or over HTTP by a benchmark;
* ``/_sandbox/stats``: how many requests each route received, so a benchmark can check the client's
  own count against the server's.

``serve`` runs any ASGI app with uvicorn on 127.0.0.1 in a background thread (tests, the demo,
benchmarks) and ``serve_forever`` in the foreground (``omnihub sandbox``).

``request_schema`` and ``schema_problems`` (``hub.sandbox.schema``, re-exported here) hold a request
body to the platform's published OpenAPI document.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.sandbox.schema import SchemaProblem, request_schema, schema_problems

__all__ = [
    "Fault",
    "FaultPlan",
    "SchemaProblem",
    "ServedApp",
    "request_schema",
    "sandbox_app",
    "schema_problems",
    "serve",
    "serve_forever",
]


@dataclass
class Fault:
    """One kind of failure to inject.

    ``kind``: ``status`` (answer ``status`` with ``body``: JSON, or bytes sent as they are with
    ``headers``, such as a proxy's HTML error page), ``delay`` (sleep ``seconds`` then answer
    normally), ``drop`` (close the connection mid-answer, request not processed), ``drop_after``
    (process the request, then close the connection before the client reads the answer: the write
    happened but the client cannot know), ``malformed`` (a 200 whose JSON is cut short).
    ``times`` is how many requests it hits (``None``: until cleared); ``rate`` makes it
    hit each matching request with that probability instead.
    """

    kind: str = "status"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    method: str | None = None
    path: str | None = None
    times: int | None = 1
    rate: float | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not (self.path and not path.startswith(self.path))


class FaultPlan:
    """The faults a sandbox injects, in order; thread-safe (tests set them from another thread)."""

    def __init__(self, seed: int = 7) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        #: How many faults were injected, by kind.
        self.injected: Counter[str] = Counter()

    def add(self, fault: Fault | None = None, **kwargs: Any) -> Fault:
        fault = fault or Fault(**kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to inject for this request, if any (and count it down)."""
        with self._lock:
            for fault in self._faults:
                if fault.times is not None and fault.times <= 0:
                    continue  # used up (or asked for zero times)
                if not fault.matches(method, path):
                    continue
                if fault.rate is not None and self._random.random() >= fault.rate:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                self.injected[fault.kind] += 1
                return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vars(f).copy() for f in self._faults]


class _FaultMiddleware:
    def __init__(self, app: ASGIApp, plan: FaultPlan, stats: Counter[str]) -> None:
        self.app = app
        self.plan = plan
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        self.stats[f"{method} {path}"] += 1
        self.stats["total"] += 1
        fault = self.plan.take(method, path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            await self.app(scope, receive, send)
        elif fault.kind in ("drop", "drop_after"):
            if fault.kind == "drop_after":

                async def swallow(message: Any) -> None:
                    return None

                await self.app(scope, receive, swallow)
            await _drop_connection(send)
        elif fault.kind == "malformed":
            await Response(b'{"data": {"truncated', status_code=200, media_type="application/json")(
                scope, receive, send
            )
        elif isinstance(fault.body, bytes):  # a page from something in between (a proxy's 502), as it is
            await Response(fault.body, status_code=fault.status, headers=fault.headers)(scope, receive, send)
        else:
            body = fault.body if fault.body is not None else {"error": "sandbox fault", "status": fault.status}
            await JSONResponse(body, status_code=fault.status, headers=fault.headers)(scope, receive, send)


async def _drop_connection(send: Send) -> None:
    """Start an answer, send part of its body and abort: the client sees a dropped connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
    raise _DroppedConnection("sandbox fault: connection dropped")


class _DroppedConnection(Exception):
    """Raised after a partial answer so that the server closes the connection."""


class _Outermost:
    """Puts the fault middleware outside Starlette's error handler, so that a drop is a real drop."""

    def __init__(self, app: Starlette, plan: FaultPlan, stats: Counter[str]) -> None:
        self.inner = app
        self.state = app.state
        self._asgi = _FaultMiddleware(app, plan, stats)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)


def sandbox_app(name: str, routes: Sequence[BaseRoute], *, state: Any = None, seed: int = 7) -> Any:
    """A Starlette app with the platform ``routes`` plus fault injection and request counting.

    ``app.state.sandbox`` holds the platform's simulated data (``state``), ``app.state.faults`` the
    ``FaultPlan`` and ``app.state.requests`` the per-route counter.
    """
    plan = FaultPlan(seed)
    counter: Counter[str] = Counter()

    async def faults_endpoint(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            plan.clear()
        elif request.method == "POST":
            payload = await request.json()
            for item in payload if isinstance(payload, list) else [payload]:
                plan.add(Fault(**item))
        return JSONResponse({"faults": plan.describe(), "injected": dict(plan.injected)})

    async def stats_endpoint(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            counter.clear()
        return JSONResponse({"sandbox": name, "requests": dict(counter), "injected": dict(plan.injected)})

    control = [
        Route("/_sandbox/faults", faults_endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/stats", stats_endpoint, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=[*control, *routes])
    app.state.sandbox = state
    app.state.faults = plan
    app.state.requests = counter
    app.state.name = name
    return _Outermost(app, plan, counter)


@dataclass
class ServedApp:
    """An app served on loopback: its ``url`` (``http://127.0.0.1:PORT``) and its ``app``."""

    url: str
    port: int
    app: Any
    server: uvicorn.Server
    thread: threading.Thread


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # uvicorn writes a response's head and body separately: without NODELAY every request waits
    # for the client's delayed ACK (about 40 ms on loopback instead of 2 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def serve(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, tls: tuple[str, str] | None = None
) -> Iterator[ServedApp]:
    """Serve ``app`` on ``host`` (a free port by default) in a thread, for the ``with`` block;
    over HTTPS with ``tls`` (certificate file, key file), for platforms that read credentials
    differently there (WooCommerce takes HTTP Basic only over HTTPS)."""
    sock = _bind(host, port)
    real_port = sock.getsockname()[1]
    certificate, key = tls or (None, None)
    # "critical": injected drops are logged by uvicorn as errors, which would only be noise here.
    config = uvicorn.Config(
        app,
        log_level="critical",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        ssl_certfile=certificate,
        ssl_keyfile=key,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the host owns signals
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{real_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox on port {real_port} did not start")
        time.sleep(0.01)
    try:
        yield ServedApp(f"{'https' if tls else 'http'}://{host}:{real_port}", real_port, app, server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_forever(app: Any, *, host: str = "127.0.0.1", port: int = 0, announce: Any = print) -> None:
    """Serve ``app`` in the foreground until Ctrl-C (``omnihub sandbox PLATFORM``)."""
    sock = _bind(host, port)
    real_port = sock.getsockname()[1]
    announce(f"{getattr(app.state, 'name', 'sandbox')} sandbox listening on http://{host}:{real_port} (Ctrl-C stops)")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
