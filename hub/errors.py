"""Every error omnihub raises, in three kinds that decide what happens next.

::

    OmnihubError
     ├── ConfigError          the admin must fix the YAML or a mapping file (exit 2, located)
     └── ConnectorError       something went wrong talking to a platform
          ├── FatalError      retrying will not help: bad credentials, a refused request (the job fails)
          │    └── AuthError      401/403: names the connector and the setting to fix
          └── RetriableError  a 429, a 5xx, a timeout, a dropped connection (the transport retries)
               └── RateLimited    carries the Retry-After the platform asked for

    RecordInvalid (hub.model.base)  one record is wrong: it is quarantined and the run goes on

Messages never contain secrets: the transport redacts them before an error is built.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "FatalError",
    "OmnihubError",
    "RateLimited",
    "RetriableError",
]


class OmnihubError(Exception):
    """Base of every error omnihub raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config or mapping file, with where it is and what to do."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        at = f" ({self.path})" if self.path else ""
        return f"{where}{at}: {self.message}"


class ConfigError(OmnihubError):
    """The configuration or a mapping cannot be used; lists every problem found, each located."""

    def __init__(self, problems: list[ConfigProblem] | ConfigProblem | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem("<config>", None, None, "", problems)]
        elif isinstance(problems, ConfigProblem):
            problems = [problems]
        self.problems: list[ConfigProblem] = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConnectorError(OmnihubError):
    """A failure talking to one connector's platform."""

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        status: int | None = None,
        platform_code: str | None = None,
        platform_message: str | None = None,
    ) -> None:
        self.connector = connector
        #: The HTTP status, when the failure was an answer.
        self.status = status
        #: The platform's own error code and message (``rest_invalid_param``, ``THROTTLED`` ...).
        self.platform_code = platform_code
        self.platform_message = platform_message
        prefix = f"[{connector}] " if connector else ""
        super().__init__(prefix + message)


class FatalError(ConnectorError):
    """Retrying will not help; the job that hit it fails and says why."""


class AuthError(FatalError):
    """The platform refused the credentials: fix the token or key named in the message."""


class RetriableError(ConnectorError):
    """A transient failure; the transport retries it with backoff, or after ``retry_after`` seconds
    when the platform said when to come back (a 503 in maintenance mode carries ``Retry-After`` too)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimited(RetriableError):
    """The platform asked us to slow down, possibly saying for how long."""
