"""The long-running commands: ``omnihub run`` (the daemon), ``demo`` and ``sandbox`` (the platform simulators)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import NoReturn

import typer
from rich.text import Text

from hub.cli.common import EXIT_FAILED, checked, fail, load, out, state
from hub.errors import ConfigError
from hub.ops.logging_setup import LogFormat

__all__ = ["demo", "run", "sandbox"]


def run(
    http_port: int = typer.Option(
        None,
        "--http-port",
        min=1,
        max=65535,
        help="Serve /healthz, /metrics and POST /webhooks/<connector> on this port (1-65535).",
    ),
    http_host: str = typer.Option("127.0.0.1", "--http-host", help="Address for --http-port (0.0.0.0 in a container)."),
    log_format: LogFormat | None = typer.Option(
        None, "--log-format", help="Alias of the global --log-format (which goes before `run`).", show_default=False
    ),
    now: bool = typer.Option(
        False, "--now", help="Run every scheduled job once at start, then on its schedule (not a whole interval later)."
    ),
    engine: str = typer.Option(
        None,
        "--engine",
        help="inprocess, or celery: enqueue the runs for `omnihub worker` (default: hub.engine).",
        show_default=False,
    ),
    stores: Path = typer.Option(
        None,
        "--stores",
        help="Serve every NAME.yaml of this directory as store NAME, each a whole config with its own "
        "state and alerts (instead of --config); secrets may come from NAME.env beside it. Webhooks: "
        "POST /webhooks/<store>/<connector>.",
        show_default=False,
    ),
) -> None:
    """Run the scheduler: every job with a `schedule:` runs unattended until SIGTERM/Ctrl-C."""
    chosen = log_format or state.log_format
    if stores is not None:
        _run_stores(stores, http_port=http_port, http_host=http_host, log_format=chosen, now=now, engine=engine)
    config = load()
    try:
        from hub.ops.daemon import serve_scheduled
    except ImportError as exc:  # pragma: no cover - shipped together
        fail(f"the scheduler is not available: {exc}", EXIT_FAILED)
    serving = serve_scheduled(
        config, http_port=http_port, http_host=http_host, log_format=chosen, run_at_start=now, engine=engine
    )
    raise typer.Exit(asyncio.run(serving))


def _run_stores(
    directory: Path, *, http_port: int | None, http_host: str, log_format: str, now: bool, engine: str | None
) -> NoReturn:
    """``omnihub run --stores DIR``: a store that cannot be served is logged and the others run;
    exit 2 when the directory cannot be used or no store can be served."""
    from hub.config.stores import load_stores
    from hub.ops.daemon import serve_stores

    loaded = checked(lambda _: load_stores(directory))
    serving = serve_stores(
        loaded, http_port=http_port, http_host=http_host, log_format=log_format, run_at_start=now, engine=engine
    )
    try:
        code = asyncio.run(serving)
    except ConfigError as exc:
        _print_problems(exc)
    raise typer.Exit(code)


def _print_problems(error: ConfigError) -> NoReturn:
    """Every problem of ``error`` printed as a config's are (``checked``), and exit 2."""

    def read(_: Path) -> NoReturn:
        raise error

    checked(read)


def demo(
    workdir: Path = typer.Option(Path("omnihub-demo"), "--dir", help="Where the demo writes its files."),
) -> None:
    """Start every sandbox with a drifted clothing store, sync it, and write the alert e-mail."""
    from hub.cli.demo import run_demo

    raise typer.Exit(run_demo(workdir, out))


def sandbox(
    platform: str = typer.Argument(
        ..., help="An installed sandbox: shopify, woocommerce, wms, hubspot, mailchimp, square, ..."
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."),
) -> None:
    """Serve a platform simulator on 127.0.0.1, seeded with the demo store."""
    from importlib.metadata import entry_points

    from hub.sandbox.kit import serve_forever
    from hub.sandbox.plugin import GROUP, SandboxPlugin
    from hub.sandbox.seed import demo_store

    found = [ep for ep in entry_points(group=GROUP) if ep.name == platform]
    if not found:
        names = ", ".join(sorted(ep.name for ep in entry_points(group=GROUP)))
        fail(f"no sandbox named {platform!r}; available: {names}")
    try:
        plugin = found[0].load()
    except ImportError as exc:
        fail(f"the {platform} sandbox cannot be loaded: {exc}", EXIT_FAILED)
    if not isinstance(plugin, SandboxPlugin):
        fail(f"entry point {platform!r} does not name a SandboxPlugin", EXIT_FAILED)
    # Fakes, printed so that a hand-written config can reach the sandbox (they are the demo's).
    out.print("It accepts these credentials (environment variable = value):", highlight=False)
    for name, value in plugin.credentials.items():
        out.print(Text(f"  {name}={value}"), highlight=False)
    try:
        serve_forever(plugin.app(demo_store()), port=port, announce=out.print)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; choose another --port", EXIT_FAILED)
