"""What every ``omnihub`` command shares: the consoles, the exit codes, the global options, and
loading the config or the store with a clear error instead of a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from hub.config.loader import LoadedConfig, StateLocation, load_config, load_state_location
from hub.errors import ConfigError
from hub.ops.logging_setup import LogFormat
from hub.redact import redact
from hub.state.store import Store, StoreError

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "State",
    "checked",
    "err",
    "fail",
    "load",
    "load_state",
    "open_store",
    "out",
    "state",
    "styled",
]

#: Markup off: text from data, config and errors (``[wms] cannot reach ...``) is printed as it is;
#: what the CLI styles itself is built as ``rich.text.Text`` (see ``styled``).
out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

Loaded = TypeVar("Loaded")


class State:
    """The global options of this invocation (``--config``, ``--verbose``, ``--log-format``)."""

    config_path: Path = Path("omnihub.yaml")
    verbose: bool = False
    log_format: LogFormat = LogFormat.text


state = State()


def styled(label: str, style: str, rest: object) -> Text:
    """``label`` in ``style``, then ``rest`` as plain text, never read as markup."""
    return Text.assemble((label, style), f" {rest}")


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """One red ``error:`` line on stderr, redacted, and exit with ``code``."""
    err.print(styled("error:", "bold red", redact(message)), soft_wrap=True)
    raise typer.Exit(code)


def load() -> LoadedConfig:
    """The whole config, every connector validated, or its problems printed and exit 2."""
    return checked(load_config)


def load_state() -> StateLocation:
    """The config's state store alone, for the read-only listings: no connector secret need be set."""
    return checked(load_state_location)


def checked(read: Callable[[Path], Loaded]) -> Loaded:
    """``read(config path)``, or every problem of the config printed and exit 2."""
    try:
        return read(state.config_path)
    except ConfigError as exc:
        err.print(
            styled(
                "invalid configuration",
                "bold red",
                f"({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):",
            ),
            soft_wrap=True,
        )
        for problem in exc.problems:
            err.print(f"  {redact(problem)}", soft_wrap=True, markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


def open_store(config: LoadedConfig | StateLocation, *, dry_run: bool = False) -> Store:
    """The state store of ``config``; a dry run without a state file gets an empty one in memory."""
    url = config.database_url()
    if dry_run and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        url = "sqlite://"  # a dry run changes nothing anywhere: not even an empty state file
    try:
        return Store.open(url)
    except StoreError as exc:
        fail(f"{exc}. Check hub.database in {state.config_path}.")
