"""Pacing requests to the WMS: a configured token bucket and the WMS's own rate-limit headers.

Both may apply at once (an admin's budget below the WMS's limit, and the WMS telling us how much
of its window is left); the core limiters each do one, and ``hub.transport.AllLimiters`` waits for every one.
"""

from __future__ import annotations

from hub.sdk import AllLimiters, HeaderWindowLimiter, Limiter, TokenBucket

from .settings import RestWmsSettings

__all__ = ["build_limiter"]


def build_limiter(settings: RestWmsSettings) -> Limiter | None:
    """The limiter the settings ask for, or ``None`` when requests need no pacing."""
    limiters: list[Limiter] = []
    if settings.rate_limit_per_s is not None:
        limiters.append(TokenBucket(settings.rate_limit_per_s))
    if settings.rate_limit_remaining_header:
        limiters.append(
            HeaderWindowLimiter(
                remaining_header=settings.rate_limit_remaining_header,
                default_interval=settings.rate_limit_window_s,
            )
        )
    if not limiters:
        return None
    return limiters[0] if len(limiters) == 1 else AllLimiters(*limiters)
