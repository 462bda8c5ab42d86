"""Sending GraphQL documents to one store: cost accounting, throttling and error shapes.

The transport does the HTTP (retries, limiter, redaction); this module teaches it Shopify's
dialect:

* every request is charged its calculated cost (``cost.query_cost``) on a ``CostBucket`` that
  mirrors the store's leaky bucket, so a request waits *before* it would be throttled;
* a ``THROTTLED`` answer (HTTP 200 with ``errors[].extensions.code``, or a 429) becomes
  ``RateLimited`` with the wait the cost block implies, and is retried (nothing was executed);
* any other top-level ``errors`` in a 200 is an error, never data;
* a 401/403 becomes an ``AuthError`` that names the ``access_token`` setting;
* the points each answer charged (``extensions.cost.actualQueryCost``) are added up in ``stats``,
  so a job can report what it spent of the store's bucket, not only how many requests it sent;
* an answer served by another API version than the one asked for (``X-Shopify-API-Version``:
  Shopify answers a retired version as the oldest supported one) is logged once, since the
  documents chosen for the configured version may then be refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.shopify.cost import query_cost
from connectors.shopify.queries import Document
from connectors.shopify.settings import DEFAULT_API_VERSION, ShopifySettings
from hub.sdk import (
    CostBucket,
    FatalError,
    RateLimited,
    Reply,
    RetriableError,
    SettingHint,
    Transport,
    TransportStats,
    dig,
    secret_value,
)

__all__ = ["ShopifyClient", "ShopifyStats", "throttle_wait"]

log = logging.getLogger("omnihub.connectors.shopify")

#: GraphQL error codes that say "try again": nothing was executed.
_RETRIABLE_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"})


def throttle_wait(data: Any) -> float | None:
    """Seconds until the bucket holds the refused query's cost, from the answer's ``extensions.cost``."""
    cost = dig(data, "extensions.cost")
    if not isinstance(cost, Mapping):
        return None
    status = cost.get("throttleStatus") or {}
    try:
        requested = float(cost["requestedQueryCost"])
        available = float(status["currentlyAvailable"])
        rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (requested - available) / rate) if rate > 0 else None


def _error_codes(errors: list[Any]) -> list[str]:
    return [str(dig(e, "extensions.code") or "") for e in errors if isinstance(e, Mapping)]


def _messages(errors: Any) -> str:
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in errors[:5])
    return str(errors)


#: Which setting to fix when the store refuses the token.
SETTING_HINT = SettingHint("{detail} - check the `access_token` setting (an Admin API access token)")


def _error_parser(response: httpx.Response, data: Any) -> tuple[str | None, str | None]:
    """Shopify's error bodies: ``{"errors": "..."}`` or ``{"errors": [{"message", "extensions"}]}``."""
    errors = data.get("errors") if isinstance(data, Mapping) else None
    message = _messages(errors) if errors else (response.text[:300] if response.content else None)
    code = None
    if isinstance(errors, list) and (codes := [c for c in _error_codes(errors) if c]):
        code = codes[0]
    return code, message


@dataclass
class ShopifyStats(TransportStats):
    """The transports' figures plus the cost points the store charged (its own ``actualQueryCost``)."""

    points: int = 0


def _charged(data: Any) -> int:
    """Points an answer says it charged: ``actualQueryCost`` (``null`` when throttled, so 0)."""
    actual = dig(data, "extensions.cost.actualQueryCost")
    return int(actual) if isinstance(actual, int | float) else 0


class ShopifyClient:
    """One store's GraphQL endpoint, and a plain transport for bulk result files."""

    def __init__(self, name: str, settings: ShopifySettings, *, http_transport: httpx.AsyncBaseTransport | None = None):
        self.name = name
        self.settings = settings
        token = secret_value(settings.access_token) or ""
        self.bucket = CostBucket(settings.bucket_size, settings.restore_rate)
        self.transport = Transport(
            name,
            settings.transport_settings(
                settings.root_url,
                headers={"X-Shopify-Access-Token": token},
                secrets=[token],
                # One request at a time: the bucket mirror is exact only when answers come back in order.
                default_concurrency=1,
                hints=(SETTING_HINT,),
            ),
            limiter=self.bucket,
            error_parser=_error_parser,
            check_reply=self._check_reply,
            http_transport=http_transport,
        )
        # Bulk results live on another host (cloud storage): never send the token there.
        self.files = Transport(
            name,
            settings.transport_settings(settings.root_url, timeout=max(settings.timeout_s, 120.0), max_concurrency=1),
            http_transport=http_transport,
        )
        #: Cost points charged by the store so far.
        self.points = 0
        self._version_warned = False

    def __repr__(self) -> str:
        return f"ShopifyClient(name={self.name!r}, shop={self.settings.shop!r})"

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.files.aclose()

    @property
    def stats(self) -> ShopifyStats:
        total = ShopifyStats.combined(self.transport.stats, self.files.stats)
        total.points = self.points
        return total

    def _check_version(self, reply: Reply) -> None:
        served = reply.response.headers.get("X-Shopify-API-Version")
        asked = self.settings.api_version
        if served and served != asked and not self._version_warned:
            self._version_warned = True
            log.warning(
                "%s: asked for Shopify API version %s, answered as %s (Shopify serves a retired version as the "
                "oldest supported one); set `api_version` to a supported version, such as the latest stable %s",
                self.name,
                asked,
                served,
                DEFAULT_API_VERSION,
            )

    def _check_reply(self, reply: Reply) -> None:
        self._check_version(reply)
        self.points += _charged(reply.data)
        errors = reply.data.get("errors") if isinstance(reply.data, Mapping) else None
        if not errors:
            return
        codes = _error_codes(errors) if isinstance(errors, list) else []
        text = _messages(errors)
        if "THROTTLED" in codes:
            raise RateLimited(f"throttled: {text}", retry_after=throttle_wait(reply.data), connector=self.name)
        if set(codes) & _RETRIABLE_CODES:
            raise RetriableError(f"GraphQL error: {text}", connector=self.name, status=reply.status)
        error = FatalError(f"GraphQL error: {text}", connector=self.name, status=reply.status)
        error.platform_code = next((c for c in codes if c), None)  # type: ignore[attr-defined]
        raise error

    async def execute(
        self, document: Document, variables: Mapping[str, Any] | None = None, *, idempotent: bool = True
    ) -> dict[str, Any]:
        """Send ``document`` and return its ``data``; ``idempotent`` says whether a retry is harmless.

        Queries are always safe to repeat. Mutations that set an absolute value (a price, a stock
        quantity guarded by its compare value, a profile update) are too; a create is not.
        """
        variables = dict(variables or {})
        reply = await self.transport.post(
            self.settings.graphql_path,
            json={"query": document.text, "variables": variables},
            cost=query_cost(document.text, variables),
            idempotent=idempotent,
        )
        data = reply.data.get("data") if isinstance(reply.data, Mapping) else None
        if not isinstance(data, Mapping):
            raise RetriableError(f"{document.name}: the answer carries no data", connector=self.name)
        return dict(data)

    async def download(self, url: str) -> bytes:
        """Fetch a bulk operation's result file (a GET, so retried freely)."""
        reply = await self.files.get(url)
        return reply.response.content
