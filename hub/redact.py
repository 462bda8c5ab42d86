"""Keeping secrets out of logs, errors, e-mails and printed output.

Every secret the hub handles (tokens, API keys, passwords) is registered here when the config is
loaded or a transport is built. ``redact`` replaces each registered value, and the usual secret
query parameters and headers, with ``***``. A logging filter applies it to every record of the
``omnihub`` loggers, so a careless ``log.info(url)`` cannot leak a key.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

__all__ = ["MASK", "RedactingFilter", "install_log_redaction", "redact", "register_secret", "secrets"]


MASK = "***"
#: Shorter values are not treated as secrets: masking "a" or "1" everywhere would garble output.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

_PARAM_PATTERN = re.compile(
    r"(?i)((?:consumer_key|consumer_secret|oauth_signature|oauth_consumer_key|api_key|apikey|access_token"
    r"|hapikey|token|password|secret)=)[^&\s\"']+"
)
_HEADER_PATTERN = re.compile(
    r"(?i)((?:authorization|x-shopify-access-token|x-api-key|api-key)[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?:bearer|basic|oauth)\s+)?[^\s\"',}]+"
)


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``redact`` masks it wherever it appears."""
    global _pattern
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def secrets() -> frozenset[str]:
    """The registered secrets (for tests that prove none of them leaked)."""
    with _lock:
        return frozenset(_secrets)


def redact(text: object) -> str:
    """Return ``text`` as a string with every known secret masked."""
    out = str(text)
    pattern = _pattern
    if pattern is not None:
        out = pattern.sub(MASK, out)
    out = _PARAM_PATTERN.sub(lambda m: m.group(1) + MASK, out)
    return _HEADER_PATTERN.sub(lambda m: m.group(1) + MASK, out)


def redact_all(items: Iterable[object]) -> list[str]:
    return [redact(i) for i in items]


class RedactingFilter(logging.Filter):
    """Masks secrets in a log record's message, arguments and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_factory_installed = False


def install_log_redaction() -> None:
    """Mask secrets in every log record when it is created, whatever logger made it.

    A filter on a logger does not see its children's records (``httpcore.http11`` logs response
    headers, and a WooCommerce ``Link`` header echoes the consumer key), so the hub wraps the
    record factory instead: each record's message, arguments and exception text are redacted
    before any handler sees them. Idempotent.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        RedactingFilter().filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
