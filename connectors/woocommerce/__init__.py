"""WooCommerce (REST wc/v3): simple products and variations, one stock location, customers.

``WooCommerceConnector`` is the plugin (entry point ``woocommerce``); ``sandbox.create_app`` the
local simulator used by the tests, the demo and the benchmark.
"""

from __future__ import annotations

from connectors.woocommerce.connector import WooCommerceConnector
from connectors.woocommerce.settings import WooCommerceSettings

__all__ = ["WooCommerceConnector", "WooCommerceSettings"]
