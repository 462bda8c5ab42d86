"""The daemon's HTTP side: ``/healthz``, ``/metrics``, ``POST /webhooks/{connector}`` and the web console.

The socket is bound before the schedule starts, so a taken port is an error at start."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from hub.console.app import MOUNT
from hub.errors import OmnihubError
from hub.ops.metrics import CONTENT_TYPE, HubMetrics
from hub.ops.webhooks import MAX_BODY, WebhookReceiver

__all__ = ["DaemonError", "QuietServer", "create_app", "listen"]


class DaemonError(OmnihubError):
    """The daemon could not start (the HTTP port is taken, for instance)."""


def create_app(
    health: Callable[[], tuple[int, dict[str, Any]]],
    metrics: HubMetrics,
    webhooks: WebhookReceiver | None = None,
    console: Starlette | None = None,
) -> Starlette:
    """The daemon's tiny HTTP app; ``health`` returns (status code, JSON body); ``webhooks`` answers
    deliveries (without it, ``/webhooks/...`` is 404); ``console`` (``hub.console.create_console``)
    is mounted at ``/console/``, where ``/`` leads."""

    async def healthz(request: Request) -> Response:
        code, body = health()
        return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def webhook(request: Request) -> Response:
        connector = request.path_params["connector"]
        if webhooks is None:
            return JSONResponse({"status": "unknown", "message": "this daemon receives no webhooks"}, status_code=404)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse({"status": "refused", "message": "body too large"}, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return JSONResponse({"status": "refused", "message": "body too large"}, status_code=413)
        code, answer = await webhooks.receive(connector, dict(request.headers), bytes(body))
        return JSONResponse(answer, status_code=code)

    async def to_console(request: Request) -> Response:
        return RedirectResponse(f"{MOUNT}/", status_code=307)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/metrics", prometheus),
        Route("/webhooks/{connector}", webhook, methods=["POST"]),
    ]
    if console is not None:
        routes += [Route("/", to_console), Mount(MOUNT, app=console)]
    return Starlette(routes=routes)


class QuietServer(uvicorn.Server):
    """Uvicorn without its own signal handling: the daemon owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn releases
        return None


def listen(host: str, port: int) -> socket.socket:
    """Bind the HTTP socket here, so a taken port is a clear error rather than uvicorn's exit."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise DaemonError(
            f"cannot listen on {host}:{port} for /healthz, /metrics and webhooks: {exc.strerror or exc}"
        ) from None
    sock.setblocking(False)
    return sock
