"""The transport room: how connectors reach their platforms over HTTP (client, retries, limiters,
paginators, setting hints, errors, figures) and the declarative REST endpoints read through it."""

from __future__ import annotations

from hub.transport.auth import SettingHint
from hub.transport.client import Transport
from hub.transport.endpoints import (
    CursorTracker,
    Endpoint,
    EndpointDefaults,
    EndpointPage,
    Incremental,
    Parent,
    RestClient,
    RestReader,
    iso_time,
    server_time,
)
from hub.transport.errors import ErrorParser, ReplyCheck, default_error_parser, summarize_body
from hub.transport.limiters import AllLimiters, CostBucket, HeaderWindowLimiter, Limiter, TokenBucket
from hub.transport.paginators import (
    JsonCursorPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
)
from hub.transport.paths import dig
from hub.transport.reply import Reply
from hub.transport.retries import parse_retry_after
from hub.transport.settings import TransportSettings
from hub.transport.stats import TransportStats

__all__ = [
    "AllLimiters",
    "CostBucket",
    "CursorTracker",
    "Endpoint",
    "EndpointDefaults",
    "EndpointPage",
    "ErrorParser",
    "HeaderWindowLimiter",
    "Incremental",
    "JsonCursorPaginator",
    "Limiter",
    "LinkHeaderPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "Parent",
    "Reply",
    "ReplyCheck",
    "RestClient",
    "RestReader",
    "SettingHint",
    "TokenBucket",
    "Transport",
    "TransportSettings",
    "TransportStats",
    "default_error_parser",
    "dig",
    "iso_time",
    "parse_retry_after",
    "server_time",
    "summarize_body",
]
