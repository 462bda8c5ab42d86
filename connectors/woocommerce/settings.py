"""The YAML entry of a ``woocommerce`` connector, and the decisions that follow from it.

WooCommerce reads credentials differently by scheme: over HTTPS it takes HTTP Basic (or the key
pair as query parameters when a host drops the ``Authorization`` header); over plain HTTP it
refuses Basic (captured: 401 ``woocommerce_rest_cannot_view``) and wants one-legged OAuth 1.0a.
``auth: auto`` picks by the scheme of the URL actually reached, and a choice that would send the
consumer secret in clear to a remote host is refused here, before any request leaves.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.sdk import HttpConnectorSettings, WebhookSettings, is_local_url

__all__ = ["API_PATH", "AuthMode", "WooCommerceSettings"]

#: Appended to the site root: every wc/v3 route lives under it.
API_PATH = "/wp-json/wc/v3"

AuthMode = Literal["auto", "basic", "query", "oauth1"]

_LOCATION = r"^[A-Za-z0-9_.:-]+$"


class WooCommerceSettings(HttpConnectorSettings, WebhookSettings):
    """``type: woocommerce`` in ``connectors:``; ``webhook_secret`` signs the webhooks
    ``register_webhooks`` creates and verifies their deliveries."""

    #: The site root (``https://shop.example.com`` or ``https://example.com/shop``); ``/wp-json/wc/v3``
    #: is appended.
    url: str
    consumer_key: SecretStr
    consumer_secret: SecretStr
    #: The canonical location code of the store's single stock pool (``web-warehouse``).
    location: str = Field(pattern=_LOCATION)
    #: Turn WooCommerce's ``manage_stock`` on when writing a quantity; without it a quantity written
    #: to a product that does not manage stock is ignored by WooCommerce, so such writes are refused.
    manage_stock: bool = False
    #: ``auto``: Basic over https, OAuth 1.0a (HMAC-SHA256) over plain http.
    auth: AuthMode = "auto"
    #: Seconds subtracted from the incremental cursor: WooCommerce filters ``modified_after`` strictly
    #: and with one-second resolution, so a change in the cursor's own second would otherwise be missed.
    cursor_overlap_s: int = Field(1, ge=0, le=3600)
    #: How incremental pulls find changed variations. ``changed_parents`` reads the variations of the
    #: variable products changed since the cursor (WooCommerce re-saves the parent when a variation
    #: changes: seen in the real captures); ``all_parents`` reads every variable product's variations,
    #: for sites where a plugin breaks that.
    variation_scan: Literal["changed_parents", "all_parents"] = "changed_parents"
    #: Click and collect: a shipping method (``method_id``, or ``method_id:instance_id`` for one
    #: instance of it) -> the canonical location the order is picked up from. The most specific key
    #: wins. An order with another method leaves from ``location``; an order with a pickup method
    #: (``local_pickup``, ``pickup_location``) that is not mapped is refused, never guessed.
    pickup_locations: dict[str, str] = Field(default_factory=dict)

    @field_validator("pickup_locations")
    @classmethod
    def _pickup_locations(cls, value: dict[str, str]) -> dict[str, str]:
        for method, location in value.items():
            if not method.strip() or not re.match(_LOCATION, location):
                raise ValueError(
                    f"pickup_locations: {method!r} -> {location!r}: a shipping method id (or method_id:instance_id) "
                    "and a location code (letters, digits, _ . : -)"
                )
        return {method.strip(): location for method, location in value.items()}

    @field_validator("url")
    @classmethod
    def _site_root(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url {value!r} must be the site root, like https://shop.example.com")
        if parts.query or parts.fragment:
            raise ValueError("url must be the site root without ?query or #fragment")
        path = parts.path.rstrip("/").removesuffix(API_PATH).rstrip("/")
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    @model_validator(mode="after")
    def _auth_fits(self) -> WooCommerceSettings:
        origin = self.origin
        scheme = urlsplit(origin).scheme
        mode = self.auth_mode
        if mode in ("basic", "query") and scheme == "http" and not is_local_url(origin):
            raise ValueError(
                f"auth: {mode} over plain http would send consumer_secret in clear to {urlsplit(origin).hostname}, "
                "and WooCommerce refuses it there anyway (401 woocommerce_rest_cannot_view); "
                "use an https url, or auth: oauth1 (or auto)"
            )
        return self

    @property
    def origin(self) -> str:
        """The scheme://host[:port] reached: ``base_url`` when given, else the one of ``url``."""
        source = self.base_url or self.url
        parts = urlsplit(source)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def api_root(self) -> str:
        """``<origin><site path>/wp-json/wc/v3``."""
        return self.origin + urlsplit(self.url).path + API_PATH

    @property
    def auth_mode(self) -> Literal["basic", "query", "oauth1"]:
        """The auth actually used: ``auto`` resolved by the scheme reached."""
        if self.auth != "auto":
            return self.auth
        return "basic" if urlsplit(self.origin).scheme == "https" else "oauth1"
