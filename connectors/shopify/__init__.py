"""Shopify through the Admin GraphQL API: the connector, its settings, and (in ``sandbox``) a simulator."""

from __future__ import annotations

from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.settings import ShopifySettings

__all__ = ["ShopifyConnector", "ShopifySettings"]
