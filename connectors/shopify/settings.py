"""The YAML entry of a Shopify connector (``type: shopify``), validated with pydantic."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from hub.sdk import HttpConnectorSettings, WebhookSettings

__all__ = ["DEFAULT_API_VERSION", "ShopifySettings", "version_at_least"]

#: The Admin API version used when the YAML does not name one: the latest stable version (November
#: 2026). Shopify serves a version for 12 months; an older one is answered as the oldest supported.
DEFAULT_API_VERSION = "2026-07"
_VERSION = re.compile(r"^\d{4}-(01|04|07|10)$")
_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def version_at_least(version: str, introduced: str) -> bool:
    """True when API ``version`` (``YYYY-MM``) is ``introduced`` or newer; the format sorts as text."""
    return version >= introduced


class ShopifySettings(HttpConnectorSettings, WebhookSettings):
    """One Shopify store reached through the Admin GraphQL API. ``webhook_secret`` is the app's client
    secret, which signs every webhook delivery of the app (Shopify has no secret per subscription)."""

    type: str = "shopify"
    #: The store's permanent domain, ``my-shop.myshopify.com``.
    shop: str
    #: An Admin API access token (``shpat_...``); sent only as ``X-Shopify-Access-Token``.
    access_token: SecretStr
    #: The quarterly API version (``YYYY-MM``); it chooses which documents the connector sends.
    api_version: str = DEFAULT_API_VERSION
    #: Shopify location gid -> canonical location code. Stock at locations not listed is skipped.
    locations: dict[str, str] = Field(default_factory=dict)
    #: Above this many variants a full pull runs one bulk operation instead of paging.
    bulk_threshold: int = Field(2000, ge=0)
    #: Cost bucket size and restore rate (points, points/s): plan-dependent and unverified, so
    #: configurable. The platform's own ``throttleStatus`` replaces them after the first answer.
    bucket_size: float = Field(1000.0, gt=0)
    restore_rate: float = Field(100.0, gt=0)
    #: Quantities per ``inventorySetQuantities`` call.
    stock_batch_size: int = Field(250, ge=1, le=250)
    #: Seconds between two polls of a running bulk operation, and the most a bulk pull may take.
    bulk_poll_interval_s: float = Field(1.0, gt=0, le=60)
    bulk_timeout_s: float = Field(3600.0, gt=0)

    @field_validator("shop")
    @classmethod
    def _shop(cls, value: str) -> str:
        shop = value.strip().lower().removeprefix("https://").rstrip("/")
        if not _SHOP.match(shop):
            raise ValueError(f"{value!r} is not a shop domain such as my-shop.myshopify.com")
        return shop

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError(f"{value!r} is not a Shopify API version such as 2026-07 (YYYY-01/04/07/10)")
        return value

    @property
    def root_url(self) -> str:
        """``https://{shop}``, or ``base_url`` when the YAML overrides the host."""
        return (self.base_url or f"https://{self.shop}").rstrip("/")

    @property
    def graphql_path(self) -> str:
        return f"/admin/api/{self.api_version}/graphql.json"
