"""Links from a digest line to the record in its platform's admin, built from ``store.links`` ids.

A mismatch someone has to look at is one click from the record: the Shopify variant, the
WooCommerce product, the customer. Each platform's URL shape lives in a small table keyed by the
connector type; a type without an entry gets no link. This belongs behind the connector contract
(an optional ``admin_url(entity, link_ids, settings) -> str | None`` a connector may implement), and
this table is where the two platforms that need it today keep their shape until it moves there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["ADMIN_LINKS", "admin_url"]

#: An id as it may appear in a URL path or query: digits and word characters, nothing to escape.
_PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _id(ids: Mapping[str, str], name: str) -> str | None:
    """The id ``name`` without its GraphQL prefix (``gid://shopify/ProductVariant/42`` -> ``42``)."""
    value = ids.get(name)
    if not value:
        return None
    tail = str(value).rsplit("/", 1)[-1]
    return tail if _PLAIN_ID.match(tail) and tail != "None" else None


def _shopify(settings: Any, entity: str, ids: Mapping[str, str]) -> str | None:
    shop = getattr(settings, "shop", None)
    if not shop:
        return None
    base = f"https://{quote(str(shop), safe='.-')}/admin"
    if entity == "customers":
        customer = _id(ids, "customer_id")
        return f"{base}/customers/{customer}" if customer else None
    product, variant = _id(ids, "product_id"), _id(ids, "variant_id")
    if product and variant:
        return f"{base}/products/{product}/variants/{variant}"
    return f"{base}/products/{product}" if product else None


def _woocommerce(settings: Any, entity: str, ids: Mapping[str, str]) -> str | None:
    url = getattr(settings, "url", None)
    if not url:
        return None
    site = str(url).rstrip("/")
    if entity == "customers":
        customer = _id(ids, "customer_id")
        return f"{site}/wp-admin/user-edit.php?user_id={customer}" if customer else None
    # a variation is edited on its parent product's page
    post = _id(ids, "parent_id") or _id(ids, "product_id")
    return f"{site}/wp-admin/post.php?post={post}&action=edit" if post else None


#: Connector type -> (settings, entity, link ids) -> admin URL or None.
ADMIN_LINKS: dict[str, Callable[[Any, str, Mapping[str, str]], str | None]] = {
    "shopify": _shopify,
    "woocommerce": _woocommerce,
}


def admin_url(connector_type: str, settings: Any, entity: str, ids: Mapping[str, str]) -> str | None:
    """The record's page in its platform's admin, or None when the type or the ids do not say."""
    build = ADMIN_LINKS.get(connector_type)
    return build(settings, entity, ids) if build is not None and ids else None
