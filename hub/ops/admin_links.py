"""Links from a digest line to the record in its platform's admin, built from ``store.links`` ids.

A mismatch someone has to look at is one click from the record: the Shopify variant, the
WooCommerce product, the customer. Each connector builds its platform's URL
(``Connector.admin_url``); a connector that does not gets no link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.plugins.registry import connector_class

__all__ = ["admin_url", "platform_label"]


def admin_url(connector_type: str, settings: Any, entity: str, ids: Mapping[str, str]) -> str | None:
    """The record's page in its platform's admin, or None when the connector or the ids do not say."""
    if not ids:
        return None
    try:
        cls = connector_class(connector_type)
    except Exception:  # an unknown type has been reported by the config's validation already
        return None
    return cls.admin_url(settings, entity, ids)


def platform_label(connector_type: str) -> str:
    """The platform's name as people know it (``Shopify``), else its type."""
    try:
        return connector_class(connector_type).display_name or connector_type
    except Exception:
        return connector_type
