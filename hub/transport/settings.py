"""How one connector reaches its platform: the transport's settings, built once per connector."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from hub.transport.auth import SettingHint

__all__ = ["TransportSettings"]


@dataclass
class TransportSettings:
    """How one connector reaches its platform. Built by the connector from its config."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    #: Values to mask wherever they could appear (tokens, keys); registered on creation.
    secrets: list[str] = field(default_factory=list)
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_attempts: int = 6
    #: Upper bound on one backoff sleep, and on the whole retrying of one request (no wait starts
    #: that would end past it).
    max_backoff: float = 30.0
    max_retry_time: float = 300.0
    #: The longest ``Retry-After`` waited for; a platform asking for more fails the request at once
    #: (a one-hour ``Retry-After`` must not hold the run: the change is decided again next run).
    max_retry_wait_s: float = 60.0
    #: Bound on simultaneous requests (Mailchimp allows 10 connections; slow WooCommerce hosts few).
    max_concurrency: int = 4
    verify_tls: bool = True
    user_agent: str = "omnihub/0.1 (+https://github.com/omnihub)"
    #: Which setting to fix when the platform refuses (``hub.transport.auth``): every request's
    #: 401/403 (or other listed status) is reworded by the first hint that names its status.
    hints: tuple[SettingHint, ...] = ()
