"""Every GraphQL document the Shopify connector can send, with the API version that introduced it.

Documents are plain constants so that one test can validate each of them against Shopify's
published schema (``admin-2025-01`` introspection). A few forms exist only in later versions
(the ``defaultEmailAddress`` customer field from 2025-04; ``changeFromQuantity`` with the
``@idempotent`` directive on ``inventorySetQuantities`` from 2026-01); they are kept apart in
``LATER_DOCUMENTS`` and chosen only by the ``*_for(version)`` functions below.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.shopify.settings import version_at_least

__all__ = [
    "BULK_POLL",
    "BULK_RUN",
    "BULK_STOCK",
    "BULK_VARIANTS",
    "CUSTOMER_CONSENT_UPDATE",
    "CUSTOMER_CREATE",
    "CUSTOMER_UPDATE",
    "DEFAULT_EMAIL_SINCE",
    "DOCUMENTS",
    "IDEMPOTENT_STOCK_SINCE",
    "LATER_DOCUMENTS",
    "LOCATIONS",
    "LOCATION_LEVELS",
    "PAGE_SIZE",
    "PING",
    "PRICE_UPDATE",
    "STOCK_LEVEL",
    "VARIANTS",
    "VARIANTS_COUNT",
    "Document",
    "customers_for",
    "stock_set_for",
]

#: Shopify's largest page.
PAGE_SIZE = 250
#: The version that added ``Customer.defaultEmailAddress`` (``email`` is deprecated from then on).
DEFAULT_EMAIL_SINCE = "2025-04"
#: The version from which stock writes use ``changeFromQuantity`` and ``@idempotent(key:)`` on the
#: mutation field. 2026-01 has both ``compareQuantity`` and ``changeFromQuantity`` (the directive is
#: optional there); 2026-04 drops ``compareQuantity`` and requires the directive. Switching at 2026-01
#: sends the style every later version accepts.
IDEMPOTENT_STOCK_SINCE = "2026-01"


@dataclass(frozen=True)
class Document:
    """A GraphQL document and the range of API versions it is sent to."""

    name: str
    text: str
    #: The first API version in which the document is valid.
    introduced: str = "2025-01"
    #: The first API version that uses another document instead (``None``: still current).
    replaced_in: str | None = None


_QUANTITIES = 'quantities(names: ["available", "on_hand"]) { name quantity }'
_USER_ERRORS = "userErrors { code field message }"

PING = Document("Ping", "query Ping { shop { name } }")

VARIANTS = Document(
    "Variants",
    """
query Variants($first: Int!, $after: String, $query: String) {
  productVariants(first: $first, after: $after, query: $query) {
    nodes {
      id sku barcode title displayName price compareAtPrice updatedAt
      product { id title handle status }
      inventoryItem { id }
    }
    pageInfo { hasNextPage endCursor }
  }
}""",
)

#: How many variants a full pull would read: a point or two, where a first page costs ~750, so the
#: choice between paging and a bulk export is made before any page is read.
VARIANTS_COUNT = Document(
    "VariantsCount",
    """
query VariantsCount($query: String) {
  productVariantsCount(query: $query) { count precision }
}""",
)

LOCATIONS = Document(
    "Locations",
    """
query Locations($first: Int!, $after: String, $query: String, $withCount: Boolean!) {
  locations(first: $first, after: $after) {
    nodes { id name isActive }
    pageInfo { hasNextPage endCursor }
  }
  productVariantsCount(query: $query) @include(if: $withCount) { count }
}""",
)

LOCATION_LEVELS = Document(
    "LocationLevels",
    f"""
