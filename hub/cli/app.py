"""The ``omnihub`` command line (typer).

Exit codes scripts can rely on: 0 the command did its job (mismatches are not failures), 1 a job
failed, 2 the configuration (or a mapping, or the database URL) is wrong. Errors are one clear
message on stderr that says what to fix; never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from importlib import metadata
from pathlib import Path

import typer
from typer.core import TyperOption

from hub.cli.check_commands import check, config_schema
from hub.cli.common import EXIT_FAILED, err, state, styled
from hub.cli.console_commands import console
from hub.cli.listings import mismatches, quarantine, runs
from hub.cli.order_commands import reservations, webhooks_app
from hub.cli.service_commands import demo, run, sandbox
from hub.cli.setup_commands import discover, init
from hub.cli.sync_commands import sync
from hub.cli.worker_commands import worker
from hub.errors import OmnihubError
from hub.ops.logging_setup import LogFormat, configure_logging
from hub.redact import redact

__all__ = ["app", "main"]


def _flag_type(self: TyperOption, ctx: object) -> str | None:
    """No type after a flag in ``--help``: typer 0.29 prints ``--json <bool>`` for every boolean
    option (its own ``--help`` too), which reads as if the flag took a value; it takes none."""
    return None if self.is_flag else _option_type(self, ctx)  # type: ignore[arg-type]


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _version() -> str:
    """The installed package's version (what ``pip show omnihub`` says)."""
    try:
        return metadata.version("omnihub")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"omnihub {_version()}")
        raise typer.Exit()


app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    help="omnihub keeps products, stock, prices and customers the same on every channel.",
)
config_app = typer.Typer(help="Inspect the configuration format.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(webhooks_app, name="webhooks")


@app.callback()
def main_options(
    config: Path = typer.Option(
        None, "--config", "-c", help="Config file (default: $OMNIHUB_CONFIG, else ./omnihub.yaml).", show_default=False
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens (to stderr)."),
    log_format: LogFormat = typer.Option(
        LogFormat.text, "--log-format", help="How log records are written to stderr, for every command."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the omnihub version and exit."
    ),
) -> None:
    state.config_path = config or Path(os.environ.get("OMNIHUB_CONFIG") or "omnihub.yaml")
    state.verbose = verbose
    state.log_format = log_format
    # The one handler on the root logger, replaced (not doubled) when the daemon sets its own level.
    configure_logging(log_format, "INFO" if verbose else "WARNING")


# The commands, in the order ``omnihub --help`` lists them.
app.command()(init)
app.command()(check)
app.command()(discover)
config_app.command("schema")(config_schema)
app.command()(sync)
app.command()(mismatches)
app.command()(runs)
app.command()(quarantine)
app.command()(reservations)
app.command()(run)
app.command()(worker)
app.command()(console)
app.command()(demo)
app.command()(sandbox)


def main() -> None:
    """Console entry point: typer app with omnihub's errors turned into exit codes."""
    try:
        app()
    except OmnihubError as exc:  # anything not handled closer to its cause
        err.print(styled("error:", "bold red", redact(exc)), soft_wrap=True)
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # a bug: one line for the user, the traceback only with --verbose
        if state.verbose:  # as a log record, so it comes in the chosen --log-format
            logging.getLogger("omnihub.cli").error("internal error", exc_info=True)
        hint = "please report it" if state.verbose else "run with --verbose for the traceback, and please report it"
        err.print(
            styled("internal error:", "bold red", f"{type(exc).__name__}: {redact(exc)} ({hint})"), soft_wrap=True
        )
        sys.exit(EXIT_FAILED)
