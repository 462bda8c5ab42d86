"""``create_console``: the console as a Starlette app, mounted by the daemon or served by ``omnihub console``.

Pages are server-rendered (Jinja2, autoescaped) with one stylesheet and no script; every answer
carries the headers of ``hub.console.security``. Reads need nothing; actions need the admin token.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hub.config.loader import LoadedConfig
from hub.console.security import HEADERS, Guard
from hub.console.views import Console, Health, RunNow
from hub.state.store import Store

__all__ = ["MOUNT", "create_console", "standalone_app"]

#: Where the console lives on the daemon's port (``/`` redirects there).
MOUNT = "/console"
STATIC = Path(__file__).parent / "static"


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def create_console(
    config: LoadedConfig, store: Store | None, *, health: Health | None = None, run_now: RunNow | None = None
) -> Starlette:
    """The console app, to mount at ``MOUNT``. ``health`` is the daemon's (schedule, next run,
    runs in flight); ``run_now(job)`` asks the daemon for a run (thread-safe). Without them the
    console shows the store's history and offers no action."""
    console = Console(config, store, health, run_now, Guard(config.hub.admin_token))
    return Starlette(
        routes=[
            Route("/", console.jobs),
            Route("/runs", console.runs),
            Route("/mismatches", console.mismatches),
            Route("/history", console.history),
            Route("/quarantine", console.quarantine),
            Route("/connectors", console.connectors),
            Route("/reservations", console.reservations),
            Route("/signin", console.sign_in, methods=["POST"]),
            Route("/signout", console.sign_out, methods=["POST"]),
            Route("/jobs/{job}/run", console.run, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(_Headers)],
    )


def to_console(request: Request) -> Response:
    return RedirectResponse(f"{MOUNT}/", status_code=307)


def standalone_app(config: LoadedConfig, store: Store) -> Starlette:
    """``omnihub console``: the console over a database alone, read-only (no daemon, nothing runs)."""
    return Starlette(routes=[Route("/", to_console), Mount(MOUNT, app=create_console(config, store))])