query LocationLevels($location: ID!, $first: Int!, $after: String, $query: String) {{
  location(id: $location) {{
    id
    inventoryLevels(first: $first, after: $after, query: $query) {{
      nodes {{ updatedAt item {{ id sku }} {_QUANTITIES} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}""",
)

STOCK_LEVEL = Document(
    "StockLevel",
    """
query StockLevel($item: ID!, $location: ID!) {
  inventoryItem(id: $item) {
    id
    inventoryLevel(locationId: $location) { quantities(names: ["available"]) { name quantity } }
  }
}""",
)

_CUSTOMER_FIELDS = """id firstName lastName phone tags updatedAt
      emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }"""

CUSTOMERS = Document(
    "Customers",
    f"""
query Customers($first: Int!, $after: String, $query: String) {{
  customers(first: $first, after: $after, query: $query) {{
    nodes {{ email {_CUSTOMER_FIELDS} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
    replaced_in=DEFAULT_EMAIL_SINCE,
)

CUSTOMERS_DEFAULT_EMAIL = Document(
    "Customers",
    f"""
query Customers($first: Int!, $after: String, $query: String) {{
  customers(first: $first, after: $after, query: $query) {{
    nodes {{ defaultEmailAddress {{ emailAddress }} {_CUSTOMER_FIELDS} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
    introduced=DEFAULT_EMAIL_SINCE,
)

BULK_RUN = Document(
    "BulkRun",
    f"""
mutation BulkRun($query: String!) {{
  bulkOperationRunQuery(query: $query) {{
    bulkOperation {{ id status }}
    {_USER_ERRORS}
  }}
}}""",
)

BULK_POLL = Document(
    "BulkPoll",
    """
query BulkPoll($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl } }
}""",
)

#: The query a bulk operation runs for products and prices: one JSONL line per variant.
BULK_VARIANTS = Document(
    "BulkVariants",
    """
{
  productVariants {
    edges {
      node {
        id sku barcode title displayName price compareAtPrice updatedAt
        product { id title handle status }
        inventoryItem { id }
      }
    }
  }
}""",
)

#: The query a bulk operation runs for stock: a line per variant, then one per inventory level
#: carrying the variant's id as ``__parentId``.
BULK_STOCK = Document(
    "BulkStock",
    f"""
{{
  productVariants {{
    edges {{
      node {{
        id sku
        inventoryItem {{
          id
          inventoryLevels {{ edges {{ node {{ updatedAt location {{ id }} {_QUANTITIES} }} }} }}
        }}
      }}
    }}
  }}
}}""",
)

PRICE_UPDATE = Document(
    "PriceUpdate",
    f"""
mutation PriceUpdate($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {{
  productVariantsBulkUpdate(productId: $productId, variants: $variants, allowPartialUpdates: true) {{
    productVariants {{ id price compareAtPrice }}
    {_USER_ERRORS}
  }}
}}""",
)

STOCK_SET = Document(
    "StockSet",
    f"""
mutation StockSet($input: InventorySetQuantitiesInput!) {{
  inventorySetQuantities(input: $input) {{ {_USER_ERRORS} }}
}}""",
    replaced_in=IDEMPOTENT_STOCK_SINCE,
)

STOCK_SET_IDEMPOTENT = Document(
    "StockSet",
    f"""
mutation StockSet($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {{
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {{ {_USER_ERRORS} }}
}}""",
    introduced=IDEMPOTENT_STOCK_SINCE,
)

_CUSTOMER_PAYLOAD = "customer { id updatedAt } userErrors { field message }"

CUSTOMER_CREATE = Document(
    "CustomerCreate",
    f"mutation CustomerCreate($input: CustomerInput!) {{ customerCreate(input: $input) {{ {_CUSTOMER_PAYLOAD} }} }}",
)

CUSTOMER_UPDATE = Document(
    "CustomerUpdate",
    f"mutation CustomerUpdate($input: CustomerInput!) {{ customerUpdate(input: $input) {{ {_CUSTOMER_PAYLOAD} }} }}",
)

#: Consent of an existing customer changes only through this mutation (``customerUpdate`` refuses it).
CUSTOMER_CONSENT_UPDATE = Document(
    "CustomerConsentUpdate",
    """
mutation CustomerConsentUpdate($input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { code field message }
  }
}""",
)

#: Documents valid from 2025-01 (the oldest schema shipped) on: validated against every shipped schema.
DOCUMENTS: tuple[Document, ...] = (
    PING,
    VARIANTS,
    VARIANTS_COUNT,
    LOCATIONS,
    LOCATION_LEVELS,
    STOCK_LEVEL,
    CUSTOMERS,
    BULK_RUN,
    BULK_POLL,
    BULK_VARIANTS,
    BULK_STOCK,
    PRICE_UPDATE,
    STOCK_SET,
    CUSTOMER_CREATE,
    CUSTOMER_UPDATE,
    CUSTOMER_CONSENT_UPDATE,
)
#: Documents introduced by later versions, chosen only from their ``introduced`` version on.
LATER_DOCUMENTS: tuple[Document, ...] = (CUSTOMERS_DEFAULT_EMAIL, STOCK_SET_IDEMPOTENT)


def customers_for(version: str) -> Document:
    """The customer listing for ``version``: ``email`` before 2025-04, ``defaultEmailAddress`` after."""
    return CUSTOMERS_DEFAULT_EMAIL if version_at_least(version, DEFAULT_EMAIL_SINCE) else CUSTOMERS


def stock_set_for(version: str) -> Document:
    """``compareQuantity`` up to 2025-10; ``changeFromQuantity`` and ``@idempotent`` from 2026-01 on."""
    return STOCK_SET_IDEMPOTENT if version_at_least(version, IDEMPOTENT_STOCK_SINCE) else STOCK_SET
