"""Suite-wide fixtures, and the check that no secret ever reached a log record.

Every test that needs a credential uses one of ``TEST_SECRETS`` (recognizable fake tokens). A
handler on the root logger keeps every record the suite produces; at the end of the session
each secret is looked for in them. ``omnihub`` output and exception messages are checked by the
tests that produce them (tests/integration/test_secrets.py).
"""

from __future__ import annotations

import logging
import os
import sys
from functools import cache

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub.redact import install_log_redaction

#: The PostgreSQL server of the tests that need one (trust auth, database ``test``).
POSTGRES_URL = os.environ.get("OMNIHUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

#: Fake credentials the tests use; none of them may appear in any log record.
TEST_SECRETS = (
    "shpat_SECRET0123456789abcdef",
    "ck_SECRETwoo0123456789",
    "cs_SECRETwoo9876543210",
    "pat-eu1-SECRET-0123456789",
    "SECRETmc0123456789abcdef-us21",
    "wms_SECRET_0123456789",
    "smtp-SECRET-password",
    "EAAA-square-SECRET-0123456789",
)


class _Keeper(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # pragma: no cover - a broken record is itself worth failing on
            text = repr(record.__dict__)
        self.texts.append(text)


_KEEPER = _Keeper()


def pytest_configure(config: pytest.Config) -> None:
    # The product's own redaction first (as the CLI installs it), then a handler of ours without
    # any filter: what reaches it is what the code really logged.
    install_log_redaction()
    root = logging.getLogger()
    root.addHandler(_KEEPER)
    root.setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaked = [(s, t) for t in _KEEPER.texts for s in TEST_SECRETS if s in t]
    if leaked:
        _, text = leaked[0]
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        sys.stderr.write(f"\nFAILED: a test secret reached a log record ({len(leaked)} times), e.g.: {text[:300]}\n")


@cache
def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers (asked once per session)."""
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # any failure to connect means: not reachable here
        safe = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        return f"PostgreSQL not reachable at {safe}: skipped ({type(exc).__name__})"
    return None


@pytest.fixture
def postgres_server() -> str:
    """The URL of a PostgreSQL server that answers; the test is skipped, saying why, without one.
    Tests keep the shared database as they found it (a schema of their own, dropped afterwards)."""
    problem = _postgres_problem()
    if problem:
        pytest.skip(problem)
    return POSTGRES_URL


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> object:
    """Each test leaves logging as it found it: a command run in-process (typer's CliRunner)
    installs omnihub's handler on a stream the runner closes afterwards and quiets the chatty
    libraries' loggers, which would change what later tests' log captures see."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatty = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "apscheduler", "uvicorn.access")}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, was in chatty.items():
        logging.getLogger(name).setLevel(was)
