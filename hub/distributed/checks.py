"""What the distributed engine needs of a config, checked without Celery installed.

``hub.engine: celery`` is checked by the config model itself; ``omnihub run --engine celery`` and
``omnihub worker`` ask for the engine on the command line, so they check the same here, and say
it at the line of the config that has to change.
"""

from __future__ import annotations

from hub.config.loader import LoadedConfig
from hub.errors import ConfigError

__all__ = ["require_distributed"]


def require_distributed(config: LoadedConfig) -> None:
    """Raise ``ConfigError`` unless ``config`` can run on the distributed engine: PostgreSQL for
    state (the job locks and the outbox are shared through it) and a broker."""
    where = ("hub", "engine") if config.hub.engine == "celery" else ("hub",)
    problems = []
    if not config.database_url().startswith("postgresql"):
        problems.append(
            config.located.problem(where, "the distributed engine needs PostgreSQL for state (hub.database)")
        )
    if config.hub.broker is None:
        problems.append(
            config.located.problem(where, 'the distributed engine needs a broker (hub.broker: "${OMNIHUB_BROKER_URL}")')
        )
    if problems:
        raise ConfigError(problems)


def celery_missing() -> str | None:
    """Why Celery cannot be used here (it is an extra), or None."""
    try:
        import celery  # noqa: F401
    except ImportError as exc:
        return f"the distributed engine needs Celery ({exc}): pip install 'omnihub[distributed]'"
    return None
