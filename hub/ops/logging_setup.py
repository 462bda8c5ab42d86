"""Logging for the CLI and the daemon: readable text for a terminal, one JSON object per line for
a log collector, and secret redaction on every handler created here.

This module is the one place that puts a handler on the root logger (the CLI calls it once per
command, the daemon again at its own level): a second handler beside it would print every record
twice, once per format. ``configure_logging`` may be called again; it replaces only the handler
it installed before, never one someone else added.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from hub.redact import RedactingFilter, install_log_redaction, redact

__all__ = ["JsonFormatter", "LogFormat", "configure_logging"]


class LogFormat(StrEnum):
    """How records are written: ``text`` for a terminal, ``json`` (one object per line) for a collector.

    An enum rather than a plain string so the command line offers exactly these and refuses any
    other value as a usage error."""

    text = "text"
    json = "json"


#: The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
#: Extras some libraries add that mean nothing in a log collector (uvicorn's ANSI-coloured copy).
_DROPPED = frozenset({"color_message"})
#: Libraries whose INFO lines are noise for an operator (one per request, one per scheduled run).
_CHATTY = ("httpx", "httpcore", "apscheduler", "uvicorn.access")
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _jsonable(value: Any) -> Any:
    """Extras as JSON: numbers, booleans and None as they are, everything else as a redacted string."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {redact(k): _jsonable(v) for k, v in value.items()}
    return redact(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then the extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_") and key not in out:
                out[key] = _jsonable(value)
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = redact(record.exc_text)
        return json.dumps(out, ensure_ascii=False, default=str)


class _UtcTextFormatter(logging.Formatter):
    """Text lines with UTC ISO times: logs from a container and a laptop read the same."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _OmnihubHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so a second call replaces it instead of doubling lines."""


def configure_logging(
    fmt: LogFormat | str = LogFormat.text, level: str = "INFO", *, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr) as text or JSON lines.

    Returns the handler installed. Redaction is attached to it and to the hub's loggers, so a
    secret that slips into a message or an ``extra`` never reaches the output.
    """
    if fmt not in set(LogFormat):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"{level!r} is not a log level (DEBUG, INFO, WARNING, ERROR)")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OmnihubHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _OmnihubHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == LogFormat.json else _UtcTextFormatter(_TEXT_FORMAT))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _CHATTY:  # at DEBUG the operator asked for everything
        logging.getLogger(name).setLevel(logging.NOTSET if numeric <= logging.DEBUG else max(numeric, logging.WARNING))
    install_log_redaction()
    return handler
