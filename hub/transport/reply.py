"""A platform's answer as the transport hands it over: the response with its JSON body parsed once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson

__all__ = ["Reply", "declares_json", "parse_json"]


@dataclass
class Reply:
    """A response with its JSON body parsed once (``data`` is ``None`` for an empty or non-JSON body)."""

    response: httpx.Response
    data: Any

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers


def declares_json(response: httpx.Response) -> bool:
    # JSON Lines (Shopify bulk results) and NDJSON are line streams, not one JSON document.
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return "json" in media and not media.endswith(("jsonl", "ndjson", "json-seq"))


def parse_json(response: httpx.Response) -> Any:
    if not response.content or not declares_json(response):
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
