"""The daemon's logging: text or one JSON object per line, secrets masked in messages and extras."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from hub.ops.logging_setup import configure_logging
from hub.redact import register_secret

SECRET = "smtp-SECRET-password"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put the root logger back as the suite had it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = {h: list(h.filters) for h in handlers}  # install_log_redaction adds to every root handler
    chatty = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "apscheduler", "uvicorn.access")}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    for handler, kept in filters.items():
        handler.filters[:] = kept
    root.setLevel(level)
    for name, old in chatty.items():
        logging.getLogger(name).setLevel(old)


def test_json_lines_carry_time_level_logger_message_and_extras(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    log = logging.getLogger("omnihub.test")
    log.info("job %s finished", "stock", extra={"job": "stock", "duration_s": 1.5, "pushed": {"shop": 3}})
    log.debug("not shown at INFO")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "INFO" and record["logger"] == "omnihub.test"
    assert record["message"] == "job stock finished"
    assert record["time"].endswith("Z") and "T" in record["time"]
    assert record["job"] == "stock" and record["duration_s"] == 1.5 and record["pushed"] == {"shop": 3}


def test_secrets_are_masked_in_messages_extras_and_tracebacks(restore_logging: None) -> None:
    register_secret(SECRET)
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log = logging.getLogger("omnihub.test")
    log.warning("login with %s failed", SECRET, extra={"detail": f"password={SECRET}"})
    try:
        raise RuntimeError(f"refused {SECRET}")
    except RuntimeError:
        log.exception("send failed")
    text = stream.getvalue()
    assert SECRET not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["message"] == "login with *** failed" and first["detail"] == "password=***"
    assert "RuntimeError: refused ***" in second["exception"]


def test_text_format_and_a_second_call_replaces_the_handler(restore_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("text", stream=first)
    configure_logging("text", "WARNING", stream=second)
    log = logging.getLogger("omnihub.test")
    log.info("quiet")
    log.warning("loud %d", 1)
    assert first.getvalue() == ""
    line = second.getvalue().strip()
    assert line.endswith("WARNING omnihub.test: loud 1") and line[:4].isdigit() and "Z " in line
    assert logging.getLogger("apscheduler").level == logging.WARNING


def test_bad_arguments_are_refused(restore_logging: None) -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log level"):
        configure_logging("text", "LOUD")
