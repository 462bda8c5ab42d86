"""``omnihub console``: the web console over the database alone, read-only (no daemon, nothing runs)."""

from __future__ import annotations

import typer
import uvicorn

from hub.cli.common import EXIT_FAILED, checked, fail, open_store, out
from hub.config.loader import load_overview
from hub.console.app import MOUNT, standalone_app
from hub.ops.endpoints import DaemonError, listen

__all__ = ["console"]


def console(
    port: int = typer.Option(
        8081, "--port", min=1, max=65535, help="Port to serve the console on (1-65535; the daemon's image uses 8080)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 shows it to the network)."),
) -> None:
    """Serve the web console on the database: jobs, runs, mismatches, quarantine, connectors,
    reservations. Read-only: jobs run (and "run now" works) under `omnihub run --http-port`."""
    config = checked(load_overview)  # no connector secret needed: the console reaches no platform
    store = open_store(config)
    try:
        try:
            sock = listen(host, port)
        except DaemonError as exc:
            fail(str(exc).replace(" for /healthz, /metrics and webhooks", " for the console"), EXIT_FAILED)
        shown = f"[{host}]" if ":" in host else host
        out.print(f"omnihub console (read-only) on http://{shown}:{sock.getsockname()[1]}{MOUNT}/ (Ctrl-C stops)")
        server = uvicorn.Server(
            uvicorn.Config(standalone_app(config, store), log_level="warning", access_log=False, lifespan="off")
        )
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
    finally:
        store.close()
