"""A platform's refusal as one of the hub's errors, carrying the platform's own code and message.

Statuses map to ``AuthError`` (401, 403), ``RateLimited`` (429), ``RetriableError`` (5xx, 408, 425)
or ``FatalError`` (any other); the platform's error body is read by a per-platform ``ErrorParser``,
and nothing of it leaves unredacted (platforms echo requests back, keys included).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from hub.errors import AuthError, ConnectorError, FatalError, RateLimited, RetriableError
from hub.redact import redact
from hub.transport.reply import Reply
from hub.transport.retries import parse_retry_after

__all__ = ["ErrorParser", "ReplyCheck", "default_error_parser", "error_for", "summarize_body"]

#: Reads a platform's error body: returns (platform error code, human message).
ErrorParser = Callable[[httpx.Response, Any], tuple[str | None, str | None]]
#: Inspects a successful reply and raises when it is an error in disguise (GraphQL ``errors`` in a 200).
ReplyCheck = Callable[[Reply], None]


def default_error_parser(response: httpx.Response, data: Any) -> tuple[str | None, str | None]:
    if isinstance(data, Mapping):
        code = data.get("code") or data.get("errorType") or data.get("type") or data.get("error_code")
        message = data.get("message") or data.get("detail") or data.get("title") or data.get("error")
        return (str(code) if code else None, str(message) if message else None)
    text = response.text[:300] if response.content else None
    return None, text


def error_for(
    connector: str, method: str, display_url: str, response: httpx.Response, data: Any, parser: ErrorParser
) -> ConnectorError:
    """The error a non-accepted status becomes, its text saying the request, status, code and message."""
    status = response.status_code
    code, message = parser(response, data)
    # Platforms echo requests back (a key in an error about it): nothing unredacted leaves here.
    code = redact(code) if code is not None else None
    message = redact(summarize_body(message)) if message is not None else None
    detail = " ".join(p for p in (f"{code}:" if code else None, message) if p) or response.reason_phrase
    text = redact(f"{method} {display_url} -> HTTP {status}: {detail}")
    found = {"connector": connector, "status": status, "platform_code": code, "platform_message": message}
    if status == 429:
        return RateLimited(text, retry_after=parse_retry_after(response.headers.get("Retry-After")), **found)
    if status in (401, 403):
        return AuthError(text, **found)
    if status >= 500 or status in (408, 425):
        # A 503 (WordPress in maintenance mode, a platform under load) may say when to come back.
        return RetriableError(text, retry_after=parse_retry_after(response.headers.get("Retry-After")), **found)
    return FatalError(text, **found)


_TAG = re.compile(r"</?[A-Za-z!][^<>]*>")
_HEADLINE = re.compile(r"<(title|h1)[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
#: The longest error text a message keeps from a platform's answer.
_MAX_BODY_TEXT = 500


def summarize_body(text: str) -> str:
    """An error text fit for a message: an HTML page (a proxy's 502, a maintenance page) becomes
    its title or headline, or its text without tags; anything long is cut. Pasting a page into a
    log line, an e-mail or ``runs`` helps nobody."""
    if text.lstrip().startswith("<") and _TAG.search(text):
        headline = _HEADLINE.search(text)
        text = headline.group(2) if headline else text
        text = html.unescape(_TAG.sub(" ", text))
        text = f"{' '.join(text.split())} (an HTML page, not the platform's answer: a proxy or server in between?)"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_BODY_TEXT else text[: _MAX_BODY_TEXT - 1] + "…"
