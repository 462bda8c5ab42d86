"""Keeping secrets out of logs, errors, e-mails and printed output.

Every secret the hub handles (tokens, API keys, passwords) is registered here when the config is
loaded or a transport is built. ``redact`` replaces each registered value, and the usual secret
query parameters and headers, with ``***``. A logging filter applies it to every record of the
``omnihub`` loggers, so a careless ``log.info(url)`` cannot leak a key.

A secret is masked whatever its length (a platform that answers ``invalid api key k1234`` must not
print a five-character key back), wherever it stands as a whole token: an end of the secret that is
a word character (letter, digit, underscore) must not touch another word character in the text.
So a two-character password ``ab`` is masked in ``password ab refused`` but leaves ``abc`` and
``tab`` alone, and ``k1234`` is masked in ``key=k1234&x`` or ``"k1234"`` but not in ``k12345``.
A percent escape (``%3D``, ``%20``) before the secret counts as a boundary, so a secret inside a
URL-encoded OAuth base string (``consumer_key%3Dck_x``) is still masked. An end that is not a word
character (``s3cr+t.(x)*[y]``) needs no boundary there.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

__all__ = ["MASK", "RedactingFilter", "install_log_redaction", "redact", "register_secret", "secrets"]


MASK = "***"

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


#: Before a secret that starts with a word character: no word character, unless it ends a percent
#: escape (``%3Dsecret`` in an encoded query string).
_TOKEN_START = r"(?:(?<!\w)|(?<=%[0-9A-Fa-f]{2}))"
#: After a secret that ends with a word character: no word character.
_TOKEN_END = r"(?!\w)"
_WORD = re.compile(r"\w")


def _token_pattern(secret: str) -> str:
    """The pattern that finds ``secret`` as a whole token (see the module docstring)."""
    start = _TOKEN_START if _WORD.match(secret[0]) else ""
    end = _TOKEN_END if _WORD.match(secret[-1]) else ""
    return f"{start}{re.escape(secret)}{end}"


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``redact`` masks it wherever it appears as a token.

    Blank values are ignored: masking every space would garble everything and hide nothing.
    """
    global _pattern
    if not value or not value.strip():
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)  # a secret containing another is masked whole
        _pattern = re.compile("|".join(_token_pattern(s) for s in ordered))


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
